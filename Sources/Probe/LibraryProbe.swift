import Kernels
import Platform
import Profile

/// Identifies BLIS and oneDNN as this process loads them, and warns when one runs kernels for
/// less than this CPU offers, with the fix: what `BLASProbe` does for OpenBLAS.
public enum LibraryProbe {
  public static func identify(
    features: ISAFeatures, vendor: String, family: Int, environment: [String: String]
  ) -> ([LibrarySection], [ProbeWarning]) {
    let (blis, blisWarning) = self.blis(BLISGEMM.status, features: features, vendor: vendor, family: family)
    let (dnnl, dnnlWarning) = oneDNN(
      OneDNNGEMM.status, features: features, halfWidthAVX512: runsAVX512OnHalves(vendor: vendor, family: family), environment: environment)
    return ([blis, dnnl], [blisWarning, dnnlWarning].compactMap { $0 })
  }

  /// AMD's Zen 4 (family 25) runs a 512-bit FMA as two 256-bit halves: AVX2 kernels have its
  /// AVX-512 fp32 peak.
  static func runsAVX512OnHalves(vendor: String, family: Int) -> Bool { vendor == "AuthenticAMD" && family == 25 }

  /// The vector ISA of a BLIS sub-configuration's fp32 kernels; nil for one this table lacks.
  public static func isa(ofBLISArch name: String) -> ISALevel? {
    switch name.lowercased() {
    case "skx", "knl", "zen4", "zen5": return .avx512
    case "haswell", "zen", "zen2", "zen3", "excavator", "steamroller": return .avx2
    case "sandybridge", "bulldozer", "piledriver": return .avx
    case "penryn": return .sse3
    case "generic": return .sse2
    default: return nil
    }
  }

  /// BLIS multiplies fp32 and fp64 only: what counts is the vector width, not bf16 or AMX. On a
  /// CPU that runs AVX-512 on halves, AVX2 kernels lose no peak: the cost is then what the GEMM
  /// tuner measures, not 2×.
  public static func blis(_ status: LibraryStatus, features: ISAFeatures, vendor: String, family: Int) -> (LibrarySection, ProbeWarning?) {
    let cpu = min(BLASRule.isa(of: features), .avx512)
    guard status.loaded, let arch = status.selected else {
      let section = LibrarySection(
        name: "BLIS", loaded: false, version: nil, selected: nil, selectedISA: nil, cpuISA: cpu.name, threading: nil, reason: status.failure,
        mismatch: nil)
      return (section, ProbeWarning(code: "blis-unavailable", message: "BLIS is not usable, so the tuner prunes it: \(status.failure ?? "")"))
    }
    let level = isa(ofBLISArch: arch)
    var mismatch: BLASMismatch?
    var warning: ProbeWarning?
    if let level, level < cpu {
      let halves = runsAVX512OnHalves(vendor: vendor, family: family) && cpu == .avx512 && level == .avx2
      let slowdown = halves ? 1 : cpu.fp32FlopsPerCycle / level.fp32FlopsPerCycle
      let cost = halves
        ? "this CPU runs AVX-512 on 256-bit halves, so the fp32 peak is the same and the gap (registers, masks) is what `tune gemm` measures"
        : "fp32/fp64 GEMM on BLIS can reach at most about 1/\(BLASRule.formatRatio(slowdown)) of its peak"
      let fix = vendor == "AuthenticAMD"
        ? "a BLIS with a configuration for this CPU (upstream BLIS 1.0 has zen4, as has AMD's AOCL-BLAS) would run \(cpu.name) kernels"
        : "a BLIS that selects skx for this CPU (a newer release) would run \(cpu.name) kernels"
      let message =
        "BLIS \(status.version ?? "") selected its \"\(arch)\" kernels (\(level.name)) but this CPU runs \(cpu.name): \(cost). Fix: \(fix); "
        + "this build cannot be told otherwise (Debian's 0.9.0 aborts the process when BLIS_ARCH_TYPE is set)."
      mismatch = BLASMismatch(estimatedSlowdown: slowdown, advice: fix)
      warning = ProbeWarning(code: "blis-arch-mismatch", message: message)
    }
    let section = LibrarySection(
      name: "BLIS", loaded: true, version: status.version, selected: arch, selectedISA: level?.name ?? "unknown", cpuISA: cpu.name,
      threading: status.threading, reason: nil, mismatch: mismatch)
    return (section, warning)
  }

