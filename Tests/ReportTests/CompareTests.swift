import NumberFormats
import Platform
import Foundation
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

@testable import Profile
@testable import Report

/// Fixture profiles made in code: a fleet of same-fingerprint nodes, one of them slow.
enum Fleet {
  static func machine(host: String, fingerprint: String = "00000000000000aa", scale: Double) -> MachineSection {
    func stats(_ value: Double) -> Statistics { Statistics(samples: [value * 0.98, value, value * 1.01]) }
    return MachineSection(
      hostname: host, fingerprint: fingerprint, fingerprintFacts: ["cpu=test"],
      cpu: CPUSection(vendor: "GenuineIntel", modelName: "Xeon Test", family: 6, model: 143, stepping: 8, hypervisor: false, features: []),
      topology: TopologySection(source: "test", packages: 1, numaNodes: [], cores: 16, hardwareThreads: 32,
                                caches: [Cache(level: 3, kind: .unified, sizeBytes: 60 << 20, lineSizeBytes: 64, associativity: 15, sharedByCores: 16, instances: 1)]),
      memory: MemorySection(totalBytes: 128 << 30, numaTotalBytes: 128 << 30, cgroupMemoryLimitBytes: nil, cgroupCPUQuotaCores: nil,
                            affinityCPUs: "0-31", affinityCount: 32, usableBytes: 128 << 30, limitedBy: .physical, explanation: ""),
      pciDevices: [], gpus: [], blas: BLASSection(library: "OpenBLAS", version: "0.3.26", config: "OpenBLAS 0.3.26", coreName: "SapphireRapids", threads: 16, coreISA: "amx", cpuISA: "amx", mismatch: nil),
      peaks: [Peak(precision: "fp32", isa: "avx512f", instruction: "vfmadd231ps zmm", perCoreGflops: stats(190 * scale), allCoresGflops: stats(2900 * scale), threads: 16)],
      peaksNotMeasured: [], memoryBandwidth: Bandwidth(kernel: "triad", triadGBPerSecond: stats(250 * scale), arrayBytes: 1 << 28, threads: 16, sizing: "test"),
      environment: EnvironmentFacts(frequencyGovernor: "performance", smtActive: true, transparentHugePages: "always", variables: [:]),
      warnings: [], probeSeconds: 1, quick: false)
  }

  static func profile(host: String, fingerprint: String = "00000000000000aa", scale: Double, gemmScale: Double? = nil) -> Profile {
    let gemm = GEMMSection(
      fingerprint: fingerprint, strategy: "test", budgetSeconds: 1, tuningSeconds: 1, environment: [:], search: nil,
      entries: [GEMMEntry(shape: "2048x2048x2048", m: 2048, n: 2048, k: 2048, precision: .fp32,
                          winner: GEMMCandidateRecord(backend: .native, parameters: [:], status: .ok, gflops: Statistics(samples: [2500 * (gemmScale ?? scale)]), percentOfPeak: 86, errorNormal: 1e-8),
                          candidates: [])])
    return Profile(machine: machine(host: host, fingerprint: fingerprint, scale: scale), kernels: KernelsSection(gemm: gemm),
                   provenance: Provenance(runs: [Provenance.Run(commandLine: ["test"], gitCommit: nil, startedAt: Date(timeIntervalSince1970: 0), finishedAt: Date(timeIntervalSince1970: 1), stages: ["probe"])]))
  }

  static func summaries(_ profiles: [Profile]) -> [ProfileSummary] {
    profiles.enumerated().map { ProfileSummary(profile: $1, path: "p\($0).json") }
  }
}

@Suite struct CompareTests {
  @Test func aPlantedSlowNodeIsFlaggedWithTheFiguresThatDeviate() throws {
    let fleet = [Fleet.profile(host: "node1", scale: 1.00), Fleet.profile(host: "node2", scale: 1.02), Fleet.profile(host: "node3", scale: 0.99),
                 Fleet.profile(host: "node4", scale: 1.0, gemmScale: 0.70)]
    let comparison = Comparison(Fleet.summaries(fleet), threshold: 0.10)
    #expect(comparison.suspects.map(\.hostname) == ["node4"])
    let figures = comparison.suspects[0].deviations.map(\.figure)
    #expect(figures.contains("GEMM fp32 2048³") && !figures.contains("STREAM triad"))
    let shortfall = comparison.suspects[0].deviations.first { $0.figure == "GEMM fp32 2048³" }!.shortfall
    #expect(abs(shortfall - 0.30) < 0.02)
    #expect(try comparison.render(.text).contains("SUSPECT NODE node4"))
  }

