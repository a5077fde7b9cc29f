import Foundation
import Platform
import Profile

/// The machine fingerprint: FNV-1a (64 bit) over a sorted list of stable hardware facts. It is an
/// identity, not a security hash: equal on every run on one machine, different when the CPU, its
/// counts or caches, the memory size, the GPUs or the BLAS build differ.
public enum Fingerprint {
  public static func facts(
    cpu: CPUSection, topology: TopologySection, memoryBytes: UInt64, gpus: [GPU], blasConfig: String, isaMask: ISAMask = .none
  ) -> [String] {
    var facts = [
      "cpu=\(cpu.vendor)|\(cpu.modelName)|\(cpu.family)/\(cpu.model)/\(cpu.stepping)",
      "packages=\(topology.packages)",
      "cores=\(topology.cores)",
      "threads=\(topology.hardwareThreads)",
      // Rounded to GiB: MemTotal moves by a few MiB between boots as the kernel reserves memory.
      "memoryGiB=\(Int((Double(memoryBytes) / Double(1 << 30)).rounded()))",
      "blas=\(blasConfig)",
    ]
    facts += topology.caches.map { "cache=L\($0.level)\($0.kind.rawValue.prefix(1)) \($0.sizeBytes)x\($0.instances)" }
    facts += gpus.map { "gpu=\($0.name) \($0.memoryBytes ?? 0)" }
    // A masked run is another machine as far as kernel choices go: its winners must not be
    // applied, or reused from a journal, without the mask.
    if !isaMask.isEmpty { facts.append("isaMask=\(isaMask.masked.sorted().joined(separator: ","))") }
    return facts.sorted()
  }

  /// The BLAS build without the core its dynamic dispatch picked: the build is the machine's, the
  /// core follows OPENBLAS_CORETYPE (a profile's environment sets it), and the machine must stay
  /// the same machine when a profile's environment is applied.
  public static func blasBuild(config: String, coreName: String) -> String {
    guard !coreName.isEmpty else { return config }
    return config.split(separator: " ", omittingEmptySubsequences: true).filter { $0.lowercased() != coreName.lowercased() }.joined(separator: " ")
  }

  public static func hash(_ facts: [String]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in facts.joined(separator: "\n").utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01b3
    }
    return String(format: "%016llx", hash)
  }
}