  /// The ISA oneDNN 2.x can use on a CPU with `features`, by its own names.
  public static func oneDNNISA(for features: ISAFeatures) -> String {
    let avx512 = features.usable("avx512f") && features.usable("avx512bw") && features.usable("avx512vl")
    if avx512 && features.usable("amx_tile") && features.usable("amx_bf16") && features.usable("avx512_bf16") { return "avx512_core_amx" }
    if avx512 && features.usable("avx512_bf16") { return "avx512_core_bf16" }
    if avx512 && features.usable("avx512_vnni") { return "avx512_core_vnni" }
    if avx512 { return "avx512_core" }
    if features.usable("avx2") { return "avx2" }
    if features.usable("avx") { return "avx" }
    return "sse41"
  }

  static func rank(_ isa: String) -> Int? { OneDNNGEMM.isaLevels.firstIndex { $0.name == isa } }

  /// `halfWidthAVX512`: the CPU runs AVX-512 on 256-bit halves (Zen 4), so AVX2 has its fp32 peak.
  public static func oneDNN(
    _ status: LibraryStatus, features: ISAFeatures, halfWidthAVX512: Bool = false, environment: [String: String]
  ) -> (LibrarySection, ProbeWarning?) {
    let cpu = oneDNNISA(for: features)
    guard status.loaded, let effective = status.selected else {
      let section = LibrarySection(
        name: "oneDNN", loaded: false, version: nil, selected: nil, selectedISA: nil, cpuISA: cpu, threading: nil, reason: status.failure, mismatch: nil)
      return (section, ProbeWarning(code: "onednn-unavailable", message: "oneDNN is not usable, so the tuner prunes it: \(status.failure ?? "")"))
    }
    var mismatch: BLASMismatch?
    var warning: ProbeWarning?
    if let have = rank(effective), let could = rank(cpu), have < could {
      let cap = ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"].first { environment[$0] != nil }
      let cause = cap.map { "\($0)=\(environment[$0]!) caps it" } ?? "this oneDNN does not know the CPU"
      let fix = cap.map { "unset \($0)" } ?? "a newer oneDNN"
      let noBF16 = rank(effective)! < rank("avx512_core")!
      let slowdown = effective.hasPrefix("avx512") == cpu.hasPrefix("avx512") || halfWidthAVX512 ? 1.0 : 2.0
      var costs: [String] = []
      if slowdown > 1 { costs.append("fp32 GEMM reaches at most about 1/\(BLASRule.formatRatio(slowdown)) of its peak by vector width") }
      if noBF16 { costs.append("it has no bf16 matmul below avx512_core (the tuner prunes oneDNN's bf16)") }
      if cpu == "avx512_core_amx" && effective != cpu { costs.append("bf16 matmul does not use the AMX tiles") }
      let message =
        "oneDNN \(status.version ?? "") runs its \(effective) kernels but this CPU offers \(cpu) (\(cause)): \(costs.joined(separator: "; ")). "
        + "Fix: \(fix) (read when the library loads)."
      mismatch = BLASMismatch(estimatedSlowdown: slowdown, advice: fix)
      warning = ProbeWarning(code: "onednn-isa-mismatch", message: message)
    }
    let section = LibrarySection(
      name: "oneDNN", loaded: true, version: status.version, selected: effective, selectedISA: effective, cpuISA: cpu, threading: status.threading,
      reason: nil, mismatch: mismatch)
    return (section, warning)
  }
}
