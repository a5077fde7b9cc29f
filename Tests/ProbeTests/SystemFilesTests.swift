import Foundation
import Testing

import Platform
@testable import Probe

/// cgroup and /proc parsing on fixture trees laid out as Linux lays them out.
@Suite struct SystemFilesTests {
  func tree(_ files: [String: String]) throws -> SystemFiles {
    let root = NSTemporaryDirectory() + "scaletune-sys-" + UUID().uuidString
    for (path, content) in files {
      let url = URL(fileURLWithPath: root + path)
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try Data(content.utf8).write(to: url)
    }
    return SystemFiles(root: root)
  }

  @Test func cgroupV2Limits() throws {
    let files = try tree([
      "/proc/self/cgroup": "0::/job/42\n",
      "/sys/fs/cgroup/job/42/memory.max": "8589934592\n",
      "/sys/fs/cgroup/job/42/cpu.max": "250000 100000\n",
    ])
    let limits = files.cgroupLimits()
    #expect(limits.memoryBytes == 8 << 30)
    #expect(limits.cpuCores == 2.5)
  }

  @Test func cgroupV2UnlimitedAndLimitInAParent() throws {
    let files = try tree([
      "/proc/self/cgroup": "0::/job/42\n",
      "/sys/fs/cgroup/job/memory.max": "4294967296\n",
      "/sys/fs/cgroup/job/42/cpu.max": "max 100000\n",
    ])
    let limits = files.cgroupLimits()
    #expect(limits.memoryBytes == 4 << 30)
    #expect(limits.cpuCores == nil)
  }

  @Test func cgroupV1LimitsAndItsUnlimitedSentinel() throws {
    let limited = try tree([
      "/proc/self/cgroup": "4:memory:/box\n1:cpu,cpuacct:/box\n0::/\n",
      "/sys/fs/cgroup/memory/box/memory.limit_in_bytes": "2147483648\n",
      "/sys/fs/cgroup/cpu/box/cpu.cfs_quota_us": "150000\n",
      "/sys/fs/cgroup/cpu/box/cpu.cfs_period_us": "100000\n",
    ])
    #expect(limited.cgroupLimits().memoryBytes == 2 << 30)
    #expect(limited.cgroupLimits().cpuCores == 1.5)
    let unlimited = try tree([
      "/proc/self/cgroup": "4:memory:/box\n0::/\n",
      "/sys/fs/cgroup/memory/box/memory.limit_in_bytes": "9223372036854771712\n",
      "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
      "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
    ])
    #expect(unlimited.cgroupLimits().memoryBytes == nil)
    #expect(unlimited.cgroupLimits().cpuCores == nil)
  }

  @Test func meminfoAndPerformanceFacts() throws {
    let files = try tree([
      "/proc/meminfo": "MemTotal:       24684092 kB\nMemFree:        24012172 kB\n",
      "/sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never\n",
      "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "powersave\n",
      "/sys/devices/system/cpu/smt/active": "1\n",
    ])
    #expect(files.meminfoBytes("MemTotal") == 24_684_092 * 1024)
    #expect(files.meminfoBytes("Missing") == nil)
    let facts = files.performanceFacts(environment: ["OPENBLAS_CORETYPE": "Zen", "PATH": "/bin", "OMP_NUM_THREADS": "2"])
    #expect(facts.thp == "madvise")
    #expect(facts.governor == "powersave")
    #expect(facts.smt == true)
    #expect(facts.variables == ["OPENBLAS_CORETYPE": "Zen", "OMP_NUM_THREADS": "2"])
  }
}

/// What `train --profile` re-runs itself for: only settings the environment lacks, and never
/// from the re-run process itself.
@Suite struct ReexecutionTests {
  @Test func onlyMissingSettingsAndNeverTwice() {
    let wanted = ["OPENBLAS_CORETYPE": "Cooperlake", "OPENBLAS_NUM_THREADS": "2"]
    #expect(Reexecution.missing(wanted, in: ["OPENBLAS_NUM_THREADS": "2"]) == ["OPENBLAS_CORETYPE": "Cooperlake"])
    #expect(Reexecution.missing(wanted, in: ["OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "2"]) == ["OPENBLAS_CORETYPE": "Cooperlake"])
    #expect(Reexecution.missing(wanted, in: wanted).isEmpty)
    #expect(Reexecution.missing(wanted, in: [Reexecution.marker: "1"]).isEmpty, "the re-run process never re-runs")
  }
}
