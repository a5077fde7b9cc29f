import Foundation
import Kernels
import Platform
import Profile

/// One step as `train --json` prints it (the fields are documented in the README).
public struct StepReport: Codable, Sendable, Equatable {
  public var step: Int
  /// Mean loss over the counted tokens of the global batch.
  public var loss: Double
  public var learningRate: Double
  /// Global L2 norm of the gradients (unscaled, before clipping).
  public var gradNorm: Double
  public var lossScale: Double
  /// Whether the update was skipped (fp16's scaler found non-finite gradients).
  public var skipped: Bool
  /// Non-finite gradient values plus non-finite token losses.
  public var nonFinite: Int
  public var tokens: Int
  public var seconds: Double
  public var tokensPerSecond: Double
  public var modelFlopsPerToken: Double
  /// Model FLOPs utilisation against the fp32 all-core FMA peak; nil when no peak is known.
  public var mfu: Double?
  /// Mean over ranks: compute, exposed communication (time blocked in collectives and sends)
  /// and pipeline bubble (time waiting to receive from another stage), in seconds.
  public var computeSeconds: Double
  public var communicationSeconds: Double
  public var bubbleSeconds: Double
  /// Each rank's peak of its memory account.
  public var peakBytesPerRank: [Int]
  public var rssBytes: Int
  public var rssPeakBytes: Int
}

/// What a run did, for the summary line.
public struct TrainingSummary: Sendable {
  public var reports: [StepReport]
  /// Per GEMM shape, the choice it ran with and its source; and the attention choice.
  public var appliedGEMMs: [String: String]
  public var appliedAttention: String
  /// Rank 0's memory account by part.
  public var memoryByPart: [String: Int]
  public var firstStep: Int
}

/// A training run: validates everything (model, layout, data, checkpoint) when made, then runs
/// the ranks as threads in lockstep.
public final class TrainingRun: @unchecked Sendable {
  public let options: TrainingOptions
  let data: BatchSource
  let checkpoint: LoadedCheckpoint?

  /// - Throws: `DataError`, `CheckpointError` or `LayoutError` before any work.
  public init(_ options: TrainingOptions) throws {
    self.options = options
    if let problem = options.layout.problem(model: options.model, batch: options.batch) {
      throw LayoutError.impossible(layout: options.layout.description, reason: problem)
    }
    data = try BatchSource(model: options.model, source: options.data, seed: options.seed, shuffle: options.shuffle)
    checkpoint = try options.load.map { try Checkpoint.load($0, model: options.model) }
    if let checkpoint, checkpoint.step >= options.steps {
      throw CheckpointError.mismatch(
        path: options.load ?? "", reason: "it is at step \(checkpoint.step) already; --steps counts all steps, so ask for more than \(checkpoint.step)")
    }
  }

  /// The step a run starts from (a checkpoint's, or 0).
  public var firstStep: Int { checkpoint?.step ?? 0 }

  /// Runs the steps; `onStep` is called (on rank 0's thread) after each.
  /// - Throws: `CheckpointError` when the save fails (the run's steps are done and reported).
  @discardableResult
  public func run(onStep: @escaping @Sendable (StepReport) -> Void = { _ in }) throws -> TrainingSummary {
    try run(Float.self, onStep: onStep)
  }

