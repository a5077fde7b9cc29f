import Foundation
import Profile

/// One layout's outcome: kept with its predictions, or pruned with a reason.
public enum Evaluated: Sendable {
  case kept(PlannedCandidate)
  case pruned(PrunedCandidate)
}

/// A planned layout with its precision and predictions: one entry of `candidates` (and the pick).
public struct PlannedCandidate: Codable, Sendable, Hashable {
  public var layout: PlanLayout
  public var precision: TrainingPrecision
  public var predicted: Prediction
}

/// A layout the planner did not keep, and why.
public struct PrunedCandidate: Codable, Sendable, Hashable {
  public var layout: PlanLayout
  public var precision: TrainingPrecision
  public var reason: String
  /// Its predictions, where it was a valid layout that did not fit in memory.
  public var predicted: Prediction?
}

/// What `tune plan` answers: the pick, the best candidates (best first) and the pruned ones.
public struct Plan: Codable, Sendable {
  /// The plan in the file at `path` (`tune plan --output`); nil when it holds something else (a profile).
  public static func load(_ path: String) -> Plan? {
    FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(Plan.self, from: $0) }
  }

  public var model: String
  /// The model's whole shape (what `tune export` writes from the plan).
  public var modelConfig: ModelConfig
  public var tiedEmbeddings: Bool
  public var nodes: Int
  public var devicesPerNode: Int
  public var cluster: String
  public var device: String
  public var devices: Int
  public var globalBatch: Int
  public var pick: PlannedCandidate?
  public var candidates: [PlannedCandidate]
  /// The fastest layouts over the device's memory, those closest to fitting, and one example of
  /// every other reason.
  public var pruned: [PrunedCandidate]
  /// How many layouts each reason removed (the reason's first words).
  public var prunedCounts: [String: Int]
  public var evaluated: Int
  public var rates: AchievableRates
  /// With `--layout`: the search's own pick for the same cluster, batch and precisions, and which
  /// part of the step it shortens against the given layout (nil when the given one is the best).
  public var searchPick: PlannedCandidate?
  public var why: String?
}

/// The cluster search: every layout the world and the model allow over tensor, pipeline (with
/// interleaved virtual stages), data and context parallelism, micro-batch, recomputation,
/// sequence parallelism, ZeRO stage and precision; those over the device's memory pruned; the
/// rest ranked by predicted step time.
public struct Planner: Sendable {
  public var estimator: Estimator
  public var globalBatch: Int
  public var precisions: [TrainingPrecision]

  public init(estimator: Estimator, globalBatch: Int, precisions: [TrainingPrecision]) throws {
    self.estimator = estimator
    self.globalBatch = globalBatch
    self.precisions = precisions
    let device = estimator.cluster.device
    for precision in precisions where device.peak(precision) == nil {
      let supported = TrainingPrecision.allCases.filter { device.peak($0) != nil }.map(\.rawValue)
      throw PlanError.precision(
        precision.rawValue, "\(device.name) has no \(precision.rawValue) tensor units; expected one of \(supported.joined(separator: ", "))")
    }
    guard globalBatch > 0 else { throw PlanError.batch("--global-batch must be a positive number of sequences") }
  }

  /// The precisions to search when none is given: every 16-bit and 8-bit one the device has.
  public static func defaultPrecisions(_ device: Device) -> [TrainingPrecision] {
    [.bf16, .fp8].filter { device.peak($0) != nil }
  }

  func evaluate(_ layout: PlanLayout, _ precision: TrainingPrecision) -> Evaluated {
    let c = estimator.model.config
    if let problem = layout.problem(model: c, globalBatch: globalBatch, devices: estimator.cluster.devices) {
      return .pruned(PrunedCandidate(layout: layout, precision: precision, reason: problem))
    }
    let prediction = estimator.predict(layout, globalBatch: globalBatch, precision: precision)
    let capacity = estimator.cluster.device.memoryBytes
    if prediction.memoryBytesPerDevice > capacity {
      return .pruned(PrunedCandidate(
        layout: layout, precision: precision,
        reason: String(format: "needs %.1f GB per device, above the %@'s %.0f GB", prediction.memoryBytesPerDevice / 1e9, estimator.cluster.device.name, capacity / 1e9),
        predicted: prediction))
    }
    return .kept(PlannedCandidate(layout: layout, precision: precision, predicted: prediction))
  }

  /// Exactly `layout`, in each precision; beside it the search's pick and why it is faster, if it is.
  public func evaluate(_ layout: PlanLayout, compare: Bool = false) -> Plan {
    var plan = collect(precisions.map { evaluate(layout, $0) }, top: precisions.count)
    if compare, let given = plan.pick, let best = search(top: 1).pick, best.predicted.stepSeconds < given.predicted.stepSeconds {
      plan.searchPick = best
      plan.why = Self.why(best.predicted, against: given.predicted)
    }
    return plan
  }

  /// Every layout, best `top` kept.
  public func search(top: Int) -> Plan {
    var results: [Evaluated] = []
    for layout in layouts() {
      for precision in precisions { results.append(evaluate(layout, precision)) }
    }
    return collect(results, top: top)
  }

