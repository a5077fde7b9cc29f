import Platform
/// The BLAS the process loaded and whether its kernels fit the CPU.
public struct BLASSection: Codable, Equatable, Sendable {
  public var library: String
  public var version: String
  public var config: String
  /// The kernel family the library selected at load (OpenBLAS's core name).
  public var coreName: String
  public var threads: Int
  /// The widest vector ISA the selected core uses, and the widest the CPU can run.
  public var coreISA: String
  public var cpuISA: String
  public var mismatch: BLASMismatch?

  public init(
    library: String, version: String, config: String, coreName: String, threads: Int,
    coreISA: String, cpuISA: String, mismatch: BLASMismatch?
  ) {
    self.library = library
    self.version = version
    self.config = config
    self.coreName = coreName
    self.threads = threads
    self.coreISA = coreISA
    self.cpuISA = cpuISA
    self.mismatch = mismatch
  }
}

/// An accelerated library beside the BLAS (BLIS, oneDNN) as this process found it.
public struct LibrarySection: Codable, Equatable, Sendable {
  public var name: String
  public var loaded: Bool
  public var version: String?
  /// What it selected for this CPU: BLIS's sub-configuration, oneDNN's effective ISA.
  public var selected: String?
  /// The widest vector ISA that selection uses, and the widest this library could use here.
  public var selectedISA: String?
  public var cpuISA: String
  /// Its threading runtime ("openmp", "omp").
  public var threading: String?
  /// Why it did not load.
  public var reason: String?
  public var mismatch: BLASMismatch?

  public init(
    name: String, loaded: Bool, version: String?, selected: String?, selectedISA: String?, cpuISA: String, threading: String?,
    reason: String?, mismatch: BLASMismatch?
  ) {
    self.name = name
    self.loaded = loaded
    self.version = version
    self.selected = selected
    self.selectedISA = selectedISA
    self.cpuISA = cpuISA
    self.threading = threading
    self.reason = reason
    self.mismatch = mismatch
  }
}

/// The selected BLAS core uses less of the ISA than the CPU offers.
public struct BLASMismatch: Codable, Equatable, Sendable {
  /// Peak FLOP/cycle ratio of the CPU's best ISA over the core's: an estimate of what it costs.
  public var estimatedSlowdown: Double
  /// The environment setting that selects a better core, e.g. `OPENBLAS_CORETYPE=SkylakeX`.
  public var advice: String

  public init(estimatedSlowdown: Double, advice: String) {
    self.estimatedSlowdown = estimatedSlowdown
    self.advice = advice
  }
}

/// Measured arithmetic peak of one unit at one precision, on one core and on all cores. Each
/// sample is a throughput loop's FLOPs over the CPU time its threads ran (time the scheduler gave
/// to other processes does not count), and the peak is the best sample (`perCoreBest`,
/// `allCoresBest`): noise only ever slows a loop, so the fastest run is the closest to the unit.
public struct Peak: Codable, Equatable, Sendable {
  /// fp64, fp32, fp16 or bf16.
  public var precision: String
  /// The instruction set the loop ran on (avx512f, avx2+fma, sse2, avx512_fp16, avx512_bf16, amx-bf16).
  public var isa: String
  public var instruction: String
  public var perCoreGflops: Statistics
  public var allCoresGflops: Statistics
  /// Threads used for the all-cores figure, one pinned to each core.
  public var threads: Int

  public init(
    precision: String, isa: String, instruction: String, perCoreGflops: Statistics,
    allCoresGflops: Statistics, threads: Int
  ) {
    self.precision = precision
    self.isa = isa
    self.instruction = instruction
    self.perCoreGflops = perCoreGflops
    self.allCoresGflops = allCoresGflops
    self.threads = threads
  }

  /// The unit's peak on one core: the best run.
  public var perCoreBest: Double { perCoreGflops.max }
  /// The unit's peak on all `threads` cores at once: the best run.
  public var allCoresBest: Double { allCoresGflops.max }

  /// The most `threads` threads of this unit can do (GFLOP/s): the all-core best's share for
  /// that many threads (capped at every core), and for one thread at least one core's best.
  public func bound(threads: Int) -> Double {
    let share = allCoresBest * Double(min(max(1, threads), self.threads)) / Double(max(1, self.threads))
    return threads <= 1 ? max(perCoreBest, share) : share
  }

  /// "fp32 avx512f": the unit's name in messages.
  public var unit: String { "\(precision) \(isa)" }
}

/// What other processes took of the CPUs while the probe measured its peaks and bandwidth: all
/// CPUs' busy time in /proc/stat over the measurement, less this process's own (/proc/self/stat).
public struct MeasurementLoad: Codable, Equatable, Sendable {
  /// Other processes' share of all the CPUs' time over the measurement, 0…1.
  public var otherProcessesShare: Double
  /// CPUs /proc/stat counts.
  public var cpus: Int
  /// How long the measurement ran.
  public var seconds: Double

  /// From this share on, the machine counts as busy: its figures are suspect, and core scaling
  /// is not judged.
  public static let busyShare = 0.10

  public init(otherProcessesShare: Double, cpus: Int, seconds: Double) {
    self.otherProcessesShare = otherProcessesShare
    self.cpus = cpus
    self.seconds = seconds
  }

  public var busy: Bool { otherProcessesShare >= Self.busyShare }

  /// "the machine was busy: other processes took 48% of the 2 CPUs while the peaks were measured".
  public var sentence: String {
    let share = String(format: "%.0f%%", otherProcessesShare * 100)
    return busy
      ? "the machine was busy: other processes took \(share) of the \(cpus) CPUs while the peaks were measured; its figures are suspect (the peaks count only the loops' own CPU time, the bandwidth does not)"
      : "the machine was idle: other processes took \(share) of the \(cpus) CPUs while the peaks were measured"
  }
}

public struct PeakNotMeasured: Codable, Equatable, Sendable {
  public var precision: String
  public var isa: String
  public var reason: String

  public init(precision: String, isa: String, reason: String) {
    self.precision = precision
    self.isa = isa
    self.reason = reason
  }
}

/// STREAM triad bandwidth, counted as STREAM counts (24 bytes per double iteration).
public struct Bandwidth: Codable, Equatable, Sendable {
  public var kernel: String
  public var triadGBPerSecond: Statistics
  /// Bytes of each of the three arrays.
  public var arrayBytes: UInt64
  public var threads: Int
  /// How the size was chosen: "4x last-level cache" or "capped by usable memory".
  public var sizing: String

  public init(
    kernel: String, triadGBPerSecond: Statistics, arrayBytes: UInt64, threads: Int, sizing: String
  ) {
    self.kernel = kernel
    self.triadGBPerSecond = triadGBPerSecond
    self.arrayBytes = arrayBytes
    self.threads = threads
    self.sizing = sizing
  }
}
