import Foundation
import Kernels
import Platform
import Profile

/// A rank's process groups: its tensor-, data- and pipeline-parallel peers, the first and last
/// pipeline stages that hold the tied embedding (pp > 1), and the whole world.
struct RankGroups {
  var tp: Communicator
  var dp: Communicator
  var pp: Communicator
  var embedding: Communicator?
  var world: Communicator
}

/// What one rank's step left for the world to report.
struct RankStepTimes {
  var seconds = 0.0
  var communication = 0.0
  var bubble = 0.0
  var peakBytes = 0
}

/// One rank: a thread with its own kernel context, its share of the model (`Stage`), gradients,
/// optimizer state and memory account, stepping in lockstep with the others through its groups.
final class Rank<T: TrainScalar>: @unchecked Sendable {
  let index: Int
  /// Data-, tensor- and pipeline-parallel coordinates.
  let d: Int, t: Int, p: Int
  let options: TrainingOptions
  let account = MemoryAccount()
  let context: KernelContext
  let runner: GEMMRunner<T>
  let stage: Stage<T>
  let optimizer: AdamW<T>
  let groups: RankGroups
  let communication: CommunicationThread?
  let dpShard: Range<Int>
  let inFlight: Int
  var scaler: LossScaler
  /// Updates applied so far (AdamW's bias correction counts them; skipped steps do not).
  var updates = 0
  private var communicationSeconds = 0.0
  private var bubbleSeconds = 0.0

  init(index: Int, d: Int, t: Int, p: Int, options: TrainingOptions, groups: RankGroups) {
    self.index = index
    (self.d, self.t, self.p) = (d, t, p)
    self.options = options
    self.groups = groups
    let layout = options.layout
    let placement = options.placement.map { placement -> ThreadPlacement in
      let threads = options.threadsPerRank
      let pus = (0..<threads).map { placement.pus[(index * threads + $0) % max(1, placement.pus.count)] }
      return ThreadPlacement(topology: placement.topology, pus: pus)
    }
    context = KernelContext(threads: options.threadsPerRank, placement: placement)
    runner = GEMMRunner<T>(context: context, choices: options.choices, caches: options.caches, policy: options.precision, fp8Scaling: options.fp8Scaling, logs: options.logsGEMMs)
    let parameters = ParameterLayout(model: options.model, tp: layout.tp, tpRank: t, stage: p, stages: layout.pp)
    inFlight = min(layout.pp - p, layout.micro)
    stage = Stage<T>(
      layout: parameters, context: context, runner: runner, tpGroup: groups.tp, account: account, recompute: layout.recompute,
      sequences: options.sequencesPerMicroBatch, inFlight: inFlight, choices: options.choices,
      attentionPrecision: options.precision == .bf16 ? .bf16 : .fp32)
    dpShard = groups.dp.shard(count: parameters.count)
    optimizer = AdamW<T>(settings: options.optimizer, layout: parameters, range: layout.zero == 1 ? dpShard : 0..<parameters.count, account: account)
    communication = groups.dp.size > 1 ? CommunicationThread() : nil
    scaler = LossScaler(mode: options.lossScaleMode)
  }

  deinit { communication?.stop() }

  private func timed(_ counter: inout Double, _ body: () -> Void) {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    counter += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
  }

  /// Fills the parameters from the seeded initialisation, or from a checkpoint.
  @_specialize(where T == Float)
  func initialise(from checkpoint: LoadedCheckpoint?) {
    let layout = stage.layout
    for view in layout.tensors {
      let full = checkpoint?.parameters[view.name] ?? Initialisation.values(view, model: options.model, seed: options.seed)
      Self.scatter(full, view: view, rank: t, of: layout.tp, into: stage.params)
    }
    guard let checkpoint, let moments = checkpoint.moments else { return }
    for (state, source) in [(optimizer.m, moments.m), (optimizer.v, moments.v)] {
      for view in layout.tensors {
        guard let full = source[view.name] else { continue }
        let lo = max(view.offset, optimizer.range.lowerBound), hi = min(view.offset + view.count, optimizer.range.upperBound)
        for i in lo..<max(lo, hi) {
          let local = i - view.offset
          state[i - optimizer.range.lowerBound] = T(full[view.fullIndex(row: local / view.localColumns, column: local % view.localColumns, rank: t, of: layout.tp)])
        }
      }
    }
    updates = checkpoint.updates
    if case .dynamic = scaler.mode, let scale = checkpoint.lossScale { scaler = LossScaler(mode: .dynamic, initial: scale) }
  }