  @Test func noiseWithinTheThresholdStaysQuiet() throws {
    let fleet = [1.0, 1.04, 0.97, 1.02, 0.95].enumerated().map { Fleet.profile(host: "node\($0)", scale: $1) }
    let comparison = Comparison(Fleet.summaries(fleet), threshold: 0.10)
    #expect(comparison.suspects.isEmpty)
    #expect(try comparison.render(.text).contains("No suspect node"))
  }

  /// A profile whose figures are suspect in themselves (probed on a busy machine, or a rate above
  /// its peak, as written by an older tool) is named, shown as written, and no yardstick for its
  /// peers.
  @Test func suspectProfilesAreNamedAndLeftOutOfThePeers() throws {
    var busy = Fleet.profile(host: "node3", scale: 0.5)
    busy.machine?.measurementLoad = MeasurementLoad(otherProcessesShare: 0.45, cpus: 32, seconds: 3)
    var exceeding = Fleet.profile(host: "node4", scale: 1.0)
    exceeding.kernels?.gemm?.entries[0].winner?.gflops = Statistics(samples: [4000])
    let comparison = Comparison(Fleet.summaries([Fleet.profile(host: "node1", scale: 1.0), Fleet.profile(host: "node2", scale: 1.0), busy, exceeding]))
    #expect(comparison.suspects.isEmpty, "the busy node's low figures are not held against it as a slow node: \(comparison.suspects)")
    #expect(comparison.suspectProfiles.map(\.label) == ["p2.json", "p3.json"])
    let text = try comparison.render(.text)
    #expect(text.contains("SUSPECT FIGURES in p2.json (left out of the peer comparison): the machine was busy: other processes took 45% of the 32 CPUs"), "\(text)")
    #expect(text.contains("SUSPECT FIGURES in p3.json (left out of the peer comparison): GEMM 2048x2048x2048 fp32 native, 16 threads ran at 4000.0 GFLOP/s, 37% above the fp32 avx512f (16 cores) peak of 2929.0 GFLOP/s"), "\(text)")
    #expect(text.contains("(suspect)"))
    let report = ProfileText.text(exceeding)
    #expect(report.contains("PEAK CHECK FAILED: 1 kernel rate above the peak of every unit that can run them (the profile is shown as written)"))
    #expect(HTMLPage.report([("p3.json", exceeding)]).contains("Peak check failed"))
  }

  @Test func runsOfOneMachineShowTheirSpread() {
    let runs = [Fleet.profile(host: "node1", scale: 1.0), Fleet.profile(host: "node1", scale: 1.05)]
    let comparison = Comparison(Fleet.summaries(runs))
    #expect(comparison.spreads.count == 1 && comparison.spreads[0].runs == 2)
    let triad = comparison.spreads[0].items.first { $0.figure == "STREAM triad" }!
    #expect(abs(triad.relativeSpread - 0.05 / 1.025) < 1e-9)
    #expect(comparison.suspects.isEmpty, "runs of one machine are not peers of each other")
  }

  @Test func differentMachinesGetRatiosAndAbsentSectionsShowAsAbsent() throws {
    var other = Fleet.profile(host: "gpu-box", fingerprint: "00000000000000bb", scale: 2.0)
    other.kernels = nil
    let comparison = Comparison(Fleet.summaries([Fleet.profile(host: "node1", scale: 1.0), other]))
    let ratio = try #require(comparison.ratios["p1.json"]?["STREAM triad"])
    #expect(abs(ratio - 2.0) < 1e-9)
    #expect(comparison.ratios["p1.json"]?["GEMM fp32 2048³"] == nil)
    let text = try comparison.render(.text)
    #expect(text.contains("absent") && text.contains("2.00x"))
  }

