import Profile
import Testing

@testable import Trainer

/// The parallel runtime's strongest test: on `tiny`, every layout up to 8 ranks (data, tensor and
/// pipeline parallel, their products, with and without ZeRO-1, recomputation and gradient
/// accumulation) trains the same loss curve as one rank for 10 steps, within 1e-4 relative, in fp32;
/// for the causal LM, the masked LM and the causal LM on continuous inputs.
/// `tiny` as the causal LM, as a masked LM with rotary positions and SwiGLU (`tiny-masked`), or
/// with 8 continuous inputs (`tiny-features`): the three model kinds the trainer's tests cover.
func tinyVariant(_ name: String) throws -> ModelConfig {
  var model = try ModelConfig.named("tiny")
  if name == "tiny-masked" {
    model.kind = .maskedLM
    model.positions = .rotary
    model.mlp = .swiglu
  }
  if name == "tiny-features" { model.features = 8 }
  return model
}

@Suite struct LayoutEquivalenceTests {
  static func losses(_ layout: ParallelLayout, model: ModelConfig, steps: Int = 10) throws -> [Double] {
    var options = TrainingOptions(model: model, layout: layout, batch: 8, steps: steps, learningRate: 3e-3)
    options.threadsPerRank = 1
    options.seed = 7
    if model.features != nil { options.data = .features(outlierRate: 0.01, outlierScale: 8) }
    return try TrainingRun(options).run().reports.map(\.loss)
  }

  static let layouts: [String] = [
    "micro=4", "micro=2,recompute=on",
    "dp=2", "dp=2,zero=1", "dp=4,micro=2,zero=1", "dp=8",
    "tp=2", "tp=2,recompute=on", "pp=2,micro=4", "pp=2,micro=1", "pp=2,micro=2,recompute=on",
    "dp=2,tp=2", "dp=2,pp=2,micro=2,zero=1", "tp=2,pp=2,micro=4", "dp=2,tp=2,pp=2,micro=2,zero=1,recompute=on",
  ]

  /// The data-parallel gradients all-reduced after the backward (`--no-gradient-overlap`, what
  /// the overlap benchmark sets against) give the same losses as reduced beside it.
  @Test(arguments: ["dp=2", "dp=2,zero=1,micro=2", "dp=2,tp=2,pp=2,micro=2"])
  func gradientsReducedAfterTheBackwardTrainTheSameCurve(layout text: String) throws {
    var options = TrainingOptions(model: try ModelConfig.named("tiny"), layout: try ParallelLayout.parse(text), batch: 8, steps: 6, learningRate: 3e-3)
    options.threadsPerRank = 1
    let overlapped = try TrainingRun(options).run().reports.map(\.loss)
    options.overlapsGradients = false
    #expect(try TrainingRun(options).run().reports.map(\.loss) == overlapped)
  }

  @Test(arguments: ["tiny", "tiny-masked", "tiny-features"], layouts)
  func layoutMatchesOneRank(model name: String, layout text: String) throws {
    let model = try tinyVariant(name)
    let reference = try Self.losses(ParallelLayout(), model: model)
    let layout = try ParallelLayout.parse(text)
    let curve = try Self.losses(layout, model: model)
    #expect(curve.count == reference.count)
    // The losses must move (a run that does nothing would match itself trivially).
    #expect(abs(reference.last! - reference.first!) > 1e-3)
    for (step, (a, b)) in zip(reference, curve).enumerated() {
      #expect(abs(a - b) <= 1e-4 * abs(a), "\(name) \(layout) step \(step): one rank \(a), layout \(b)")
    }
  }
}
