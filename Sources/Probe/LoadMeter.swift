import Foundation
import Profile

/// CPU time from /proc, in clock ticks: every CPU's busy and total time (/proc/stat) and this
/// process's own (/proc/self/stat). Two snapshots tell how much of the CPUs other processes took
/// in between.
public struct CPUTimes: Equatable, Sendable {
  /// user + nice + system + irq + softirq + steal, over all CPUs (guest time is inside user).
  public var busyTicks: UInt64
  /// busy + idle + iowait, over all CPUs.
  public var totalTicks: UInt64
  /// The `cpuN` lines: how many CPUs the totals cover.
  public var cpus: Int
  /// This process's utime + stime, all its threads.
  public var ownTicks: UInt64

  public init(busyTicks: UInt64, totalTicks: UInt64, cpus: Int, ownTicks: UInt64) {
    self.busyTicks = busyTicks
    self.totalTicks = totalTicks
    self.cpus = cpus
    self.ownTicks = ownTicks
  }

  /// Parses /proc/stat's aggregate `cpu` line and /proc/self/stat; nil when either is unreadable.
  public static func parse(procStat: String, selfStat: String) -> CPUTimes? {
    let lines = procStat.split(separator: "\n")
    guard let aggregate = lines.first(where: { $0.hasPrefix("cpu ") }) else { return nil }
    let fields = aggregate.split(separator: " ").dropFirst().compactMap { UInt64($0) }
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    guard fields.count >= 8 else { return nil }
    let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
    let cpus = lines.filter { $0.hasPrefix("cpu") && !$0.hasPrefix("cpu ") }.count
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    guard let close = selfStat.lastIndex(of: ")") else { return nil }
    let own = selfStat[selfStat.index(after: close)...].split(separator: " ")
    // After the name: state(3) … utime(14) stime(15), so the 12th and 13th fields here.
    guard own.count >= 13, let utime = UInt64(own[11]), let stime = UInt64(own[12]) else { return nil }
    return CPUTimes(busyTicks: busy, totalTicks: busy + fields[3] + fields[4], cpus: max(1, cpus), ownTicks: utime + stime)
  }

  /// Other processes' share of the CPUs between `self` and `later` (busy time less this
  /// process's own, over all CPUs' time), with the seconds it spanned.
  public func load(until later: CPUTimes, seconds: Double) -> MeasurementLoad? {
    guard later.totalTicks > totalTicks, later.busyTicks >= busyTicks else { return nil }
    let busy = Double(later.busyTicks - busyTicks)
    let own = Double(later.ownTicks &- ownTicks)
    let share = max(0, busy - own) / Double(later.totalTicks - totalTicks)
    return MeasurementLoad(otherProcessesShare: min(1, share), cpus: later.cpus, seconds: seconds)
  }
}

extension SystemFiles {
  /// This moment's CPU times; nil where /proc cannot be read.
  public func cpuTimes() -> CPUTimes? {
    guard let stat = read("/proc/stat"), let own = read("/proc/self/stat") else { return nil }
    return CPUTimes.parse(procStat: stat, selfStat: own)
  }
}
