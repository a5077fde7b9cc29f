/// The ISA features ScaleTune cares about, each *present* (cpuid) and *usable* (also enabled by the
/// OS), derived from `CPUIDReadings` by fixed rules.
public struct ISAFeatures: Sendable, Equatable {
  public struct Feature: Sendable, Equatable {
    public var name: String
    public var present: Bool
    public var usable: Bool
    public var reason: String?
  }

  public var all: [Feature]

  /// Names as /proc/cpuinfo spells them, in the order they are reported.
  public static let names = [
    "sse2", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
  ]

  public init(_ r: CPUIDReadings) {
    func bit(_ register: UInt32, _ index: UInt32) -> Bool { register & (1 << index) != 0 }
    let present: [String: Bool] = [
      "sse2": bit(r.leaf1.edx, 26),
      "sse4_2": bit(r.leaf1.ecx, 20),
      "avx": bit(r.leaf1.ecx, 28),
      "fma": bit(r.leaf1.ecx, 12),
      "f16c": bit(r.leaf1.ecx, 29),
      "avx2": bit(r.leaf7.ebx, 5),
      "avx512f": bit(r.leaf7.ebx, 16),
      "avx512bw": bit(r.leaf7.ebx, 30),
      "avx512vl": bit(r.leaf7.ebx, 31),
      "avx512_vnni": bit(r.leaf7.ecx, 11),
      "avx512_fp16": bit(r.leaf7.edx, 23),
      "amx_bf16": bit(r.leaf7.edx, 22),
      "amx_tile": bit(r.leaf7.edx, 24),
      "amx_int8": bit(r.leaf7.edx, 25),
      "avx512_bf16": bit(r.leaf7.sub1eax, 5),
      "amx_fp16": bit(r.leaf7.sub1eax, 21),
    ]
    // XCR0: bit 1 SSE, 2 AVX (YMM upper), 5-7 AVX-512 (opmask, ZMM_Hi256, Hi16_ZMM), 17-18 AMX.
    let osxsave = bit(r.leaf1.ecx, 27)
    let ymmState = osxsave && r.xcr0 & 0b110 == 0b110
    let zmmState = ymmState && r.xcr0 & 0b1110_0000 == 0b1110_0000
    let tileState = osxsave && r.xcr0 & (0b11 << 17) == (0b11 << 17)

    func usability(_ name: String) -> (Bool, String?) {
      switch name {
      case "sse2", "sse4_2":
        return (true, nil)
      case "avx", "avx2", "fma", "f16c":
        return ymmState ? (true, nil) : (false, "the OS has not enabled AVX state (XCR0 bits 1-2)")
      case let n where n.hasPrefix("avx512"):
        return zmmState ? (true, nil) : (false, "the OS has not enabled AVX-512 state (XCR0 bits 5-7)")
      case let n where n.hasPrefix("amx"):
        if !tileState { return (false, "the OS has not enabled AMX tile state (XCR0 bits 17-18)") }
        return r.amxPermission ? (true, nil) : (false, "Linux refused AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM)")
      default:
        return (false, "unknown feature")
      }
    }

    all = Self.names.map { name in
      let isPresent = present[name] ?? false
      let (osEnabled, reason) = usability(name)
      return Feature(name: name, present: isPresent, usable: isPresent && osEnabled, reason: isPresent && !osEnabled ? reason : nil)
    }
  }

  public subscript(name: String) -> Feature? { all.first { $0.name == name } }

  public func usable(_ name: String) -> Bool { self[name]?.usable ?? false }
}
