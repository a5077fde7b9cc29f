import Foundation
import Testing

@testable import Platform
@testable import Probe
@testable import Profile
@testable import Report

/// Other processes running while the probe measures: noticed, said, and unable to lower a peak
/// below a kernel's rate; the peak check the tool runs on every profile it writes.
@Suite(.serialized) struct LoadAndPeakCheckTests {
  /// Busy loops in other processes, one per usable CPU, stopped when the body returns or throws.
  static func whileOtherProcessesSpin<T>(_ body: () throws -> T) throws -> T {
    let count = try MachineProbe.limits().usableThreads
    let spinners = try (0..<count).map { _ -> Process in
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/bin/sh")
      process.arguments = ["-c", "while :; do :; done"]
      try process.run()
      return process
    }
    defer {
      // SIGKILL: a child started from a test's worker thread inherits its blocked signals, SIGTERM among them.
      for process in spinners {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
      }
    }
    return try body()
  }

  @Test func aProbeMeasuredWhileOtherProcessesRunSaysTheMachineWasBusy() throws {
    let machine = try Self.whileOtherProcessesSpin { try MachineProbe.run(ProbeOptions(quick: true)) }
    let load = try #require(machine.measurementLoad)
    #expect(load.busy, "other processes took \(load.otherProcessesShare) of the CPUs")
    #expect(load.cpus >= 1 && load.seconds > 0)
    #expect(machine.warnings.contains { $0.code == "busy-machine" && $0.message.hasPrefix("the machine was busy: other processes took") })
    #expect(!machine.warnings.contains { $0.code == "poor-core-scaling" }, "core scaling is judged on an idle machine only")
    #expect(MachineSummary.text(machine).contains("the machine was busy"))
    // A busy profile is suspect in a comparison, and left out of its peers' medians.
    let summary = ProfileSummary(profile: Profile(machine: machine, provenance: Provenance(runs: [])), path: "busy.json")
    #expect(summary.suspicions?.first == load.sentence)
  }

  @Test func loadIsBusyTimeLessTheProcessOwn() throws {
    let stat = "cpu  1000 10 200 5000 40 5 5 40 0 0\ncpu0 500 5 100 2500 20 2 2 20 0 0\ncpu1 500 5 100 2500 20 3 3 20 0 0\nintr 1\n"
    let later = "cpu  1300 10 260 5300 40 5 5 80 0 0\ncpu0 650 5 130 2650 20 2 2 40 0 0\ncpu1 650 5 130 2650 20 3 3 40 0 0\n"
    // The command name may hold spaces and parentheses.
    let own = "4242 (tune (x) y) R 1 2 3 4 5 6 7 8 9 10 100 20 0 0 20 0"
    let ownLater = "4242 (tune (x) y) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0"
    let before = try #require(CPUTimes.parse(procStat: stat, selfStat: own))
    #expect(before.cpus == 2 && before.busyTicks == 1260 && before.totalTicks == 6300 && before.ownTicks == 120)
    let after = try #require(CPUTimes.parse(procStat: later, selfStat: ownLater))
    // 400 busy ticks of 700, 180 of them this process's own: others took 220 / 700.
    let load = try #require(before.load(until: after, seconds: 3.5))
    #expect(abs(load.otherProcessesShare - 220.0 / 700) < 1e-12 && load.busy)
    #expect(CPUTimes.parse(procStat: "intr 1", selfStat: own) == nil)
    #expect(CPUTimes.parse(procStat: stat, selfStat: "garbage") == nil)
  }

  /// A profile whose fp32 peak reads a tenth of the truth (as a busy machine's wall-clock loop
  /// once measured it) and a GEMM at twice that: writing it measures fp32 again and the excess
  /// is gone; a rate no unit here reaches stays, said in the profile's warnings.
  @Test func thePeakCheckMeasuresAgainAndRecordsWhatStillExceeds() throws {
    let topology = try Topology()
    var machine = try MachineProbe.run(ProbeOptions(quick: true, measure: false))
    machine.peaks = PeakProbe.measure(precisions: ["fp32"], topology: topology, plan: .quick)
    let fp32 = try #require(machine.peaks.first)
    func scaled(_ s: Statistics, _ factor: Double) -> Statistics { Statistics(median: s.median * factor, min: s.min * factor, max: s.max * factor, runs: s.runs) }
    machine.peaks[0].perCoreGflops = scaled(fp32.perCoreGflops, 0.1)
    machine.peaks[0].allCoresGflops = scaled(fp32.allCoresGflops, 0.1)
    func record(_ gflops: Double) -> GEMMCandidateRecord {
      GEMMCandidateRecord(backend: .openblas, parameters: ["threads": String(fp32.threads)], status: .ok, gflops: Statistics(samples: [gflops]))
    }
    let entry = GEMMEntry(shape: "256x256x256", m: 256, n: 256, k: 256, precision: .fp32, winner: record(fp32.allCoresBest * 0.2), candidates: [record(fp32.allCoresBest * 0.2)])
    var profile = Profile(
      machine: machine, kernels: KernelsSection(gemm: GEMMSection(
        fingerprint: machine.fingerprint, strategy: "t", budgetSeconds: 1, tuningSeconds: 1, environment: [:], search: nil, entries: [entry])),
      provenance: Provenance(runs: []))
    #expect(PeakBounds.excesses(profile).count == 1)
    #expect(PeakCheck.enforce(&profile, fingerprint: machine.fingerprint, topology: topology, plan: .quick) == [])
    #expect(PeakBounds.excesses(profile) == [] && !(profile.machine?.warnings.contains { $0.code == "peak-exceeded" } ?? true))
    #expect((profile.machine?.peaks[0].allCoresBest ?? 0) > fp32.allCoresBest * 0.5)

    // Another machine's profile is never measured here; what exceeds is recorded, once.
    profile.kernels?.gemm?.entries[0].candidates.append(record(1e9))
    let left = PeakCheck.enforce(&profile, fingerprint: "ffffffffffffffff", topology: topology, plan: .quick)
    #expect(left.count == 1 && left[0].gflops == 1e9)
    _ = PeakCheck.enforce(&profile, fingerprint: "ffffffffffffffff", topology: topology, plan: .quick)
    #expect(profile.machine?.warnings.filter { $0.code == "peak-exceeded" }.map(\.message) == [left[0].description])
    #expect(ProfileText.text(profile).contains("PEAK CHECK FAILED: 1 kernel rate above the peak"))
  }

