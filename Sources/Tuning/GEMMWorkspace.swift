import Profile
import COpenBLAS
import Kernels
import NumberFormats

/// Operands and output of one GEMM problem in one precision, with what verification needs.
/// Operands are seeded standard-normal values (optionally with outliers a thousand times larger);
/// low precisions store A as M×K and Bᵀ as N×K, so block scales run along K.
public final class GEMMWorkspace: @unchecked Sendable {
  public let problem: GEMMProblem
  public let precision: Precision
  /// Stored operands as fp32 (exact inputs for fp32/fp64 and the values a low precision quantizes).
  let a: [Float]
  let b: [Float]
  let lda: Int
  let ldb: Int
  let ldc: Int
  var aDouble: [Double] = []
  var bDouble: [Double] = []
  var quantizedA: QuantizedMatrix?
  var quantizedB: QuantizedMatrix?
  var c: [Float]
  var cDouble: [Double]
  /// β·C's initial value when β ≠ 0.
  let cInitial: [Float]
  /// Copies of A and B (back to back) that successive timed calls cycle through when the operands
  /// would otherwise stay in the last-level cache between calls: one copy (the operands themselves)
  /// for big problems.
  let rotations: Int
  private var rotatedA: [Float] = []
  private var rotatedB: [Float] = []
  private var rotatedADouble: [Double] = []
  private var rotatedBDouble: [Double] = []
  private var turn = 0

  /// - Parameters:
  ///   - padding: extra columns on every leading dimension (lda > width).
  ///   - outliers: values multiplied by 1000 in each operand.
  ///   - lastLevelCacheBytes: when A and B together are smaller than twice this, timed calls rotate
  ///     through enough copies of them to leave the cache (at most 16).
  public init(
    problem: GEMMProblem, precision: Precision, seed: UInt64 = 1, padding: Int = 0, outliers: Int = 0, mxRule: MXScaleRule = .specFloor,
    lastLevelCacheBytes: Int = 0
  ) {
    self.problem = problem
    self.precision = precision
    let quantized = ![.fp32, .fp64].contains(precision)
    var p = problem
    if quantized {
      // Low precisions run in the TN layout (A: M×K, B stored as N×K).
      p.transA = false
      p.transB = true
    }
    lda = p.aWidth + padding
    ldb = p.bWidth + padding
    ldc = problem.shape.n + padding
    var random = SeededRandom(seed: seed)
    func matrix(_ rows: Int, _ columns: Int, _ ld: Int) -> [Float] {
      var values = [Float](repeating: 0, count: rows * ld)
      let normal = random.tabulatedNormal(rows * columns)
      for r in 0..<rows { for c in 0..<columns { values[r * ld + c] = normal[r * columns + c] } }
      if outliers > 0 {
        for index in 0..<outliers {
          let position = Int(random.next() % UInt64(rows * columns))
          values[(position / columns) * ld + position % columns] *= 1000
          _ = index
        }
      }
      return values
    }
    a = matrix(p.aHeight, p.aWidth, lda)
    b = matrix(p.bHeight, p.bWidth, ldb)
    cInitial = matrix(problem.shape.m, problem.shape.n, ldc)
    c = cInitial
    cDouble = cInitial.map(Double.init)
    if precision == .fp64 {
      aDouble = a.map(Double.init)
      bDouble = b.map(Double.init)
    }
    let operandBytes = (a.count + b.count) * (precision == .fp64 ? 8 : 4)
    rotations = quantized || operandBytes == 0 ? 1 : max(1, min(16, (2 * lastLevelCacheBytes + operandBytes - 1) / operandBytes))
    // One copy shares the operands' storage; more are laid back to back.
    let copies = rotations
    func repeated<T>(_ values: [T]) -> [T] { copies == 1 ? values : Array((0..<copies).map { _ in values }.joined()) }
    if precision == .fp64 {
      rotatedADouble = repeated(aDouble)
      rotatedBDouble = repeated(bDouble)
    } else {
      rotatedA = repeated(a)
      rotatedB = repeated(b)
    }
    if quantized {
      quantizedA = QuantizedMatrix(Self.compact(a, rows: p.aHeight, columns: p.aWidth, ld: lda), rows: p.aHeight, columns: p.aWidth, precision: precision, mxRule: mxRule)
      quantizedB = QuantizedMatrix(Self.compact(b, rows: p.bHeight, columns: p.bWidth, ld: ldb), rows: p.bHeight, columns: p.bWidth, precision: precision, mxRule: mxRule)
    }
  }

  /// Calls `body` with the next rotation's A and B (every copy holds the same values) and C.
  func withOperands<R>(_ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
    try Self.withCopy(nextTurn(), of: rotations, rotatedA, rotatedB, &c, body)
  }

  func withOperands<R>(_ body: (UnsafePointer<Double>, UnsafePointer<Double>, UnsafeMutablePointer<Double>) throws -> R) rethrows -> R {
    try Self.withCopy(nextTurn(), of: rotations, rotatedADouble, rotatedBDouble, &cDouble, body)
  }

