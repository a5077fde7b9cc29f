import Testing

@testable import Kernels
@testable import NumberFormats
@testable import Platform
@testable import Profile
@testable import Tuning

/// Low-precision operands through the evaluator: verified against the reference on the operands
/// the kernel multiplies (dequantized), accuracy against fp64 on the originals.
@Suite struct GEMMPrecisionTests {
  static let features = ISAFeatures.current

  @Test(arguments: Precision.allCases)
  func nativeVerifiesInEveryPrecision(_ precision: Precision) throws {
    let problem = GEMMProblem(shape: GEMMShape(m: 37, n: 41, k: 67), transA: true, alpha: 1, beta: 0)
    let workspace = GEMMWorkspace(problem: problem, precision: precision, padding: precision == .fp32 ? 2 : 0)
    let evaluator = GEMMEvaluator(workspace: workspace, features: Self.features, context: kernelContext)
    var candidate = try GEMMBenchmark.candidate(
      backend: .native, precision: precision, params: ["kc": "16"], threads: 2, features: Self.features,
      caches: CacheSizes(l1: 32 << 10, l2: 512 << 10, l3PerCore: 16 << 20))
    // Two MR panels per MC block, whatever MR this CPU's preferred kernel has: several ic blocks
    // and an edge tile on 37 rows.
    let name = try #require(candidate.blocking?.microKernel)
    let mr = try #require(precision == .fp64 ? Double.microKernel(named: name)?.mr : Float.microKernel(named: name)?.mr)
    candidate.blocking?.mc = 2 * mr
    let run = try evaluator.runner(for: candidate)
    let verification = evaluator.verify(run)
    #expect(verification.passed, "\(precision): error \(verification.error) tolerance \(verification.tolerance)")
    let error = workspace.errorAgainstFP64()
    // Storage precision sets the error: ~2^-(m+1) relative per operand for m mantissa bits.
    let ceiling: Double = switch precision {
    case .fp64, .fp32: 1e-6
    case .fp16: 1e-3
    case .bf16: 1e-2
    default: 0.2
    }
    #expect(error < ceiling, "\(precision): normwise error \(error)")
    if precision != .fp64 && precision != .fp32 { #expect(error > 0, "\(precision) must lose something") }
  }

  @Test func aWrongKernelIsCaughtByVerification() throws {
    let problem = GEMMProblem(shape: GEMMShape(m: 16, n: 16, k: 16))
    let workspace = GEMMWorkspace(problem: problem, precision: .fp32)
    let evaluator = GEMMEvaluator(workspace: workspace, features: Self.features, context: kernelContext)
    let honest = try evaluator.runner(for: GEMMChoice(backend: .openblas, threads: 1))
    // Leaves one element unwritten: the poisoned C keeps its NaN there.
    let forgetful: () -> Void = {
      honest()
      workspace.c[5] = .nan
    }
    #expect(!evaluator.verify(forgetful).passed)
    // Off by a little everywhere.
    let sloppy: () -> Void = {
      honest()
      for i in workspace.c.indices { workspace.c[i] *= 1.001 }
    }
    #expect(!evaluator.verify(sloppy).passed)
    #expect(evaluator.verify(honest).passed)
  }

  @Test func backendsThatCannotRunSaySo() {
    #expect(GEMMBackend.openblas.unavailability(precision: .bf16, features: Self.features)?.contains("fp32 or fp64") == true)
    // amx runs bf16 where the CPU has a bf16 unit, and never fp32 or per-tensor fp8 (not exact in bf16).
    #expect((GEMMBackend.amx.unavailability(precision: .bf16, features: Self.features) == nil) == !BF16MicroKernel.usable(Self.features).isEmpty)
    #expect(GEMMBackend.amx.unavailability(precision: .fp32, features: Self.features) != nil)
    #expect(GEMMBackend.amx.unavailability(precision: .fp8e4m3, features: Self.features) != nil)
    #expect(throws: GEMMBackend.ParseError.unknown("cublas")) { try GEMMBackend.parse("cublas") }
    #expect(throws: GEMMShape.ParseError.malformed("12x0x3")) { try GEMMShape.parse("12x0x3") }
    #expect(throws: GEMMShape.ParseError.malformed("12x3")) { try GEMMShape.parse("12x3") }
    #expect((try? GEMMShape.parse("4096X128x4096")) == GEMMShape(m: 4096, n: 128, k: 4096))
  }
}
