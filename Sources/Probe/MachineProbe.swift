import Foundation
import Platform
import Profile

public struct ProbeOptions: Sendable {
  /// Fewer repeats, shorter samples and smaller triad arrays: a smoke-sized run.
  public var quick: Bool
  /// Run the micro-benchmarks (peaks and triad); false reads facts only.
  public var measure: Bool
  public var environment: [String: String]
  public var files: SystemFiles

  public init(
    quick: Bool = false, measure: Bool = true,
    environment: [String: String] = ProcessInfo.processInfo.environment,
    files: SystemFiles = SystemFiles()
  ) {
    self.quick = quick
    self.measure = measure
    self.environment = environment
    self.files = files
  }
}

/// The hardware probe: facts from hwloc, cpuid, /proc and /sys, then the measured peaks and
/// memory bandwidth, gathered into the profile's `machine` section.
public enum MachineProbe {
  /// - Throws: `PlatformError` when hwloc cannot load the topology (or HWLOC_XMLFILE names a
  ///   missing file).
  public static func run(_ options: ProbeOptions = ProbeOptions(), progress: (String) -> Void = { _ in }) throws -> MachineSection {
    let start = monotonicSeconds()
    progress("topology (hwloc)")
    let topology = try Topology(environment: options.environment)
    let readings = CPUIDReadings.current()
    let mask = try ISAMask.fromEnvironment(options.environment)
    let features = ISAFeatures(readings).masked(by: mask)
    let cpu = cpuSection(readings, features)
    let topologySection = self.topologySection(topology)
    let memory = memorySection(topology: topology, files: options.files)
    progress("PCI devices and GPUs")
    let pci = DeviceProbe.pciDevices(topology)
    let gpus = DeviceProbe.gpus(environment: options.environment)
    let (blas, blasWarning) = BLASProbe.identify(features: features, vendor: readings.vendor)
    progress("BLIS and oneDNN")
    let (libraries, libraryWarnings) = LibraryProbe.identify(
      features: features, vendor: readings.vendor, family: readings.signature.family, environment: options.environment)
    let facts = options.files.performanceFacts(environment: options.environment)
    let environment = EnvironmentFacts(
      frequencyGovernor: facts.governor, smtActive: facts.smt ?? (topologySection.threadsPerCore > 1),
      transparentHugePages: facts.thp, variables: facts.variables)

    var warnings: [ProbeWarning] = []
    if let blasWarning { warnings.append(blasWarning) }
    warnings += libraryWarnings
    warnings += environmentWarnings(environment, memory: memory, topology: topology)

    var peaks: [Peak] = []
    var notMeasured: [PeakNotMeasured] = []
    var bandwidth: Bandwidth?
    var load: MeasurementLoad?
    if options.measure {
      let plan: MeasurementPlan = options.quick ? .quick : .full
      if !topology.isThisSystem {
        warnings.append(ProbeWarning(code: "topology-not-this-system", message: "\(topology.source): threads cannot be pinned to a topology read from a file; peaks are measured unpinned"))
      }
      progress("arithmetic peaks")
      let before = options.files.cpuTimes()
      let measuring = monotonicSeconds()
      (peaks, notMeasured) = PeakProbe.run(features: features, topology: topology, plan: plan)
      progress("memory bandwidth (STREAM triad)")
      let llc = topologySection.lastLevelCache.map { $0.sizeBytes * UInt64($0.instances) } ?? (32 << 20)
      bandwidth = TriadProbe.run(topology: topology, lastLevelCacheBytes: llc, usableBytes: memory.usableBytes, plan: plan, quick: options.quick)
      if let before, let after = options.files.cpuTimes() { load = before.load(until: after, seconds: monotonicSeconds() - measuring) }
      warnings += loadWarnings(load, peaks: peaks)
    } else {
      notMeasured = PeakUnit.plan(for: features).skipped
    }

    let fingerprintFacts = Fingerprint.facts(
      cpu: cpu, topology: topologySection, memoryBytes: memory.totalBytes, gpus: gpus, blasConfig: Fingerprint.blasBuild(config: blas.config, coreName: blas.coreName), isaMask: mask)
    return MachineSection(
      hostname: hostname(), fingerprint: Fingerprint.hash(fingerprintFacts), fingerprintFacts: fingerprintFacts,
      cpu: cpu, topology: topologySection, memory: memory, pciDevices: pci, gpus: gpus, blas: blas, libraries: libraries,
      peaks: peaks, peaksNotMeasured: notMeasured, memoryBandwidth: bandwidth, measurementLoad: load, environment: environment,
      warnings: warnings, probeSeconds: monotonicSeconds() - start, quick: options.quick)
  }

  /// What this process may use, by the probe's rules, without measuring anything: memory (the
  /// smallest of physical memory and the cgroup limit) and hardware threads (the CPU affinity,
  /// capped by a cgroup CPU quota). What every command checks its work against first.
  public static func limits(_ options: ProbeOptions = ProbeOptions()) throws -> MachineLimits {
    limits(topology: try Topology(environment: options.environment), files: options.files)
  }

  /// The same from a topology the caller already loaded.
  public static func limits(topology: Topology, files: SystemFiles = SystemFiles()) -> MachineLimits {
    let memory = memorySection(topology: topology, files: files)
    let quota = memory.cgroupCPUQuotaCores.map { max(1, Int($0.rounded(.up))) } ?? Int.max
    return MachineLimits(
      usableBytes: memory.usableBytes, usableThreads: max(1, min(memory.affinityCount, quota)),
      memoryLimitedBy: memory.limitedBy == .cgroup ? "its cgroup" : "physical memory")
  }