  /// Calls `body` with the operands as the kernels take them: fp64 or fp32 in memory (the next
  /// rotation's A and B), or the stored ones for low precisions; C is the workspace's.
  func withGEMMOperands<R>(_ body: (GEMMOperands) throws -> R) rethrows -> R {
    if precision == .fp64 {
      return try withOperands { (a: UnsafePointer<Double>, b: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>) in
        try body(.fp64(a: MatrixPointer(a, ld: lda), b: MatrixPointer(b, ld: ldb), c: MutableMatrixPointer(c, ld: ldc)))
      }
    }
    if let qa = quantizedA, let qb = quantizedB {
      let ldc = self.ldc
      return try c.withUnsafeMutableBufferPointer { c in try body(.stored(a: qa, b: qb, c: MutableMatrixPointer(c.baseAddress!, ld: ldc))) }
    }
    return try withOperands { (a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) in
      try body(.fp32(a: MatrixPointer(a, ld: lda), b: MatrixPointer(b, ld: ldb), c: MutableMatrixPointer(c, ld: ldc)))
    }
  }

  private func nextTurn() -> Int {
    defer { turn += 1 }
    return turn % rotations
  }

  /// Copy `index` of `copies` back-to-back copies of A and of B.
  private static func withCopy<T, R>(
    _ index: Int, of copies: Int, _ a: [T], _ b: [T], _ c: inout [T], _ body: (UnsafePointer<T>, UnsafePointer<T>, UnsafeMutablePointer<T>) throws -> R
  ) rethrows -> R {
    try c.withUnsafeMutableBufferPointer { cp in
      try a.withUnsafeBufferPointer { ap in
        try b.withUnsafeBufferPointer { bp in
          try body(ap.baseAddress! + index * (a.count / copies), bp.baseAddress! + index * (b.count / copies), cp.baseAddress!)
        }
      }
    }
  }

  /// The problem as the kernels see it (low precisions in the TN layout).
  public var effectiveProblem: GEMMProblem {
    var p = problem
    if quantizedA != nil {
      p.transA = false
      p.transB = true
    }
    return p
  }

  static func compact(_ values: [Float], rows: Int, columns: Int, ld: Int) -> [Float] {
    guard ld != columns else { return values }
    var out = [Float](repeating: 0, count: rows * columns)
    for r in 0..<rows { for c in 0..<columns { out[r * columns + c] = values[r * ld + c] } }
    return out
  }

  /// Fills C with NaN when β = 0 (a kernel must then not read it, and an element it forgets to
  /// write stays NaN and fails verification), else with its initial values.
  public func poisonC() {
    if problem.beta == 0 {
      for i in c.indices { c[i] = .nan }
      for i in cDouble.indices { cDouble[i] = .nan }
    } else {
      c = cInitial
      cDouble = cInitial.map(Double.init)
    }
  }

  /// Operands as the kernel multiplies them (dequantized for low precisions), in Double.
  func effectiveOperands() -> (a: [Double], b: [Double]) {
    if let qa = quantizedA, let qb = quantizedB {
      return (qa.dequantized().map(Double.init), qb.dequantized().map(Double.init))
    }
    return (a.map(Double.init), b.map(Double.init))
  }

  enum Operand { case a, b }

  /// Row `index` of op(A) (M×K) or of op(B)ᵀ (N×K), as the kernel multiplies it (dequantized for
  /// low precisions), into `row[0..<length]`.
  func operandRow(_ operand: Operand, _ index: Int, into row: inout [Float], length: Int) {
    let p = effectiveProblem
    if let quantized = operand == .a ? quantizedA : quantizedB {
      row.withUnsafeMutableBufferPointer { quantized.decodeRow(index, columns: 0..<length, into: $0.baseAddress!) }
      return
    }
    // Logical row `index` of op(A) is stored as a row unless A is transposed; of op(B)ᵀ, as a row
    // only when B is transposed.
    let asRow = operand == .a ? !p.transA : p.transB
    let ld = operand == .a ? lda : ldb
    if precision == .fp64 {
      let values = operand == .a ? aDouble : bDouble
      for q in 0..<length { row[q] = Float(asRow ? values[index * ld + q] : values[q * ld + index]) }
      // fp64 operands hold exactly the fp32 values they were made from, so Float loses nothing.
    } else {
      let values = operand == .a ? a : b
      for q in 0..<length { row[q] = asRow ? values[index * ld + q] : values[q * ld + index] }
    }
  }

  /// The exact operands (before any quantization), in Double.
  func originalOperands() -> (a: [Double], b: [Double]) {
    if quantizedA != nil {
      let p = effectiveProblem
      return (Self.compact(a, rows: p.aHeight, columns: p.aWidth, ld: lda).map(Double.init),
              Self.compact(b, rows: p.bHeight, columns: p.bWidth, ld: ldb).map(Double.init))
    }
    return (a.map(Double.init), b.map(Double.init))
  }

  var effectiveLeadingDimensions: (lda: Int, ldb: Int) {
    quantizedA != nil ? (effectiveProblem.aWidth, effectiveProblem.bWidth) : (lda, ldb)
  }

  /// C as Double, whatever the precision computed in.
  func result() -> [Double] { precision == .fp64 ? cDouble : c.map(Double.init) }
}