  /// The layouts searched: tp a power of two up to two nodes' devices, cp a power of two up to
  /// 16, pp any that splits the layers (evenly, or with smaller first and last stages) with
  /// tp × cp × pp dividing the devices, virtual stages dividing the stage's layers (up to 24),
  /// every micro-batch size up to 16 that divides a data-parallel rank's share, the three
  /// recomputations, sequence parallelism on and off, ZeRO 0 to 3.
  public func layouts() -> [PlanLayout] {
    let c = estimator.model.config, devices = estimator.cluster.devices
    var result: [PlanLayout] = []
    let powers = (0...10).map { 1 << $0 }
    for tp in powers where tp <= max(1, 2 * estimator.cluster.devicesPerNode) && devices % tp == 0 {
      for cp in powers where cp <= 16 && devices % (tp * cp) == 0 {
        for pp in 1...c.layers where devices % (tp * cp * pp) == 0 && PlanLayout(pp: pp).stageLayers(c.layers) != nil {
          let dp = devices / (tp * cp * pp)
          guard globalBatch % dp == 0 else {
            result.append(PlanLayout(tp: tp, pp: pp, dp: dp, cp: cp))
            continue
          }
          let share = globalBatch / dp
          for virtualStages in 1...24 where virtualStages == 1 || (pp > 1 && c.layers % (pp * virtualStages) == 0) {
            for size in 1...min(16, share) where share % size == 0 {
              for recompute in PlanLayout.Recompute.allCases {
                for sequenceParallel in tp > 1 ? [false, true] : [false] {
                  for zero in 0...3 {
                    result.append(PlanLayout(
                      tp: tp, pp: pp, dp: dp, cp: cp, micro: share / size, virtualStages: virtualStages, recompute: recompute,
                      sequenceParallel: sequenceParallel, zero: zero))
                  }
                }
              }
            }
          }
        }
      }
    }
    return result
  }

  func collect(_ results: [Evaluated], top: Int) -> Plan {
    var kept: [PlannedCandidate] = [], over: [PrunedCandidate] = [], invalid: [String: PrunedCandidate] = [:], counts: [String: Int] = [:]
    for result in results {
      switch result {
      case .kept(let candidate): kept.append(candidate)
      case .pruned(let pruned):
        // A layout with predictions was pruned for memory; the others for their shape.
        let key = pruned.predicted != nil ? "over the device's memory" : Self.reasonKind(pruned.reason)
        counts[key, default: 0] += 1
        if pruned.predicted != nil { over.append(pruned) } else if invalid[key] == nil { invalid[key] = pruned }
      }
    }
    // Faster first; at the same predicted time the lower ZeRO stage (fewer collectives to go
    // wrong), then less memory.
    let order = { (a: Prediction, al: PlanLayout, b: Prediction, bl: PlanLayout) in
      a.stepSeconds != b.stepSeconds
        ? a.stepSeconds < b.stepSeconds : (al.zero != bl.zero ? al.zero < bl.zero : a.memoryBytesPerDevice < b.memoryBytesPerDevice)
    }
    kept.sort { order($0.predicted, $0.layout, $1.predicted, $1.layout) }
    over.sort { order($0.predicted!, $0.layout, $1.predicted!, $1.layout) }
    // The fastest over memory, and the closest to fitting (what to try when nothing fits).
    let smallest = over.sorted { $0.predicted!.memoryBytesPerDevice < $1.predicted!.memoryBytesPerDevice }.prefix(10)
    let shown = Array(over.prefix(20)) + smallest.filter { candidate in !over.prefix(20).contains(candidate) }
    let cluster = estimator.cluster
    return Plan(
      model: estimator.model.config.name, modelConfig: estimator.model.config, tiedEmbeddings: estimator.model.tiedEmbeddings, nodes: cluster.nodes,
      devicesPerNode: cluster.devicesPerNode,
      cluster: "nodes=\(cluster.nodes),devices=\(cluster.devicesPerNode),device=\(cluster.device.name)", device: cluster.device.name,
      devices: cluster.devices, globalBatch: globalBatch, pick: kept.first, candidates: Array(kept.prefix(top)),
      pruned: shown + invalid.keys.sorted().map { invalid[$0]! }, prunedCounts: counts, evaluated: results.count,
      rates: estimator.rates, searchPick: nil, why: nil)
  }

  /// A reason's kind: its words without the figures ("tp=16 does not divide the 64 heads and 8
  /// key/value heads" → "tp does not divide the heads and key/value heads").
  static func reasonKind(_ reason: String) -> String {
    let words = reason.split(separator: " ").map { word -> String in
      let name = word.split(separator: "=").first.map(String.init) ?? String(word)
      return name.contains { $0.isNumber } ? "" : name.trimmingCharacters(in: CharacterSet(charactersIn: "(),;:"))
    }
    return words.filter { !$0.isEmpty }.joined(separator: " ")
  }

  /// Which part of the step `pick` shortens against `other`: the time part that shrank most.
  public static func why(_ pick: Prediction, against other: Prediction) -> String {
    let mine = Dictionary(uniqueKeysWithValues: pick.timeParts.named), theirs = Dictionary(uniqueKeysWithValues: other.timeParts.named)
    let gains = theirs.map { ($0.key, $0.value - (mine[$0.key] ?? 0)) }.sorted { $0.1 > $1.1 }
    guard let best = gains.first, best.1 > 0 else { return "no part of the step is shorter" }
    return String(format: "%.0f%% shorter step, most of it in %@ (%.3f s less)", 100 * (1 - pick.stepSeconds / other.stepSeconds), best.0, best.1)
  }
}
