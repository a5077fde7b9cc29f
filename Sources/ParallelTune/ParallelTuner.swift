import Autotune
import Foundation
import Platform
import Profile
import Trainer

/// What `tune parallel` searches and under which limits.
public struct ParallelTuneOptions: Sendable {
  public var model: ModelConfig
  public var worldThreads: Int
  public var ranks: Int?
  public var globalBatch = 8
  public var precisions: [TrainingPrecision] = TrainingPrecision.allCases
  /// Candidates above this (all ranks' predicted bytes) are pruned; trials are killed past it.
  public var memoryLimitBytes: Double
  public var budgetSeconds: Double
  /// How many of the cost model's best candidates get a first trial (all of them with `exhaustive`).
  public var initialTrials = 8
  public var exhaustive = false
  public var seed: UInt64 = 1
  public var learningRate = 3e-4
  /// Flags every trial's `train` gets besides the candidate's (a profile, a loss-scale override …).
  public var trainFlags: [String] = []
  public var trainBinary: String
  public var fingerprint: String
  public var build: String
  public var journalPath: String?
  public var fresh = false
  /// The least time a trial is given before it counts as hung (its prediction can be far off).
  public var minimumTrialSeconds = 30.0
  /// A launcher every trial runs under (`mpirun -np P …`), and its process count: candidates'
  /// ranks are multiples of it.
  public var launcher: [String] = []
  public var processes = 1

  public init(model: ModelConfig, worldThreads: Int, memoryLimitBytes: Double, budgetSeconds: Double, trainBinary: String, fingerprint: String, build: String) {
    self.model = model
    self.worldThreads = worldThreads
    self.memoryLimitBytes = memoryLimitBytes
    self.budgetSeconds = budgetSeconds
    self.trainBinary = trainBinary
    self.fingerprint = fingerprint
    self.build = build
  }

  /// Steps of a trial at `effort` (1, 2, 4 …): one warm-up step, then effort + 1 timed.
  public static func steps(effort: Int) -> Int { 2 + effort }
}

/// The parallel tuner: every candidate enumerated, those that cannot run or would not fit pruned
/// with the reason, the rest ranked by the cost model and tried best first by real `train` runs
/// under successive halving within the budget; unstable trials rejected; the fastest stable one
/// picked (ties within 1%: less memory). Trials are journaled as they finish.
public final class ParallelTuner {
  public let options: ParallelTuneOptions
  public let costModel: CostModel
  let runner: TrialRunner

  public init(options: ParallelTuneOptions, costModel: CostModel) {
    self.options = options
    self.costModel = costModel
    var runner = TrialRunner(binary: options.trainBinary, common: Self.commonFlags(options), memoryLimitBytes: options.memoryLimitBytes)
    runner.launcher = options.launcher
    self.runner = runner
  }

  /// Flags every trial's `train` gets on top of its spec: the tuner's own (a profile, the trial
  /// flags a person gave), which the spec `train` writes back then includes.
  static func commonFlags(_ o: ParallelTuneOptions) -> [String] { ["--oversubscribe"] + o.trainFlags }

  /// What every candidate's spec shares: the model, batch, seed and learning rate, one warm-up
  /// step, and the schedule's horizon at `horizon` steps (every trial follows the same rates).
  func template(horizon: Int) -> TrainingSpec {
    TrainingSpec(
      model: options.model, globalBatch: options.globalBatch,
      schedule: TrainingSpec.Schedule(learningRate: options.learningRate, warmupSteps: 1, horizonSteps: horizon), seed: options.seed)
  }