  @_specialize(where T == Float)
  static func scatter(_ full: [Float], view: TensorView, rank t: Int, of tp: Int, into base: UnsafeMutablePointer<T>) {
    for r in 0..<view.localRows {
      for c in 0..<view.localColumns {
        base[view.offset + r * view.localColumns + c] = T(full[view.fullIndex(row: r, column: c, rank: t, of: tp)])
      }
    }
  }

  /// One training step over the global batch (every rank takes its data-parallel share), with
  /// `counted` tokens counted in its loss over the whole batch. Returns this rank's times and
  /// the world's loss sum, gradient norm and non-finite count.
  @_specialize(where T == Float)
  func step(_ step: Int, global: MicroBatch, counted: Int) -> (times: RankStepTimes, loss: Double, norm: Double, nonFinite: Int, skipped: Bool) {
    let start = DispatchTime.now().uptimeNanoseconds
    communicationSeconds = 0
    bubbleSeconds = 0
    stage.tensorParallelSeconds = 0
    stage.resetLoss()
    let layout = options.layout, b = options.sequencesPerMicroBatch, seq = options.model.seq
    let mine = global.slice(d * layout.micro * b..<(d + 1) * layout.micro * b, seq: seq)
    let micro = (0..<layout.micro).map { mine.slice($0 * b..<($0 + 1) * b, seq: seq) }
    let weight = scaler.scale / Double(max(1, counted))
    runSchedule(micro, weight: weight)
    let grads = stage.grads, count = stage.layout.count
    if let communication {
      // The rest of the buckets: the tensors outside the layers (embedding, positions, final LayerNorm).
      let dp = groups.dp
      // Without overlap, every layer's bucket now, after the backward.
      let layers = options.overlapsGradients ? [] : stage.layout.layerRanges.sorted { $0.key > $1.key }.map(\.value)
      for range in layers + restRanges() { communication.submit { dp.allReduce(grads + range.lowerBound, count: range.count) } }
      timed(&communicationSeconds) { communication.drain() }
    }
    if let embedding = groups.embedding {
      let view = stage.layout.view("embedding.weight")
      timed(&communicationSeconds) { embedding.allReduce(grads + view.offset, count: view.count) }
    }
    var stats = localStatistics()
    timed(&communicationSeconds) { stats.withUnsafeMutableBufferPointer { groups.world.allReduce($0.baseAddress!, count: 4) } }
    let (normSquared, nonFinite, loss, badLosses) = (stats[0], Int(stats[1]), stats[2], Int(stats[3]))
    let finite = normSquared.isFinite && nonFinite == 0
    let usedScale = scaler.scale
    let apply = scaler.update(finite: finite)
    let gradNorm = normSquared.squareRoot() / usedScale
    if apply {
      let clip = options.optimizer.clipNorm
      let factor = clip > 0 && gradNorm.isFinite && gradNorm > clip ? clip / gradNorm : 1
      optimizer.update(
        params: stage.params, grads: grads, gradientScale: factor / usedScale, step: updates,
        learningRate: options.optimizer.rate(step: step))
      updates += 1
      if layout.zero == 1 { timed(&communicationSeconds) { groups.dp.allGather(stage.params, count: count) } }
    }
    grads.update(repeating: 0, count: count)
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let times = RankStepTimes(
      seconds: seconds, communication: communicationSeconds + stage.tensorParallelSeconds, bubble: bubbleSeconds,
      peakBytes: account.peak + runner.scratchBytes)
    return (times, loss, gradNorm, nonFinite + badLosses, !apply)
  }

