import Platform
import Profile

/// Vector ISA levels as BLAS kernels use them, ordered from least to most capable.
public enum ISALevel: Int, Comparable, Sendable, CaseIterable {
  case sse2, sse3, avx, avx2, avx512, avx512bf16, amx

  public static func < (a: ISALevel, b: ISALevel) -> Bool { a.rawValue < b.rawValue }

  public var name: String {
    switch self {
    case .sse2: return "sse2"
    case .sse3: return "sse3"
    case .avx: return "avx"
    case .avx2: return "avx2+fma"
    case .avx512: return "avx512"
    case .avx512bf16: return "avx512+bf16"
    case .amx: return "amx"
    }
  }

  /// Peak fp32 FLOP per cycle per core of a typical core at this level (two vector pipes: mul and
  /// add below AVX2, two FMA pipes from AVX2 on). An estimate for ratios, not a measurement.
  public var fp32FlopsPerCycle: Double {
    switch self {
    case .sse2, .sse3: return 8
    case .avx: return 16
    case .avx2: return 32
    case .avx512, .avx512bf16, .amx: return 64
    }
  }
}

/// The rule that warns when OpenBLAS selected kernels for an older CPU than this one: a
/// DYNAMIC_ARCH build that does not know a new CPU falls back to generic SSE3 ("Prescott") kernels.
public enum BLASRule {
  /// The ISA level OpenBLAS's kernels for a core name use; nil for a name this rule does not know.
  public static func isa(ofCore name: String) -> ISALevel? {
    switch name.lowercased() {
    case "katmai", "coppermine", "northwood", "banias", "athlon", "opteron", "generic":
      return .sse2
    case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "opteron_sse3", "barcelona",
      "bobcat", "nano":
      return .sse3
    case "sandybridge", "bulldozer", "piledriver":
      return .avx
    case "haswell", "zen", "steamroller", "excavator", "skylake":
      return .avx2
    case "skylakex":
      return .avx512
    case "cooperlake":
      return .avx512bf16
    case "sapphirerapids":
      return .amx
    default:
      return nil
    }
  }

  /// The best level the CPU can run, from its usable features.
  public static func isa(of features: ISAFeatures) -> ISALevel {
    if features.usable("amx_bf16") && features.usable("avx512_bf16") { return .amx }
    if features.usable("avx512_bf16") { return .avx512bf16 }
    if features.usable("avx512f") && features.usable("avx512bw") && features.usable("avx512vl") { return .avx512 }
    if features.usable("avx2") && features.usable("fma") { return .avx2 }
    if features.usable("avx") { return .avx }
    return .sse3
  }

  /// The OpenBLAS core to ask for with OPENBLAS_CORETYPE on a CPU of this level and vendor.
  /// SapphireRapids kernels exist from OpenBLAS 0.3.22; older builds get Cooperlake's.
  public static func bestCore(for level: ISALevel, vendor: String, libraryVersion: String) -> String {
    switch level {
    case .amx:
      return versionAtLeast(libraryVersion, [0, 3, 22]) ? "SapphireRapids" : "Cooperlake"
    case .avx512bf16: return "Cooperlake"
    case .avx512: return "SkylakeX"
    case .avx2: return vendor == "AuthenticAMD" ? "Zen" : "Haswell"
    case .avx: return "Sandybridge"
    case .sse2, .sse3: return "Prescott"
    }
  }

  /// OpenBLAS core types worth measuring on a CPU of this level: the best one and the next ones
  /// down that use the same vector width.
  public static func candidateCores(for level: ISALevel, vendor: String, libraryVersion: String) -> [String] {
    var cores = [bestCore(for: level, vendor: vendor, libraryVersion: libraryVersion)]
    switch level {
    case .amx, .avx512bf16: cores += ["Cooperlake", "SkylakeX", "Haswell"]
    case .avx512: cores += ["SkylakeX", "Haswell"]
    case .avx2: cores += ["Haswell", "Zen"]
    case .avx: cores += ["Sandybridge"]
    case .sse2, .sse3: break
    }
    var seen = Set<String>()
    return cores.filter { seen.insert($0).inserted }
  }

  /// A mismatch when the selected core's level is below the CPU's; nil when they fit (or the core
  /// name is unknown, which is reported separately).
  public static func mismatch(
    coreName: String, features: ISAFeatures, vendor: String, libraryVersion: String
  ) -> (mismatch: BLASMismatch, message: String)? {
    guard let core = isa(ofCore: coreName) else { return nil }
    let cpu = isa(of: features)
    guard core < cpu else { return nil }
    let best = bestCore(for: cpu, vendor: vendor, libraryVersion: libraryVersion)
    guard best.lowercased() != coreName.lowercased() else { return nil }
    let slowdown = cpu.fp32FlopsPerCycle / core.fp32FlopsPerCycle
    let cost: String
    if slowdown > 1 {
      cost = "fp32/fp64 GEMM can reach at most about 1/\(formatRatio(slowdown)) of this CPU's peak"
    } else {
      cost = "fp32 GEMM is unaffected, but the library's \(cpu.name) kernels (bf16 GEMM) are not used"
    }
    let message =
      "OpenBLAS \(libraryVersion) selected its \"\(coreName)\" kernels (\(core.name)) but this CPU runs \(cpu.name): "
      + "\(cost). Set OPENBLAS_CORETYPE=\(best) before the process starts (it is read only when the library loads)."
    return (BLASMismatch(estimatedSlowdown: slowdown, advice: "OPENBLAS_CORETYPE=\(best)"), message)
  }

  static func versionAtLeast(_ version: String, _ minimum: [Int]) -> Bool {
    let parts = version.split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
    for (index, wanted) in minimum.enumerated() {
      let have = index < parts.count ? parts[index] : 0
      if have != wanted { return have > wanted }
    }
    return true
  }

  static func formatRatio(_ value: Double) -> String {
    value.rounded() == value ? String(Int(value)) : String(format: "%.1f", value)
  }
}
