import Autotune
import Foundation
import Kernels
import NumberFormats
import Platform
import Profile

/// `tune gemm`: searches the native blocking on a reference shape, checks every shape's candidates
/// (the search's winner, the model's seed, OpenBLAS per core type), and sweeps precisions,
/// recording speed and accuracy. Every candidate is verified before it is timed.
public final class GEMMTuner {
  let options: GEMMTuningOptions
  let features: ISAFeatures
  let context: KernelContext
  let caches: CacheSizes
  let journal: KernelJournal?
  let progress: (String) -> Void
  let budget: Budget

  public init(
    options: GEMMTuningOptions, features: ISAFeatures, context: KernelContext, caches: CacheSizes, journal: KernelJournal?,
    progress: @escaping (String) -> Void
  ) {
    self.options = options
    self.features = features
    self.context = context
    self.caches = caches
    self.journal = journal
    self.progress = progress
    budget = Budget(seconds: options.budgetSeconds)
  }

  var referenceShape: GEMMShape {
    let preferred = options.quick ? GEMMShape(m: 256, n: 256, k: 256) : GEMMShape(m: 2048, n: 2048, k: 2048)
    return options.shapes.contains(preferred) ? preferred : options.shapes.first ?? preferred
  }

  var repeats: Int { options.quick ? 2 : 3 }
  var minimumSeconds: Double { options.quick ? 0.005 : 0.05 }

  /// In order of what matters most: the search on the reference shape (at most 40% of the
  /// budget), the precision sweep there, then the other shapes. Whatever the budget does not reach
  /// is recorded as `timeout`, never silently left out.
  public func run() -> GEMMSection {
    var entries: [GEMMEntry] = []
    var environment: [String: String] = ["OPENBLAS_NUM_THREADS": String(options.threads)]
    let reference = referenceShape
    var searchSummary: SearchSummary?
    var bestBlocking: Configuration?

    if options.precisions.contains(.fp32) {
      let (entry, summary, best, core) = tuneReference(reference)
      entries.append(entry)
      searchSummary = summary
      bestBlocking = best
      if let core { environment["OPENBLAS_CORETYPE"] = core }
    }
    let sweepShapes = options.sweepAllShapes ? options.shapes : [reference]
    for shape in sweepShapes {
      for precision in options.precisions where precision != .fp32 || shape != reference {
        guard !budget.exhausted else {
          entries.append(timedOut(shape, precision))
          continue
        }
        if precision == .fp64 {
          entries.append(tuneFP64(shape))
        } else {
          entries.append(checkShape(shape, precision: precision, configurations: [bestBlocking, seed(Float.self)].compactMap { $0 }, accuracy: true))
        }
      }
    }
    if options.precisions.contains(.fp32) {
      for shape in options.shapes where !sweepShapes.contains(shape) {
        guard !budget.exhausted else {
          entries.append(timedOut(shape, .fp32))
          continue
        }
        entries.append(checkShape(shape, precision: .fp32, configurations: [bestBlocking, seed(Float.self)].compactMap { $0 }, accuracy: false))
      }
    }
    // The model's training GEMMs in every precision; stored precisions run in the TN layout
    // whatever the transposes, so each of their shapes is measured once. Precision by precision,
    // the trainer's own (fp32, bf16, fp16, fp8) first: a budget that runs out leaves the formats
    // no training policy multiplies in unmeasured, not half the model's shapes in bf16.
    let training: [Precision] = [.fp32, .bf16, .fp16, .fp8e4m3, .fp8e5m2]
    let ordered = options.precisions.filter(training.contains).sorted { training.firstIndex(of: $0)! < training.firstIndex(of: $1)! }
      + options.precisions.filter { !training.contains($0) }
    for precision in ordered where precision != .fp64 {
      for problem in options.modelProblems {
        let stored = precision != .fp32
        if stored && entries.contains(where: { $0.m == problem.shape.m && $0.n == problem.shape.n && $0.k == problem.shape.k && $0.precision == precision }) { continue }
        guard !budget.exhausted else {
          entries.append(timedOut(problem.shape, precision, transA: stored ? nil : problem.transA, transB: stored ? true : problem.transB))
          continue
        }
        entries.append(checkShape(
          problem, precision: precision, configurations: [bestBlocking, seed(Float.self)].compactMap { $0 }, accuracy: false))
      }
    }
    return GEMMSection(
      fingerprint: options.fingerprint, strategy: strategy(seed: seed(Float.self)).name, budgetSeconds: options.budgetSeconds,
      tuningSeconds: budget.elapsed, environment: environment, search: searchSummary, entries: entries)
  }

