import Platform
import Profile

/// One comparable number of a profile: a name, a unit, a value (a median) and, when measured,
/// its spread. `higherIsBetter` says which way is slow.
public struct Figure: Codable, Equatable, Sendable {
  public var name: String
  public var unit: String
  public var value: Double
  public var min: Double?
  public var max: Double?
  public var higherIsBetter: Bool
  /// Percent of the machine's own peak, where that means something.
  public var percentOfPeak: Double?

  public init(name: String, unit: String, value: Double, min: Double? = nil, max: Double? = nil, higherIsBetter: Bool = true, percentOfPeak: Double? = nil) {
    self.name = name
    self.unit = unit
    self.value = value
    self.min = min
    self.max = max
    self.higherIsBetter = higherIsBetter
    self.percentOfPeak = percentOfPeak
  }

  init(name: String, unit: String, statistics: Statistics, percentOfPeak: Double? = nil) {
    self.init(name: name, unit: unit, value: statistics.median, min: statistics.min, max: statistics.max, percentOfPeak: percentOfPeak)
  }
}

/// What a profile says about its machine, flattened for comparison: facts (text) and figures
/// (numbers), in a stable order. A section the profile lacks contributes nothing, so it shows as
/// absent, never as zero.
public struct ProfileSummary: Codable, Equatable, Sendable {
  public var label: String
  public var path: String
  public var hostname: String
  public var fingerprint: String
  public var facts: [String: String]
  public var figures: [Figure]
  public var sections: [String]
  /// The library each GEMM entry picked, by "precision label" (`tune compare` names
  /// where two machines pick differently).
  public var gemmPicks: [String: String]?
  /// Why this profile's figures are suspect: its probe ran on a busy machine, or a kernel rate
  /// exceeds its peak. nil: nothing known against them.
  public var suspicions: [String]?

  public static let factOrder = ["cpu", "cores", "caches", "memory", "gpus", "blas", "blis", "onednn", "gemm libraries", "fingerprint", "parallel pick"]



  /// One summary per machine a profile holds: its machine, or each node of a fleet profile
  /// (labelled `path#node`), so that `tune compare` sets a fleet's nodes beside other machines.
  public static func all(profile: Profile, path: String) -> [ProfileSummary] {
    guard profile.machine == nil, let fleet = profile.fleet else { return [ProfileSummary(profile: profile, path: path)] }
    return fleet.nodes.map { node in
      ProfileSummary(profile: Profile(machine: node.machine, kernels: node.kernels, provenance: profile.provenance), path: path, label: "\(path.split(separator: "/").last.map(String.init) ?? path)#\(node.name)")
    }
  }

