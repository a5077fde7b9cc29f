import Foundation
import Kernels
import Platform
import Profile

/// Everything one training run is: the model, the data, the layout over ranks, the precision
/// policy, the optimizer, and the kernel choices each GEMM and attention runs with.
public struct TrainingOptions: Sendable {
  public var model: ModelConfig
  public var layout: ParallelLayout
  /// Sequences per step, over all data-parallel ranks and micro-batches.
  public var batch: Int
  /// Train until this many steps in all (a loaded checkpoint's steps count).
  public var steps: Int
  public var precision: TrainingPrecision
  public var fp8Scaling: FP8Scaling = .delayed
  /// nil: dynamic for fp16, none (a fixed scale of 1) otherwise.
  public var lossScale: LossScaler.Mode?
  /// Kernel threads per rank.
  public var threadsPerRank: Int
  public var optimizer: OptimizerSettings
  public var seed: UInt64 = 1
  public var data: DataSource = .synthetic
  public var shuffle = true
  public var choices: KernelChoices = .none
  public var caches = CacheSizes(l1: 32 << 10, l2: 1 << 20, l3PerCore: 4 << 20)
  /// Hardware threads to pin ranks' threads to, rank by rank (empty: no pinning).
  public var placement: ThreadPlacement?
  /// The fp32 all-core FMA peak (GFLOP/s) that model FLOPs utilisation is measured against.
  public var peakGflops: Double?
  public var load: String?
  public var save: String?

  public init(model: ModelConfig, layout: ParallelLayout = ParallelLayout(), batch: Int, steps: Int, precision: TrainingPrecision = .fp32, threadsPerRank: Int = 1, learningRate: Double = 3e-4) {
    self.model = model
    self.layout = layout
    self.batch = batch
    self.steps = steps
    self.precision = precision
    self.threadsPerRank = threadsPerRank
    optimizer = OptimizerSettings(learningRate: learningRate, warmupSteps: max(1, min(100, steps / 10)), totalSteps: steps)
  }

  public var sequencesPerMicroBatch: Int { batch / (layout.dp * layout.micro) }

  public var lossScaleMode: LossScaler.Mode { lossScale ?? (precision == .fp16 ? .dynamic : .fixed(1)) }

  /// Throws `LayoutError.impossible` unless the layout can train the model with this batch on
  /// `usableThreads` hardware threads (more only with `oversubscribe`), before any work.
  public func validate(usableThreads: Int, oversubscribe: Bool) throws {
    if let problem = model.problem { throw LayoutError.impossible(layout: layout.description, reason: "model \(model.name): \(problem.field): expected \(problem.expected)") }
    if batch < 1 { throw LayoutError.impossible(layout: layout.description, reason: "--batch must be at least 1 (got \(batch))") }
    if steps < 1 { throw LayoutError.impossible(layout: layout.description, reason: "--steps must be at least 1 (got \(steps))") }
    if threadsPerRank < 1 { throw LayoutError.impossible(layout: layout.description, reason: "--threads must be at least 1 (got \(threadsPerRank))") }
    if let problem = layout.problem(model: model, batch: batch) { throw LayoutError.impossible(layout: layout.description, reason: problem) }
    let threads = layout.ranks * threadsPerRank
    let ceiling = max(64, 4 * usableThreads)
    if threads > ceiling {
      throw LayoutError.impossible(
        layout: layout.description,
        reason: "\(layout.ranks) ranks × \(threadsPerRank) threads = \(threads) threads, more than even an oversubscribed run may start here (\(ceiling)); use dp×tp×pp×threads ≤ \(usableThreads)")
    }
    if threads > usableThreads && !oversubscribe {
      let fitting = usableThreads / threadsPerRank
      throw LayoutError.impossible(
        layout: layout.description,
        reason: "dp×tp×pp = \(layout.ranks) ranks × \(threadsPerRank) thread\(threadsPerRank == 1 ? "" : "s") = \(threads) threads, but this machine gives the process \(usableThreads) hardware thread\(usableThreads == 1 ? "" : "s"); "
          + (fitting >= 1 ? "use at most \(fitting) rank\(fitting == 1 ? "" : "s") at --threads \(threadsPerRank) (dp×tp×pp ≤ \(fitting)), fewer threads per rank, " : "use fewer threads per rank, ")
          + "or add --oversubscribe to run (and label) an oversubscribed run")
    }
  }

  /// Model FLOPs per token as counted for utilisation: 6 × parameters (positions excluded) for
  /// the forward and backward matrix products, plus attention's 12 · layers · seq · hidden.
  /// Recomputation is not counted (model FLOPs, not hardware FLOPs).
  public static func flopsPerToken(_ model: ModelConfig) -> Double {
    let positions = model.positions == .learned ? model.seq * model.hidden : 0
    let parameters = Double(ParameterLayout.parameterCount(model) - positions)
    return 6 * parameters + 12 * Double(model.layers) * Double(model.seq) * Double(model.hidden)
  }

  /// The memory every rank will allocate, summed (the trainer's own account, computed from the
  /// same sizes it allocates; kernel packing buffers not included).
  public func memoryPlan() -> MemoryPlan {
    var plan = MemoryPlan()
    let l = layout
    let b = sequencesPerMicroBatch, n = b * model.seq
    var parameters = 0.0, activations = 0.0, work = 0.0, optimizer = 0.0
    for stage in 0..<l.pp {
      let p = ParameterLayout(model: model, tp: l.tp, tpRank: 0, stage: stage, stages: l.pp)
      let inFlight = Double(min(l.pp - stage, l.micro))
      let h = model.hidden
      let per = LayerActivations<Float>.elements(tokens: n, sequences: b, layout: p)
      let saved = l.recompute ? 0 : Double(per.values + per.lse) * Double(p.layersPerStage)
      let slot = Double(p.layersPerStage * n * h + n * h + (p.isLast ? n * h : 0)) + saved
      let ranks = Double(l.dp * l.tp)
      parameters += ranks * 2 * Double(p.count) * 4
      optimizer += ranks * 2 * Double(p.count) * 4 / Double(l.zero == 1 ? l.dp : 1)
      activations += ranks * inFlight * slot * 4
      var buffers = Double(n * (2 * h + p.localQKVWidth + p.localQWidth + p.localUpWidth + p.localMLP + max(h, p.localQKVWidth, p.localUpWidth)))
      if p.isLast { buffers += Double(n * (model.vocabulary + h + 2)) }
      if l.recompute { buffers += Double(per.values + per.lse) }
      work += ranks * buffers * 4
    }
    plan.add("parameters and gradients", parameters)
    plan.add("optimizer state", optimizer)
    plan.add("activations", activations)
    plan.add("work buffers", work)
    return plan
  }
}