  @Test func everyFormatIsProducedAndParses() throws {
    let comparison = Comparison(Fleet.summaries([Fleet.profile(host: "a", scale: 1), Fleet.profile(host: "b", scale: 0.5)]))
    let json = try comparison.render(.json)
    let decoded = try JSONDecoder().decode(Comparison.self, from: Data(json.utf8))
    #expect(decoded == comparison)
    let markdown = try comparison.render(.markdown)
    #expect(markdown.split(separator: "\n").first?.hasPrefix("| ") == true && markdown.contains("|---|"))
    for html in [try comparison.render(.html), HTMLPage.report([("a.json", Fleet.profile(host: "a", scale: 1)), ("b.json", Fleet.profile(host: "b", scale: 0.5))])] {
      let parser = XMLParser(data: Data(html.utf8))
      #expect(parser.parse(), "HTML is well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
      #expect(html.contains("<svg") || html.contains("<table"))
      // No network resources: the only URLs are the XHTML and SVG namespaces, which load nothing.
      let urls = html.components(separatedBy: "http").dropFirst().map { $0.prefix(30) }
      #expect(urls.allSatisfy { $0.hasPrefix("://www.w3.org/2000/svg\"") || $0.hasPrefix("://www.w3.org/1999/xhtml\"") }, "\(urls)")
      #expect(!html.contains("src=\"http") && !html.contains("href=\"http"))
    }
  }
}

/// Two machines whose GEMM tuners picked different libraries for the same entries.
@Suite struct LibraryCompareTests {
  static func profile(host: String, fingerprint: String, bf16Winner: String, fp32Winner: String) -> Profile {
    func record(_ backend: GEMMBackend, _ gflops: Double) -> GEMMCandidateRecord {
      GEMMCandidateRecord(backend: backend, parameters: [:], status: .ok, gflops: Statistics(samples: [gflops * 0.99, gflops, gflops * 1.01]))
    }
    func entry(_ precision: Precision, _ winner: String, transB: Bool? = nil) -> GEMMEntry {
      let candidates = [GEMMBackend.native, .openblas, .blis, .amx, .onednn].map { record($0, $0.rawValue == winner ? 300 : 200) }
        + [GEMMCandidateRecord(backend: .blis, parameters: [:], status: .pruned, reason: "BLIS's typed gemm takes fp32 or fp64 operands, not bf16")]
      return GEMMEntry(shape: "2048x2048x2048", m: 2048, n: 2048, k: 2048, precision: precision, transB: transB,
                       winner: candidates.first { $0.backend.rawValue == winner }, candidates: candidates)
    }
    var profile = Fleet.profile(host: host, fingerprint: fingerprint, scale: 1)
    profile.kernels?.gemm?.entries = [entry(.fp32, fp32Winner), entry(.bf16, bf16Winner, transB: true)]
    return profile
  }

  @Test func differentPicksAreNamedEntryByEntry() throws {
    let xeon = Self.profile(host: "xeon", fingerprint: "aa", bf16Winner: "onednn", fp32Winner: "openblas")
    let epyc = Self.profile(host: "epyc", fingerprint: "bb", bf16Winner: "amx", fp32Winner: "openblas")
    let comparison = Comparison(Fleet.summaries([xeon, epyc]))
    let text = try comparison.render(.text)
    #expect(text.contains("GEMM libraries differ: p1.json picks another library than p0.json for 1 of 2 shared entries: bf16 2048x2048x2048 NT: onednn → amx"), "\(text)")
    #expect(text.contains("gemm libraries") && text.contains("bf16: onednn 1") && text.contains("bf16: amx 1"))
    // Each library's own rate at 2048³ is a figure with a ratio column.
    #expect(comparison.figureNames.contains("GEMM fp32 2048³ blis") && comparison.figureNames.contains("GEMM bf16 2048³ onednn"))
    let same = Comparison(Fleet.summaries([xeon, Self.profile(host: "xeon2", fingerprint: "aa", bf16Winner: "onednn", fp32Winner: "openblas")]))
    #expect(!(try same.render(.text)).contains("GEMM libraries differ"))
  }

  @Test func theLibraryChartHasABarPerLibraryAndShape() throws {
    let svg = try #require(ReportCharts.librariesByShape(Self.profile(host: "x", fingerprint: "aa", bf16Winner: "onednn", fp32Winner: "blis"), precision: "fp32"))
    for backend in ["native", "openblas", "blis", "onednn"] { #expect(svg.contains("2048x2048x2048 \(backend):"), "\(backend)") }
    #expect(svg.contains("blis: 300.0 GFLOP/s (winner)"))
  }
}
