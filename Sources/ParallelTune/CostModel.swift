import Foundation
import Kernels
import NumberFormats
import Platform
import Profile
import Trainer

/// Predicts a candidate's step time from the profile's kernel rates and the measured collective
/// bandwidth, to rank candidates before any trial runs (and to show, per trial, how far off it was).
///
/// Per micro-batch and pipeline stage: every GEMM the stage runs (`GEMMShapes.rank`) at the rate
/// the profile recorded for its shape and precision (the nearest tuned shape), scaled from the
/// tuner's threads to the rank's; attention forward and backward at the profile's flash rates;
/// the elementwise layers as memory traffic at the triad bandwidth; recomputation adds each
/// layer's forward again. Tensor parallelism adds four all-reduces of a micro-batch's activations
/// per layer, pipeline parallelism a send and a receive per stage boundary, data parallelism one
/// all-reduce of the gradients per step (half of it hidden behind the backward), ZeRO-1 an
/// all-gather of the parameters. 1F1B takes (micro + pp − 1) slots of the slowest stage.
public struct CostModel: Sendable {
  public var choices: KernelChoices
  /// Attention rates from the profile: (forward, backward) GFLOP/s per tuned problem and precision.
  public var attention: [(shape: AttentionShape, precision: Precision, forward: Double, backward: Double?)]
  /// The fp32 all-core FMA peak, the fallback for shapes the profile has no rate for.
  public var peakGflops: Double
  public var triadGBPerSecond: Double
  public var collectiveGBPerSecond: Double
  /// Threads the profile's kernel rates were measured on.
  public var tunedThreads: Int
  /// Where ranks run when trials are jobs of several processes (`tune parallel --processes`, the
  /// rates from a fleet profile): a group whose ranks fall in one process reduces at
  /// `collectiveGBPerSecond`, one that spans processes at `acrossGBPerSecond`.
  public var processes = 1
  public var acrossGBPerSecond: Double?

  public init(profile: Profile?, choices: KernelChoices, peakGflops: Double, triadGBPerSecond: Double, collectiveGBPerSecond: Double, tunedThreads: Int) {
    self.choices = choices
    self.peakGflops = peakGflops
    self.triadGBPerSecond = triadGBPerSecond
    self.collectiveGBPerSecond = collectiveGBPerSecond
    self.tunedThreads = max(1, tunedThreads)
    attention = (profile?.kernels?.attention?.entries ?? []).compactMap { entry in
      let precision = entry.precision
      guard let forward = entry.winner?.forwardGflops?.median else { return nil }
      let shape = AttentionShape(batch: entry.batch, heads: entry.heads, kvHeads: entry.kvHeads, seq: entry.seq, headDim: entry.headDim, causal: entry.causal)
      return (shape, precision, forward, entry.winner?.backwardGflops?.median)
    }
  }

  func gemmSeconds(_ product: GEMMShapes.Product, policy: TrainingPrecision, threads: Int) -> Double {
    let precision = policy.gemmPrecision(forward: product.kind == .forward)
    let recorded = choices.recordedGEMMGflops(m: product.m, n: product.n, k: product.k, transA: product.transA, transB: product.transB, precision: precision)
      ?? choices.recordedGEMMGflops(m: product.m, n: product.n, k: product.k, transA: product.transA, transB: product.transB, precision: .fp32)
    var rate = (recorded ?? 0.8 * peakGflops) * Double(threads) / Double(tunedThreads)
    // Small products do not reach the tuned rate: a crude roll-off below 64 in any dimension.
    let smallest = Double(min(product.m, product.n, product.k))
    if smallest < 64 { rate *= max(0.1, smallest / 64) }
    var seconds = product.flops / (max(rate, 1) * 1e9)
    // The policy's rounding pass over both operands (fp32 runs none).
    if policy != .fp32 { seconds += Double(product.aCount + product.bCount) * 8 / (triadGBPerSecond * 1e9) * Double(tunedThreads) / Double(threads) }
    return seconds
  }

