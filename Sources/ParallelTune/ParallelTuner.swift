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
    runner = TrialRunner(binary: options.trainBinary, common: Self.commonFlags(options), memoryLimitBytes: options.memoryLimitBytes)
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
      model: model, worldThreads: options.worldThreads, ranks: options.ranks, globalBatch: batch, precisions: options.precisions)
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
    // same losses) for as many steps as the
    // longest trial runs. The exhaustive search runs every candidate that long (to completion:
    // each measured as well as halving measures its pick).
    let maxEffort = Self.maxEffort(initial: min(options.initialTrials, runnable.count))
    let referenceSteps = ParallelTuneOptions.steps(effort: maxEffort)
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
      runner: trialRunner, candidates: Dictionary(uniqueKeysWithValues: runnable.map { ($0.candidate.description, $0) }), reference: reference,
      template: template, budget: budget, minimumSeconds: options.minimumTrialSeconds)
    let space = SearchSpace(parameters: [Parameter("candidate", runnable.map(\.candidate.description))])
    let journal = try options.journalPath.map { try Journal(path: $0, fresh: options.fresh) }
    let session = TuningSession(
      space: space, objective: objective, budget: budget, journal: journal,
      journalRecord: { [options, referenceSteps] configuration, outcome, effort in
        Journal.Record(
          fingerprint: options.fingerprint, build: options.build, kernel: "parallel", shape: "\(model.name) batch \(batch) seed \(options.seed) schedule \(referenceSteps) \(options.trainFlags.joined(separator: " "))",
          precision: configuration["candidate"]?.split(separator: " ").dropFirst().first.map(String.init) ?? "", configuration: configuration,
          outcome: outcome, effort: effort)
      }, progress: { progress("parallel trial: " + $0) })
    if options.exhaustive {
      ExhaustiveSearch(effort: maxEffort).run(session)
    } else {
      BestFirstHalving(initial: options.initialTrials).run(session)
    }
    let pruned = records
    func collect() -> [ParallelTrial] {
      var records = pruned
      let decoder = JSONDecoder()
      var tried = Set<String>()
      for trial in session.trials {
        guard let name = trial.configuration["candidate"], let item = objective.candidates[name] else { continue }
        tried.insert(name)
        if let text = trial.details?["trial"], var record = try? decoder.decode(ParallelTrial.self, from: Data(text.utf8)) {
          record.fromJournal = trial.fromJournal ? true : nil
          records.append(record)
        } else {
          records.append(item.record(status: trial.outcome.status == "timeout" ? .timeout : .failed, reason: trial.outcome.reason))
        }
      }
      for (rank, item) in runnable.enumerated() where !tried.contains(item.candidate.description) {
        records.append(item.record(
          status: .pruned, reason: "not tried: the cost model ranked it \(rank + 1) of \(runnable.count) (predicted \(String(format: "%.2f", item.predictedSeconds)) s per step)"))
      }
      return records
    }
    records = collect()
    var pick = Selection.pick(records, globalBatch: batch)
    // The pick is judged on the whole reference: where the longest trials went unstable, the
    // fastest stable candidate was judged on a shorter prefix only, so it runs as long before it
    // can be picked (and the next one after it, should it fail there too).
    while let chosen = pick, let trial = records.first(where: { $0.status == .ok && $0.layout == chosen.layout && $0.precision == chosen.precision && $0.threadsPerRank == chosen.threadsPerRank }),
      (trial.steps ?? 0) < referenceSteps, !budget.exhausted {
      progress("parallel: \(trial.name) was judged on \(trial.steps ?? 0) steps only; running it for \(referenceSteps)")
      session.evaluate(Configuration(["candidate": Candidate(layout: trial.layout, precision: trial.precision, threadsPerRank: trial.threadsPerRank).description]), effort: maxEffort)
      records = collect()
      let again = Selection.pick(records, globalBatch: batch)
      if again == pick { break }
      pick = again
    }
    return ParallelSection(
      fingerprint: options.fingerprint, model: model, worldThreads: options.worldThreads, globalBatch: batch, pick: pick, trials: records,
      referenceLosses: reference, collectiveGBPerSecond: costModel.collectiveGBPerSecond, budgetSeconds: options.budgetSeconds,
      spentSeconds: budget.elapsed, tolerances: Dictionary(uniqueKeysWithValues: Stability.tolerance.map { ($0.key.rawValue, $0.value) }),
      costCalibration: calibration)
  }

  /// The effort successive halving reaches from `initial` trials (1, 2, 4 … until one is left, plus its last, longer run).
  static func maxEffort(initial: Int) -> Int {
    var (count, effort) = (max(1, initial), 1)
    while count > 1 {
      count = (count + 1) / 2
      effort *= 2
    }
    return effort
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

/// The objective of the layout search: a configuration names a candidate, effort sets the trial's
/// length; the outcome is tokens/s (median of the timed steps), or why not.
final class TrialObjective: Objective {
  let runner: TrialRunner
  let candidates: [String: Ranked]
  let reference: [Double]
  /// The spec every candidate's trial shares (`Candidate.spec`).
  let template: TrainingSpec
  let budget: Budget
  let minimumSeconds: Double
  private var last: [String: ParallelTrial] = [:]
  /// Per precision, measured over predicted step time of the trials run so far: a trial's
  /// prediction is scaled by its precision's median before it runs (so the error it records is
  /// out of sample), which the fp32 reference alone leaves off where a precision's share of work
  /// outside the GEMMs differs from fp32's.
  private var ratios: [TrainingPrecision: [Double]] = [:]

  init(runner: TrialRunner, candidates: [String: Ranked], reference: [Double], template: TrainingSpec, budget: Budget, minimumSeconds: Double) {
    self.minimumSeconds = minimumSeconds
    self.runner = runner
    self.candidates = candidates
    self.reference = reference
    self.template = template
    self.budget = budget
  }

  func evaluate(_ configuration: Configuration, effort: Int) -> Outcome {
    guard let name = configuration["candidate"], let ranked = candidates[name] else {
      return .failed(reason: "unknown candidate \(configuration)")
    }
    let (candidate, predictedBytes, modelSeconds) = (ranked.candidate, ranked.predictedBytes, ranked.predictedSeconds)
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
    switch outcome {
    case .ok: record.status = .ok
    case .unstable(let reason): (record.status, record.reason) = (.unstable, reason)
    case .oom(let reason): (record.status, record.reason) = (.oom, reason)
    case .timeout(let reason): (record.status, record.reason) = (.timeout, reason)
    default: (record.status, record.reason) = (.failed, outcome.reason)
    }
    last[name] = record
    return outcome
  }

  func details(_ configuration: Configuration, effort: Int) -> [String: String]? {
    guard let name = configuration["candidate"], let record = last[name], let data = try? JSONEncoder().encode(record) else { return nil }
    return ["trial": String(decoding: data, as: UTF8.self)]
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