  public func run(progress: @escaping (String) -> Void = { _ in }) throws -> ParallelSection {
    let budget = Budget(seconds: options.budgetSeconds)
    let model = options.model, batch = options.globalBatch
    let enumeration = CandidateSpace.enumerate(
      model: model, worldThreads: options.worldThreads, ranks: options.ranks, globalBatch: batch, precisions: options.precisions,
      processes: options.processes)
    var records: [ParallelTrial] = enumeration.pruned.map { item in
      ParallelTrial(layout: item.candidate.layout, precision: item.candidate.precision, threadsPerRank: item.candidate.threadsPerRank,
        status: .pruned, reason: item.reason, predictedPeakBytes: 0)
    }
    var runnable: [Ranked] = []
    for candidate in enumeration.valid {
      let trainOptions = candidate.options(model: model, globalBatch: batch)
      let total = trainOptions.memoryPlan().totalBytes, rank = trainOptions.predictedPeakRankBytes
      let seconds = costModel.stepSeconds(candidate, model: model, globalBatch: batch)
      if total > options.memoryLimitBytes {
        records.append(ParallelTrial(layout: candidate.layout, precision: candidate.precision, threadsPerRank: candidate.threadsPerRank,
          status: .pruned, reason: String(format: "predicted %.2f GiB for all ranks, above the limit of %.2f GiB", total / 1073741824, options.memoryLimitBytes / 1073741824),
          predictedPeakBytes: rank, predictedStepSeconds: seconds))
      } else {
        runnable.append(Ranked(candidate: candidate, predictedBytes: rank, predictedSeconds: seconds))
      }
    }
    runnable.sort { $0.predictedSeconds < $1.predictedSeconds }
    progress("parallel: \(enumeration.valid.count + enumeration.pruned.count) candidates, \(runnable.count) fit; trying the cost model's best \(options.exhaustive ? runnable.count : min(options.initialTrials, runnable.count)) first")
    let trialRunner = runner
    // The fp32 reference trajectory every trial is held to: an fp32 candidate (the fp32 twin of
    // the cost model's best candidate, whose measured step time then scales the predictions for
    // the layouts that matter; else the fastest predicted fp32 one; any fp32 layout gives the
    // same losses) for as many steps as the longest trial runs: the halving's last survivor
    // (the exhaustive search runs every candidate that long).
    let referenceSteps = ParallelTuneOptions.steps(effort: HalvingSchedule.finalEffort(initial: min(options.initialTrials, runnable.count)))
    // Every trial follows the reference's learning-rate schedule, whatever its own length, so that
    // its losses are comparable step by step (a 3-step trial's own cosine decay would not be).
    let template = template(horizon: referenceSteps)
    var reference: [Double] = []
    var fp32 = runnable.map(\.candidate).filter { $0.precision == .fp32 }
    if let best = runnable.first?.candidate, let twin = fp32.firstIndex(where: { $0.layout == best.layout && $0.threadsPerRank == best.threadsPerRank }) {
      fp32.insert(fp32.remove(at: twin), at: 0)
    }
    if fp32.isEmpty, let first = runnable.first?.candidate { fp32 = [Candidate(layout: first.layout, precision: .fp32, threadsPerRank: first.threadsPerRank)] }
    var failures: [String] = []
    var calibration: Double?
    for candidate in fp32.prefix(4) where reference.isEmpty {
      progress("parallel: the fp32 reference (\(candidate.layout), \(referenceSteps) steps)")
      let result = trialRunner.run(candidate.spec(template), steps: referenceSteps, timeout: max(options.minimumTrialSeconds, min(600, budget.remaining)))
      if result.status == .ok && result.reports.count >= referenceSteps {
        reference = result.reports.map(\.loss)
        // One measured step time sets the cost model's scale (what it does not model, the
        // elementwise layers' real cost and the runtime's overheads, is roughly proportional);
        // the ranking is unchanged, the predictions trials are held to come closer.
        let measured = Statistics(samples: result.reports.dropFirst().map(\.seconds)).median
        let predicted = costModel.stepSeconds(candidate, model: model, globalBatch: batch)
        if measured > 0 && predicted > 0 { calibration = min(5, max(0.2, measured / predicted)) }
      } else {
        failures.append("\(candidate): \(result.status) \(result.stderrTail)")
      }
    }
    if reference.isEmpty && !runnable.isEmpty { throw ParallelTuneError.referenceFailed(failures.joined(separator: "; ")) }
    if let calibration { runnable = runnable.map { Ranked(candidate: $0.candidate, predictedBytes: $0.predictedBytes, predictedSeconds: $0.predictedSeconds * calibration) } }
    let objective = TrialObjective(
      runner: trialRunner, candidates: Dictionary(uniqueKeysWithValues: runnable.map { ($0.candidate, $0) }), reference: reference,
      template: template, budget: budget, minimumSeconds: options.minimumTrialSeconds)
    let journal = try options.journalPath.map { try Journal<RankedRecord<Candidate, ParallelTrial>>(path: $0, fresh: options.fresh) }
    let search = RankedSearch(
      items: runnable.map(\.candidate), objective: objective, budget: budget, journal: journal, fingerprint: options.fingerprint, build: options.build,
      context: Self.journalContext(template, flags: options.trainFlags), progress: { progress("parallel trial: " + $0) })
    let pruned = records
    let untried = { (trials: [RankedSearch<TrialObjective>.Trial]) -> [ParallelTrial] in
      let tried = Set(trials.map(\.item))
      return runnable.enumerated().filter { !tried.contains($0.element.candidate) }.map { rank, item in
        item.record(
          status: .pruned, reason: "not tried: the cost model ranked it \(rank + 1) of \(runnable.count) (predicted \(String(format: "%.2f", item.predictedSeconds)) s per step)")
      }
    }
    let collect = { (trials: [RankedSearch<TrialObjective>.Trial]) -> [ParallelTrial] in
      pruned + trials.map { trial in
        var record = trial.measurement
        record.fromJournal = trial.fromJournal ? true : nil
        return record
      } + untried(trials)
    }
    search.run(initial: options.initialTrials, exhaustive: options.exhaustive) { trials in
      Selection.pick(collect(trials), globalBatch: batch).map { Candidate(layout: $0.layout, precision: $0.precision, threadsPerRank: $0.threadsPerRank) }
    }
    records = collect(search.trials)
    let pick = Selection.pick(records, globalBatch: batch)
    return ParallelSection(
      fingerprint: options.fingerprint, model: model, worldThreads: options.worldThreads, globalBatch: batch, pick: pick, trials: records,
      referenceLosses: reference, collectiveGBPerSecond: costModel.collectiveGBPerSecond, budgetSeconds: options.budgetSeconds,
      spentSeconds: budget.elapsed, tolerances: Dictionary(uniqueKeysWithValues: Stability.tolerance.map { ($0.key.rawValue, $0.value) }),
      costCalibration: calibration)
  }

