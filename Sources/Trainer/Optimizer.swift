import Foundation
import Profile

/// AdamW's settings and the learning-rate schedule: linear warm-up to `learningRate` over
/// `warmupSteps`, then cosine decay to `minimumRatio`·learningRate at `totalSteps`.
public struct OptimizerSettings: Sendable, Codable, Equatable {
  public var learningRate: Double
  public var beta1 = 0.9
  public var beta2 = 0.95
  public var epsilon = 1e-8
  /// Decoupled weight decay, on matrices only (not biases, LayerNorm gains or positions).
  public var weightDecay = 0.1
  /// Gradients are scaled down so that their global L2 norm is at most this (0: no clipping).
  public var clipNorm = 1.0
  public var warmupSteps: Int
  public var totalSteps: Int
  public var minimumRatio = 0.1

  public init(learningRate: Double, warmupSteps: Int, totalSteps: Int) {
    self.learningRate = learningRate
    self.warmupSteps = warmupSteps
    self.totalSteps = totalSteps
  }

  /// The learning rate of step `step` (0-based).
  public func rate(step: Int) -> Double {
    if step < warmupSteps { return learningRate * Double(step + 1) / Double(warmupSteps) }
    let decaySteps = max(1, totalSteps - warmupSteps)
    let progress = min(1, Double(step - warmupSteps) / Double(decaySteps))
    let cosine = 0.5 * (1 + cos(Double.pi * progress))
    return learningRate * (minimumRatio + (1 - minimumRatio) * cosine)
  }
}

/// AdamW state for part of a rank's flat parameter buffer (all of it, or its ZeRO-1 shard):
/// first and second moments, in fp32 whatever the policy.
final class AdamW<T: TrainScalar> {
  let settings: OptimizerSettings
  /// The flat-buffer range this state covers.
  let range: Range<Int>
  let m: UnsafeMutablePointer<T>
  let v: UnsafeMutablePointer<T>
  /// Per tensor intersecting the range: the sub-range and whether it decays.
  private let segments: [(range: Range<Int>, decays: Bool)]

  init(settings: OptimizerSettings, layout: ParameterLayout, range: Range<Int>, account: MemoryAccount) {
    self.settings = settings
    self.range = range
    m = account.allocate(T.self, count: range.count, part: .optimizerState)
    v = account.allocate(T.self, count: range.count, part: .optimizerState)
    segments = layout.tensors.compactMap { view in
      let lo = max(view.offset, range.lowerBound), hi = min(view.offset + view.count, range.upperBound)
      return lo < hi ? (lo..<hi, view.decays) : nil
    }
  }

  /// One update of params[range] from grads[range]·gradientScale, at step `step` (0-based, the
  /// count of updates before this one sets the bias correction).
  @_specialize(where T == Float)
  func update(params: UnsafeMutablePointer<T>, grads: UnsafePointer<T>, gradientScale: Double, step: Int, learningRate: Double) {
    let s = settings
    let (b1, b2) = (T(s.beta1), T(s.beta2))
    let correction1 = T(1 - pow(s.beta1, Double(step + 1))), correction2 = T(1 - pow(s.beta2, Double(step + 1)))
    let lr = T(learningRate), eps = T(s.epsilon), decay = T(s.weightDecay), scale = T(gradientScale)
    let base = range.lowerBound
    for segment in segments {
      for i in segment.range {
        let g = grads[i] * scale
        let j = i - base
        m[j] = b1 * m[j] + (1 - b1) * g
        v[j] = b2 * v[j] + (1 - b2) * g * g
        let mHat = m[j] / correction1, vHat = v[j] / correction2
        var p = params[i]
        if segment.decays { p -= lr * decay * p }
        params[i] = p - lr * mHat / (T.sqrt(vHat) + eps)
      }
    }
  }
}

/// fp16's dynamic loss scale, with PyTorch GradScaler's defaults: start at 2^16, halve on a step
/// whose gradients overflow (the step is skipped), double after 2000 clean steps in a row.
public struct LossScaler: Sendable, Codable, Equatable {
  /// Dynamic (GradScaler's), or a constant scale (1: no loss scaling) under which overflowing
  /// steps are applied as they are.
  public typealias Mode = LossScaling

  public var mode: Mode
  public private(set) var scale: Double
  public private(set) var cleanSteps = 0
  public var growthInterval = Recipe.lossScaleGrowthInterval
  /// How many times the scale was cut.
  public private(set) var backoffs = 0

  public init(mode: Mode, initial: Double = Recipe.initialLossScale) {
    self.mode = mode
    switch mode {
    case .dynamic: scale = initial
    case .fixed(let value): scale = value
    }
  }

  /// Records whether this step's gradients were all finite; returns whether to apply the step.
  public mutating func update(finite: Bool) -> Bool {
    guard case .dynamic = mode else { return true }
    if !finite {
      scale *= 0.5
      cleanSteps = 0
      backoffs += 1
      return false
    }
    cleanSteps += 1
    if cleanSteps >= growthInterval {
      scale *= 2
      cleanSteps = 0
    }
    return true
  }
}
