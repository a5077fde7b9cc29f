import Foundation
import Profile
import Testing

@testable import Kernels
@testable import NumberFormats
@testable import Platform

/// BLIS and oneDNN through the one dispatch (`GEMMPlan`), against the fp64-accumulating
/// reference on the same awkward cases as every other backend. `make test` installs both
/// libraries first (scripts/install-deps.sh), so a library that does not load fails here.
@Suite struct LibraryGEMMTests {
  typealias Case = GEMMCorrectnessTests.Case

  static func run<T: GEMMScalar>(_ o: GEMMCorrectnessTests.Operands<T>, _ choice: GEMMChoice, in context: KernelContext) throws -> [T] {
    let plan = try GEMMPlan(o.problem, choice: choice)
    var result = o.c
    try o.a.withUnsafeBufferPointer { ap in try o.b.withUnsafeBufferPointer { bp in try result.withUnsafeMutableBufferPointer { cp in
      let operands: GEMMOperands
      if T.self == Double.self {
        operands = .fp64(
          a: MatrixPointer(UnsafeRawPointer(ap.baseAddress!).assumingMemoryBound(to: Double.self), ld: o.lda),
          b: MatrixPointer(UnsafeRawPointer(bp.baseAddress!).assumingMemoryBound(to: Double.self), ld: o.ldb),
          c: MutableMatrixPointer(UnsafeMutableRawPointer(cp.baseAddress!).assumingMemoryBound(to: Double.self), ld: o.ldc))
      } else {
        operands = .fp32(
          a: MatrixPointer(UnsafeRawPointer(ap.baseAddress!).assumingMemoryBound(to: Float.self), ld: o.lda),
          b: MatrixPointer(UnsafeRawPointer(bp.baseAddress!).assumingMemoryBound(to: Float.self), ld: o.ldb),
          c: MutableMatrixPointer(UnsafeMutableRawPointer(cp.baseAddress!).assumingMemoryBound(to: Float.self), ld: o.ldc))
      }
      try plan.check(operands, in: context)
      plan.run(operands, in: context)
    } } }
    return result
  }

  @Test func bothLibrariesLoadAndSayWhatTheySelected() {
    for status in [BLISGEMM.status, OneDNNGEMM.status] {
      #expect(status.loaded, "\(status.name) did not load: \(status.failure ?? "")")
      #expect(status.version?.isEmpty == false && status.selected?.isEmpty == false, "\(status.name): \(status)")
    }
  }

  @Test(arguments: GEMMCorrectnessTests.cases)
  func blisMatchesTheReference(_ c: Case) throws {
    let context = kernelContext
    let o = GEMMCorrectnessTests.operands(c, Float.self)
    GEMMCorrectnessTests.check(try Self.run(o, GEMMChoice(backend: .blis, threads: 2), in: context), o, "blis sgemm")
    let d = GEMMCorrectnessTests.operands(c, Double.self)
    GEMMCorrectnessTests.check(try Self.run(d, GEMMChoice(backend: .blis, precision: .fp64, threads: 2), in: context), d, "blis dgemm")
  }

  @Test(arguments: GEMMCorrectnessTests.cases)
  func oneDNNSGEMMMatchesTheReference(_ c: Case) throws {
    let o = GEMMCorrectnessTests.operands(c, Float.self)
    GEMMCorrectnessTests.check(try Self.run(o, GEMMChoice(backend: .onednn, threads: 2), in: kernelContext), o, "dnnl_sgemm")
  }

  /// bf16 matmul on fp32 operands whose values are bf16 (the backend's rounding keeps them),
  /// products accumulated in fp32: the fp32 reference bound applies. Rounding itself is
  /// checked on inputs that are not bf16 in `storedBF16OperandsMatchRoundedFP32Ones`.
  @Test(arguments: GEMMCorrectnessTests.cases)
  func oneDNNBF16MatmulMatchesTheReferenceOnRoundedInputs(_ c: Case) throws {
    let features = ISAFeatures.current
    guard GEMMBackend.onednn.unavailability(precision: .bf16, features: features) == nil else { return }
    let o = BF16GEMMTests.operands(c)
    let choice = GEMMChoice(backend: .onednn, precision: .bf16, threads: 2)
    let plan: GEMMPlan
    do {
      plan = try GEMMPlan(o.problem, choice: choice)
    } catch let error as KernelError {
      // No bf16 implementation on this CPU (AVX2 only): pruned with oneDNN's own words.
      #expect("\(error)".contains("oneDNN bf16 matmul"), "\(error)")
      return
    }
    #expect(plan.implementation?.isEmpty == false)
    GEMMCorrectnessTests.check(try Self.run(o, choice, in: kernelContext), o, "oneDNN bf16 matmul")
  }

