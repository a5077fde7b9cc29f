/// The `machine` section: what the hardware probe found. Facts are plain values; measured figures
/// carry `Statistics`.
public struct MachineSection: Codable, Equatable, Sendable {
  public var hostname: String
  /// Stable hash over `fingerprintFacts`; equal on every run on one machine.
  public var fingerprint: String
  public var fingerprintFacts: [String]
  public var cpu: CPUSection
  public var topology: TopologySection
  public var memory: MemorySection
  public var pciDevices: [PCIDevice]
  public var gpus: [GPU]
  public var blas: BLASSection
  /// The other accelerated libraries (BLIS, oneDNN): what each selected here, or why it did not
  /// load. Absent in profiles written before they were measured.
  public var libraries: [LibrarySection]?
  public var peaks: [Peak]
  /// Precisions and units that were not measured here, each with the reason.
  public var peaksNotMeasured: [PeakNotMeasured]
  public var memoryBandwidth: Bandwidth?
  /// What other processes took of the CPUs while the peaks and bandwidth were measured. Absent
  /// in profiles written before it was recorded, and when nothing was measured.
  public var measurementLoad: MeasurementLoad?
  public var environment: EnvironmentFacts
  public var warnings: [ProbeWarning]
  public var probeSeconds: Double
  public var quick: Bool

  public init(
    hostname: String, fingerprint: String, fingerprintFacts: [String], cpu: CPUSection,
    topology: TopologySection, memory: MemorySection, pciDevices: [PCIDevice], gpus: [GPU],
    blas: BLASSection, libraries: [LibrarySection]? = nil, peaks: [Peak], peaksNotMeasured: [PeakNotMeasured],
    memoryBandwidth: Bandwidth?, measurementLoad: MeasurementLoad? = nil, environment: EnvironmentFacts, warnings: [ProbeWarning],
    probeSeconds: Double, quick: Bool
  ) {
    self.measurementLoad = measurementLoad
    self.hostname = hostname
    self.fingerprint = fingerprint
    self.fingerprintFacts = fingerprintFacts
    self.cpu = cpu
    self.topology = topology
    self.memory = memory
    self.pciDevices = pciDevices
    self.gpus = gpus
    self.blas = blas
    self.libraries = libraries
    self.peaks = peaks
    self.peaksNotMeasured = peaksNotMeasured
    self.memoryBandwidth = memoryBandwidth
    self.environment = environment
    self.warnings = warnings
    self.probeSeconds = probeSeconds
    self.quick = quick
  }
}

public struct CPUSection: Codable, Equatable, Sendable {
  public var vendor: String
  public var modelName: String
  public var family: Int
  public var model: Int
  public var stepping: Int
  public var hypervisor: Bool
  public var features: [ISAFeatureState]

  public init(
    vendor: String, modelName: String, family: Int, model: Int, stepping: Int, hypervisor: Bool,
    features: [ISAFeatureState]
  ) {
    self.vendor = vendor
    self.modelName = modelName
    self.family = family
    self.model = model
    self.stepping = stepping
    self.hypervisor = hypervisor
    self.features = features
  }

  public func feature(_ name: String) -> ISAFeatureState? { features.first { $0.name == name } }
}

/// One ISA feature: `present` is what cpuid says; `usable` adds what the OS enabled (xgetbv state
/// for AVX and AVX-512, the arch_prctl permission for AMX).
public struct ISAFeatureState: Codable, Equatable, Sendable {
  public var name: String
  public var present: Bool
  public var usable: Bool
  /// Why a present feature is not usable; absent otherwise.
  public var reason: String?

  public init(name: String, present: Bool, usable: Bool, reason: String? = nil) {
    self.name = name
    self.present = present
    self.usable = usable
    self.reason = reason
  }
}

public struct TopologySection: Codable, Equatable, Sendable {
  /// Where hwloc read the topology: "hwloc 2.9.0 (this system)" or the XML file named by HWLOC_XMLFILE.
  public var source: String
  public var packages: Int
  public var numaNodes: [NUMANode]
  public var cores: Int
  public var hardwareThreads: Int
  public var caches: [Cache]

  public init(
    source: String, packages: Int, numaNodes: [NUMANode], cores: Int, hardwareThreads: Int,
    caches: [Cache]
  ) {
    self.source = source
    self.packages = packages
    self.numaNodes = numaNodes
    self.cores = cores
    self.hardwareThreads = hardwareThreads
    self.caches = caches
  }

  public var threadsPerCore: Int { cores > 0 ? hardwareThreads / cores : 0 }
  public var lastLevelCache: Cache? { caches.filter { $0.kind != .instruction }.max { $0.level < $1.level } }
}

public struct NUMANode: Codable, Equatable, Sendable {
  public var index: Int
  public var memoryBytes: UInt64
  /// Hardware threads (OS indices) of the node, as a Linux cpu list ("0-3,8").
  public var cpus: String

