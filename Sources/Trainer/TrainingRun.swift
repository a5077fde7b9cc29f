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
  /// Model FLOPs utilisation against `TrainingOptions.peakGflops`; nil when no peak is known.
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
  public var memoryByPart: [MemoryPart: Int]
  public var firstStep: Int

  /// The steady state: the median tokens/s and MFU over the steps after the first two (warm-up:
  /// plans built, buffers grown), with the steps they cover; a shorter run's last step; nil when
  /// no step ran.
  public var steadyState: (steps: ClosedRange<Int>, tokensPerSecond: Double, mfu: Double?)? {
    let timed = reports.dropFirst(min(2, max(0, reports.count - 1)))
    guard let first = timed.first, let last = timed.last else { return nil }
    let utilisation = timed.compactMap(\.mfu)
    return (
      first.step...last.step, Statistics(samples: timed.map(\.tokensPerSecond)).median,
      utilisation.isEmpty ? nil : Statistics(samples: utilisation).median
    )
  }
}

/// A training run: validates everything (model, layout, data, checkpoint) when made, then runs
/// the ranks as threads in lockstep: all of them in this process, or, in an MPI job of P
/// processes (`MPIJob.current`), this process's block of world / P ranks, the groups reaching the
/// others through MPI.
public final class TrainingRun: @unchecked Sendable {
  public let options: TrainingOptions
  let data: BatchSource
  let checkpoint: LoadedCheckpoint?
  /// The MPI job this run's ranks span (nil: every rank is a thread of this process).
  let job: MPIJob?

