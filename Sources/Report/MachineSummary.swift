import Platform
import Foundation
import Profile

/// The probe's readable summary, as `tune probe` prints it.
public enum MachineSummary {
  public static func text(_ m: MachineSection) -> String {
    var lines: [String] = []
    func row(_ label: String, _ text: String) { lines.append(label.padding(toLength: 10, withPad: " ", startingAt: 0) + text) }
    let t = m.topology
    lines.append("ScaleTune probe: \(m.hostname), fingerprint \(m.fingerprint)\(m.quick ? " (quick)" : "")")
    row("CPU", "\(m.cpu.modelName) (\(m.cpu.vendor), family \(m.cpu.family) model \(m.cpu.model) stepping \(m.cpu.stepping)\(m.cpu.hypervisor ? ", under a hypervisor" : ""))")
    row("Topology", "\(t.packages) package(s), \(t.numaNodes.count) NUMA node(s), \(t.cores) cores, \(t.hardwareThreads) hardware threads (SMT \(m.environment.smtActive ? "on" : "off")) [\(t.source)]")
    for cache in t.caches {
      let kind = cache.kind == .unified ? "" : cache.kind == .data ? "d" : "i"
      let ways = cache.associativity > 0 ? "\(cache.associativity)-way" : cache.associativity < 0 ? "fully assoc." : "assoc. unknown"
      row("", "L\(cache.level)\(kind) \(bytes(cache.sizeBytes)), \(ways), \(cache.lineSizeBytes) B lines, shared by \(cache.sharedByCores) core(s), x\(cache.instances)")
    }
    for node in t.numaNodes { row("NUMA", "node \(node.index): \(bytes(node.memoryBytes)), cpus \(node.cpus)") }
    let mem = m.memory
    var limits = "physical \(bytes(mem.totalBytes)), usable \(bytes(mem.usableBytes)) (limited by \(mem.limitedBy.rawValue))"
    if let quota = mem.cgroupCPUQuotaCores { limits += ", cgroup CPU quota \(String(format: "%.2f", quota)) cores" }
    limits += ", affinity \(mem.affinityCPUs) (\(mem.affinityCount))"
    row("Memory", limits)
    row("", mem.explanation)
    let usable = m.cpu.features.filter(\.usable).map(\.name)
    let blocked = m.cpu.features.filter { $0.present && !$0.usable }
    let absent = m.cpu.features.filter { !$0.present }.map(\.name)
    row("ISA", "usable: \(usable.joined(separator: " "))")
    for feature in blocked { row("", "present, not usable: \(feature.name) (\(feature.reason ?? "disabled"))") }
    if !absent.isEmpty { row("", "absent: \(absent.joined(separator: " "))") }
    if m.pciDevices.isEmpty && m.gpus.isEmpty {
      row("PCI", "no GPU or NIC seen on PCI")
    }
    for device in m.pciDevices {
      let name = [device.vendorName, device.deviceName].compactMap { $0 }.joined(separator: " ")
      let parts = [device.kind.rawValue, device.busID, "[" + String(format: "%04x:%04x", device.vendorID, device.deviceID) + "]", name, device.osDevices.joined(separator: ",")]
      row("PCI", parts.filter { !$0.isEmpty }.joined(separator: " "))
    }
    for gpu in m.gpus { row("GPU", "\(gpu.name), \(gpu.memoryBytes.map(bytes) ?? "memory unknown"), bus \(gpu.busID) (\(gpu.source))") }
    row("BLAS", "\(m.blas.library) \(m.blas.version), core \(m.blas.coreName) (\(m.blas.coreISA)), \(m.blas.threads) thread(s); this CPU runs \(m.blas.cpuISA)")
    row("", m.blas.config)
    for library in m.libraries ?? [] {
      if library.loaded {
        let selected = library.selected.map { "selected \($0)" + (library.selectedISA.map { $0 == library.selected ? "" : " (\($0))" } ?? "") } ?? ""
        row(library.name, "\(library.version ?? "?"), \(selected), \(library.threading ?? "?") threads; this CPU could use \(library.cpuISA)")
      } else {
        row(library.name, "not usable: \(library.reason ?? "unknown")")
      }
    }
    if !m.peaks.isEmpty {
      row("Peaks", "GFLOP/s per CPU-second of the loop, best of \(m.peaks[0].perCoreGflops.runs) runs (median)")
      for peak in m.peaks {
        let label = "\(peak.precision) \(peak.isa)".padding(toLength: 22, withPad: " ", startingAt: 0)
        row("", "\(label) 1 core \(best(peak.perCoreGflops))   \(peak.threads) cores \(best(peak.allCoresGflops))")
      }
    }
    if let load = m.measurementLoad { row("Load", load.sentence) }
    for skipped in m.peaksNotMeasured { row("", "not measured: \(skipped.precision) \(skipped.isa): \(skipped.reason)") }
    if let bw = m.memoryBandwidth {
      row("Bandwidth", "STREAM triad \(stats(bw.triadGBPerSecond)) GB/s, \(bw.threads) threads, 3 arrays of \(bytes(bw.arrayBytes)) (\(bw.sizing))")
    }
    let variables = m.environment.variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    row("Settings", "governor \(m.environment.frequencyGovernor ?? "not readable"), transparent huge pages \(m.environment.transparentHugePages ?? "unknown"), variables: \(variables.isEmpty ? "none" : variables.joined(separator: " "))")
    for warning in m.warnings { row("WARNING", "[\(warning.code)] \(warning.message)") }
    lines.append(String(format: "Probe took %.1f s", m.probeSeconds))
    return lines.joined(separator: "\n")
  }

  /// A peak: its best run, then the median.
  static func best(_ s: Statistics) -> String { String(format: "%.1f (%.1f)", s.max, s.median) }

  static func stats(_ s: Statistics) -> String {
    String(format: "%.1f [%.1f-%.1f]", s.median, s.min, s.max)
  }

  static func bytes(_ value: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var amount = Double(value)
    var unit = 0
    while amount >= 1024 && unit < units.count - 1 {
      amount /= 1024
      unit += 1
    }
    return amount.rounded() == amount ? "\(Int(amount)) \(units[unit])" : String(format: "%.1f %@", amount, units[unit])
  }
}
