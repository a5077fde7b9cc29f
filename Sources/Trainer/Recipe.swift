import Profile

/// Everything a run trains with, in the numbers another trainer's options take: the spec's
/// layout, batch, precision policy and seed, and what the trainer fixes (AdamW's settings, the
/// schedule's shape, loss scaling's rule, fp8's amax history, initialisation, activation, no
/// dropout). The exports write it; the constants here are the ones the trainer runs with.
public struct Recipe: Sendable {
  /// LayerNorm's ε.
  public static let layerNormEpsilon = 1e-5
  /// The standard deviation of the matrices' initialisation; the projections into the residual
  /// stream (attention output, MLP down) take it over √(2·layers) (GPT-2's, Megatron's scaled init).
  public static let initStandardDeviation = 0.02
  /// The token (and learned position) embedding's.
  public static let embeddingStandardDeviation = 0.01
  /// Delayed fp8 scaling's amax history (steps), its amax the history's maximum, margin 0.
  public static let fp8AmaxHistory = 16
  /// Dynamic loss scaling (PyTorch GradScaler's rule): the first scale, clean steps before it
  /// doubles; it halves on the first overflowing step (hysteresis 1), no floor but 1.
  public static let initialLossScale = 65536.0
  public static let lossScaleGrowthInterval = 2000
  /// The share of a masked LM's residues chosen for prediction (BERT's, ESM-2's).
  public static let maskingProbability = 0.15

  public var spec: TrainingSpec
  /// The run's length (the schedule's horizon unless the spec fixes one).
  public var steps: Int
  public var optimizer: OptimizerSettings
  /// The resolved loss scaling (dynamic for fp16 unless the spec fixed a scale; none otherwise).
  public var lossScaling: LossScaling
  /// Sequences per micro-batch on one data-parallel rank.
  public var microBatchSize: Int

  /// The recipe of `spec` trained for `steps` steps.
  public init(spec: TrainingSpec, steps: Int) throws {
    let options = try TrainingOptions(spec: spec, steps: steps)
    self.spec = spec
    self.steps = steps
    optimizer = options.optimizer
    lossScaling = options.lossScaleMode
    microBatchSize = options.sequencesPerMicroBatch
  }
  /// The learning rate the cosine ends at.
  public var minimumLearningRate: Double { optimizer.learningRate * optimizer.minimumRatio }
}