  /// Stored bf16 operands (TN) are read in place and give the same result as fp32 operands the
  /// backend rounds itself.
  @Test func storedBF16OperandsMatchRoundedFP32Ones() throws {
    guard GEMMBackend.onednn.unavailability(precision: .bf16) == nil else { return }
    let (m, n, k) = (33, 47, 70)
    var random = SeededRandom(seed: 8)
    let a = random.normal(m * k), b = random.normal(n * k)
    let problem = GEMMProblem(shape: GEMMShape(m: m, n: n, k: k), transB: true)
    guard let plan = try? GEMMPlan(problem, choice: GEMMChoice(backend: .onednn, precision: .bf16, threads: 1)) else { return }
    let context = kernelContext
    var fromFP32 = [Float](repeating: 0, count: m * n), fromStored = fromFP32
    a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in fromFP32.withUnsafeMutableBufferPointer { cp in
      plan.run(.fp32(a: MatrixPointer(ap.baseAddress!, ld: k), b: MatrixPointer(bp.baseAddress!, ld: k), c: MutableMatrixPointer(cp.baseAddress!, ld: n)), in: context)
    } } }
    let qa = QuantizedMatrix(a, rows: m, columns: k, precision: .bf16), qb = QuantizedMatrix(b, rows: n, columns: k, precision: .bf16)
    let stored = fromStored.withUnsafeMutableBufferPointer { GEMMOperands.stored(a: qa, b: qb, c: MutableMatrixPointer($0.baseAddress!, ld: n)) }
    try plan.check(stored, in: context)
    fromStored.withUnsafeMutableBufferPointer { plan.run(.stored(a: qa, b: qb, c: MutableMatrixPointer($0.baseAddress!, ld: n)), in: context) }
    #expect(fromStored == fromFP32)
  }

  /// fp16 runs where oneDNN has an implementation (AVX512-FP16 or AMX-FP16) and is refused with
  /// oneDNN's own reason elsewhere; precisions neither library takes are refused by name.
  @Test func whatALibraryCannotRunIsRefusedWithItsReason() throws {
    let problem = GEMMProblem(shape: GEMMShape(m: 16, n: 16, k: 16))
    do {
      let plan = try GEMMPlan(problem, choice: GEMMChoice(backend: .onednn, precision: .fp16, threads: 1))
      #expect(plan.implementation?.isEmpty == false)
    } catch let error as KernelError {
      #expect("\(error)".contains("oneDNN f16 matmul: unimplemented"), "\(error)")
    }
    #expect(GEMMBackend.blis.unavailability(precision: .bf16)?.contains("fp32 or fp64") == true)
    #expect(GEMMBackend.onednn.unavailability(precision: .fp8e4m3)?.contains("not fp8-e4m3") == true)
    #expect(throws: KernelError.self) { try GEMMPlan(problem, choice: GEMMChoice(backend: .blis, precision: .mxfp4, threads: 1)) }
  }

  /// Two ranks' contexts calling both libraries at once, each with its own thread count: every
  /// result is right (the libraries' per-call thread counts and OpenMP teams do not mix).
  @Test func ranksSideBySideGetTheirOwnResults() async throws {
    let c = Case(m: 150, n: 130, k: 170, transA: false, transB: true, alpha: 1, beta: 0.5, padding: 1)
    let o = GEMMCorrectnessTests.operands(c, Float.self)
    try await withThrowingTaskGroup(of: (String, [Float]).self) { group in
      for (rank, backend) in [(0, GEMMBackend.blis), (1, .onednn), (2, .blis), (3, .onednn)] {
        group.addTask {
          let context = KernelContext(threads: 1 + rank % 2)
          var last: [Float] = []
          for _ in 0..<20 { last = try Self.run(o, GEMMChoice(backend: backend, threads: 1 + rank % 2), in: context) }
          return ("rank \(rank) \(backend)", last)
        }
      }
      for try await (label, result) in group { GEMMCorrectnessTests.check(result, o, label) }
    }
  }
}
