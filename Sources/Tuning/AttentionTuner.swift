import Autotune
import Foundation
import Kernels
import NumberFormats
import Platform
import Profile

/// Verify, then time, one attention candidate on one problem: `backend=gemm`, or flash with
/// `br` and `bc`. Flash candidates must also pass the backward check before they are timed.
final class AttentionObjective: Objective {
  let workspace: AttentionWorkspace
  let threads: Int
  let context: KernelContext
  let repeats: Int
  let minimumSeconds: Double
  let backwardCheck: BackwardCheck
  static let tolerance = 1e-4

  /// 1e-4 on |O| ~ 1 for fp32 products (the error of long fp32 sums); 2e-2 where the products take
  /// bf16 operands, probabilities included (2⁻⁸ relative each).
  static func tolerance(_ choice: AttentionChoice) -> Double { choice.bf16Products ? 2e-2 : tolerance }

  init(workspace: AttentionWorkspace, threads: Int, context: KernelContext, repeats: Int, minimumSeconds: Double, backwardCheck: BackwardCheck) {
    self.workspace = workspace
    self.threads = threads
    self.context = context
    self.repeats = repeats
    self.minimumSeconds = minimumSeconds
    self.backwardCheck = backwardCheck
  }

  /// The choice a search configuration stands for (`backend=gemm`, or flash's br, bc, kernel, split).
  func candidate(_ configuration: Configuration) -> AttentionChoice {
    let precision = workspace.precision
    if configuration["backend"] == "gemm" { return AttentionChoice(backend: .gemm, precision: precision, threads: threads) }
    return AttentionChoice(backend: .flash, precision: precision, flash: FlashParameters(
      br: configuration.int("br") ?? 128, bc: configuration.int("bc") ?? 128, threads: threads, microKernel: configuration["kernel"],
      querySplit: configuration.int("split") ?? 1))
  }

  func evaluate(_ configuration: Configuration, effort: Int) -> Outcome {
    let candidate = candidate(configuration)
    do {
      workspace.o = [Float](repeating: .nan, count: workspace.shape.qCount)
      try workspace.forward(candidate, context: context)
    } catch {
      return .failed(reason: "\(error)")
    }
    let error = workspace.checkedError()
    let tolerance = Self.tolerance(candidate)
    guard error <= tolerance else { return .wrong(error: error.isFinite ? error : nil, tolerance: tolerance) }
    if candidate.backend == .flash {
      let parameters = Attention.flashParameters(candidate)
      do {
        let gradientError = try backwardCheck.error(parameters, shape: workspace.shape, precision: workspace.precision, context: context)
        guard gradientError <= BackwardCheck.tolerance else {
          return .wrong(error: gradientError.isFinite ? gradientError : nil, tolerance: BackwardCheck.tolerance)
        }
      } catch {
        return .failed(reason: "backward: \(error)")
      }
    }
    let flops = workspace.shape.forwardFlops
    let run = TimedRun { [workspace, context] in try workspace.forward(candidate, context: context) }
    let seconds = Stopwatch.secondsPerCall(repeats: repeats * effort, minimumSeconds: minimumSeconds, warmedUp: true, run.callAsFunction)
    do { try run.check() } catch { return .failed(reason: "while timed: \(error)") }
    return .ok(Statistics(samples: seconds.map { flops / $0 / 1e9 }))
  }
}

public struct AttentionTuningOptions: Sendable {
  public var problems: [AttentionShape]
  /// Storage precisions to sweep; fp32 first (its search seeds the others).
  public var precisions: [Precision]
  public var budgetSeconds: Double
  public var quick: Bool
  public var threads: Int
  public var fingerprint: String
  public var build: String
  /// GEMM rates to set each precision against (from kernels.gemm); what is missing is measured.
  public var gemmRates: [GEMMRate]

  public init(
    problems: [AttentionShape], precisions: [Precision] = [.fp32], budgetSeconds: Double, quick: Bool, threads: Int, fingerprint: String,
    build: String, gemmRates: [GEMMRate] = []
  ) {
    self.problems = problems
    self.precisions = precisions
    self.budgetSeconds = budgetSeconds
    self.quick = quick
    self.threads = threads
    self.fingerprint = fingerprint
    self.build = build
    self.gemmRates = gemmRates
  }