  public init(index: Int, memoryBytes: UInt64, cpus: String) {
    self.index = index
    self.memoryBytes = memoryBytes
    self.cpus = cpus
  }
}

public struct Cache: Codable, Equatable, Sendable {
  public enum Kind: String, Codable, Sendable { case data, instruction, unified }
  public var level: Int
  public var kind: Kind
  public var sizeBytes: UInt64
  public var lineSizeBytes: Int
  /// Ways; 0 when unknown, -1 when fully associative (hwloc's convention).
  public var associativity: Int
  /// Cores that share one instance.
  public var sharedByCores: Int
  /// Instances of this cache in the machine.
  public var instances: Int

  public init(
    level: Int, kind: Kind, sizeBytes: UInt64, lineSizeBytes: Int, associativity: Int,
    sharedByCores: Int, instances: Int
  ) {
    self.level = level
    self.kind = kind
    self.sizeBytes = sizeBytes
    self.lineSizeBytes = lineSizeBytes
    self.associativity = associativity
    self.sharedByCores = sharedByCores
    self.instances = instances
  }
}

public struct MemorySection: Codable, Equatable, Sendable {
  /// MemTotal from /proc/meminfo.
  public var totalBytes: UInt64
  /// Sum of hwloc's NUMA nodes' local memory.
  public var numaTotalBytes: UInt64
  public var cgroupMemoryLimitBytes: UInt64?
  /// CPU quota from the cgroup, in cores (quota / period); absent when unlimited.
  public var cgroupCPUQuotaCores: Double?
  /// Hardware threads this process may run on (sched affinity), as a cpu list.
  public var affinityCPUs: String
  public var affinityCount: Int
  /// What the process can actually use: the smallest of physical memory and the cgroup limit.
  public var usableBytes: UInt64
  /// Which limit binds `usableBytes`.
  public var limitedBy: Limit
  public var explanation: String

  public enum Limit: String, Codable, Sendable { case physical, cgroup }

  public init(
    totalBytes: UInt64, numaTotalBytes: UInt64, cgroupMemoryLimitBytes: UInt64?,
    cgroupCPUQuotaCores: Double?, affinityCPUs: String, affinityCount: Int, usableBytes: UInt64,
    limitedBy: Limit, explanation: String
  ) {
    self.totalBytes = totalBytes
    self.numaTotalBytes = numaTotalBytes
    self.cgroupMemoryLimitBytes = cgroupMemoryLimitBytes
    self.cgroupCPUQuotaCores = cgroupCPUQuotaCores
    self.affinityCPUs = affinityCPUs
    self.affinityCount = affinityCount
    self.usableBytes = usableBytes
    self.limitedBy = limitedBy
    self.explanation = explanation
  }
}

public struct PCIDevice: Codable, Equatable, Sendable {
  public enum Kind: String, Codable, Sendable { case gpu, nic }
  public var busID: String
  public var kind: Kind
  public var classID: Int
  public var vendorID: Int
  public var deviceID: Int
  public var vendorName: String?
  public var deviceName: String?
  /// OS devices hwloc attached to it (eth0, mlx5_0, card0, …).
  public var osDevices: [String]

  public init(
    busID: String, kind: Kind, classID: Int, vendorID: Int, deviceID: Int, vendorName: String?,
    deviceName: String?, osDevices: [String]
  ) {
    self.busID = busID
    self.kind = kind
    self.classID = classID
    self.vendorID = vendorID
    self.deviceID = deviceID
    self.vendorName = vendorName
    self.deviceName = deviceName
    self.osDevices = osDevices
  }
}

/// A GPU named by its vendor's tool (nvidia-smi, rocm-smi).
public struct GPU: Codable, Equatable, Sendable {
  public var name: String
  public var memoryBytes: UInt64?
  public var busID: String
  public var source: String

  public init(name: String, memoryBytes: UInt64?, busID: String, source: String) {
    self.name = name
    self.memoryBytes = memoryBytes
    self.busID = busID
    self.source = source
  }
}

public struct EnvironmentFacts: Codable, Equatable, Sendable {
  public var frequencyGovernor: String?
  public var smtActive: Bool
  public var transparentHugePages: String?
  /// OPENBLAS_*, GOTO_*, OMP_*, MKL_* and HWLOC_* variables in effect.
  public var variables: [String: String]

  public init(
    frequencyGovernor: String?, smtActive: Bool, transparentHugePages: String?,
    variables: [String: String]
  ) {
    self.frequencyGovernor = frequencyGovernor
    self.smtActive = smtActive
    self.transparentHugePages = transparentHugePages
    self.variables = variables
  }
}

public struct ProbeWarning: Codable, Equatable, Sendable {
  /// A stable identifier, e.g. `blas-core-mismatch`.
  public var code: String
  public var message: String

  public init(code: String, message: String) {
    self.code = code
    self.message = message
  }
}
