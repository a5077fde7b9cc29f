import Foundation
import Kernels
import NumberFormats
import Planner
import Platform
import Profile
import Trainer

/// Predicts a candidate's step time on this node, to rank candidates before any trial runs (and
/// to show, per trial, how far off it was): the planner's step model (`Planner.Estimator`, the
/// one `tune plan` runs for GPU clusters) on this node's measured rates (`MeasuredRates`: the
/// profile's GEMM rate for each product's shape and precision, its flash attention rates, the
/// triad bandwidth) and the measured collective bandwidth, with the trainer's own constants
/// (`trainerRates`): fp32 activations and gradients, tensor-parallel collectives not overlapped,
/// pipeline sends on the step's path, one ring between processes.
public struct CostModel: Sendable {
  public var collectiveGBPerSecond: Double
  /// Where ranks run when trials are jobs of several processes (`tune parallel --processes`, the
  /// rates from a fleet profile): a group whose ranks fall in one process reduces at
  /// `collectiveGBPerSecond`, one that spans processes at `acrossGBPerSecond`.
  public var processes = 1
  public var acrossGBPerSecond: Double?
  /// The profile's rates, at the tuner's threads.
  var measured: MeasuredRates
  /// The rates of a fleet's nodes (`tune fleet --kernels`): when given, each product runs as
  /// slowly as on the slowest of them, in place of this node's.
  public var nodes: [MeasuredRates] = []

  /// The fp32 all-core FMA peak, the fallback for shapes the profile has no rate for.
  public var peakGflops: Double { measured.peakGflops }
  public var triadGBPerSecond: Double { measured.triadGBPerSecond }
  /// Threads the profile's kernel rates were measured on.
  public var tunedThreads: Int { measured.tunedThreads }

  public init(profile: Profile?, choices: KernelChoices, peakGflops: Double, triadGBPerSecond: Double, collectiveGBPerSecond: Double, tunedThreads: Int) {
    self.collectiveGBPerSecond = collectiveGBPerSecond
    measured = MeasuredRates(
      profile: profile, choices: choices, peakGflops: peakGflops, triadGBPerSecond: triadGBPerSecond, tunedThreads: tunedThreads, threads: tunedThreads)
  }

  /// The trainer's constants in the planner's terms: its elementwise layers move about 40 hidden
  /// vectors and 8 MLP-wide ones of fp32 per token and layer, forward and backward together.
  public static func trainerRates(_ model: ModelConfig) -> AchievableRates {
    var rates = AchievableRates(
      gemm: 1, gemm8Bit: 1, attention: 1, elementwisePasses: (40 + 8 * Double(model.mlpHidden) / Double(model.hidden)) / 3, tensorParallelExposed: 1,
      linkEfficiency: 1, intraLatency: 0, interLatency: 0)
    rates.activationBytes = 4
    rates.parallelRingsAcrossNodes = false
    rates.overlapsPipelineTransfers = false
    return rates
  }

  /// The planner's view of `candidate` on this node: its ranks as devices (one node per process),
  /// each with the candidate's threads.
  public func estimator(_ candidate: Candidate, model: ModelConfig) -> Estimator {
    var rates = measured
    rates.threads = candidate.threadsPerRank
    let ranks = candidate.layout.ranks, perProcess = max(1, ranks / max(1, processes))
    let device = Device.node(peakGflops: peakGflops * Double(candidate.threadsPerRank) / Double(tunedThreads), memoryBytes: .infinity, triadGBPerSecond: triadGBPerSecond)
    let cluster = Cluster(
      nodes: max(1, ranks / perProcess), devicesPerNode: perProcess, device: device, intraGBPerSecond: collectiveGBPerSecond,
      interGBPerSecond: acrossGBPerSecond ?? collectiveGBPerSecond)
    let deviceRates: any DeviceRates =
      nodes.isEmpty
      ? rates
      : SlowestRates(nodes.map { node -> any DeviceRates in
        var scaled = node
        scaled.threads = candidate.threadsPerRank
        return scaled
      })
    return Estimator(model: PlanModel(model), cluster: cluster, rates: Self.trainerRates(model), measured: deviceRates)
  }

