import Profile
import Kernels
import NumberFormats
import Platform

/// One attention candidate: the flash kernels with their tiles, or scores materialised between
/// two GEMMs.
/// Operands of one attention problem in one storage precision, and the fp64 reference for the
/// rows every candidate is checked on (the first query rows of the first (batch, head), against
/// all keys) twice: on the decoded inputs (what the kernel must reproduce) and on the unquantised
/// ones (what the precision costs).
final class AttentionWorkspace: @unchecked Sendable {
  let shape: AttentionShape
  let precision: Precision
  let q: [Float], k: [Float], v: [Float]
  /// The stored inputs, for precisions below fp32.
  let stored: (q: AttentionTensor, k: AttentionTensor, v: AttentionTensor)?
  var o: [Float]
  var lse: [Float]
  let checkedRows: Int
  let reference: [Float]
  let exactReference: [Float]

  init(shape: AttentionShape, precision: Precision = .fp32, seed: UInt64 = 21) throws {
    if let problem = shape.problem { throw KernelError.invalidParameters(problem) }
    self.shape = shape
    self.precision = precision
    var random = SeededRandom(seed: seed)
    q = random.tabulatedNormal(shape.qCount)
    k = random.tabulatedNormal(shape.kvCount)
    v = random.tabulatedNormal(shape.kvCount)
    o = [Float](repeating: .nan, count: shape.qCount)
    lse = [Float](repeating: .nan, count: shape.batch * shape.heads * shape.seq)
    checkedRows = min(shape.seq, 64)
    exactReference = Self.referenceRows(shape, q: q, k: k, v: v, rows: checkedRows)
    if precision == .fp32 {
      stored = nil
      reference = exactReference
    } else {
      let (bh, bkv) = (shape.batch * shape.heads, shape.batch * shape.kvHeads)
      let tensors = (
        q: try AttentionTensor(q, heads: bh, seq: shape.seq, headDim: shape.headDim, precision: precision),
        k: try AttentionTensor(k, heads: bkv, seq: shape.seq, headDim: shape.headDim, precision: precision),
        v: try AttentionTensor(v, heads: bkv, seq: shape.seq, headDim: shape.headDim, precision: precision))
      stored = tensors
      reference = Self.referenceRows(shape, q: tensors.q.dequantized(), k: tensors.k.dequantized(), v: tensors.v.dequantized(), rows: checkedRows)
    }
  }

  static func referenceRows(_ shape: AttentionShape, q: [Float], k: [Float], v: [Float], rows: Int) -> [Float] {
    (0..<rows).flatMap { ReferenceAttention.forwardRow(shape, q: q, k: k, v: v, b: 0, h: 0, i: $0).o.map(Float.init) }
  }

  /// Runs `body` with the operands as the kernels take them (stored tensors, or the fp32 arrays in
  /// place), dO included once `prepareBackward` has run.
  func withOperands<R>(_ body: (AttentionOperands) throws -> R) throws -> R {
    if let stored {
      return try body(try .stored(shape, q: stored.q, k: stored.k, v: stored.v, dO: storedGradient))
    }
    return try q.withUnsafeBufferPointer { qp in try k.withUnsafeBufferPointer { kp in try v.withUnsafeBufferPointer { vp in
      try dO.withUnsafeBufferPointer { gp in
        try body(.fp32(shape, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, dO: gp.isEmpty ? nil : gp.baseAddress!))
      }
    } } }
  }

  func forward(_ choice: AttentionChoice, context: KernelContext) throws {
    try withOperands { operands in
      try o.withUnsafeMutableBufferPointer { op in try lse.withUnsafeMutableBufferPointer { lp in
        try Attention.forward(shape, operands, o: op.baseAddress!, lse: lp.baseAddress!, choice: choice, in: context)
      } }
    }
  }

  private var dO: [Float] = []
  private var storedGradient: AttentionTensor?
  private(set) var dQ: [Float] = []
  private(set) var dK: [Float] = []
  private(set) var dV: [Float] = []

  /// Allocates dO and the gradients (before a memory measurement starts, say).
  func prepareBackward() throws {
    guard dO.isEmpty else { return }
    var random = SeededRandom(seed: 31)
    dO = random.tabulatedNormal(shape.qCount)
    if stored != nil {
      storedGradient = try AttentionTensor(dO, heads: shape.batch * shape.heads, seq: shape.seq, headDim: shape.headDim, precision: precision)
    }
    dQ = [Float](repeating: 0, count: shape.qCount)
    dK = [Float](repeating: 0, count: shape.kvCount)
    dV = dK
  }

