import Profile
import Testing

@testable import Kernels
@testable import NumberFormats
@testable import Platform

/// The bf16 driver and packing, run on the portable C kernels over both layouts on any CPU, and on
/// the AVX512-BF16 and AMX kernels where this CPU has them. Operands are rounded to bf16 first, so
/// products are exact in fp32 and the fp32 reference bound applies.
@Suite struct BF16GEMMTests {
  static let features = ISAFeatures.current
  typealias Case = GEMMCorrectnessTests.Case

  static func operands(_ c: Case) -> GEMMCorrectnessTests.Operands<Float> {
    var o = GEMMCorrectnessTests.operands(c, Float.self, seed: 9)
    o.a = o.a.map { BFloat16($0).floatValue }
    o.b = o.b.map { BFloat16($0).floatValue }
    var reference = o.c
    o.a.withUnsafeBufferPointer { ap in o.b.withUnsafeBufferPointer { bp in reference.withUnsafeMutableBufferPointer { cp in
      ReferenceGEMM.run(o.problem, a: MatrixPointer(ap.baseAddress!, ld: o.lda), b: MatrixPointer(bp.baseAddress!, ld: o.ldb), c: MutableMatrixPointer(cp.baseAddress!, ld: o.ldc))
    } } }
    o.reference = reference
    return o
  }

  static func run(_ o: GEMMCorrectnessTests.Operands<Float>, a: [Float]? = nil, b: [Float]? = nil, kernel: BF16MicroKernel, threads: Int, loop: BlockingParameters.ParallelLoop) throws -> [Float] {
    // Small blocks, so that every loop runs more than once; kc = 40 pads each k block.
    let blocking = BlockingParameters(microKernel: kernel.name, mc: 2 * kernel.mr, kc: 40, nc: 2 * kernel.nr, threads: threads, parallelLoop: loop)
    var result = o.c
    try (a ?? o.a).withUnsafeBufferPointer { ap in try (b ?? o.b).withUnsafeBufferPointer { bp in try result.withUnsafeMutableBufferPointer { cp in
      try GEMM.run(
          o.problem, .fp32(a: MatrixPointer(ap.baseAddress!, ld: o.lda), b: MatrixPointer(bp.baseAddress!, ld: o.ldb), c: MutableMatrixPointer(cp.baseAddress!, ld: o.ldc)),
          choice: GEMMChoice(backend: .amx, precision: .bf16, blocking: blocking), in: kernelContext)
    } } }
    return result
  }

  @Test(arguments: GEMMCorrectnessTests.cases)
  func portableKernelsOverBothLayoutsMatchTheReference(_ c: Case) throws {
    let o = Self.operands(c)
    for kernel in [BF16MicroKernel.pairsReference, .tilesReference] {
      for (threads, loop) in [(1, BlockingParameters.ParallelLoop.ic), (3, .ic), (2, .jc)] {
        GEMMCorrectnessTests.check(try Self.run(o, kernel: kernel, threads: threads, loop: loop), o, "\(kernel.name) threads=\(threads) \(loop)")
      }
    }
  }

  /// fp32 operands are rounded to nearest even while packing: the result is the product of the
  /// rounded operands.
  @Test func packingRoundsFP32OperandsToBF16() throws {
    let c = GEMMCorrectnessTests.cases[8]
    let o = Self.operands(c)
    let raw = GEMMCorrectnessTests.operands(c, Float.self, seed: 9)
    let result = try Self.run(o, a: raw.a, b: raw.b, kernel: .tilesReference, threads: 1, loop: .ic)
    GEMMCorrectnessTests.check(result, o, "rounded while packing")
  }

  @Test(.enabled(if: !BF16MicroKernel.usable(BF16GEMMTests.features).isEmpty, "needs AMX-BF16 or AVX512-BF16"), arguments: GEMMCorrectnessTests.cases)
  func hardwareKernelsMatchTheReference(_ c: Case) throws {
    let o = Self.operands(c)
    for kernel in BF16MicroKernel.usable(Self.features) {
      for (threads, loop) in [(1, BlockingParameters.ParallelLoop.ic), (2, .jc)] {
        GEMMCorrectnessTests.check(try Self.run(o, kernel: kernel, threads: threads, loop: loop), o, "\(kernel.name) threads=\(threads) \(loop)")
      }
    }
  }

  @Test func kernelsAreChosenByWhatTheCPUHas() {
    let usable = BF16MicroKernel.usable(Self.features).map(\.name)
    #expect(usable.contains("amx-bf16-32x32") == (Self.features.usable("amx_tile") && Self.features.usable("amx_bf16") && Self.features.usable("avx512f")))
    #expect(usable.contains("avx512bf16-12x32") == (Self.features.usable("avx512_bf16") && Self.features.usable("avx512f")))
    #expect(BF16MicroKernel.named("reference-pairs-12x32") != nil && BF16MicroKernel.named("nope") == nil)
  }
}