  static func cpuSection(_ readings: CPUIDReadings, _ features: ISAFeatures) -> CPUSection {
    let signature = readings.signature
    return CPUSection(
      vendor: readings.vendor, modelName: readings.brand, family: signature.family, model: signature.model,
      stepping: signature.stepping, hypervisor: readings.hypervisor,
      features: features.all.map { ISAFeatureState(name: $0.name, present: $0.present, usable: $0.usable, reason: $0.reason) })
  }

  static func topologySection(_ topology: Topology) -> TopologySection {
    TopologySection(
      source: topology.source, packages: topology.packages,
      numaNodes: topology.numaNodes.map { NUMANode(index: $0.osIndex, memoryBytes: $0.localMemoryBytes, cpus: $0.cpuList) },
      cores: topology.cores, hardwareThreads: topology.hardwareThreads,
      caches: topology.caches.map {
        Cache(
          level: $0.level, kind: Cache.Kind(rawValue: $0.kind.rawValue) ?? .unified, sizeBytes: $0.sizeBytes,
          lineSizeBytes: $0.lineSizeBytes, associativity: $0.associativity, sharedByCores: $0.sharedByCores,
          instances: $0.instances)
      })
  }

  static func memorySection(topology: Topology, files: SystemFiles) -> MemorySection {
    let numaTotal = topology.numaNodes.reduce(UInt64(0)) { $0 + $1.localMemoryBytes }
    let total = files.meminfoBytes("MemTotal") ?? numaTotal
    let limits = files.cgroupLimits()
    let binding = topology.processBinding() ?? (list: "0-\(max(0, topology.hardwareThreads - 1))", count: topology.hardwareThreads)
    return memoryLimits(total: total, numaTotal: numaTotal, cgroupMemory: limits.memoryBytes, cgroupCPU: limits.cpuCores, binding: binding)
  }

  /// Decides which limit binds and says so in words.
  public static func memoryLimits(
    total: UInt64, numaTotal: UInt64, cgroupMemory: UInt64?, cgroupCPU: Double?, binding: (list: String, count: Int)
  ) -> MemorySection {
    let usable = min(total, cgroupMemory ?? UInt64.max)
    let limitedBy: MemorySection.Limit = usable < total ? .cgroup : .physical
    var words = "The process can use \(gib(usable))"
    words += limitedBy == .cgroup
      ? ", limited by its cgroup (physical memory is \(gib(total)))."
      : " (physical memory from /proc/meminfo; no cgroup memory limit below it)."
    if numaTotal > 0 && numaTotal < usable {
      words += " hwloc's NUMA node\(numaTotal == 0 ? "" : "s") report \(gib(numaTotal)) in all, less than that: the NUMA figure does not bind this process (virtual machines often report only boot-time memory per node)."
    } else if numaTotal > usable {
      words += " hwloc's NUMA nodes report \(gib(numaTotal)), more than the process may use."
    }
    return MemorySection(
      totalBytes: total, numaTotalBytes: numaTotal, cgroupMemoryLimitBytes: cgroupMemory, cgroupCPUQuotaCores: cgroupCPU,
      affinityCPUs: binding.list, affinityCount: binding.count, usableBytes: usable, limitedBy: limitedBy, explanation: words)
  }

  static func environmentWarnings(_ environment: EnvironmentFacts, memory: MemorySection, topology: Topology) -> [ProbeWarning] {
    var warnings: [ProbeWarning] = []
    if let governor = environment.frequencyGovernor, governor != "performance" {
      warnings.append(ProbeWarning(code: "governor-not-performance", message: "CPU frequency governor is \"\(governor)\"; peaks and timings vary with clock ramp-up. Set it to \"performance\" for stable numbers"))
    }
    if let quota = memory.cgroupCPUQuotaCores, quota < Double(topology.cores) {
      warnings.append(ProbeWarning(code: "cgroup-cpu-quota", message: "the cgroup allows \(String(format: "%.2f", quota)) cores of CPU time while \(topology.cores) cores are visible: the all-core peaks are the cores' own (counted per CPU-second each loop ran), but kernels, trials and training get at most that much of them, and the triad is throttled"))
    }
    if memory.affinityCount < topology.hardwareThreads {
      warnings.append(ProbeWarning(code: "restricted-affinity", message: "this process may run on \(memory.affinityCount) of \(topology.hardwareThreads) hardware threads (\(memory.affinityCPUs))"))
    }
    return warnings
  }

  /// What the load during the measurement means: a busy machine is said so (its figures are
  /// suspect), and only an idle one's core scaling is judged (unknown load: judged, as before the
  /// load was measured).
  public static func loadWarnings(_ load: MeasurementLoad?, peaks: [Peak]) -> [ProbeWarning] {
    if let load, load.busy { return [ProbeWarning(code: "busy-machine", message: load.sentence)] }
    return scalingWarnings(peaks)
  }

  /// All cores together should give close to cores × one core. Much less, in every sample, means
  /// the cores share their vector units (SMT siblings on the host of a VM) or lose clock when all run.
  public static func scalingWarnings(_ peaks: [Peak]) -> [ProbeWarning] {
    peaks.compactMap { peak in
      guard peak.threads > 1, peak.perCoreBest > 0 else { return nil }
      // Best against best: noise only lowers samples, shared units or clock loss lower all of them.
      let scaling = peak.allCoresBest / peak.perCoreBest
      guard scaling < 0.75 * Double(peak.threads) else { return nil }
      return ProbeWarning(
        code: "poor-core-scaling",
        message: "\(peak.precision) \(peak.isa): \(peak.threads) cores give \(String(format: "%.2f", scaling))x one core's peak "
          + "(ideal \(peak.threads)x); the cores share vector units (SMT siblings on a VM's host?) or lose clock under load. "
          + "Plan parallel work on the all-cores figure")
    }
  }

  public static func hostname() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  static func gib(_ bytes: UInt64) -> String { String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
}