  /// The inputs as the kernels see them (decoded, for stored precisions), dO included.
  func decodedInputs() throws -> (q: [Float], k: [Float], v: [Float], dO: [Float]) {
    try prepareBackward()
    guard let stored, let storedGradient else { return (q, k, v, dO) }
    return (stored.q.dequantized(), stored.k.dequantized(), stored.v.dequantized(), storedGradient.dequantized())
  }

  /// The flash backward from the last forward's O and log-sum-exp.
  func backward(_ parameters: FlashParameters, context: KernelContext) throws {
    try prepareBackward()
    try withOperands { operands in
      try o.withUnsafeBufferPointer { op in try lse.withUnsafeBufferPointer { lp in
        try dQ.withUnsafeMutableBufferPointer { a in try dK.withUnsafeMutableBufferPointer { b in try dV.withUnsafeMutableBufferPointer { c in
          try FlashAttention.backward(
            shape, operands, o: op.baseAddress!, lse: lp.baseAddress!, dQ: a.baseAddress!, dK: b.baseAddress!, dV: c.baseAddress!,
            parameters: parameters, in: context)
        } } }
      } }
    }
  }

  static func largestDifference(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
    var worst = 0.0
    for (x, y) in zip(a, b) {
      let difference = abs(Double(x) - Double(y))
      if !(difference <= worst) { worst = difference }  // NaN wins
    }
    return worst
  }

  /// Largest |O − O_ref| on the checked rows against the reference on the decoded inputs (NaN
  /// when an output is not finite).
  func checkedError() -> Double { Self.largestDifference(o[0..<reference.count], reference[...]) }

  /// The same against the reference on the unquantised inputs.
  func precisionError() -> Double { Self.largestDifference(o[0..<exactReference.count], exactReference[...]) }
}

/// Verifies the flash backward of a candidate: its gradients on a reduced problem that keeps the
/// head dim, masking, grouping, storage precision and tiles (seq = max(Br, Bc) + 37, so there are
/// full, partial, diagonal and skipped blocks) against the full fp64 reference backward on the
/// decoded inputs. The reference is computed once per reduced problem.
final class BackwardCheck {
  static let tolerance = 2e-4
  private var references: [String: (workspace: AttentionWorkspace, dQ: [Float], dK: [Float], dV: [Float])] = [:]

  static func reducedShape(_ shape: AttentionShape, _ parameters: FlashParameters) -> AttentionShape {
    let kvHeads = min(shape.kvHeads, 2)
    return AttentionShape(
      batch: 1, heads: kvHeads * shape.groupSize, kvHeads: kvHeads, seq: min(shape.seq, max(parameters.br, parameters.bc) + 37),
      headDim: shape.headDim, causal: shape.causal)
  }

  /// Largest gradient error (NaN when a gradient is not finite).
  func error(_ parameters: FlashParameters, shape: AttentionShape, precision: Precision, context: KernelContext) throws -> Double {
    let reduced = Self.reducedShape(shape, parameters)
    let key = "\(reduced) \(precision)"
    if references[key] == nil {
      let workspace = try AttentionWorkspace(shape: reduced, precision: precision, seed: 41)
      let inputs = try workspace.decodedInputs()
      let gradients = ReferenceAttention.backward(reduced, q: inputs.q, k: inputs.k, v: inputs.v, dO: inputs.dO)
      references[key] = (workspace, gradients.dQ, gradients.dK, gradients.dV)
    }
    let reference = references[key]!
    // The backward is checked, so the forward before it runs on fp32 products whatever kernel the
    // candidate's forward uses (the backward itself always does).
    var exact = parameters
    if let name = exact.microKernel, BF16MicroKernel.named(name) != nil { exact.microKernel = nil }
    try reference.workspace.forward(AttentionChoice(backend: .flash, precision: precision, flash: exact), context: context)
    try reference.workspace.backward(exact, context: context)
    let w = reference.workspace
    return [
      AttentionWorkspace.largestDifference(w.dQ[...], reference.dQ[...]), AttentionWorkspace.largestDifference(w.dK[...], reference.dK[...]),
      AttentionWorkspace.largestDifference(w.dV[...], reference.dV[...]),
    ].reduce(0) { $0.isNaN || $1 <= $0 ? $0 : $1 }
  }
}
