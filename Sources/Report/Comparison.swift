import Platform
import Foundation
import Profile

/// `tune compare`: profiles side by side, peers checked for a slow node, runs of one machine
/// shown with their spread, different machines given ratio columns.
public struct Comparison: Codable, Equatable, Sendable {
  public struct Deviation: Codable, Equatable, Sendable {
    public var figure: String
    public var value: Double
    public var peerMedian: Double
    /// How much worse than the peers' median, as a fraction (0.25 = 25% slower).
    public var shortfall: Double
  }

  /// A machine slower than the median of its peers (same fingerprint) on some figure.
  public struct Suspect: Codable, Equatable, Sendable {
    public var hostname: String
    public var fingerprint: String
    public var deviations: [Deviation]
  }

  /// A profile whose figures cannot be trusted as they stand.
  public struct SuspectProfile: Codable, Equatable, Sendable {
    public var label: String
    public var reasons: [String]
  }

  /// Several runs of one machine: how far apart each figure came out.
  public struct RunSpread: Codable, Equatable, Sendable {
    public struct Item: Codable, Equatable, Sendable {
      public var figure: String
      public var min: Double
      public var max: Double
      /// (max − min) / median over the runs.
      public var relativeSpread: Double
    }
    public var hostname: String
    public var runs: Int
    public var items: [Item]
  }

  public var threshold: Double
  public var profiles: [ProfileSummary]
  /// Every figure any profile has, in first-seen order.
  public var figureNames: [String]
  public var suspects: [Suspect]
  /// Profiles whose figures are suspect in themselves, with why; left out of the peer medians.
  public var suspectProfiles: [SuspectProfile]
  public var spreads: [RunSpread]
  /// For profiles of another fingerprint than the first: figure → value / the first profile's.
  public var ratios: [String: [String: Double]]

  public init(_ profiles: [ProfileSummary], threshold: Double = 0.10) {
    self.threshold = threshold
    self.profiles = profiles
    var names: [String] = []
    for profile in profiles { for figure in profile.figures where !names.contains(figure.name) { names.append(figure.name) } }
    figureNames = names

    // Runs of one machine.
    var spreads: [RunSpread] = []
    let byHost = Dictionary(grouping: profiles) { "\($0.hostname)|\($0.fingerprint)" }
    for key in byHost.keys.sorted() {
      let runs = byHost[key]!
      guard runs.count > 1 else { continue }
      let items: [RunSpread.Item] = names.compactMap { name in
        let values = runs.compactMap { $0.figure(name)?.value }
        guard values.count > 1 else { return nil }
        let statistics = Statistics(samples: values)
        return RunSpread.Item(figure: name, min: statistics.min, max: statistics.max, relativeSpread: statistics.relativeSpread)
      }
      spreads.append(RunSpread(hostname: runs[0].hostname, runs: runs.count, items: items))
    }
    self.spreads = spreads

    // Peers: machines (hostnames) of one fingerprint; a machine's value is the median of its runs.
    // A profile whose own figures are suspect (a busy probe, a rate above its peak) is no
    // yardstick for its peers: it is left out here and named in `suspectProfiles`.
    var suspects: [Suspect] = []
    let byFingerprint = Dictionary(grouping: profiles.filter { $0.suspicions == nil }, by: \.fingerprint)
    for fingerprint in byFingerprint.keys.sorted() {
      let machines = Dictionary(grouping: byFingerprint[fingerprint]!, by: \.hostname)
      guard machines.count > 1 else { continue }
      var deviations: [String: [Deviation]] = [:]
      for name in names {
        var perMachine: [String: Figure] = [:]
        for (host, runs) in machines {
          let figures = runs.compactMap { $0.figure(name) }
          guard let first = figures.first else { continue }
          var figure = first
          figure.value = Statistics(samples: figures.map(\.value)).median
          perMachine[host] = figure
        }
        guard perMachine.count > 1 else { continue }
        let median = Statistics(samples: perMachine.values.map(\.value)).median
        guard median > 0 else { continue }
        for (host, figure) in perMachine {
          let shortfall = figure.higherIsBetter ? (median - figure.value) / median : (figure.value - median) / median
          if shortfall > threshold {
            deviations[host, default: []].append(Deviation(figure: name, value: figure.value, peerMedian: median, shortfall: shortfall))
          }
        }
      }
      for host in deviations.keys.sorted() {
        suspects.append(Suspect(hostname: host, fingerprint: fingerprint, deviations: deviations[host]!))
      }
    }
    self.suspects = suspects
    suspectProfiles = profiles.compactMap { profile in profile.suspicions.map { SuspectProfile(label: profile.label, reasons: $0) } }

    var ratios: [String: [String: Double]] = [:]
    if let baseline = profiles.first {
      for profile in profiles.dropFirst() where profile.fingerprint != baseline.fingerprint {
        var row: [String: Double] = [:]
        for name in names {
          if let value = profile.figure(name)?.value, let base = baseline.figure(name)?.value, base > 0 { row[name] = value / base }
        }
        ratios[profile.label] = row
      }
    }
    self.ratios = ratios
  }
}