  /// What a trial's result depends on besides its candidate and the machine: the spec every
  /// candidate shares and the flags every trial gets.
  static func journalContext(_ template: TrainingSpec, flags: [String]) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let spec = (try? encoder.encode(template)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    return spec + " " + flags.joined(separator: " ")
  }
}

/// A candidate that fits, with the models' predictions for it: its largest rank's bytes and its
/// step time (calibrated once the fp32 reference ran).
struct Ranked: Sendable {
  var candidate: Candidate
  var predictedBytes: Double
  var predictedSeconds: Double

  /// Its record in the profile before (or instead of) a trial.
  func record(status: ParallelTrial.Status, reason: String?) -> ParallelTrial {
    ParallelTrial(
      layout: candidate.layout, precision: candidate.precision, threadsPerRank: candidate.threadsPerRank, status: status, reason: reason,
      predictedPeakBytes: predictedBytes, predictedStepSeconds: predictedSeconds)
  }
}

public enum ParallelTuneError: Error, CustomStringConvertible {
  case referenceFailed(String)
  public var description: String {
    switch self {
    case .referenceFailed(let reason): return "the fp32 reference trial failed, so no trial can be judged: \(reason)"
    }
  }
}

/// The objective of the layout search: a candidate and an effort (the trial's length) in; the
/// outcome (tokens/s, the median of the timed steps, or why not) and the trial's record out.
final class TrialObjective: RankedObjective {
  let runner: TrialRunner
  let candidates: [Candidate: Ranked]
  let reference: [Double]
  /// The spec every candidate's trial shares (`Candidate.spec`).
  let template: TrainingSpec
  let budget: Budget
  let minimumSeconds: Double
  /// Per precision, measured over predicted step time of the trials run so far: a trial's
  /// prediction is scaled by its precision's median before it runs (so the error it records is
  /// out of sample), which the fp32 reference alone leaves off where a precision's share of work
  /// outside the GEMMs differs from fp32's.
  private var ratios: [TrainingPrecision: [Double]] = [:]

  init(runner: TrialRunner, candidates: [Candidate: Ranked], reference: [Double], template: TrainingSpec, budget: Budget, minimumSeconds: Double) {
    self.minimumSeconds = minimumSeconds
    self.runner = runner
    self.candidates = candidates
    self.reference = reference
    self.template = template
    self.budget = budget
  }

  func notRun(_ candidate: Candidate) -> ParallelTrial {
    ranked(candidate).record(status: .timeout, reason: Outcome.budgetExhausted.reason)
  }

  func ranked(_ candidate: Candidate) -> Ranked { candidates[candidate] ?? Ranked(candidate: candidate, predictedBytes: 0, predictedSeconds: 0) }

