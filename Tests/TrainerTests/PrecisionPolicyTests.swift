import Profile
import Testing

@testable import Trainer

/// The precision policies on `tiny` over 50 steps against fp32 of the same seed: bf16 and fp8 stay
/// within their stated tolerances of the fp32 loss (and do round: their curves are not fp32's),
/// and fp16 without loss scaling at a high learning rate is detected as overflowing.
@Suite struct PrecisionPolicyTests {
  /// The final-loss tolerances the parallel tuner's stability verdict also uses: the mean of the
  /// last five losses may depart from fp32's by this much.
  static let tolerance: [TrainingPrecision: Double] = [.bf16: 0.01, .fp16: 0.01, .fp8: 0.05]

  static func run(_ precision: TrainingPrecision, lr: Double = 3e-3, steps: Int = 50, lossScale: LossScaler.Mode? = nil, scaling: FP8Scaling = .delayed) throws -> [StepReport] {
    var options = TrainingOptions(model: try ModelConfig.named("tiny"), batch: 8, steps: steps, precision: precision, learningRate: lr)
    options.lossScale = lossScale
    options.fp8Scaling = scaling
    options.seed = 3
    return try TrainingRun(options).run().reports
  }

  static func tail(_ reports: [StepReport]) -> Double { reports.suffix(5).map(\.loss).reduce(0, +) / 5 }

  @Test(arguments: [(TrainingPrecision.bf16, FP8Scaling.delayed), (.fp16, .delayed), (.fp8, .delayed), (.fp8, .current)])
  func staysNearFP32(precision: TrainingPrecision, scaling: FP8Scaling) throws {
    let reference = try Self.run(.fp32)
    let curve = try Self.run(precision, scaling: scaling)
    #expect(Self.tail(reference) < reference[0].loss - 0.3, "fp32 must learn for the comparison to mean anything")
    let departure = abs(Self.tail(curve) - Self.tail(reference))
    #expect(departure <= Self.tolerance[precision]!, "\(precision) (\(scaling)) ends at \(Self.tail(curve)), fp32 at \(Self.tail(reference))")
    #expect(curve.map(\.loss) != reference.map(\.loss), "\(precision) must round something")
    #expect(curve.allSatisfy { $0.nonFinite == 0 && !$0.skipped })
  }

  @Test func fp16WithoutLossScalingOverflowsAtAHighLearningRate() throws {
    let fp16 = try Self.run(.fp16, lr: 30, steps: 12, lossScale: .fixed(1))
    let fp32 = try Self.run(.fp32, lr: 30, steps: 12, lossScale: .fixed(1))
    #expect(fp16.contains { $0.nonFinite > 0 || !$0.loss.isFinite }, "fp16: \(fp16.map(\.loss))")
    // The overflow is fp16's: fp32 at the same rate stays finite.
    #expect(fp32.allSatisfy { $0.nonFinite == 0 && $0.loss.isFinite }, "fp32: \(fp32.map(\.loss))")
  }

  @Test func dynamicScalingSkipsOverflowingStepsAndCollapses() throws {
    let reports = try Self.run(.fp16, lr: 50, steps: 12, lossScale: .dynamic)
    #expect(reports[0].lossScale == 65536)
    // A forward that overflows is not cured by scaling: step after step is skipped and the scale
    // keeps halving (the collapse the tuner's stability verdict looks for).
    let skipped = reports.filter(\.skipped).count
    #expect(skipped >= 8, "\(skipped) skipped")
    #expect(reports.last!.lossScale <= 65536 / 256)
  }

  @Test func lossScalerFollowsGradScalersRules() {
    var scaler = LossScaler(mode: .dynamic)
    #expect(scaler.scale == 65536)
    let skipped = !scaler.update(finite: false)
    #expect(skipped && scaler.scale == 32768)
    scaler.growthInterval = 3
    for _ in 0..<2 {
      let applied = scaler.update(finite: true)
      #expect(applied)
    }
    #expect(scaler.scale == 32768)
    let third = scaler.update(finite: true)
    #expect(third && scaler.scale == 65536)
    var fixed = LossScaler(mode: .fixed(1))
    let appliedAnyway = fixed.update(finite: false)
    #expect(appliedAnyway)
    #expect(fixed.scale == 1)
  }
}