  func run<T: TrainScalar>(_ type: T.Type, onStep: @escaping @Sendable (StepReport) -> Void) throws -> TrainingSummary {
    let ranks = makeRanks(T.self)
    let box = ResultBox()
    let world = DispatchGroup()
    let times = TimesTable(count: ranks.count)
    let (first, steps, data, checkpoint, options) = (firstStep, self.options.steps, self.data, self.checkpoint, self.options)
    let gatherer = options.save.map { _ in Checkpoint.Gatherer(model: options.model) }
    let flopsPerToken = TrainingOptions.flopsPerToken(options.model)
    let tokens = options.batch * options.model.seq
    for rank in ranks {
      world.enter()
      let thread = Thread {
        rank.initialise(from: checkpoint)
        for step in first..<steps {
          let global = data.batch(step: step, sequences: options.batch)
          let result = rank.step(step, global: global, counted: global.countedTokens)
          times.values[rank.index] = result.times
          // Everyone's times are written before rank 0 reads them.
          var token = [0.0]
          token.withUnsafeMutableBufferPointer { rank.groups.world.allReduce($0.baseAddress!, count: 1) }
          if rank.index == 0 {
            let all = (0..<ranks.count).map { times.values[$0] }
            let seconds = all.map(\.seconds).max() ?? 0
            let n = Double(all.count)
            let communication = all.map(\.communication).reduce(0, +) / n, bubble = all.map(\.bubble).reduce(0, +) / n
            let rss = ProcessMemory.resident()
            let tokensPerSecond = Double(tokens) / max(seconds, 1e-9)
            let report = StepReport(
              step: step, loss: result.loss / Double(max(1, global.countedTokens)), learningRate: options.optimizer.rate(step: step),
              gradNorm: result.norm, lossScale: rank.scaler.scale, skipped: result.skipped, nonFinite: result.nonFinite, tokens: tokens,
              seconds: seconds, tokensPerSecond: tokensPerSecond, modelFlopsPerToken: flopsPerToken,
              mfu: options.peakGflops.map { tokensPerSecond * flopsPerToken / ($0 * 1e9) },
              computeSeconds: max(0, all.map { $0.seconds - $0.communication - $0.bubble }.reduce(0, +) / n),
              communicationSeconds: communication, bubbleSeconds: bubble, peakBytesPerRank: all.map(\.peakBytes), rssBytes: rss.current,
              rssPeakBytes: rss.peak)
            box.append(report)
            onStep(report)
          }
        }
        if let gatherer {
          gatherer.add(
            layout: rank.stage.layout, params: rank.stage.params, writesParameters: rank.d == 0, m: rank.optimizer.m, v: rank.optimizer.v,
            range: rank.d == 0 || options.layout.zero == 1 ? rank.optimizer.range : 0..<0)
        }
        world.leave()
      }
      thread.stackSize = 16 << 20
      thread.start()
    }
    world.wait()
    let rank0 = ranks[0]
    if let gatherer, let path = options.save {
      let metadata = [
        "scaletune.step": String(steps), "scaletune.updates": String(rank0.updates), "scaletune.precision": options.precision.rawValue,
        "scaletune.layout": options.layout.description, "scaletune.lossScale": String(rank0.scaler.scale),
      ]
      try gatherer.write(to: path, model: options.model, metadata: metadata, bf16Weights: options.precision == .bf16)
    }
    return TrainingSummary(
      reports: box.reports, appliedGEMMs: rank0.runner.applied, appliedAttention: rank0.stage.attentionChoice.description,
      memoryByPart: rank0.account.bytes, firstStep: first)
  }

  /// The world: rank r = (p·dp + d)·tp + t (tensor-parallel peers adjacent, as Megatron orders
  /// them), and a shared-memory group for each set of peers.
  func makeRanks<T: TrainScalar>(_ type: T.Type) -> [Rank<T>] {
    let l = options.layout
    func index(_ d: Int, _ t: Int, _ p: Int) -> Int { (p * l.dp + d) * l.tp + t }
    var tp: [Int: Communicator] = [:], dp: [Int: Communicator] = [:], pp: [Int: Communicator] = [:], embedding: [Int: Communicator] = [:]
    for p in 0..<l.pp {
      for d in 0..<l.dp {
        for (t, member) in SharedMemoryGroup(size: l.tp).members().enumerated() { tp[index(d, t, p)] = member }
      }
      for t in 0..<l.tp {
        for (d, member) in SharedMemoryGroup(size: l.dp).members().enumerated() { dp[index(d, t, p)] = member }
      }
    }
    for d in 0..<l.dp {
      for t in 0..<l.tp {
        for (p, member) in SharedMemoryGroup(size: l.pp).members().enumerated() { pp[index(d, t, p)] = member }
        if l.pp > 1 {
          let pair = SharedMemoryGroup(size: 2).members()
          embedding[index(d, t, 0)] = pair[0]
          embedding[index(d, t, l.pp - 1)] = pair[1]
        }
      }
    }
    let world = SharedMemoryGroup(size: l.ranks).members()
    var ranks: [Rank<T>] = []
    for p in 0..<l.pp {
      for d in 0..<l.dp {
        for t in 0..<l.tp {
          let i = index(d, t, p)
          let groups = RankGroups(tp: tp[i]!, dp: dp[i]!, pp: pp[i]!, embedding: embedding[i], world: world[i])
          ranks.append(Rank<T>(index: i, d: d, t: t, p: p, options: options, groups: groups))
        }
      }
    }
    return ranks.sorted { $0.index < $1.index }
  }
}

/// Each rank's times of the current step, written by the rank, read by rank 0 after a barrier.
final class TimesTable: @unchecked Sendable {
  let values: UnsafeMutablePointer<RankStepTimes>
  init(count: Int) {
    values = .allocate(capacity: count)
    values.initialize(repeating: RankStepTimes(), count: count)
  }
  deinit { values.deallocate() }
}

final class ResultBox: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var reports: [StepReport] = []
  func append(_ report: StepReport) {
    lock.lock()
    reports.append(report)
    lock.unlock()
  }
}
