import Foundation
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

  @Test(arguments: [(TrainingPrecision.bf16, FP8Scaling.delayed), (.fp16, .delayed), (.fp8, .delayed), (.fp8, .current), (.fp8, .mx)])
  func staysNearFP32(precision: TrainingPrecision, scaling: FP8Scaling) throws {
    let reference = try Self.run(.fp32)
    let curve = try Self.run(precision, scaling: scaling)
    #expect(Self.tail(reference) < reference[0].loss - 0.3, "fp32 must learn for the comparison to mean anything")
    let departure = abs(Self.tail(curve) - Self.tail(reference))
    #expect(departure <= Self.tolerance[precision]!, "\(precision) (\(scaling)) ends at \(Self.tail(curve)), fp32 at \(Self.tail(reference))")
    #expect(curve.map(\.loss) != reference.map(\.loss), "\(precision) must round something")
    #expect(curve.allSatisfy { $0.nonFinite == 0 && !$0.skipped })
  }

  /// The planted fp8 failure: continuous inputs with rare huge glitches. Per-tensor scaling (current
  /// or delayed) maps the input's amax, a glitch, to E4M3's 448, and every ordinary value (±1, a
  /// millionth of it) falls below E4M3's smallest subnormal: the model no longer sees its inputs,
  /// and its loss stays where fp32's falls. Without glitches fp8 tracks fp32; with them fp32
  /// itself learns (LayerNorm absorbs a glitched position). MX's per-block scales confine a glitch
  /// to its 32 values, and fp8 with them tracks fp32 on the same glitched inputs.
  @Test func fp8PerTensorScalingLosesInputsWithOutliers() throws {
    var model = try ModelConfig.named("tiny")
    model.features = 16
    func run(_ precision: TrainingPrecision, _ scaling: FP8Scaling, outliers: Double) throws -> Double {
      var options = TrainingOptions(model: model, batch: 8, steps: 30, precision: precision, learningRate: 3e-3)
      options.fp8Scaling = scaling
      options.seed = 3
      options.data = .features(outlierRate: outliers, outlierScale: 1e6)
      return Self.tail(try TrainingRun(options).run().reports)
    }
    let start = log(64.0)
    let fp32 = try run(.fp32, .current, outliers: 0.002)
    #expect(fp32 < start - 0.3, "fp32 learns from glitched inputs: \(fp32)")
    let clean32 = try run(.fp32, .current, outliers: 0), clean8 = try run(.fp8, .current, outliers: 0)
    #expect(abs(clean8 - clean32) <= Self.tolerance[.fp8]!, "clean inputs: fp8 \(clean8), fp32 \(clean32)")
    for scaling in [FP8Scaling.current, .delayed] {
      let fp8 = try run(.fp8, scaling, outliers: 0.002)
      print("fp8 plant: clean fp32 \(clean32) fp8 \(clean8); glitched fp32 \(fp32) fp8 (\(scaling)) \(fp8); ln V \(start)")
      #expect(fp8 - fp32 > 0.2, "fp8 (\(scaling)) with glitches ends at \(fp8), fp32 at \(fp32)")
    }
    let mx = try run(.fp8, .mx, outliers: 0.002)
    print("fp8 plant: glitched fp8 (mx) \(mx)")
    #expect(abs(mx - fp32) <= Self.tolerance[.fp8]!, "fp8 (mx) with glitches ends at \(mx), fp32 at \(fp32)")
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
