import Foundation

/// What a command will allocate, part by part, checked against what the machine lets this process
/// use before anything is allocated: the one mechanism every command (and the trainer, and the
/// parallel tuner) estimates its memory through. The estimates count every large buffer, the
/// checks' transient fp64 copies included, as if all lived at once (an upper estimate of the
/// peak); small ones (vectors, headers) are left out.
public struct MemoryPlan: Sendable, CustomStringConvertible {
  public struct Part: Sendable {
    public var what: String
    public var bytes: Double
  }

  public var parts: [Part] = []

  public init(_ parts: [(String, Double)] = []) {
    self.parts = parts.map { Part(what: $0.0, bytes: $0.1) }
  }

  public mutating func add(_ what: String, _ bytes: Double) { parts.append(Part(what: what, bytes: bytes)) }

  public var totalBytes: Double { parts.reduce(0) { $0 + $1.bytes } }

  public var description: String {
    parts.filter { $0.bytes >= 1e6 }.sorted { $0.bytes > $1.bytes }.map { "\($0.what) \(Self.format($0.bytes))" }.joined(separator: ", ")
  }

  /// "120 GB" / "23.5 GiB"-style figures: GB for what is needed (round numbers a person can say),
  /// with GiB beside limits as the probe prints them.
  /// A message or buffer size in binary units, as collective benchmarks print them: "8 B", "32 KiB", "256 MiB".
  public static func binary(_ bytes: Int) -> String {
    bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : bytes >= 1 << 10 ? "\(bytes >> 10) KiB" : "\(bytes) B"
  }

  public static func format(_ bytes: Double) -> String {
    if bytes >= 1e9 { return String(format: "%.1f GB", bytes / 1e9) }
    if bytes >= 1e6 { return String(format: "%.1f MB", bytes / 1e6) }
    return String(format: "%.0f kB", bytes / 1e3)
  }

  /// Throws unless the plan fits in `limits.usableBytes`.
  /// - Parameters:
  ///   - task: what the plan is for ("tune bench gemm 100000x100000x100000 fp32").
  ///   - fits: what would fit instead, in the command's own terms (nil: nothing to suggest).
  public func check(_ task: String, against limits: MachineLimits, fits: String? = nil) throws {
    guard totalBytes > Double(limits.usableBytes) else { return }
    throw ResourceError.memory(task: task, neededBytes: totalBytes, usableBytes: limits.usableBytes, parts: description, fits: fits, limitedBy: limits.memoryLimitedBy)
  }

  /// The largest n in 1...upper whose plan fits (plans grow with n), or nil when none does.
  public static func largest(upTo upper: Int, fitting limits: MachineLimits, _ plan: (Int) -> MemoryPlan) -> Int? {
    guard upper >= 1, plan(1).totalBytes <= Double(limits.usableBytes) else { return nil }
    var (low, high) = (1, upper)
    while low < high {
      let middle = low + (high - low + 1) / 2
      if plan(middle).totalBytes <= Double(limits.usableBytes) { low = middle } else { high = middle - 1 }
    }
    return low
  }
}

/// What this process may use: memory (the smallest of physical memory and the cgroup limit) and
/// hardware threads (its CPU affinity, capped by a cgroup CPU quota). From the probe's rules
/// (`MachineProbe.limits()`), or given.
public struct MachineLimits: Sendable, Equatable {
  public var usableBytes: UInt64
  public var usableThreads: Int
  /// "physical memory" or "its cgroup".
  public var memoryLimitedBy: String

  public init(usableBytes: UInt64, usableThreads: Int, memoryLimitedBy: String = "physical memory") {
    self.usableBytes = usableBytes
    self.usableThreads = usableThreads
    self.memoryLimitedBy = memoryLimitedBy
  }

  /// Throws unless `threads` fit the usable hardware threads, or `oversubscribe` says to run more.
  /// - Returns: whether the run is oversubscribed (more threads than usable hardware threads).
  @discardableResult
  public func check(threads: Int, flag: String = "--threads", oversubscribe: Bool) throws -> Bool {
    guard threads > usableThreads else { return false }
    if oversubscribe { return true }
    throw ResourceError.threads(requested: threads, usable: usableThreads, flag: flag)
  }
}

public enum ResourceError: Error, Equatable, CustomStringConvertible {
  /// The exit status of a command that refused work for want of memory before allocating it:
  /// how a parent (the parallel tuner's trial runner) knows an out-of-memory refusal from a failure.
  public static let memoryExitStatus: Int32 = 3

  case memory(task: String, neededBytes: Double, usableBytes: UInt64, parts: String, fits: String?, limitedBy: String)
  case threads(requested: Int, usable: Int, flag: String)

  public var description: String {
    switch self {
    case .memory(let task, let needed, let usable, let parts, let fits, let limitedBy):
      var text = "\(task) needs about \(MemoryPlan.format(needed)) (\(parts)); this machine lets it use "
        + String(format: "%.1f GiB", Double(usable) / Double(1 << 30)) + " (limited by \(limitedBy)). Nothing was allocated."
      if let fits { text += " What would fit: \(fits)." }
      return text
    case .threads(let requested, let usable, let flag):
      return "\(flag) \(requested): this machine gives the process \(usable) hardware thread\(usable == 1 ? "" : "s"); more threads than that "
        + "time a contended machine, not the kernels. Use \(flag) \(usable) or fewer, or add --oversubscribe to run (and label) an oversubscribed measurement"
    }
  }
}
