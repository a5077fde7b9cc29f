import Autotune
import Foundation
import Platform

/// The `parallel` section `tune parallel` writes: the model and world it tuned for, the pick, and
/// every candidate with what became of it (trials run, and candidates pruned before running, with
/// their predicted bytes).
public struct ParallelSection: Codable, Equatable, Sendable {
  public var fingerprint: String
  public var model: ModelConfig
  /// Hardware threads the candidates share (ranks × threads per rank).
  public var worldThreads: Int
  /// Sequences per step.
  public var globalBatch: Int
  public var pick: ParallelPick?
  public var trials: [ParallelTrial]
  /// The fp32 loss curve every trial's is held to (same seed and data).
  public var referenceLosses: [Double]
  /// Shared-memory all-reduce bandwidth the cost model used, GB/s of buffer reduced.
  public var collectiveGBPerSecond: Double
  public var budgetSeconds: Double
  public var spentSeconds: Double
  /// The per-precision loss tolerances of the stability verdict.
  public var tolerances: [String: Double]
  /// The factor the cost model's step times were scaled by: the fp32 reference's measured step
  /// time over its prediction (nil: not measured). Trials' predictions include it.
  public var costCalibration: Double?
  /// How far the planner's step model (the cost model, calibrated as above) was from the trials'
  /// measured step times: `tune plan --cluster this` is the same model on the same rates.
  public var predictionError: PredictionError?

  public init(
    fingerprint: String, model: ModelConfig, worldThreads: Int, globalBatch: Int, pick: ParallelPick?, trials: [ParallelTrial],
    referenceLosses: [Double], collectiveGBPerSecond: Double, budgetSeconds: Double, spentSeconds: Double, tolerances: [String: Double],
    costCalibration: Double? = nil
  ) {
    self.costCalibration = costCalibration
    self.predictionError = PredictionError(
      trials.filter { $0.status == .ok }.compactMap { trial in
        guard let predicted = trial.predictedStepSeconds, let measured = trial.measuredStepSeconds, measured > 0 else { return nil }
        return (predicted, measured)
      })
    self.fingerprint = fingerprint
    self.model = model
    self.worldThreads = worldThreads
    self.globalBatch = globalBatch
    self.pick = pick
    self.trials = trials
    self.referenceLosses = referenceLosses
    self.collectiveGBPerSecond = collectiveGBPerSecond
    self.budgetSeconds = budgetSeconds
    self.spentSeconds = spentSeconds
    self.tolerances = tolerances
  }
}

/// What `train --profile` runs.
public struct ParallelPick: Codable, Equatable, Sendable {
  public var layout: ParallelLayout
  public var precision: TrainingPrecision
  public var threadsPerRank: Int
  public var globalBatch: Int
  public var tokensPerSecond: Double
  /// Why it won (fastest stable; a tie broken by memory).
  public var reason: String
  /// The whole run its trial trained with (layout, precision policy with its scaling, threads,
  /// batch, data, learning rate, seed), less the trial's own schedule length: what `train
  /// --profile` runs. Absent in profiles written before it was recorded (the fields above then say
  /// what is known).
  public var spec: TrainingSpec?

  public init(
    layout: ParallelLayout, precision: TrainingPrecision, threadsPerRank: Int, globalBatch: Int, tokensPerSecond: Double, reason: String, spec: TrainingSpec? = nil
  ) {
    self.spec = spec
    self.layout = layout
    self.precision = precision
    self.threadsPerRank = threadsPerRank
    self.globalBatch = globalBatch
    self.tokensPerSecond = tokensPerSecond
    self.reason = reason
  }
}

/// One candidate: its layout, precision and threads, the models' predictions, and (once run) what
/// the trial measured.
public struct ParallelTrial: Codable, Equatable, Sendable {
  public typealias Status = TrialStatus

  public var layout: ParallelLayout
  public var precision: TrainingPrecision
  public var threadsPerRank: Int
  public var status: Status
  public var reason: String?
  public var predictedPeakBytes: Double
  public var predictedStepSeconds: Double?
  /// The longest trial's figures (successive halving runs survivors again, longer).
  public var steps: Int?
  public var tokensPerSecond: Statistics?
  public var measuredStepSeconds: Double?
  /// The largest rank's memory account, and the whole process's resident peak.
  public var measuredPeakBytes: Double?
  public var rssPeakBytes: Double?
  /// Model FLOPs utilisation over the timed steps (median), against the peak of the unit that
  /// runs most of the trial's GEMM FLOPs (`train` chooses it; nil where it had none).
  public var mfu: Double?
  /// The spec the trial's `train` ran, as it reported it (its flags applied).
  public var spec: TrainingSpec?
  /// Each step's loss; null where it was not finite (JSON has no NaN).
  public var losses: [Double?]?
  public var fromJournal: Bool?

  public init(
    layout: ParallelLayout, precision: TrainingPrecision, threadsPerRank: Int, status: Status, reason: String? = nil, predictedPeakBytes: Double,
    predictedStepSeconds: Double? = nil
  ) {
    self.layout = layout
    self.precision = precision
    self.threadsPerRank = threadsPerRank
    self.status = status
    self.reason = reason
    self.predictedPeakBytes = predictedPeakBytes
    self.predictedStepSeconds = predictedStepSeconds
  }

  /// `dp=…,tp=…,…` with the precision and threads: the candidate's name in tables and journals.
  public var name: String { "\(layout) \(precision) t\(threadsPerRank)" }
}

/// The relative error of predicted step times against measured ones, over the trials that ran.
public struct PredictionError: Codable, Equatable, Sendable {
  public var trials: Int
  /// The median and the largest |predicted / measured − 1|.
  public var median: Double
  public var worst: Double

  public init?(_ pairs: [(predicted: Double, measured: Double)]) {
    guard !pairs.isEmpty else { return nil }
    let errors = Statistics(samples: pairs.map { abs($0.predicted / $0.measured - 1) })
    trials = errors.runs
    median = errors.median
    worst = errors.max
  }
}