  /// These problems only, each checked with the model's seed blocking and every library that takes
  /// its precision, within the budget (what it does not reach is recorded as `timeout`): the
  /// parallel pick's own shapes after the layout search.
  public func checkProblems(_ problems: [(problem: GEMMProblem, precision: Precision)]) -> [GEMMEntry] {
    problems.map { item in
      let stored = item.precision != .fp32 && item.precision != .fp64
      guard !budget.exhausted else {
        return timedOut(item.problem.shape, item.precision, transA: stored ? nil : item.problem.transA, transB: stored ? true : item.problem.transB)
      }
      return checkShape(item.problem, precision: item.precision, configurations: [seed(Float.self)].compactMap { $0 }, accuracy: false)
    }
  }

  func timedOut(_ shape: GEMMShape, _ precision: Precision, transA: Bool? = nil, transB: Bool? = nil) -> GEMMEntry {
    GEMMEntry(shape: shape.description, m: shape.m, n: shape.n, k: shape.k, precision: precision, transA: transA == true ? true : nil,
              transB: transB == true ? true : nil, winner: nil, candidates: [GEMMCandidateRecord(backend: .native, parameters: [:], status: .timeout, reason: "the budget ran out before this shape")])
  }

  /// Fewer samples for shapes whose single run already takes long.
  func repeats(_ shape: GEMMShape) -> Int { shape.flops > 4e10 ? 2 : repeats }

  func seed<T: GEMMScalar>(_ type: T.Type) -> Configuration? {
    GEMMSearchSpace.modelSeed(T.self, features: features, caches: caches, threads: options.threads)
  }

  func strategy(seed: Configuration?) -> SearchStrategy {
    switch options.strategy {
    case .exhaustive: return ExhaustiveSearch()
    case .random: return RandomSearch(count: max(4, GEMMSearchSpace.native(Float.self, features: features, threads: options.threads, quick: options.quick).count / 5))
    case .halving: return SuccessiveHalving(initial: options.quick ? 8 : 32)
    case .model:
      let size = GEMMSearchSpace.native(Float.self, features: features, threads: options.threads, quick: options.quick).count
      return ModelSeededLocalSearch(seed: seed ?? Configuration([:]), maxEvaluations: max(4, size / 5 - 3))
    }
  }

  func session(space: SearchSpace, objective: GEMMObjective, shape: GEMMShape, precision: Precision, budget: Budget, key: String? = nil) -> TuningSession {
    let fingerprint = options.fingerprint
    let build = options.build
    return TuningSession(
      space: space, objective: objective, budget: budget, journal: journal,
      journalRecord: { configuration, outcome, effort in
        TuningRecord(fingerprint: fingerprint, build: build, kernel: "gemm-native", shape: key ?? shape.description, precision: precision.rawValue,
                       configuration: configuration, outcome: outcome, effort: effort)
      }, progress: { [progress] in progress("gemm \(precision) \(shape): \($0)") })
  }

