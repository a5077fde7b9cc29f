import Testing

@testable import Platform

/// SCALETUNE_ISA on recorded cpuid readings: an Intel AMX CPU and an AVX2 one.
@Suite struct ISAMaskTests {
  static let amxCPU = ISAFeatures(RuleTests.readings(avx512: true, bf16: true, amx: true, xcr0: 0x602e7))
  static let avx2CPU = ISAFeatures(RuleTests.readings())

  static func usable(_ features: ISAFeatures) -> Set<String> { Set(features.all.filter(\.usable).map(\.name)) }

  @Test func levelsCapTheISA() throws {
    #expect(Self.usable(Self.amxCPU).isSuperset(of: ["avx512f", "avx512_bf16", "amx_tile", "amx_bf16"]))
    let avx512 = Self.amxCPU.masked(by: try ISAMask("avx512"))
    #expect(Self.usable(avx512).contains("avx512_bf16") && !Self.usable(avx512).contains { $0.hasPrefix("amx") })
    let avx2 = Self.amxCPU.masked(by: try ISAMask("avx2"))
    #expect(Self.usable(avx2) == ["sse2", "sse4_2", "avx", "avx2", "fma", "f16c"])
    let sse2 = Self.amxCPU.masked(by: try ISAMask("sse2"))
    #expect(Self.usable(sse2) == ["sse2"])
    #expect(Self.amxCPU.masked(by: try ISAMask("native")) == Self.amxCPU)
    // A masked feature stays present and says why it is not usable.
    let feature = try #require(avx2["avx512f"])
    #expect(feature.present && !feature.usable && feature.reason?.contains("SCALETUNE_ISA=avx2") == true)
    // Masking never makes usable what was not: AVX2 CPU under the avx512 level is unchanged.
    #expect(Self.avx2CPU.masked(by: try ISAMask("avx512")) == Self.avx2CPU)
  }

  @Test func aMaskedFeatureTakesWhatIsBuiltOnIt() throws {
    let noAVX512 = try ISAMask("-avx512f")
    #expect(noAVX512.masked.isSuperset(of: ["avx512bw", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16"]))
    #expect(!noAVX512.masked.contains("avx2"))
    let noTiles = try ISAMask("-amx_tile")
    #expect(noTiles.masked == ["amx_tile", "amx_bf16", "amx_int8", "amx_fp16"])
    let both = Self.amxCPU.masked(by: try ISAMask(" -amx_tile , -avx512_bf16 "))
    #expect(Self.usable(both).contains("avx512f") && !Self.usable(both).contains("avx512_bf16") && !Self.usable(both).contains("amx_bf16"))
  }

  @Test func badMasksNameWhatWouldBeRight() {
    for text in ["avx3", "-avx9", "+avx2", "amx_tile"] {
      #expect(throws: ISAMask.ParseError.self) { try ISAMask(text) }
    }
    let message = String(describing: ISAMask.ParseError.unknown("avx3"))
    #expect(message.contains("avx3") && message.contains("sse2, avx2, avx512, native") && message.contains("amx_tile"))
    #expect((try? ISAMask.fromEnvironment([:]))?.isEmpty == true)
    #expect((try? ISAMask.fromEnvironment(["SCALETUNE_ISA": "avx2"]))?.masked.contains("avx512f") == true)
  }
}