  /// Batch 1, 8 heads; head dim 64 and 128; sequence 512 to 4096; causal and not.
  public static let defaultProblems: [AttentionShape] = [64, 128].flatMap { d in
    [512, 1024, 2048, 4096].flatMap { s in [false, true].map { AttentionShape(batch: 1, heads: 8, seq: s, headDim: d, causal: $0) } }
  }

  public static let defaultPrecisions: [Precision] = [.fp32, .bf16, .fp8e4m3]

  public static let quickProblems = [
    AttentionShape(batch: 1, heads: 2, seq: 96, headDim: 32, causal: false), AttentionShape(batch: 1, heads: 2, kvHeads: 1, seq: 77, headDim: 32, causal: true),
  ]
}

/// `tune attention`: per problem, a model-seeded local search over flash's (Br, Bc) in fp32 and
/// the materialised-scores backend, each candidate verified (forward against the fp64 reference,
/// flash's backward on a reduced problem) before it is timed; then each lower storage precision
/// with fp32's best tiles and the gemm backend. The best flash candidate's backward is timed.
public final class AttentionTuner {
  let options: AttentionTuningOptions
  let context: KernelContext
  let journal: KernelJournal?
  let features: ISAFeatures
  let caches: CacheSizes
  let progress: (String) -> Void
  let backwardCheck = BackwardCheck()

  public init(
    options: AttentionTuningOptions, context: KernelContext, journal: KernelJournal?, features: ISAFeatures, caches: CacheSizes,
    progress: @escaping (String) -> Void
  ) {
    self.options = options
    self.context = context
    self.journal = journal
    self.features = features
    self.caches = caches
    self.progress = progress
  }

  static let blockSizes = [32, 64, 96, 128, 192, 256]

  /// Where the local search starts: a query block whose packed Q and Oᵀ ((2·D + 1)·Br floats) fit
  /// the L1 data cache next to nothing else of size, and the largest key block whose K and V
  /// panels, scores and probabilities (Bc·(2·D + 2·Br) floats) fit half the L2. On a Zen 3 core at
  /// D = 64 that is Br = 32, Bc = 256; the search walks from there.
  func seed(_ shape: AttentionShape, sizes: [Int], kernels: [String], splits: [Int]) -> Configuration {
    let d = shape.headDim
    let br = sizes.last { (2 * d + 1) * $0 * 4 <= caches.l1 } ?? sizes[0]
    let bc = sizes.last { $0 * (2 * d + 2 * br) * 4 <= caches.l2 / 2 } ?? sizes[0]
    // Whole heads while there are at least as many as threads; otherwise share the query blocks.
    let heads = shape.batch * shape.heads
    let split = splits.last { heads * $0 <= max(options.threads, heads) } ?? 1
    return Configuration(["br": String(br), "bc": String(bc), "kernel": kernels.first ?? "", "split": String(split)])
  }

  /// What the search ranges over for this run: flash's block sizes, fp32 micro-kernels (the
  /// default, 6x16 where there is one, first) and thread splits (whole heads, or each head's query
  /// blocks shared among the threads).
  struct Space {
    let sizes: [Int]
    let kernels: [String]
    let splits: [Int]
    var flash: SearchSpace { SearchSpace(parameters: [Parameter("br", sizes), Parameter("bc", sizes), Parameter("kernel", kernels), Parameter("split", splits)]) }
    let gemm = SearchSpace(parameters: [Parameter("backend", ["gemm"])])
    func bf16(_ names: [String]) -> SearchSpace {
      SearchSpace(parameters: [Parameter("br", sizes), Parameter("bc", sizes), Parameter("kernel", names), Parameter("split", splits)])
    }
  }

  /// Problems whose gemm-backend verdict carries over to longer sequences: same head dim,
  /// masking, grouping and precision.
  struct ProblemKind: Hashable {
    let headDim: Int, causal: Bool, grouped: Bool, precision: Precision
    init(_ shape: AttentionShape, _ precision: Precision) {
      (headDim, causal, grouped, self.precision) = (shape.headDim, shape.causal, shape.kvHeads != shape.heads, precision)
    }
  }

  /// Where the materialised scores lost to flash, at which sequence length: longer sequences of
  /// the same kind only widen the gap (seq² scores against seq·headDim work per row).
  struct GEMMLoss { let seq: Int, flash: Double, gemm: Double }

