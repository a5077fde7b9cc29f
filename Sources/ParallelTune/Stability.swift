import Foundation
import Profile

/// What a trial's steps said, as the verdict reads them.
public struct TrialCurve: Codable, Sendable, Equatable {
  public var losses: [Double]
  public var nonFinite: [Int]
  public var skipped: [Bool]
  public var lossScales: [Double]

  public init(losses: [Double], nonFinite: [Int], skipped: [Bool], lossScales: [Double]) {
    self.losses = losses
    self.nonFinite = nonFinite
    self.skipped = skipped
    self.lossScales = lossScales
  }
}

/// Whether a trial can be trusted. A trial is unstable when
/// - a loss is NaN or Inf, or a step applied non-finite gradients (a step fp16's scaler skipped
///   is the scaler doing its job, and is judged by the next rule);
/// - its loss scale keeps collapsing: more than a quarter of its steps (at least two) skipped, or
///   the scale down by 2^8 from where it started;
/// - its loss departs from the fp32 reference of the same seed and data: the mean of its last two
///   losses against the reference's at the same steps, by more than the precision's tolerance
///   (`tolerance`, in nats; layouts are exact in fp32, so fp32 itself is held to 0.01).
public enum Stability {
  public static let tolerance: [TrainingPrecision: Double] = [.fp32: 0.01, .bf16: 0.05, .fp16: 0.05, .fp8: 0.1]

  /// nil when stable, else why not. `startStep` is the curve's first step (the reference starts at 0).
  public static func verdict(_ curve: TrialCurve, reference: [Double], precision: TrainingPrecision) -> String? {
    for (step, loss) in curve.losses.enumerated() where !loss.isFinite {
      return "loss is \(loss) at step \(step)"
    }
    for step in curve.nonFinite.indices where curve.nonFinite[step] > 0 && !curve.skipped[step] {
      return "\(curve.nonFinite[step]) non-finite gradient values applied at step \(step)"
    }
    let skipped = curve.skipped.filter { $0 }.count
    if skipped >= 2 && Double(skipped) > 0.25 * Double(curve.skipped.count) {
      return "loss scale collapsing: \(skipped) of \(curve.skipped.count) steps skipped for overflow (scale \(curve.lossScales.last ?? 0))"
    }
    if let first = curve.lossScales.first, let last = curve.lossScales.last, last < first / 256 {
      return "loss scale collapsing: from \(first) to \(last)"
    }
    let common = min(curve.losses.count, reference.count)
    guard common >= 1 else { return nil }
    let window = min(2, common)
    let mine = curve.losses[common - window..<common].reduce(0, +) / Double(window)
    let theirs = reference[common - window..<common].reduce(0, +) / Double(window)
    let limit = tolerance[precision] ?? 0.05
    if abs(mine - theirs) > limit {
      return String(format: "loss %.4f departs from the fp32 reference %.4f at step %d by %.4f (tolerance %.2f for %@)", mine, theirs, common - 1, abs(mine - theirs), limit, precision.rawValue)
    }
    return nil
  }
}
