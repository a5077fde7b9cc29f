import COpenBLAS
import Platform
import Profile

/// Identifies the BLAS this process loaded. OpenBLAS picks its kernels once, when it loads, from
/// the CPU and OPENBLAS_CORETYPE; this reports what it picked.
enum BLASProbe {
  static func identify(features: ISAFeatures, vendor: String) -> (BLASSection, ProbeWarning?) {
    let config = openblas_get_config().map { String(cString: $0) } ?? "unknown"
    let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    let threads = Int(openblas_get_num_threads())
    let tokens = config.split(separator: " ")
    let version = tokens.count > 1 && tokens[0] == "OpenBLAS" ? String(tokens[1]) : "unknown"
    let cpuLevel = BLASRule.isa(of: features)
    let coreLevel = BLASRule.isa(ofCore: core)
    var warning: ProbeWarning?
    var mismatch: BLASMismatch?
    if let found = BLASRule.mismatch(coreName: core, features: features, vendor: vendor, libraryVersion: version) {
      mismatch = found.mismatch
      warning = ProbeWarning(code: "blas-core-mismatch", message: found.message)
    } else if coreLevel == nil {
      warning = ProbeWarning(
        code: "blas-core-unknown",
        message: "OpenBLAS selected core \"\(core)\", which ScaleTune's table does not know; cannot say whether it fits this CPU (\(cpuLevel.name))")
    }
    let section = BLASSection(
      library: "OpenBLAS", version: version, config: config, coreName: core, threads: threads,
      coreISA: coreLevel?.name ?? "unknown", cpuISA: cpuLevel.name, mismatch: mismatch)
    return (section, warning)
  }
}
