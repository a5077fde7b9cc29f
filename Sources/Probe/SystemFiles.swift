import Foundation

/// Reads small text files from /proc and /sys. A test points `root` at a fixture tree.
public struct SystemFiles: Sendable {
  public var root: String

  public init(root: String = "") { self.root = root }

  public func read(_ path: String) -> String? {
    guard let data = FileManager.default.contents(atPath: root + path) else { return nil }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// A `Key: value kB` line of /proc/meminfo, in bytes.
  public func meminfoBytes(_ key: String) -> UInt64? {
    guard let text = read("/proc/meminfo") else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      guard fields.count >= 2, let value = UInt64(fields[1]) else { return nil }
      return fields.count >= 3 && fields[2] == "kB" ? value * 1024 : value
    }
    return nil
  }

  /// The cgroup limits on this process: memory in bytes and CPU in cores, nil where unlimited.
  /// Reads cgroup v2 (the unified hierarchy) first, then v1's memory and cpu controllers.
  public func cgroupLimits() -> (memoryBytes: UInt64?, cpuCores: Double?) {
    let membership = read("/proc/self/cgroup") ?? ""
    var v2Path: String?
    var v1Paths: [String: String] = [:]
    for line in membership.split(separator: "\n") {
      let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
      guard parts.count == 3 else { continue }
      if parts[0] == "0" && parts[1].isEmpty { v2Path = String(parts[2]) }
      for controller in parts[1].split(separator: ",") { v1Paths[String(controller)] = String(parts[2]) }
    }
    // A limit file is looked for in the process's own cgroup and then each parent, since a
    // container often sees its cgroup at the mount's root.
    func candidates(_ mount: String, _ path: String?) -> [String] {
      var result: [String] = []
      var current = path ?? "/"
      while true {
        result.append(mount + (current == "/" ? "" : current))
        if current == "/" || current.isEmpty { break }
        current = (current as NSString).deletingLastPathComponent
      }
      return result
    }
    func firstValue(_ mount: String, _ path: String?, _ file: String) -> String? {
      for directory in candidates(mount, path) {
        if let value = read("\(directory)/\(file)") { return value }
      }
      return nil
    }

    var memory: UInt64?
    var cpu: Double?
    if let value = firstValue("/sys/fs/cgroup", v2Path, "memory.max"), value != "max" {
      memory = UInt64(value)
    } else if let value = firstValue("/sys/fs/cgroup/memory", v1Paths["memory"], "memory.limit_in_bytes"),
      let bytes = UInt64(value), bytes < (1 << 60)
    {
      // v1 writes "unlimited" as PAGE_COUNTER_MAX pages, a number near 2^63.
      memory = bytes
    }
    if let value = firstValue("/sys/fs/cgroup", v2Path, "cpu.max") {
      let fields = value.split(separator: " ")
      if fields.count == 2, fields[0] != "max", let quota = Double(fields[0]), let period = Double(fields[1]), period > 0 {
        cpu = quota / period
      }
    } else if let quotaText = firstValue("/sys/fs/cgroup/cpu", v1Paths["cpu"], "cpu.cfs_quota_us"),
      let periodText = firstValue("/sys/fs/cgroup/cpu", v1Paths["cpu"], "cpu.cfs_period_us"),
      let quota = Double(quotaText), let period = Double(periodText), quota > 0, period > 0
    {
      cpu = quota / period
    }
    return (memory, cpu)
  }

  /// Facts that change performance and that a person should see next to the numbers.
  public func performanceFacts(environment: [String: String]) -> (governor: String?, smt: Bool?, thp: String?, variables: [String: String]) {
    let governor = read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    let smt = read("/sys/devices/system/cpu/smt/active").map { $0 == "1" }
    // "always [madvise] never": the bracketed word is the mode in force.
    let thp = read("/sys/kernel/mm/transparent_hugepage/enabled").flatMap { text -> String? in
      guard let open = text.firstIndex(of: "["), let close = text.firstIndex(of: "]"), open < close else { return text }
      return String(text[text.index(after: open)..<close])
    }
    let prefixes = ["OPENBLAS_", "GOTO_", "OMP_", "MKL_", "HWLOC_", "GOMP_", "KMP_", "BLIS_", "ONEDNN_", "DNNL_"]
    let variables = environment.filter { key, _ in prefixes.contains { key.hasPrefix($0) } }
    return (governor, smt, thp, variables)
  }
}
