import Foundation
import Testing

@testable import Platform
@testable import Probe
@testable import Profile

/// The probe's facts against what Linux itself says in /proc and /sys on the machine running the
/// tests.
@Suite struct SystemAgreementTests {
  static let machine: MachineSection = try! MachineProbe.run(ProbeOptions(measure: false))

  func sys(_ path: String) -> String? { SystemFiles().read(path) }

  func onlineCPUs() -> [Int] {
    (try? FileManager.default.contentsOfDirectory(atPath: "/sys/devices/system/cpu"))?
      .compactMap { name in name.hasPrefix("cpu") ? Int(name.dropFirst(3)) : nil }
      .filter { sys("/sys/devices/system/cpu/cpu\($0)/online") ?? "1" == "1" }
      .sorted() ?? []
  }

  @Test func hardwareThreadsAndCoresMatchSysfs() {
    let cpus = onlineCPUs()
    #expect(Self.machine.topology.hardwareThreads == cpus.count)
    let cores = Set(cpus.map { cpu in
      "\(sys("/sys/devices/system/cpu/cpu\(cpu)/topology/physical_package_id") ?? "0")/\(sys("/sys/devices/system/cpu/cpu\(cpu)/topology/core_id") ?? "\(cpu)")"
    })
    #expect(Self.machine.topology.cores == cores.count)
  }

  @Test func cacheSizesMatchSysfs() throws {
    let base = "/sys/devices/system/cpu/cpu0/cache"
    let indices = try FileManager.default.contentsOfDirectory(atPath: base).filter { $0.hasPrefix("index") }
    #expect(!indices.isEmpty)
    for index in indices {
      guard let level = sys("\(base)/\(index)/level").flatMap(Int.init), let type = sys("\(base)/\(index)/type"),
        let sizeText = sys("\(base)/\(index)/size"), sizeText.hasSuffix("K"), let kib = UInt64(sizeText.dropLast())
      else { continue }
      let kind: Cache.Kind = type == "Data" ? .data : type == "Instruction" ? .instruction : .unified
      let match = Self.machine.topology.caches.first { $0.level == level && $0.kind == kind }
      #expect(match?.sizeBytes == kib * 1024, "L\(level) \(type): sysfs says \(sizeText)")
      if let ways = sys("\(base)/\(index)/ways_of_associativity").flatMap(Int.init), ways > 0 {
        #expect(match?.associativity == ways, "L\(level) \(type) associativity")
      }
    }
  }

  @Test func featureFlagsMatchProcCpuinfo() throws {
    let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
    let flagsLine = try #require(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
    let flags = Set(flagsLine.split(separator: ":")[1].split(separator: " ").map(String.init))
    // Linux lists a flag only when the CPU has it and the kernel supports it, so for these the
    // kernel's word and cpuid's must agree.
    for name in ["sse2", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_tile", "amx_bf16"] {
      let feature = try #require(Self.machine.cpu.feature(name))
      #expect(feature.present == flags.contains(name), "\(name): cpuid says \(feature.present), /proc/cpuinfo says \(flags.contains(name))")
    }
  }

  @Test func memoryTotalMatchesProcMeminfo() throws {
    let meminfo = try #require(SystemFiles().meminfoBytes("MemTotal"))
    #expect(Self.machine.memory.totalBytes == meminfo)
    #expect(Self.machine.memory.usableBytes <= meminfo)
    #expect(Self.machine.memory.affinityCount == onlineCPUs().count || Self.machine.memory.affinityCount < onlineCPUs().count)
  }

  @Test func fingerprintIsStableAcrossProbes() throws {
    let again = try MachineProbe.run(ProbeOptions(measure: false))
    #expect(again.fingerprint == Self.machine.fingerprint)
    #expect(again.fingerprintFacts == Self.machine.fingerprintFacts)
  }

  @Test func fingerprintChangesWhenAHardwareFactChanges() {
    var facts = Self.machine.fingerprintFacts
    let original = Fingerprint.hash(facts)
    facts[facts.firstIndex { $0.hasPrefix("cores=") }!] = "cores=\(Self.machine.topology.cores + 1)"
    #expect(Fingerprint.hash(facts) != original)
    #expect(original.count == 16)
  }

  @Test func probeJSONRoundTripsAndValidates() throws {
    let data = try ProfileStore.encode(Profile(machine: Self.machine, provenance: Provenance(runs: [
      Provenance.Run(commandLine: ["test"], gitCommit: nil, startedAt: Date(), finishedAt: Date(), stages: ["probe"]),
    ])))
    #expect(try SchemaValidator.profileSchema().validate(try JSONValue.parse(data)) == [])
    #expect(try ProfileStore.decode(data, path: "memory").machine == Self.machine)
  }
}