  public func run() -> AttentionSection {
    let budget = Budget(seconds: options.budgetSeconds)
    let rates = options.precisions.map { precision in
      options.gemmRates.first { $0.precision == precision } ?? {
        let size = options.quick ? 512 : 2048
        progress("attention: measuring the \(precision) GEMM rate at \(size)³")
        return AttentionGEMMReference.measure(
          precision: precision, size: size, threads: options.threads, features: features, caches: caches, context: context, repeats: 3)
      }()
    }
    let space = Space(
      sizes: options.quick ? [16, 32, 64] : Self.blockSizes,
      kernels: Float.searchableMicroKernels(features).map(\.name).sorted { ($0.hasSuffix("6x16") ? 0 : 1, $0) < ($1.hasSuffix("6x16") ? 0 : 1, $1) },
      splits: [1, 2, 4].filter { $0 <= max(1, options.threads) })
    // Shares of the budget follow each problem's work (its FLOPs, with a floor for the small ones
    // whose cost is the fixed part of a measurement), and fp32's search weighs three times a lower
    // precision's two candidates.
    let weight: (AttentionShape, Precision) -> Double = { shape, precision in (precision == .fp32 ? 3 : 1) * max(shape.forwardFlops, 1.5e10) }
    var remainingWeight = options.problems.map { shape in options.precisions.map { weight(shape, $0) }.reduce(0, +) }.reduce(0, +)
    var losses: [ProblemKind: GEMMLoss] = [:]
    var entries: [AttentionEntry] = []
    for shape in options.problems {
      var fp32Tiles: Configuration?
      for (precision, rate) in zip(options.precisions, rates) {
        defer { remainingWeight -= weight(shape, precision) }
        var records: [AttentionCandidateRecord] = []
        var winner: AttentionCandidateRecord?
        if !budget.exhausted, let workspace = try? AttentionWorkspace(shape: shape, precision: precision) {
          // A share of what is left, with room kept for the backward and the problems after this one.
          let share = budget.share(0.8 * weight(shape, precision) / max(1, remainingWeight))
          (records, winner) = tune(
            workspace, rate: rate, space: space, budget: budget, share: share, fp32Tiles: &fp32Tiles, losses: &losses)
        } else {
          records.append(AttentionCandidateRecord(backend: .flash, parameters: [:], status: .timeout, reason: "the budget ran out before this problem"))
        }
        entries.append(AttentionEntry(
          shape: shape.description, batch: shape.batch, heads: shape.heads, kvHeads: shape.kvHeads, seq: shape.seq, headDim: shape.headDim,
          causal: shape.causal, precision: precision, winner: winner, candidates: records))
      }
    }
    let fp32 = rates.first { $0.precision == .fp32 } ?? rates.first
    return AttentionSection(
      fingerprint: options.fingerprint, strategy: "model-seeded local search (fp32), fp32's tiles for lower precisions",
      budgetSeconds: options.budgetSeconds, tuningSeconds: budget.elapsed, gemmGflops: fp32?.gflops ?? 0, gemmSource: fp32?.source ?? "none",
      gemmRates: rates, entries: entries)
  }