  func tuneReference(_ shape: GEMMShape) -> (GEMMEntry, SearchSummary, Configuration?, String?) {
    let workspace = GEMMWorkspace(problem: GEMMProblem(shape: shape), precision: .fp32, lastLevelCacheBytes: caches.lastLevel)
    let evaluator = GEMMEvaluator(workspace: workspace, features: features, context: context)
    let objective = GEMMObjective(evaluator: evaluator, baseRepeats: repeats, minimumSeconds: minimumSeconds)
    let space = GEMMSearchSpace.native(Float.self, features: features, threads: options.threads, quick: options.quick)
    let search = session(space: space, objective: objective, shape: shape, precision: .fp32, budget: budget.share(0.35))
    strategy(seed: seed(Float.self)).run(search)
    // The closest few get a second, longer measurement: noise decides less.
    let finalists = search.trials.filter { $0.outcome.score != nil }.sorted { $0.outcome.score! > $1.outcome.score! }.prefix(3)
    for finalist in finalists where !budget.exhausted { search.evaluate(finalist.configuration, effort: 2) }
    let best = search.best?.configuration
    var records = search.trials.map { record($0, objective: objective, precision: .fp32) }
    let (openblas, core) = openblasCandidates(shape, evaluator: evaluator, precision: .fp32)
    records += openblas
    records.append(amxCandidate(shape, evaluator: evaluator, precision: .fp32))
    records += libraryCandidates(shape, evaluator: evaluator, precision: .fp32)
    let summary = SearchSummary(
      shape: shape.description, precision: .fp32, spaceSize: space.count, evaluated: search.trials.count,
      fromJournal: search.trials.filter(\.fromJournal).count)
    return (finish(shape: shape, precision: .fp32, records: records, workspace: workspace, evaluator: evaluator, accuracy: true), summary, best, core)
  }

  func tuneFP64(_ shape: GEMMShape) -> GEMMEntry {
    let workspace = GEMMWorkspace(problem: GEMMProblem(shape: shape), precision: .fp64, lastLevelCacheBytes: caches.lastLevel)
    let evaluator = GEMMEvaluator(workspace: workspace, features: features, context: context)
    let objective = GEMMObjective(evaluator: evaluator, baseRepeats: repeats, minimumSeconds: minimumSeconds)
    let space = GEMMSearchSpace.native(Double.self, features: features, threads: options.threads, quick: options.quick)
    let search = session(space: space, objective: objective, shape: shape, precision: .fp64, budget: budget.share(0.15))
    if let start = seed(Double.self) {
      ModelSeededLocalSearch(seed: start, maxEvaluations: options.quick ? 3 : 8).run(search)
    }
    var records = search.trials.map { record($0, objective: objective, precision: .fp64) }
    records += openblasCandidates(shape, evaluator: evaluator, precision: .fp64).0
    records += libraryCandidates(shape, evaluator: evaluator, precision: .fp64)
    return finish(shape: shape, precision: .fp64, records: records, workspace: workspace, evaluator: evaluator, accuracy: true)
  }

  func checkShape(_ shape: GEMMShape, precision: Precision, configurations: [Configuration], accuracy: Bool) -> GEMMEntry {
    checkShape(GEMMProblem(shape: shape), precision: precision, configurations: configurations, accuracy: accuracy)
  }

  /// The search's winner and the model's seed, OpenBLAS (fp32) and amx (stored precisions) on
  /// one problem, transposes and β included.
  func checkShape(_ problem: GEMMProblem, precision: Precision, configurations: [Configuration], accuracy: Bool) -> GEMMEntry {
    let shape = problem.shape
    let workspace = GEMMWorkspace(problem: problem, precision: precision, lastLevelCacheBytes: caches.lastLevel)
    let evaluator = GEMMEvaluator(workspace: workspace, features: features, context: context)
    // Only the sweep compares close candidates; elsewhere a fixed number of samples will do.
    let objective = GEMMObjective(evaluator: evaluator, baseRepeats: repeats(shape), minimumSeconds: minimumSeconds, settle: accuracy)
    let space = GEMMSearchSpace.native(Float.self, features: features, threads: options.threads, quick: options.quick)
    let check = session(
      space: SearchSpace(parameters: space.parameters), objective: objective, shape: shape, precision: precision, budget: budget,
      key: Self.key(workspace.effectiveProblem))
    for configuration in Set(configurations).sorted() { check.evaluate(configuration) }
    var records = check.trials.map { record($0, objective: objective, precision: precision) }
    if precision == .fp32 { records += openblasCandidates(shape, evaluator: evaluator, precision: precision).0 }
    if [.bf16, .fp8e4m3, .fp8e5m2, .mxfp8e4m3, .mxfp8e5m2, .mxfp6e2m3, .mxfp6e3m2, .mxfp4, .nvfp4].contains(precision) {
      records.append(amxCandidate(shape, evaluator: evaluator, precision: precision))
    }
    records += libraryCandidates(shape, evaluator: evaluator, precision: precision)
    return finish(shape: shape, precision: precision, records: records, workspace: workspace, evaluator: evaluator, accuracy: accuracy)
  }

