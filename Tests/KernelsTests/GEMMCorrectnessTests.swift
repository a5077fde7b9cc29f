import Profile
import Testing

@testable import Kernels
@testable import NumberFormats
@testable import Platform
@testable import Tuning

/// Every backend against the fp64-accumulating reference, element by element, on shapes that are
/// not multiples of any tile, with padded leading dimensions, α ≠ 1 and β ≠ 0.
@Suite struct GEMMCorrectnessTests {
  static let features = ISAFeatures.current

  struct Case: CustomTestStringConvertible, Sendable {
    var m: Int, n: Int, k: Int
    var transA: Bool, transB: Bool
    var alpha: Double, beta: Double
    var padding: Int
    var testDescription: String { "\(m)x\(n)x\(k) tA=\(transA) tB=\(transB) α=\(alpha) β=\(beta) pad=\(padding)" }
  }

  static let cases: [Case] = {
    var result: [Case] = []
    let shapes = [(1, 1, 1), (7, 13, 5), (37, 29, 41), (65, 33, 17), (3, 97, 2)]
    for (index, shape) in shapes.enumerated() {
      for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
        result.append(Case(m: shape.0, n: shape.1, k: shape.2, transA: transA, transB: transB,
                           alpha: index % 2 == 0 ? 1 : -0.75, beta: index % 3 == 0 ? 0 : 0.5, padding: index % 2 == 0 ? 0 : 3))
      }
    }
    return result
  }()

  /// Operands and the reference result for one case, in T.
  struct Operands<T: GEMMScalar> {
    var problem: GEMMProblem
    var a: [T], b: [T], c: [T], reference: [T]
    var lda: Int, ldb: Int, ldc: Int
    var bound: Double
  }

  static func operands<T: GEMMScalar>(_ c: Case, _ type: T.Type, seed: UInt64 = 3) -> Operands<T> {
    let problem = GEMMProblem(shape: GEMMShape(m: c.m, n: c.n, k: c.k), transA: c.transA, transB: c.transB, alpha: c.alpha, beta: c.beta)
    let lda = problem.aWidth + c.padding, ldb = problem.bWidth + c.padding, ldc = c.n + c.padding
    var random = SeededRandom(seed: seed)
    let a = random.normal(problem.aHeight * lda).map { T(Double($0)) }
    let b = random.normal(problem.bHeight * ldb).map { T(Double($0)) }
    let cValues = random.normal(c.m * ldc).map { T(Double($0)) }
    var reference = cValues
    a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in reference.withUnsafeMutableBufferPointer { cp in
      ReferenceGEMM.run(problem, a: MatrixPointer(ap.baseAddress!, ld: lda), b: MatrixPointer(bp.baseAddress!, ld: ldb), c: MutableMatrixPointer(cp.baseAddress!, ld: ldc))
    } } }
    let unit = T.self == Double.self ? 0x1p-52 : 0x1p-23
    let bound = 4 * Double(c.k + 2) * unit * 16  // elements are O(1) normals: |a||b| per term ≲ 16
    return Operands(problem: problem, a: a, b: b, c: cValues, reference: reference, lda: lda, ldb: ldb, ldc: ldc, bound: bound)
  }

  static func check<T: GEMMScalar>(_ result: [T], _ o: Operands<T>, _ label: String) {
    var worst = 0.0
    for i in 0..<o.problem.shape.m {
      for j in 0..<o.problem.shape.n {
        let difference = abs(Double(result[i * o.ldc + j]) - Double(o.reference[i * o.ldc + j]))
        if !(difference <= worst) { worst = difference }  // NaN wins
      }
      // Padding columns of C are never touched.
      for j in o.problem.shape.n..<o.ldc { #expect(result[i * o.ldc + j] == o.c[i * o.ldc + j], "\(label): padding at row \(i) changed") }
    }
    #expect(worst <= o.bound, "\(label): max error \(worst) above \(o.bound)")
  }

  @Test(arguments: cases)
  func openblasMatchesTheReference(_ c: Case) {
    let o = Self.operands(c, Float.self)
    var result = o.c
    o.a.withUnsafeBufferPointer { ap in o.b.withUnsafeBufferPointer { bp in result.withUnsafeMutableBufferPointer { cp in
      OpenBLASGEMM.run(o.problem, a: MatrixPointer(ap.baseAddress!, ld: o.lda), b: MatrixPointer(bp.baseAddress!, ld: o.ldb), c: MutableMatrixPointer(cp.baseAddress!, ld: o.ldc))
    } } }
    Self.check(result, o, "openblas sgemm")
    let d = Self.operands(c, Double.self)
    var wide = d.c
    d.a.withUnsafeBufferPointer { ap in d.b.withUnsafeBufferPointer { bp in wide.withUnsafeMutableBufferPointer { cp in
      OpenBLASGEMM.run(d.problem, a: MatrixPointer(ap.baseAddress!, ld: d.lda), b: MatrixPointer(bp.baseAddress!, ld: d.ldb), c: MutableMatrixPointer(cp.baseAddress!, ld: d.ldc))
    } } }
    Self.check(wide, d, "openblas dgemm")
  }

  @Test(arguments: cases)
  func everyNativeMicroKernelMatchesTheReference(_ c: Case) throws {
    for kernel in Float.usableMicroKernels(Self.features) {
      for (threads, loop) in [(1, BlockingParameters.ParallelLoop.ic), (2, .ic), (3, .jc)] {
        let o = Self.operands(c, Float.self)
        var result = o.c
        // Small blocks so that every loop runs more than once and every edge is hit.
        let blocking = BlockingParameters(microKernel: kernel.name, mc: 2 * kernel.mr, kc: 7, nc: 2 * kernel.nr, threads: threads, parallelLoop: loop)
        try o.a.withUnsafeBufferPointer { ap in try o.b.withUnsafeBufferPointer { bp in try result.withUnsafeMutableBufferPointer { cp in
          try GEMM.run(
          o.problem, .fp32(a: MatrixPointer(ap.baseAddress!, ld: o.lda), b: MatrixPointer(bp.baseAddress!, ld: o.ldb), c: MutableMatrixPointer(cp.baseAddress!, ld: o.ldc)),
          choice: GEMMChoice(backend: .native, precision: .fp32, blocking: blocking), in: kernelContext)
        } } }
        Self.check(result, o, "native \(blocking)")
      }
    }
    for kernel in Double.usableMicroKernels(Self.features) {
      let o = Self.operands(c, Double.self)
      var result = o.c
      let blocking = BlockingParameters(microKernel: kernel.name, mc: kernel.mr, kc: 5, nc: kernel.nr, threads: 2, parallelLoop: .jc)
      try o.a.withUnsafeBufferPointer { ap in try o.b.withUnsafeBufferPointer { bp in try result.withUnsafeMutableBufferPointer { cp in
        try GEMM.run(
          o.problem, .fp64(a: MatrixPointer(ap.baseAddress!, ld: o.lda), b: MatrixPointer(bp.baseAddress!, ld: o.ldb), c: MutableMatrixPointer(cp.baseAddress!, ld: o.ldc)),
          choice: GEMMChoice(backend: .native, precision: .fp64, blocking: blocking), in: kernelContext)
      } } }
      Self.check(result, o, "native fp64 \(blocking)")
    }
  }

  @Test func betaZeroNeverReadsC() throws {
    let kernel = try #require(Float.usableMicroKernels(Self.features).first)
    let o = Self.operands(Case(m: 13, n: 19, k: 11, transA: false, transB: false, alpha: 1, beta: 0, padding: 0), Float.self)
    var result = [Float](repeating: .nan, count: o.c.count)
    try o.a.withUnsafeBufferPointer { ap in try o.b.withUnsafeBufferPointer { bp in try result.withUnsafeMutableBufferPointer { cp in
      try GEMM.run(
          o.problem, .fp32(a: MatrixPointer(ap.baseAddress!, ld: o.lda), b: MatrixPointer(bp.baseAddress!, ld: o.ldb), c: MutableMatrixPointer(cp.baseAddress!, ld: o.ldc)),
          choice: GEMMChoice(backend: .native, precision: .fp32, blocking: BlockingParameters(microKernel: kernel.name, mc: kernel.mr, kc: 4, nc: kernel.nr)), in: kernelContext)
    } } }
    #expect(result.allSatisfy { $0.isFinite })
    Self.check(result, o, "β = 0 on NaN-filled C")
  }

  @Test func invalidBlockingIsRejectedWithTheReason() throws {
    let kernel = try #require(Float.usableMicroKernels(Self.features).first)
    let o = Self.operands(Case(m: 4, n: 4, k: 4, transA: false, transB: false, alpha: 1, beta: 0, padding: 0), Float.self)
    var result = o.c
    let bad = BlockingParameters(microKernel: kernel.name, mc: kernel.mr + 1, kc: 8, nc: kernel.nr)
    #expect(throws: KernelError.invalidParameters("mc=\(kernel.mr + 1) must be a positive multiple of MR=\(kernel.mr)")) {
      try o.a.withUnsafeBufferPointer { ap in try o.b.withUnsafeBufferPointer { bp in try result.withUnsafeMutableBufferPointer { cp in
        try GEMM.run(
          o.problem, .fp32(a: MatrixPointer(ap.baseAddress!, ld: o.lda), b: MatrixPointer(bp.baseAddress!, ld: o.ldb), c: MutableMatrixPointer(cp.baseAddress!, ld: o.ldc)),
          choice: GEMMChoice(backend: .native, precision: .fp32, blocking: bad), in: kernelContext)
      } } }
    }
  }
}