  /// One problem at one precision: the gemm backend (unless pruned), flash's search (fp32) or
  /// fp32's tiles (lower precisions), bf16 products where the CPU has them; every candidate's
  /// record, and the winner with its errors and backward.
  func tune(
    _ workspace: AttentionWorkspace, rate: GEMMRate, space: Space, budget: Budget, share: Budget, fp32Tiles: inout Configuration?,
    losses: inout [ProblemKind: GEMMLoss]
  ) -> ([AttentionCandidateRecord], AttentionCandidateRecord?) {
    let (shape, precision) = (workspace.shape, workspace.precision)
    let objective = AttentionObjective(
      workspace: workspace, threads: options.threads, context: context, repeats: options.quick ? 2 : 3,
      minimumSeconds: options.quick ? 0.005 : 0.05, backwardCheck: backwardCheck)
    var records: [AttentionCandidateRecord] = []
    let gemmChoice = AttentionChoice(backend: .gemm, precision: precision, threads: options.threads)
    let gemm = session(space.gemm, kernel: "attention-gemm", objective: objective, share: share)
    if let reason = MaterializedAttention.unavailability(shape, threads: options.threads) {
      records.append(AttentionCandidateRecord(choice: gemmChoice, status: .pruned, reason: reason))
    } else if let lost = losses[ProblemKind(shape, precision)], lost.seq < shape.seq {
      records.append(AttentionCandidateRecord(
        choice: gemmChoice, status: .pruned,
        reason: String(format: "lost to flash at seq %d (%.1f against %.1f GFLOP/s); longer sequences only widen the gap", lost.seq, lost.gemm, lost.flash)))
    } else {
      // One candidate, measured before the search so the search cannot spend its share.
      let trial = gemm.evaluate(Configuration(["backend": "gemm"]))
      if case .timeout = trial.outcome {
        records.append(AttentionCandidateRecord(choice: gemmChoice, status: .timeout, reason: "the budget ran out before it was measured"))
      }
    }
    let flash = session(space.flash, kernel: "attention-flash", objective: objective, share: share)
    if precision == .fp32 || fp32Tiles == nil {
      ModelSeededLocalSearch(seed: seed(shape, sizes: space.sizes, kernels: space.kernels, splits: space.splits), maxEvaluations: options.quick ? 3 : 8)
        .run(flash)
      // The local search steps between neighbouring kernels and seldom reaches another ISA's
      // (on an AVX-512 CPU it stayed on avx2-6x16 and 3x24): every kernel it did not try gets one
      // run with the best tiles.
      if let best = flash.best?.configuration {
        for name in space.kernels where !flash.trials.contains(where: { $0.configuration["kernel"] == name }) && !share.exhausted {
          flash.evaluate(Configuration(best.values.merging(["kernel": name]) { $1 }))
        }
      }
      if precision == .fp32 { fp32Tiles = flash.best?.configuration }
    } else if let tiles = fp32Tiles {
      flash.evaluate(tiles)
    }
    if flash.trials.isEmpty {
      records.append(AttentionCandidateRecord(backend: .flash, parameters: [:], status: .timeout, reason: "the budget ran out before it was measured"))
    }
    // bf16 inputs: the same tiles with bf16 products on AMX or AVX512-BF16, where the CPU has them.
    let bf16Kernels = precision == .bf16 ? BF16MicroKernel.usable(features).map(\.name) : []
    let bf16Products = session(space.bf16(bf16Kernels), kernel: "attention-flash", objective: objective, share: share)
    if let tiles = fp32Tiles ?? flash.best?.configuration {
      for name in bf16Kernels { bf16Products.evaluate(Configuration(tiles.values.merging(["kernel": name]) { $1 })) }
    }
    let trials = flash.trials + bf16Products.trials + gemm.trials
    let firstTrialRecord = records.count
    for trial in trials {
      let g = trial.outcome.statistics
      records.append(AttentionCandidateRecord(
        choice: objective.candidate(trial.configuration), status: trial.outcome.status, reason: trial.outcome.reason, forwardGflops: g,
        percentOfGEMM: g.map { rate.gflops > 0 ? 100 * $0.median / rate.gflops : 0 }, fromJournal: trial.fromJournal))
    }
    let flashBest = [flash.best, bf16Products.best].compactMap { $0 }.max { ($0.outcome.score ?? 0) < ($1.outcome.score ?? 0) }
    // The records of the best flash and gemm trials (the last of equal ones: a longer re-measurement).
    var best: [Int] = []
    for candidate in [flashBest, gemm.best].compactMap({ $0 }) {
      let (configuration, score) = (candidate.configuration, candidate.outcome.score)
      let scores = trials.map(\.outcome.score), configurations = trials.map(\.configuration)
      if let index = configurations.indices.last(where: { configurations[$0] == configuration && scores[$0] == score }) {
        best.append(firstTrialRecord + index)
      }
    }
    for index in best { describe(&records[index], workspace: workspace, budget: budget) }
    if let f = flashBest?.outcome.score, let g = gemm.best?.outcome.score, f > g, losses[ProblemKind(shape, precision)] == nil {
      losses[ProblemKind(shape, precision)] = GEMMLoss(seq: shape.seq, flash: f, gemm: g)
    }
    let winner = best.map { records[$0] }.max { ($0.forwardGflops?.median ?? 0) < ($1.forwardGflops?.median ?? 0) }
    return (records, winner)
  }

