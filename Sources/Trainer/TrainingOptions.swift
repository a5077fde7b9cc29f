import Foundation
import Kernels
import NumberFormats
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
  /// The all-core peak (GFLOP/s) that model FLOPs utilisation is measured against: fp32's FMA
  /// peak, or for bf16 the bf16 unit's where the profile measured one (`train` chooses).
  public var peakGflops: Double?
  public var load: String?
  public var save: String?
  /// Save to `save` after every this many steps as well as at the end (each save atomic: a kill
  /// at any moment leaves the last complete checkpoint).
  public var saveEvery: Int?
  /// Each rank's GEMM runner logs every product it runs (`TrainingSession.gemmLog`).
  var logsGEMMs = false
  /// Data-parallel gradients all-reduced layer by layer beside the rest of the backward (the
  /// default), or all of them after it (what the overlap benchmark sets against).
  public var overlapsGradients = true

  public init(model: ModelConfig, layout: ParallelLayout = ParallelLayout(), batch: Int, steps: Int, precision: TrainingPrecision = .fp32, threadsPerRank: Int = 1, learningRate: Double = 3e-4) {
    self.model = model
    self.layout = layout
    self.batch = batch
    self.steps = steps
    self.precision = precision
    self.threadsPerRank = threadsPerRank
    optimizer = OptimizerSettings(learningRate: learningRate, warmupSteps: max(1, min(100, steps / 10)), totalSteps: steps)
  }

  /// The run `spec` describes, `steps` steps long (kernel choices, placement and checkpoints
  /// are the caller's).
  /// - Throws: `DataError` when the spec's data does not parse.
  public init(spec: TrainingSpec, steps: Int) throws {
    self.init(
      model: spec.model, layout: spec.layout, batch: spec.globalBatch, steps: steps, precision: spec.precision, threadsPerRank: spec.threadsPerRank,
      learningRate: spec.schedule.learningRate)
    if let warmup = spec.schedule.warmupSteps { optimizer.warmupSteps = warmup }
    if let horizon = spec.schedule.horizonSteps { optimizer.totalSteps = horizon }
    fp8Scaling = spec.fp8Scaling
    lossScale = spec.lossScale
    data = try DataSource.parse(spec.data)
    shuffle = spec.shuffle
    seed = spec.seed
  }

  public var sequencesPerMicroBatch: Int { batch / (layout.dp * layout.micro) }

  public var lossScaleMode: LossScaler.Mode { lossScale ?? (precision == .fp16 ? .dynamic : .fixed(1)) }

  /// Throws `LayoutError.impossible` unless the layout can train the model with this batch on
  /// `usableThreads` hardware threads (more only with `oversubscribe`), before any work. In a job
  /// of `processes` processes, this process hosts ranks / processes of the ranks.
  public func validate(usableThreads: Int, oversubscribe: Bool, processes: Int = 1) throws {
    if let problem = model.problem { throw LayoutError.impossible(layout: layout.description, reason: "model \(model.name): \(problem.field): expected \(problem.expected)") }
    if batch < 1 { throw LayoutError.impossible(layout: layout.description, reason: "--batch must be at least 1 (got \(batch))") }
    if steps < 1 { throw LayoutError.impossible(layout: layout.description, reason: "--steps must be at least 1 (got \(steps))") }
    if threadsPerRank < 1 { throw LayoutError.impossible(layout: layout.description, reason: "--threads must be at least 1 (got \(threadsPerRank))") }
    if let problem = layout.problem(model: model, batch: batch) { throw LayoutError.impossible(layout: layout.description, reason: problem) }
    let hosted = max(1, layout.ranks / max(1, processes))
    let threads = hosted * threadsPerRank
    let ceiling = max(64, 4 * usableThreads)
    if threads > ceiling {
      throw LayoutError.impossible(
        layout: layout.description,
        reason: "\(hosted) ranks × \(threadsPerRank) threads = \(threads) threads, more than even an oversubscribed run may start here (\(ceiling)); use dp×tp×pp×threads ≤ \(usableThreads)")
    }
    if threads > usableThreads && !oversubscribe {
      let fitting = usableThreads / threadsPerRank
      throw LayoutError.impossible(
        layout: layout.description,
        reason: (processes > 1 ? "\(hosted) of dp×tp×pp = \(layout.ranks) ranks in this process" : "dp×tp×pp = \(layout.ranks) ranks") + " × \(threadsPerRank) thread\(threadsPerRank == 1 ? "" : "s") = \(threads) threads, but this machine gives the process \(usableThreads) hardware thread\(usableThreads == 1 ? "" : "s"); "
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
  /// same sizes it allocates; kernel packing buffers not included); per process, in a job of
  /// `processes` processes.
  public func memoryPlan(processes: Int = 1) -> MemoryPlan {
    var total = MemoryPlan()
    // Each process of a job holds its share of the ranks.
    let copies = Double(layout.dp * layout.tp) / Double(max(1, processes))
    for plan in rankMemoryPlans() {
      for part in plan.parts { total.add(part.what, part.bytes * copies) }
    }
    var merged = MemoryPlan()
    for part in MemoryPart.allCases {
      let bytes = total.parts.filter { $0.what == part.rawValue }.reduce(0) { $0 + $1.bytes }
      if bytes > 0 { merged.add(part.rawValue, bytes) }
    }
    return merged
  }

  /// What one rank of each pipeline stage allocates, part by part: the trainer's buffers as
  /// `Stage`, `AdamW` and `GEMMRunner` allocate them (so the prediction is the account, not an
  /// estimate). In Korthikanti et al.'s (2022) terms, a layer keeps per token of a micro-batch
  /// (3h + 4 + qkv/t + q/t + up/t + mlp/t) fp32 values (LayerNorm outputs and statistics, the fused
  /// QKV, the attention output, the residual, the MLP's pre-activation and activation, split by
  /// tensor parallelism where Megatron splits them) plus the softmax statistics (heads/t per token);
  /// flash attention keeps no seq² scores (their 5as²b term is gone), recomputation keeps only
  /// the layer input (h per token), and 1F1B keeps min(pp − stage, micro) micro-batches in flight.
  public func rankMemoryPlans() -> [MemoryPlan] {
    let l = layout
    let b = sequencesPerMicroBatch, n = b * model.seq, h = model.hidden
    return (0..<l.pp).map { stage in
      let p = ParameterLayout(model: model, tp: l.tp, tpRank: 0, stage: stage, stages: l.pp)
      let inFlight = Double(min(l.pp - stage, l.micro))
      let per = LayerActivations<Float>.elements(tokens: n, sequences: b, layout: p)
      let saved = l.recompute ? 0 : Double(per.values + per.lse) * Double(p.layersPerStage)
      let slot = Double(p.layersPerStage * n * h + n * h + (p.isLast ? n * h : 0)) + saved
      var buffers = Double(n * (2 * h + p.localQKVWidth + p.localQWidth + p.localUpWidth + p.localMLP + max(h, p.localQKVWidth, p.localUpWidth)))
      if p.isLast { buffers += Double(n * (model.vocabulary + h + 2)) }
      if p.isFirst, let f = model.features { buffers += Double(n * f) }
      var plan = MemoryPlan()
      func add(_ part: MemoryPart, _ bytes: Double) { if bytes > 0 { plan.add(part.rawValue, bytes) } }
      add(.parameters, Double(p.count) * 4)
      add(.gradients, Double(p.count) * 4)
      add(.optimizerState, 2 * Double(p.count) * 4 / Double(l.zero == 1 ? l.dp : 1))
      add(.activations, inFlight * slot * 4)
      add(.recomputeBuffer, l.recompute ? Double(per.values + per.lse) * 4 : 0)
      add(.workBuffers, buffers * 4)
      if precision != .fp32 {
        // The rounded copies of one GEMM's A and B (and fp8's codes), sized by the largest product.
        let gemms = GEMMShapes.rank(model, layout: p, tokens: n)
        let a = gemms.map { Double($0.aCount) }.max() ?? 0, bb = gemms.map { Double($0.bCount) }.max() ?? 0
        add(.roundingBuffers, (a + bb) * 4 + (precision == .fp8 ? max(a, bb) : 0))
      }
      return plan
    }
  }

  /// The largest rank's predicted bytes.
  public var predictedPeakRankBytes: Double { rankMemoryPlans().map(\.totalBytes).max() ?? 0 }
}

/// The GEMMs one rank runs per micro-batch: its stage's linear layers' products (`LinearLayer`,
/// what `Stage` runs through `ParallelLinear`), with their operand sizes and FLOPs.
public enum GEMMShapes {
  public typealias Product = GEMMProduct

  public static func rank(_ model: ModelConfig, layout p: ParameterLayout, tokens n: Int) -> [Product] {
    model.rankGEMMs(tokens: n, tp: p.tp, layers: p.layersPerStage, first: p.isFirst, last: p.isLast)
  }
}

extension TrainingOptions {
  /// One micro-batch's GEMM FLOPs on rank 0 of every pipeline stage, by the arithmetic unit the
  /// kernel choice of each product runs on, most first. Utilisation is set against the first
  /// unit's peak: the one that runs most of the step's products.
  public func gemmFlopsByUnit(features: ISAFeatures = .current) -> [(unit: ArithmeticUnit, flops: Double)] {
    var flops: [ArithmeticUnit: Double] = [:]
    let n = sequencesPerMicroBatch * model.seq
    for stage in 0..<layout.pp {
      let p = ParameterLayout(model: model, tp: layout.tp, tpRank: 0, stage: stage, stages: layout.pp)
      for product in GEMMShapes.rank(model, layout: p, tokens: n) {
        let precision = self.precision.gemmPrecision(forward: product.kind == .forward)
        let problem = GEMMProblem(shape: GEMMShape(m: product.m, n: product.n, k: product.k), transA: product.transA, transB: product.transB, beta: product.beta)
        let choice = choices.gemmChoice(problem, precision: precision, threads: threadsPerRank, caches: caches, features: features).choice
        let unit = ArithmeticUnit.of(choice, onednnISA: choice.backend == .onednn ? OneDNNGEMM.status.selected : nil)
        flops[unit, default: 0] += product.flops
      }
    }
    return flops.map { (unit: $0.key, flops: $0.value) }.sorted { $0.flops > $1.flops || ($0.flops == $1.flops && $0.unit.description < $1.unit.description) }
  }
}