  func attentionSeconds(_ shape: AttentionShape, policy: TrainingPrecision, threads: Int) -> (forward: Double, backward: Double) {
    let wanted: Precision = policy == .bf16 ? .bf16 : .fp32
    func distance(_ s: AttentionShape) -> Double {
      abs(log(Double(s.seq) / Double(shape.seq))) + abs(log(Double(s.headDim) / Double(shape.headDim))) + (s.causal == shape.causal ? 0 : 1)
    }
    let match = attention.filter { $0.precision == wanted }.min { distance($0.shape) < distance($1.shape) }
      ?? attention.filter { $0.precision == .fp32 }.min { distance($0.shape) < distance($1.shape) }
    let scale = Double(threads) / Double(tunedThreads)
    let forwardRate = (match?.forward ?? 0.5 * peakGflops) * scale
    let backwardRate = (match?.backward ?? 0.4 * (match?.forward ?? peakGflops)) * scale
    let flops = shape.forwardFlops
    return (flops / (forwardRate * 1e9), 2.5 * flops / (backwardRate * 1e9))
  }

  /// Predicted seconds for one step of `candidate`.
  public func stepSeconds(_ candidate: Candidate, model: ModelConfig, globalBatch: Int) -> Double {
    let l = candidate.layout, t = candidate.threadsPerRank
    let sequences = globalBatch / (l.dp * l.micro), n = sequences * model.seq, h = model.hidden
    // Each group's rate: within a process (shared memory), or across processes (the fleet's links).
    let perProcess = max(1, l.ranks / max(1, processes))
    func rate(_ members: [Int]) -> Double {
      let spans = Set(members.map { $0 / perProcess }).count > 1
      return (spans ? (acrossGBPerSecond ?? collectiveGBPerSecond) : collectiveGBPerSecond) * 1e9
    }
    let tpBandwidth = rate((0..<l.tp).map { $0 }), dpBandwidth = rate((0..<l.dp).map { $0 * l.tp })
    let ppBandwidth = rate((0..<l.pp).map { $0 * l.dp * l.tp })
    var slowest = 0.0
    var gradientBytes = 0.0
    for stage in 0..<l.pp {
      let p = ParameterLayout(model: model, tp: l.tp, tpRank: 0, stage: stage, stages: l.pp)
      gradientBytes = max(gradientBytes, Double(p.count) * 4)
      let products = GEMMShapes.rank(model, layout: p, tokens: n)
      var compute = 0.0
      for product in products {
        let seconds = gemmSeconds(product, policy: candidate.precision, threads: t)
        compute += seconds
        if l.recompute && product.recomputed { compute += seconds }
      }
      let shape = AttentionShape(
        batch: sequences, heads: p.localHeads, kvHeads: p.localKVHeads, seq: model.seq, headDim: model.headDim, causal: model.kind == .causalLM)
      let attention = attentionSeconds(shape, policy: candidate.precision, threads: t)
      let layers = Double(p.layersPerStage)
      compute += layers * (attention.forward * (l.recompute ? 2 : 1) + attention.backward)
      // Elementwise layers: about 40 passes of a token's hidden vector per layer, forward and backward.
      compute += layers * Double(n) * Double(40 * h + 8 * p.localMLP) * 4 / (triadGBPerSecond * 1e9 * Double(t) / Double(tunedThreads))
      var communication = 0.0
      if l.tp > 1 {
        let reduces = 4.0 * (l.recompute ? 1.5 : 1)
        communication += layers * reduces * Double(n * h) * 4 / tpBandwidth * 2 * Double(l.tp - 1) / Double(l.tp)
      }
      if l.pp > 1 { communication += 2 * Double(n * h) * 4 / ppBandwidth }
      slowest = max(slowest, compute + communication)
    }
    var step = slowest * Double(l.micro + l.pp - 1)
    if l.dp > 1 {
      step += 0.5 * gradientBytes / dpBandwidth * 2 * Double(l.dp - 1) / Double(l.dp)
      if l.zero == 1 { step += gradientBytes / dpBandwidth * Double(l.dp - 1) / Double(l.dp) }
    }
    return step
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