  /// A trainer layout in the planner's terms.
  public static func planLayout(_ layout: ParallelLayout) -> PlanLayout {
    PlanLayout(tp: layout.tp, pp: layout.pp, dp: layout.dp, micro: layout.micro, recompute: layout.recompute ? .full : .none, zero: layout.zero)
  }

  /// Predicted seconds for one step of `candidate`.
  public func stepSeconds(_ candidate: Candidate, model: ModelConfig, globalBatch: Int) -> Double {
    estimator(candidate, model: model).predict(Self.planLayout(candidate.layout), globalBatch: globalBatch, precision: candidate.precision).stepSeconds
  }

  /// Shared-memory all-reduce bandwidth between `members` threads: GB/s of buffer reduced, the
  /// median of a few all-reduces of 4 M floats.
  public static func measureCollectiveBandwidth(members: Int = 2, floats: Int = 4 << 20) -> Double {
    guard members > 1 else { return 50 }
    let group = SharedMemoryGroup(size: members).members()
    let results = Samples()
    let done = DispatchGroup()
    for member in group {
      done.enter()
      Thread {
        var buffer = [Float](repeating: 1, count: floats)
        for round in 0..<6 {
          let start = DispatchTime.now().uptimeNanoseconds
          buffer.withUnsafeMutableBufferPointer { member.allReduce($0.baseAddress!, count: floats) }
          let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
          if member.rank == 0 && round > 0 { results.add(Double(floats * 4) / seconds / 1e9) }
        }
        done.leave()
      }.start()
    }
    done.wait()
    return Statistics(samples: results.values).median
  }
}

final class Samples: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var values: [Double] = []
  func add(_ value: Double) { lock.withLock { values.append(value) } }
}

extension FleetRates {
  /// The measured rates of each of the fleet's nodes that ran its kernel stages (`tune fleet
  /// --kernels`) and whose probe measured its fp32 peak and triad bandwidth; the others' names.
  public static func nodeRates(_ fleet: FleetSection) -> (rates: [MeasuredRates], without: [String]) {
    var rates: [MeasuredRates] = [], without: [String] = []
    for node in fleet.nodes {
      let machine = node.machine
      guard let kernels = node.kernels, let peak = machine.peaks.first(where: { $0.precision == "fp32" })?.allCoresBest,
        let triad = machine.memoryBandwidth?.triadGBPerSecond.median
      else {
        without.append(node.name)
        continue
      }
      let profile = Profile(machine: machine, kernels: kernels, provenance: Provenance(runs: []))
      guard let choices = try? KernelChoices(profile: profile, path: "the fleet's node \(node.name)", machineFingerprint: machine.fingerprint) else {
        without.append(node.name)
        continue
      }
      let threads = max(1, machine.memory.affinityCount)
      rates.append(MeasuredRates(profile: profile, choices: choices, peakGflops: peak, triadGBPerSecond: triad, tunedThreads: threads, threads: threads))
    }
    return (rates, without)
  }
}

/// The rates a fleet profile gives the cost model: the all-reduce bus bandwidth within a node
/// (the median node's, at its largest measured size) and across the nodes, bounded by the
/// slowest link (a group that spans the nodes runs at its slowest member's pace).
public struct FleetRates: Sendable {
  public var withinNode: Double?
  public var acrossNodes: Double?

  public init(_ fleet: FleetSection) {
    func largest(_ scope: CollectiveMeasurement.Scope) -> Double? {
      let measured = fleet.collectives.filter { $0.operation == .allReduce && $0.scope == scope }
      guard let top = measured.map(\.bytes).max() else { return nil }
      let rates = measured.filter { $0.bytes == top }.map(\.busGBPerSecond).sorted()
      return rates[rates.count / 2]
    }
    withinNode = largest(.withinNode)
    let slowestLink = fleet.links.map(\.gbPerSecond).min()
    acrossNodes = [largest(.acrossNodes), slowestLink].compactMap { $0 }.min()
  }
}