  func session(_ space: SearchSpace, kernel: String, objective: AttentionObjective, share: Budget) -> TuningSession {
    let (fingerprint, build, shape, precision) = (options.fingerprint, options.build, objective.workspace.shape, objective.workspace.precision)
    return TuningSession(
      space: space, objective: objective, budget: share, journal: journal,
      journalRecord: { configuration, outcome, effort in
        TuningRecord(fingerprint: fingerprint, build: build, kernel: kernel, shape: shape.description, precision: precision.rawValue,
                       configuration: configuration, outcome: outcome, effort: effort)
      }, progress: { [progress] in progress("attention \(shape) \(precision): \($0)") })
  }

  /// A best candidate's errors (forward on the checked rows, against the unquantised inputs) and,
  /// for flash, its backward's check and rate.
  func describe(_ record: inout AttentionCandidateRecord, workspace: AttentionWorkspace, budget: Budget) {
    guard let choice = record.choice else { return }
    if (try? workspace.forward(choice, context: context)) != nil {
      record.maxError = workspace.checkedError()
      record.precisionError = workspace.precisionError()
    }
    if choice.backend == .flash {
      let parameters = Attention.flashParameters(choice)
      record.backwardError = try? backwardCheck.error(parameters, shape: workspace.shape, precision: workspace.precision, context: context)
      if !budget.exhausted { record.backwardGflops = try? backwardRate(workspace, parameters) }
    }
  }

  /// The backward's rate (2.5× the forward's FLOPs), from the forward's outputs.
  func backwardRate(_ w: AttentionWorkspace, _ parameters: FlashParameters) throws -> Statistics {
    try w.forward(AttentionChoice(backend: .flash, precision: w.precision, flash: parameters), context: context)
    try w.prepareBackward()
    let run = TimedRun { [context] in try w.backward(parameters, context: context) }
    let seconds = Stopwatch.secondsPerCall(repeats: options.quick ? 1 : 2, minimumSeconds: options.quick ? 0.005 : 0.05, run.callAsFunction)
    try run.check()
    return Statistics(samples: seconds.map { 2.5 * w.shape.forwardFlops / $0 / 1e9 })
  }
}

/// The GEMM rate attention is set against, per storage precision: the best this build can do at
/// that precision on a square (2048³ unless told) — OpenBLAS sgemm for fp32, the native GEMM
/// (operands stored in the precision, decoded while packing, the model's blocking) below it.
public enum AttentionGEMMReference {
  /// A verified call of the reference GEMM, to time alone or interleaved with attention.
  public struct Run {
    public let call: () -> Void
    public let flops: Double
    public let source: String
  }

  public static func prepare(
    precision: Precision, size: Int = 2048, threads: Int, features: ISAFeatures, caches: CacheSizes, context: KernelContext
  ) throws -> Run {
    let problem = GEMMProblem(shape: GEMMShape(m: size, n: size, k: size))
    let backend: GEMMBackend = precision == .fp32 ? .openblas : .native
    let candidate = try GEMMBenchmark.candidate(backend: backend, precision: precision, params: [:], threads: threads, features: features, caches: caches)
    let evaluator = GEMMEvaluator(workspace: GEMMWorkspace(problem: problem, precision: precision), features: features, context: context)
    let call = try evaluator.runner(for: candidate)
    let check = evaluator.verify(call)
    guard check.passed else {
      throw KernelError.invalidParameters(String(format: "the reference GEMM failed its check (error %.2e > %.2e)", check.error, check.tolerance))
    }
    return Run(call: call, flops: problem.shape.flops, source: "\(backend.rawValue) \(problem.shape) \(precision), measured in this run")
  }

  public static func measure(
    precision: Precision, size: Int = 2048, threads: Int, features: ISAFeatures, caches: CacheSizes, context: KernelContext, repeats: Int
  ) -> GEMMRate {
    do {
      let run = try prepare(precision: precision, size: size, threads: threads, features: features, caches: caches, context: context)
      let seconds = Stopwatch.secondsPerCall(repeats: repeats, minimumSeconds: 0.2, warmedUp: true, run.call)
      return GEMMRate(precision: precision, gflops: Statistics(samples: seconds.map { run.flops / $0 / 1e9 }).median, source: run.source)
    } catch {
      return GEMMRate(precision: precision, gflops: 0, source: "the \(precision) GEMM at \(size)³ could not run: \(error)")
    }
  }
}