  func record(_ trial: Trial, objective: GEMMObjective, precision: Precision) -> GEMMCandidateRecord {
    let gflops = trial.outcome.statistics
    guard let choice = try? objective.candidate(for: trial.configuration) else {
      return GEMMCandidateRecord(
        backend: .native, parameters: trial.configuration.values, status: trial.outcome.status, reason: trial.outcome.reason)
    }
    return GEMMCandidateRecord(
      choice: choice, status: trial.outcome.status, reason: trial.outcome.reason, gflops: gflops,
      percentOfPeak: gflops.map { percent($0.median, precision) } ?? nil, fromJournal: trial.fromJournal)
  }

  func percent(_ gflops: Double, _ precision: Precision) -> Double? {
    guard let peak = options.peaks[precision == .fp64 ? .fp64 : .fp32], peak > 0 else { return nil }
    return 100 * gflops / peak
  }

  /// The winner among measured records: the verified ("ok") one with the highest median rate,
  /// whatever its library; wrong, failed, pruned and timed-out records never win.
  public static func pick(_ records: [GEMMCandidateRecord]) -> Int? {
    records.indices.filter { records[$0].status == .ok && records[$0].gflops != nil }
      .max { records[$0].gflops!.median < records[$1].gflops!.median }
  }

  /// Picks the winner and measures its accuracy on normal and outlier inputs against FP64.
  func finish(
    shape: GEMMShape, precision: Precision, records: [GEMMCandidateRecord], workspace: GEMMWorkspace, evaluator: GEMMEvaluator, accuracy: Bool
  ) -> GEMMEntry {
    var records = records
    guard let index = Self.pick(records) else {
      return entry(workspace, precision: precision, winner: nil, candidates: records)
    }
    if accuracy && !budget.exhausted {
      let winner = records[index]
      let candidate = try? winner.runnableChoice(precision: precision)
      if let candidate, let run = try? evaluator.runner(for: candidate) {
        workspace.poisonC()
        run()
        records[index].errorNormal = workspace.errorAgainstFP64()
        let outliers = GEMMWorkspace(problem: workspace.problem, precision: precision, outliers: 8)
        if let runOutliers = try? GEMMEvaluator(workspace: outliers, features: features, context: context).runner(for: candidate) {
          outliers.poisonC()
          runOutliers()
          records[index].errorOutliers = outliers.errorAgainstFP64()
        }
      }
    }
    return entry(workspace, precision: precision, winner: records[index], candidates: records)
  }

  /// The entry of a workspace's problem as the kernels ran it (stored precisions in TN).
  func entry(_ workspace: GEMMWorkspace, precision: Precision, winner: GEMMCandidateRecord?, candidates: [GEMMCandidateRecord]) -> GEMMEntry {
    let p = workspace.effectiveProblem
    return GEMMEntry(
      shape: p.shape.description, m: p.shape.m, n: p.shape.n, k: p.shape.k, precision: precision, transA: p.transA ? true : nil,
      transB: p.transB ? true : nil, winner: winner, candidates: candidates)
  }

  /// "MxNxK", with " TN", " NT" or " TT" when either operand is transposed (and " β=1" when the
  /// product accumulates): an entry's and a journal record's name for the problem.
  static func key(_ p: GEMMProblem) -> String {
    var text = p.shape.description
    if p.transA || p.transB { text += " " + (p.transA ? "T" : "N") + (p.transB ? "T" : "N") }
    if p.beta != 0 { text += " β=\(p.beta == 1 ? "1" : String(p.beta))" }
    return text
  }
}