  func evaluate(_ candidate: Candidate, effort: Int) -> (outcome: Outcome, measurement: ParallelTrial) {
    let ranked = ranked(candidate)
    let (predictedBytes, modelSeconds) = (ranked.predictedBytes, ranked.predictedSeconds)
    let learned = ratios[candidate.precision].map { Statistics(samples: $0).median } ?? 1
    let predictedSeconds = modelSeconds * learned
    let steps = ParallelTuneOptions.steps(effort: effort)
    // Generous for the prediction (it can be off several times), never past the budget.
    let timeout = min(minimumSeconds + 4 * predictedSeconds * Double(steps), max(minimumSeconds, budget.remaining))
    let result = runner.run(candidate.spec(template), steps: steps, timeout: timeout)
    var record = ParallelTrial(
      layout: candidate.layout, precision: candidate.precision, threadsPerRank: candidate.threadsPerRank, status: .ok, predictedPeakBytes: predictedBytes,
      predictedStepSeconds: predictedSeconds)
    let reports = result.reports
    record.spec = result.spec
    record.steps = reports.count
    record.losses = reports.map { $0.loss.isFinite ? $0.loss : nil }
    record.measuredPeakBytes = reports.last.map { Double($0.peakBytesPerRank.max() ?? 0) }
    record.rssPeakBytes = reports.last.map { Double($0.rssPeakBytes) }
    let timed = Array(reports.dropFirst())
    if !timed.isEmpty {
      record.tokensPerSecond = Statistics(samples: timed.map(\.tokensPerSecond))
      record.measuredStepSeconds = Statistics(samples: timed.map(\.seconds)).median
      let utilisation = timed.compactMap(\.mfu)
      record.mfu = utilisation.isEmpty ? nil : Statistics(samples: utilisation).median
      if let measured = record.measuredStepSeconds, measured > 0, modelSeconds > 0 { ratios[candidate.precision, default: []].append(measured / modelSeconds) }
    }
    let outcome: Outcome
    switch result.status {
    case .failed(let reason): outcome = .failed(reason: reason)
    case .oom(let reason): outcome = .oom(reason: reason)
    case .timeout(let reason): outcome = .timeout(reason: reason)
    case .ok:
      let curve = TrialCurve(losses: reports.map(\.loss), nonFinite: reports.map(\.nonFinite), skipped: reports.map(\.skipped), lossScales: reports.map(\.lossScale))
      if let reason = Stability.verdict(curve, reference: reference, precision: candidate.precision) {
        outcome = .unstable(reason: reason)
      } else if let rate = record.tokensPerSecond {
        outcome = .ok(rate)
      } else {
        outcome = .failed(reason: "no timed step reported")
      }
    }
    (record.status, record.reason) = (outcome.status, outcome.reason)
    return (outcome, record)
  }
}

/// The pick from recorded trials: among the stable (`ok`) trials measured at the longest trial
/// length any reached, the fastest by tokens/s; among those within 1% of it, the one with the
/// least measured memory.
public enum Selection {
  public static func pick(_ trials: [ParallelTrial], globalBatch: Int) -> ParallelPick? {
    let ok = trials.filter { $0.status == .ok && $0.tokensPerSecond != nil }
    guard let longest = ok.compactMap(\.steps).max() else { return nil }
    let finalists = ok.filter { $0.steps == longest }
    guard let fastest = finalists.map({ $0.tokensPerSecond!.median }).max() else { return nil }
    let close = finalists.filter { $0.tokensPerSecond!.median >= 0.99 * fastest }
    let chosen = close.min { ($0.measuredPeakBytes ?? .infinity) < ($1.measuredPeakBytes ?? .infinity) }!
    let rejected = trials.filter { $0.status == .unstable }.count
    let reason = close.count > 1
      ? "fastest stable within 1% (\(close.count) tied; the least memory of them)"
      : "fastest stable of \(ok.count) stable trials (\(rejected) unstable rejected)"
    // The trial's whole spec, less its own schedule length: a run of any length follows it.
    let spec = chosen.spec.map { spec in
      var spec = spec
      spec.schedule.warmupSteps = nil
      spec.schedule.horizonSteps = nil
      return spec
    }
    return ParallelPick(
      layout: chosen.layout, precision: chosen.precision, threadsPerRank: chosen.threadsPerRank, globalBatch: globalBatch,
      tokensPerSecond: chosen.tokensPerSecond!.median, reason: reason, spec: spec)
  }
}
