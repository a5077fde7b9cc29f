import COpenBLAS
import Kernels
import NumberFormats
import Platform
import Profile

/// The outcome of checking one run against the reference.
public struct Verification: Sendable, Equatable {
  /// ‖C − C_ref‖ / (|α|·‖A‖·‖B‖) (or the random-vector residual's analogue for large shapes).
  public var error: Double
  public var tolerance: Double
  public var method: String
  public var passed: Bool { error <= tolerance }
}

/// Runs, verifies and times GEMM candidates on one workspace. It measures; it does not search.
public final class GEMMEvaluator: @unchecked Sendable {
  public let workspace: GEMMWorkspace
  public let features: ISAFeatures
  public let context: KernelContext
  private var residualVector: [Double] = []
  private var referenceResidual: [Double] = []
  private var norms: (a: Double, b: Double) = (0, 0)
  /// What the library runs for the plan the last `runner` made (`GEMMPlan.implementation`).
  public private(set) var implementation: String?

  public init(workspace: GEMMWorkspace, features: ISAFeatures, context: KernelContext) {
    self.workspace = workspace
    self.features = features
    self.context = context
  }

  /// A closure that performs one GEMM with this choice (at the workspace's precision) into the
  /// workspace's C, planned and checked here so that the closure cannot fail.
  /// - Throws: `KernelError` when the choice cannot run here (unsupported backend or precision,
  ///   unknown micro-kernel, invalid blocking, more threads than the context has).
  public func runner(for choice: GEMMChoice) throws -> () -> Void {
    let w = workspace
    var choice = choice
    choice.precision = w.precision
    let p = w.effectiveProblem
    let plan = try GEMMPlan(p, choice: choice, features: features)
    implementation = plan.implementation
    let context = self.context
    if w.quantizedA != nil && choice.backend == .naive {
      // The reference on the decoded values, in fp32 memory.
      let (a, b) = w.effectiveOperands()
      let floatA = a.map(Float.init), floatB = b.map(Float.init)
      let (lda, ldb) = w.effectiveLeadingDimensions
      let run: () throws -> Void = { try floatA.withUnsafeBufferPointer { a in try floatB.withUnsafeBufferPointer { b in try w.c.withUnsafeMutableBufferPointer { c in
        let operands = GEMMOperands.fp32(a: MatrixPointer(a.baseAddress!, ld: lda), b: MatrixPointer(b.baseAddress!, ld: ldb), c: MutableMatrixPointer(c.baseAddress!, ld: w.ldc))
        try plan.check(operands, in: context)
        plan.run(operands, in: context)
      } } } }
      try run()
      return { try! run() }
    }
    try w.withGEMMOperands { try plan.check($0, in: context) }
    return { w.withGEMMOperands { plan.run($0, in: context) } }
  }

  /// A closure like `runner(for:)` whose B is packed once (`GEMMPlan.pack(b:)`) and read in place
  /// by every call: what a weight that every micro-batch multiplies costs.
  /// - Throws: unless the choice is the native fp32 GEMM on fp32 operands.
  public func packedRunner(for choice: GEMMChoice) throws -> () -> Void {
    let w = workspace
    guard w.precision == .fp32 else {
      throw KernelError.unsupported(backend: choice.backend.rawValue, reason: "a pre-packed B is measured on fp32 operands (not \(w.precision))")
    }
    var choice = choice
    choice.precision = .fp32
    let plan = try GEMMPlan(w.effectiveProblem, choice: choice, features: features)
    let context = self.context
    // Every rotated copy holds the same values: B is packed from one of them, A and C rotate.
    let packed = try w.withGEMMOperands { operands -> PackedOperand in
      guard case .fp32(_, let b, _) = operands else { throw KernelError.invalidParameters("a pre-packed B needs fp32 operands") }
      return try plan.pack(b: b)
    }
    func withPackedB(_ operands: GEMMOperands) -> GEMMOperands {
      guard case .fp32(let a, _, let c) = operands else { return operands }
      return .packed(a: a, b: packed, c: c)
    }
    try w.withGEMMOperands { try plan.check(withPackedB($0), in: context) }
    return { w.withGEMMOperands { plan.run(withPackedB($0), in: context) } }
  }