  /// 1F1B over the micro-batches (Narayanan et al. 2021): stage s runs pp − s − 1 forwards
  /// first, then alternates one forward and one backward, then drains the backwards. With
  /// pp = 1 it is plain gradient accumulation (forward, backward, per micro-batch).
  private func runSchedule(_ micro: [MicroBatch], weight: Double) {
    let stages = options.layout.pp, count = micro.count
    let warmup = min(stages - p - 1, count)
    var forwards = 0, backwards = 0
    for _ in 0..<warmup {
      forward(micro, forwards, weight: weight)
      forwards += 1
    }
    while forwards < count {
      forward(micro, forwards, weight: weight)
      forwards += 1
      backward(micro, backwards)
      backwards += 1
    }
    while backwards < count {
      backward(micro, backwards)
      backwards += 1
    }
  }

  private var activationCount: Int { stage.tokens * options.model.hidden }

  private func forward(_ micro: [MicroBatch], _ m: Int, weight: Double) {
    let slot = m % inFlight
    if stage.layout.isFirst {
      stage.embed(micro[m], slot: slot)
    } else {
      timed(&bubbleSeconds) { groups.pp.recv(stage.input(slot: slot), count: activationCount, from: p - 1) }
    }
    stage.forwardLayers(slot: slot)
    if stage.layout.isLast {
      stage.headForwardBackward(micro[m], slot: slot, weight: weight)
    } else {
      timed(&communicationSeconds) { groups.pp.send(stage.output(slot: slot), count: activationCount, to: p + 1) }
    }
  }

  private func backward(_ micro: [MicroBatch], _ m: Int) {
    let slot = m % inFlight
    if !stage.layout.isLast {
      timed(&bubbleSeconds) { groups.pp.recv(stage.outputGradient(slot: slot), count: activationCount, from: p + 1) }
    }
    let last = m == micro.count - 1
    let grads = stage.grads, layout = stage.layout, dp = groups.dp, overlaps = options.overlapsGradients
    stage.backwardLayers(slot: slot) { layer in
      // On the last micro-batch a layer's gradients are final: all-reduce them beside the rest of the backward.
      guard last, overlaps, let communication, let range = layout.layerRanges[layer] else { return }
      communication.submit { dp.allReduce(grads + range.lowerBound, count: range.count) }
    }
    if stage.layout.isFirst {
      stage.embedBackward(micro[m])
    } else {
      timed(&communicationSeconds) { groups.pp.send(stage.inputGradient, count: activationCount, to: p - 1) }
    }
  }

  /// The flat-buffer ranges outside the layers.
  private func restRanges() -> [Range<Int>] {
    let layers = stage.layout.layerRanges.values.sorted { $0.lowerBound < $1.lowerBound }
    guard let first = layers.first, let last = layers.last else { return [0..<stage.layout.count] }
    return [0..<first.lowerBound, last.upperBound..<stage.layout.count].filter { !$0.isEmpty }
  }

  /// [Σ g² over this rank's share of the counted tensors, non-finite gradient values there, the
  /// loss sum (the last stage's tensor-parallel rank 0), non-finite losses].
  @_specialize(where T == Float)
  private func localStatistics() -> [Double] {
    var squares = 0.0, nonFinite = 0.0
    let layout = stage.layout, grads = stage.grads
    for view in layout.tensors where layout.countsInNorm(view) {
      let lo = max(view.offset, dpShard.lowerBound), hi = min(view.offset + view.count, dpShard.upperBound)
      guard lo < hi else { continue }
      var sum = 0.0
      for i in lo..<hi {
        let g = Double(grads[i])
        if !g.isFinite { nonFinite += 1 }
        sum += g * g
      }
      squares += sum
    }
    let reportsLoss = layout.isLast && t == 0
    return [squares, nonFinite, reportsLoss ? stage.lossSum : 0, reportsLoss ? Double(stage.nonFiniteLosses) : 0]
  }
}