  /// - Throws: `DataError`, `CheckpointError` or `LayoutError` before any work.
  public init(_ options: TrainingOptions) throws {
    self.options = options
    if let problem = options.layout.problem(model: options.model, batch: options.batch) {
      throw LayoutError.impossible(layout: options.layout.description, reason: problem)
    }
    job = MPIJob.current.flatMap { $0.size > 1 ? $0 : nil }
    if let job {
      guard options.layout.ranks % job.size == 0 else {
        throw LayoutError.impossible(
          layout: options.layout.description,
          reason: "its \(options.layout.ranks) ranks cannot be shared evenly by the job's \(job.size) processes; launch a number of processes that divides \(options.layout.ranks) (\((1...options.layout.ranks).filter { options.layout.ranks % $0 == 0 }.map(String.init).joined(separator: ", ")))")
      }
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

  /// Runs the steps; `onStep` is called after each.
  /// - Throws: `CheckpointError` when the save fails (the run's steps are done and reported).
  @discardableResult
  public func run(onStep: (StepReport) -> Void = { _ in }) throws -> TrainingSummary {
    let session = TrainingSession(self, Float.self)
    while let report = session.step() {
      onStep(report)
      if let every = options.saveEvery, session.next % every == 0, session.next < options.steps { try session.save() }
    }
    try session.save()
    return session.summary()
  }

  /// The world: rank r = (p·dp + d)·tp + t (tensor-parallel peers adjacent, as Megatron orders
  /// them), and a group for each set of peers: in shared memory when this process hosts every
  /// rank, else through `fabric` (ranks of other processes reached through MPI). Returns the ranks
  /// this process hosts.
  func makeRanks<T: TrainScalar>(_ type: T.Type, fabric: GroupFabric? = nil) -> [Rank<T>] {
    let l = options.layout
    let fabric = fabric ?? SingleProcessFabric(world: l.ranks)
    func index(_ d: Int, _ t: Int, _ p: Int) -> Int { (p * l.dp + d) * l.tp + t }
    var tp: [Int: Communicator] = [:], dp: [Int: Communicator] = [:], pp: [Int: Communicator] = [:], embedding: [Int: Communicator] = [:]
    for p in 0..<l.pp {
      for d in 0..<l.dp {
        tp.merge(fabric.members((0..<l.tp).map { index(d, $0, p) }, kind: "tensor-parallel")) { a, _ in a }
      }
      for t in 0..<l.tp {
        dp.merge(fabric.members((0..<l.dp).map { index($0, t, p) }, kind: "data-parallel")) { a, _ in a }
      }
    }
    for d in 0..<l.dp {
      for t in 0..<l.tp {
        pp.merge(fabric.members((0..<l.pp).map { index(d, t, $0) }, kind: "pipeline")) { a, _ in a }
        if l.pp > 1 {
          embedding.merge(fabric.members([index(d, t, 0), index(d, t, l.pp - 1)], kind: "embedding")) { a, _ in a }
        }
      }
    }
    let world = fabric.members(Array(0..<l.ranks), kind: "world")
    var ranks: [Rank<T>] = []
    for p in 0..<l.pp {
      for d in 0..<l.dp {
        for t in 0..<l.tp {
          let i = index(d, t, p)
          guard fabric.hosted.contains(i) else { continue }
          let groups = RankGroups(tp: tp[i]!, dp: dp[i]!, pp: pp[i]!, embedding: embedding[i], world: world[i]!)
          ranks.append(Rank<T>(index: i, d: d, t: t, p: p, options: options, groups: groups))
        }
      }
    }
    return ranks.sorted { $0.index < $1.index }
  }
}

/// A run in progress: its ranks made and initialised (from the seed or the checkpoint), stepped
/// one step at a time (each step runs every rank on its own thread, in lockstep through their
/// groups). What a benchmark of one step holds between measurements.
public final class TrainingSession: @unchecked Sendable {
  let run: TrainingRun
  private let stepper: any Stepping
  public private(set) var next: Int
  public private(set) var reports: [StepReport] = []

  public convenience init(_ run: TrainingRun) { self.init(run, Float.self) }

  init<T: TrainScalar>(_ run: TrainingRun, _ type: T.Type) {
    self.run = run
    next = run.firstStep
    stepper = RankSet<T>(
      run.makeRanks(T.self, fabric: run.job.map { MPIFabric(job: $0, world: run.options.layout.ranks) }), checkpoint: run.checkpoint, job: run.job)
  }

  /// The next step on every rank; nil once `options.steps` steps are done.
  public func step() -> StepReport? {
    let options = run.options
    guard next < options.steps else { return nil }
    let global = run.data.batch(step: next, sequences: options.batch)
    let result = stepper.step(next, global: global)
    let all = result.times
    // The step takes as long as its slowest rank, whichever process hosts it.
    let local = all.map(\.seconds).max() ?? 0
    let seconds = run.job.map { $0.maximum(local, of: "step \(next + 1)'s time") } ?? local
    let n = Double(all.count)
    let flopsPerToken = TrainingOptions.flopsPerToken(options.model)
    let tokens = options.batch * options.model.seq
    let rss = ProcessMemory.resident()
    let tokensPerSecond = Double(tokens) / max(seconds, 1e-9)
    let report = StepReport(
      step: next, loss: result.loss / Double(max(1, global.countedTokens)), learningRate: options.optimizer.rate(step: next),
      gradNorm: result.norm, lossScale: result.lossScale, skipped: result.skipped, nonFinite: result.nonFinite, tokens: tokens,
      seconds: seconds, tokensPerSecond: tokensPerSecond, modelFlopsPerToken: flopsPerToken,
      mfu: options.peakGflops.map { tokensPerSecond * flopsPerToken / ($0 * 1e9) },
      computeSeconds: max(0, all.map { $0.seconds - $0.communication - $0.bubble }.reduce(0, +) / n),
      communicationSeconds: all.map(\.communication).reduce(0, +) / n, bubbleSeconds: all.map(\.bubble).reduce(0, +) / n,
      peakBytesPerRank: all.map(\.peakBytes), rssBytes: rss.current, rssPeakBytes: rss.peak)
    reports.append(report)
    next += 1
    return report
  }

  /// Writes the checkpoint `options.save` names (nothing without one).
  public func save() throws {
    guard let path = run.options.save else { return }
    try stepper.save(to: path, options: run.options, step: next)
  }

  public func summary() -> TrainingSummary {
    let (gemms, attention, memory) = stepper.applied
    return TrainingSummary(reports: reports, appliedGEMMs: gemms, appliedAttention: attention, memoryByPart: memory, firstStep: run.firstStep)
  }

  /// Per rank, every GEMM it ran so far, where the options asked for the log.
  var gemmLog: [[GEMMShapes.Product]] { stepper.gemmLog }
}

/// The ranks of one element type, stepped together.
protocol Stepping: AnyObject, Sendable {
  func step(_ step: Int, global: MicroBatch) -> (times: [RankStepTimes], loss: Double, norm: Double, nonFinite: Int, skipped: Bool, lossScale: Double)
  func save(to path: String, options: TrainingOptions, step: Int) throws
  var applied: (gemms: [String: String], attention: String, memory: [MemoryPart: Int]) { get }
  /// Per rank (in rank order), the products its runner logged (`TrainingOptions.logsGEMMs`).
  var gemmLog: [[GEMMShapes.Product]] { get }
}

final class RankSet<T: TrainScalar>: Stepping, @unchecked Sendable {
  let ranks: [Rank<T>]

  var gemmLog: [[GEMMShapes.Product]] { ranks.map { $0.runner.log ?? [] } }

  /// The MPI job whose other processes host the rest of the world's ranks (nil: none).
  let job: MPIJob?

  init(_ ranks: [Rank<T>], checkpoint: LoadedCheckpoint?, job: MPIJob? = nil) {
    self.ranks = ranks
    self.job = job
    onEveryRank { $0.initialise(from: checkpoint) }
  }

  /// body(rank) on a thread per rank (the ranks' collectives need them all running at once).
  func onEveryRank(_ body: @escaping @Sendable (Rank<T>) -> Void) {
    let group = DispatchGroup()
    for rank in ranks {
      group.enter()
      let thread = Thread {
        body(rank)
        group.leave()
      }
      thread.stackSize = 16 << 20
      thread.start()
    }
    group.wait()
  }

  func step(_ step: Int, global: MicroBatch) -> (times: [RankStepTimes], loss: Double, norm: Double, nonFinite: Int, skipped: Bool, lossScale: Double) {
    let results = ResultTable<(times: RankStepTimes, loss: Double, norm: Double, nonFinite: Int, skipped: Bool)>(count: ranks.count)
    let counted = global.countedTokens
    let slot = Dictionary(uniqueKeysWithValues: ranks.enumerated().map { ($0.element.index, $0.offset) })
    onEveryRank { rank in results.set(slot[rank.index]!, rank.step(step, global: global, counted: counted)) }
    let first = results.values[0]!
    return (results.values.map { $0!.times }, first.loss, first.norm, first.nonFinite, first.skipped, ranks[0].scaler.scale)
  }

  func save(to path: String, options: TrainingOptions, step: Int) throws {
    let gatherer = Checkpoint.Gatherer(model: options.model)
    for rank in ranks {
      gatherer.add(
        layout: rank.stage.layout, params: rank.stage.params, writesParameters: rank.d == 0, m: rank.optimizer.m, v: rank.optimizer.v,
        range: rank.d == 0 || options.layout.zero == 1 ? rank.optimizer.range : 0..<0)
    }
    // In a job, each process filled the parts its ranks own (the rest zero): summed over the
    // processes they are the whole model, and the first process writes the file once it has them
    // all (a kill before then leaves the last complete checkpoint as it was).
    if let job {
      gatherer.combine(job)
      guard job.rank == 0 else { return }
    }
    let metadata = [
      "scaletune.step": String(step), "scaletune.updates": String(ranks[0].updates), "scaletune.precision": options.precision.rawValue,
      "scaletune.layout": options.layout.description, "scaletune.lossScale": String(ranks[0].scaler.scale),
    ]
    try gatherer.write(to: path, model: options.model, metadata: metadata, bf16Weights: options.precision == .bf16)
  }

  var applied: (gemms: [String: String], attention: String, memory: [MemoryPart: Int]) {
    (ranks[0].runner.applied, ranks[0].stage.attentionChoice.description, ranks[0].account.bytes)
  }
}

/// One slot per rank, each written by its own rank's thread, read after they are joined.
final class ResultTable<Value>: @unchecked Sendable {
  private(set) var values: [Value?]
  private let lock = NSLock()
  init(count: Int) { values = [Value?](repeating: nil, count: count) }
  func set(_ index: Int, _ value: Value) {
    lock.lock()
    values[index] = value
    lock.unlock()
  }
}