  @Test func utilisationIsAgainstTheUnitThatRunsMostGEMMFlopsFromATrustworthyProfile() throws {
    let topology = try Topology()
    var machine = try MachineProbe.run(ProbeOptions(quick: true, measure: false))
    let stats = Statistics(samples: [100, 110])
    machine.peaks = [
      Peak(precision: "fp32", isa: "avx512f", instruction: "x", perCoreGflops: stats, allCoresGflops: Statistics(samples: [200, 220]), threads: 2),
      Peak(precision: "bf16", isa: "avx512_bf16", instruction: "y", perCoreGflops: stats, allCoresGflops: Statistics(samples: [400, 440]), threads: 2),
    ]
    let units: [(unit: ArithmeticUnit, flops: Double)] = [(ArithmeticUnit(precision: "bf16", isa: "avx512_bf16"), 3e9), (.fp32, 1e9)]
    let fromProfile = try #require(UtilisationPeak.resolve(units: units, machine: (machine, "p.json"), fingerprint: machine.fingerprint, topology: topology))
    #expect(fromProfile.gflops == 440 && fromProfile.unit.isa == "avx512_bf16" && fromProfile.share == 0.75 && fromProfile.source == "from p.json")
    // Measured on a busy machine: not trusted, measured now.
    machine.measurementLoad = MeasurementLoad(otherProcessesShare: 0.4, cpus: 2, seconds: 2)
    let busy = try #require(UtilisationPeak.resolve(units: [(.fp32, 1)], machine: (machine, "p.json"), fingerprint: machine.fingerprint, topology: topology))
    #expect(busy.source.hasPrefix("measured now: p.json was probed on a busy machine (other processes took 40% of the CPUs)"), "\(busy.source)")
    #expect(busy.gflops > 0 && busy.gflops != 220)
  }

  /// The cost model's starting rates: the profile's where its probe measured them, else measured
  /// now (never a made-up default).
  @Test func theCostModelsRatesAreMeasuredWhereTheProfileHasNone() throws {
    let topology = try Topology()
    var machine = try MachineProbe.run(ProbeOptions(quick: true, measure: false))
    let measured = CostModelRates.resolve(machine, topology: topology, quick: true)
    #expect(measured.fp32PeakGflops > 1 && measured.triadGBPerSecond > 1)
    #expect(measured.note == "the profile's probe did not measure the fp32 peak or the triad bandwidth: measured now")
    machine.peaks = [Peak(precision: "fp32", isa: "x", instruction: "x", perCoreGflops: Statistics(samples: [50]), allCoresGflops: Statistics(samples: [90, 100]), threads: 2)]
    machine.memoryBandwidth = Bandwidth(kernel: "triad", triadGBPerSecond: Statistics(samples: [12]), arrayBytes: 1 << 26, threads: 2, sizing: "test")
    #expect(CostModelRates.resolve(machine, topology: topology, quick: true) == CostModelRates(fp32PeakGflops: 100, triadGBPerSecond: 12, note: ""))
  }

  @Test func eachBackendRunsOnItsUnit() throws {
    let amx = try GEMMChoice(backend: .amx, precision: .bf16, parameters: ["kernel": "amx-bf16-32x32", "mc": "64", "kc": "64", "nc": "64", "threads": "2"])
    #expect(ArithmeticUnit.of(amx, onednnISA: nil) == ArithmeticUnit(precision: "bf16", isa: "amx-bf16"))
    let dot = try GEMMChoice(backend: .amx, precision: .bf16, parameters: ["kernel": "avx512bf16-12x32", "mc": "64", "kc": "64", "nc": "64", "threads": "2"])
    #expect(ArithmeticUnit.of(dot, onednnISA: nil) == ArithmeticUnit(precision: "bf16", isa: "avx512_bf16"))
    let onednn = GEMMChoice(backend: .onednn, precision: .bf16, threads: 2)
    #expect(ArithmeticUnit.of(onednn, onednnISA: "avx512_core_amx") == ArithmeticUnit(precision: "bf16", isa: "amx-bf16"))
    #expect(ArithmeticUnit.of(onednn, onednnISA: "avx512_core_bf16") == ArithmeticUnit(precision: "bf16", isa: "avx512_bf16"))
    #expect(ArithmeticUnit.of(onednn, onednnISA: "avx2") == .fp32)
    #expect(ArithmeticUnit.of(GEMMChoice(backend: .native, precision: .bf16, threads: 2), onednnISA: nil) == .fp32)
    #expect(ArithmeticUnit.of(GEMMChoice(backend: .openblas, precision: .fp64, threads: 2), onednnISA: nil) == .fp64)
  }
}