  /// Unit roundoff of the arithmetic the kernels accumulate in.
  var unitRoundoff: Double { workspace.precision == .fp64 ? 0x1p-53 : 0x1p-24 }

  /// Runs the candidate once on a poisoned C and checks the result: against the full product for
  /// small shapes, by a random-vector residual (C·x against α·A·(B·x) + β·C₀·x) for large ones.
  /// The bound 2·K·u follows from the rounding-error analysis of a dot product of length K.
  public func verify(_ run: () -> Void) -> Verification {
    let w = workspace
    w.poisonC()
    run()
    let shape = w.problem.shape
    prepareResidual()
    let x = residualVector
    let result = w.result()
    var difference = 0.0
    for i in 0..<shape.m {
      var y = 0.0
      for j in 0..<shape.n { y += result[i * w.ldc + j] * x[j] }
      let d = y - referenceResidual[i]
      difference += d * d
    }
    let xNorm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
    let scale = abs(w.problem.alpha) * norms.a * norms.b * xNorm + abs(w.problem.beta) * ErrorMetrics.frobenius(w.cInitial) * xNorm
    let error = difference.isNaN ? .nan : (scale > 0 ? difference.squareRoot() / scale : difference.squareRoot())
    let tolerance = 2 * Double(max(shape.k, 1)) * unitRoundoff
    return Verification(error: error, tolerance: tolerance, method: "random-vector residual")
  }

  /// r = α·op(A)·(op(B)·x) + β·C₀·x in Double, from the operands the kernel multiplies, one row
  /// at a time (no Double copy of the operands), with ‖A‖_F and ‖B‖_F on the way.
  private func prepareResidual() {
    guard residualVector.isEmpty else { return }
    let w = workspace
    let p = w.effectiveProblem
    let (m, n, k) = (p.shape.m, p.shape.n, p.shape.k)
    var random = SeededRandom(seed: 99)
    residualVector = random.normal(n).map(Double.init)
    let x = residualVector
    var bx = [Double](repeating: 0, count: k)
    var normA = 0.0, normB = 0.0
    var row = [Float](repeating: 0, count: max(k, n, m))
    // op(B)·x: with op(B)ᵀ rows (N×K) as the logical layout, bx = Σ_j x_j · row_j.
    for j in 0..<n {
      w.operandRow(.b, j, into: &row, length: k)
      for q in 0..<k {
        let value = Double(row[q])
        bx[q] += value * x[j]
        normB += value * value
      }
    }
    referenceResidual = (0..<m).map { i in
      w.operandRow(.a, i, into: &row, length: k)
      var sum = 0.0
      for q in 0..<k {
        let value = Double(row[q])
        sum += value * bx[q]
        normA += value * value
      }
      var cx = 0.0
      if w.problem.beta != 0 { for j in 0..<n { cx += Double(w.cInitial[i * w.ldc + j]) * x[j] } }
      return w.problem.alpha * sum + w.problem.beta * cx
    }
    norms = (normA.squareRoot(), normB.squareRoot())
  }

  /// GFLOP/s over repeats (each sample at least `minimumSeconds` of calls), counting 2·M·N·K per
  /// call, conversions included.
  /// Call it right after `verify`, which served as the warm-up. Takes `repeats` samples, and up to
  /// `maxRepeats` (default twice as many) while the fastest `repeats` disagree by more than 3%.
  public func time(_ run: () -> Void, repeats: Int, maxRepeats: Int? = nil, minimumSeconds: Double) -> Statistics {
    let seconds = Stopwatch.secondsPerCallSettled(
      repeats: repeats, maxRepeats: maxRepeats ?? 2 * repeats, spread: 0.03, minimumSeconds: minimumSeconds, warmedUp: true, run)
    return Statistics(samples: seconds.map { workspace.problem.shape.flops / $0 / 1e9 })
  }
}