  public init(profile: Profile, path: String, label: String? = nil) {
    self.path = path
    let machine = profile.machine
    hostname = machine?.hostname ?? "unknown"
    fingerprint = machine?.fingerprint ?? "-"
    self.label = label ?? (path.split(separator: "/").last.map(String.init) ?? path)
    var facts: [String: String] = [:]
    var figures: [Figure] = []
    var sections: [String] = []
    var suspicions = PeakBounds.excesses(profile).map(\.description)
    if let m = machine {
      sections.append("machine")
      facts["cpu"] = "\(m.cpu.modelName) (\(m.cpu.vendor) \(m.cpu.family)/\(m.cpu.model)/\(m.cpu.stepping))"
      facts["cores"] = "\(m.topology.packages) pkg, \(m.topology.cores) cores, \(m.topology.hardwareThreads) threads"
      facts["caches"] = m.topology.caches.map { "L\($0.level)\($0.kind == .unified ? "" : String($0.kind.rawValue.prefix(1))) \($0.sizeBytes >> 10) KiB x\($0.instances)" }.joined(separator: ", ")
      facts["memory"] = String(format: "%.1f GiB usable (%@)", Double(m.memory.usableBytes) / Double(1 << 30), m.memory.limitedBy.rawValue)
      facts["gpus"] = m.gpus.isEmpty ? "none" : m.gpus.map(\.name).joined(separator: ", ")
      facts["blas"] = "\(m.blas.library) \(m.blas.version), core \(m.blas.coreName)"
      for library in m.libraries ?? [] {
        facts[library.name.lowercased()] = library.loaded ? "\(library.version ?? "?"), \(library.selected ?? "?")" : "not usable"
      }
      facts["fingerprint"] = m.fingerprint
      // A peak is its best run.
      for peak in m.peaks {
        let one = peak.perCoreGflops, all = peak.allCoresGflops
        figures.append(Figure(name: "peak \(peak.precision) \(peak.isa), 1 core", unit: "GFLOP/s", value: one.max, min: one.min, max: one.max))
        figures.append(Figure(name: "peak \(peak.precision) \(peak.isa), all cores", unit: "GFLOP/s", value: all.max, min: all.min, max: all.max))
      }
      if let load = m.measurementLoad, load.busy { suspicions.append(load.sentence) }
      if let bandwidth = m.memoryBandwidth {
        figures.append(Figure(name: "STREAM triad", unit: "GB/s", statistics: bandwidth.triadGBPerSecond))
      }
    }
    if let gemm = profile.kernels?.gemm {
      sections.append("kernels.gemm")
      // The best GEMM per precision, over the shapes that were measured.
      var best: [String: (GEMMEntry, GEMMCandidateRecord)] = [:]  // by precision name
      for entry in gemm.entries {
        guard let winner = entry.winner, let g = winner.gflops else { continue }
        if g.median > best[entry.precision.rawValue]?.1.gflops?.median ?? -1 { best[entry.precision.rawValue] = (entry, winner) }
      }
      for precision in best.keys.sorted(by: Self.precisionOrder) {
        let (entry, winner) = best[precision]!
        figures.append(Figure(name: "best GEMM \(precision)", unit: "GFLOP/s", statistics: winner.gflops!, percentOfPeak: winner.percentOfPeak))
        _ = entry
      }
      for entry in gemm.entries where entry.shape == "2048x2048x2048" {
        if let winner = entry.winner, let g = winner.gflops {
          figures.append(Figure(name: "GEMM \(entry.precision) 2048³", unit: "GFLOP/s", statistics: g, percentOfPeak: winner.percentOfPeak))
        }
        // Each library's best verified rate there, beside the winner's.
        for backend in [GEMMBackend.openblas, .blis, .onednn] {
          if let best = entry.bestRate(of: backend) {
            figures.append(Figure(name: "GEMM \(entry.precision) 2048³ \(backend)", unit: "GFLOP/s", statistics: best, percentOfPeak: nil))
          }
        }
      }
      var picks: [String: String] = [:]
      var counts: [String: [String: Int]] = [:]
      for entry in gemm.entries {
        guard let winner = entry.winner else { continue }
        picks["\(entry.precision) \(entry.label)"] = winner.backend.rawValue
        counts[entry.precision.rawValue, default: [:]][winner.backend.rawValue, default: 0] += 1
      }
      gemmPicks = picks
      facts["gemm libraries"] = ["fp32", "bf16", "fp16", "fp64"].compactMap { precision in
        counts[precision].map { byBackend in
          "\(precision): " + byBackend.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
      }.joined(separator: "; ")
    }
    if let attention = profile.kernels?.attention {
      sections.append("kernels.attention")
      for entry in attention.entries {
        if let winner = entry.winner, let g = winner.forwardGflops {
          let precision = entry.precision == .fp32 ? "" : " \(entry.precision)"
          figures.append(Figure(name: "attention fwd \(entry.shape)\(precision)", unit: "GFLOP/s", statistics: g, percentOfPeak: nil))
        }
      }
    }
    if let parallel = profile.parallel {
      sections.append("parallel")
      if let pick = parallel.pick {
        facts["parallel pick"] = "\(parallel.model.name): \(pick.layout) \(pick.precision) t\(pick.threadsPerRank)"
        figures.append(Figure(name: "parallel pick \(parallel.model.name)", unit: "tokens/s", value: pick.tokensPerSecond))
      }
    }
    self.facts = facts
    self.figures = figures
    self.sections = sections
    self.suspicions = suspicions.isEmpty ? nil : suspicions
  }

  static let precisionRank = ["fp64", "fp32", "fp16", "bf16", "fp8-e4m3", "fp8-e5m2", "mxfp8-e4m3", "mxfp8-e5m2", "mxfp6-e2m3", "mxfp6-e3m2", "mxfp4", "nvfp4"]
  static func precisionOrder(_ a: String, _ b: String) -> Bool {
    (precisionRank.firstIndex(of: a) ?? 99, a) < (precisionRank.firstIndex(of: b) ?? 99, b)
  }

  public func figure(_ name: String) -> Figure? { figures.first { $0.name == name } }
}
