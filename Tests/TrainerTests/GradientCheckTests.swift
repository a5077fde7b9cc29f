import Foundation
import Kernels
import NumberFormats
import Profile
import Testing

@testable import Trainer

/// Every layer's backward against central finite differences of the loss, in fp64, on `tiny`:
/// the causal LM (learned positions, GELU), the masked LM (rotary positions, SwiGLU), both with
/// grouped-query attention (4 heads, 2 key/value heads), and the causal LM with continuous inputs
/// (8 features per position, some of them outliers).
@Suite struct GradientCheckTests {
  static let kinds: [(String, ModelConfig)] = {
    let tiny = try! ModelConfig.named("tiny")
    var masked = tiny
    masked.name = "tiny-masked"
    masked.kind = .maskedLM
    masked.positions = .rotary
    masked.mlp = .swiglu
    var features = tiny
    features.name = "tiny-features"
    features.features = 8
    return [("causal", tiny), ("masked", masked), ("features", features)]
  }()

  static func source(_ model: ModelConfig) -> DataSource {
    model.features == nil ? .synthetic : .features(outlierRate: 0.05, outlierScale: 3)
  }

  /// One forward and backward; returns the loss (mean over counted tokens) with the gradients
  /// left in the stage.
  static func lossAndGradients(_ stage: Stage<Double>, _ batch: MicroBatch) -> Double {
    let weight = 1 / Double(batch.countedTokens)
    stage.resetLoss()
    stage.grads.update(repeating: 0, count: stage.layout.count)
    stage.embed(batch, slot: 0)
    stage.forwardLayers(slot: 0)
    stage.headForwardBackward(batch, slot: 0, weight: weight)
    stage.backwardLayers(slot: 0) { _ in }
    stage.embedBackward(batch)
    return stage.lossSum * weight
  }

  static func makeStage(_ model: ModelConfig, recompute: Bool = false) -> Stage<Double> {
    let layout = ParameterLayout(model: model)
    let context = KernelContext(threads: 1)
    let runner = GEMMRunner<Double>(
      context: context, choices: .none, caches: CacheSizes(l1: 32 << 10, l2: 1 << 20, l3PerCore: 4 << 20), policy: .fp32, fp8Scaling: .current)
    let stage = Stage<Double>(
      layout: layout, context: context, runner: runner, tpGroup: SharedMemoryCommunicator.alone(), account: MemoryAccount(), recompute: recompute,
      sequences: 2, inFlight: 1, choices: .none, attentionPrecision: .fp32)
    // Values large enough that every nonlinearity bends (the usual 0.02 leaves the model nearly linear).
    var random = SeededRandom(seed: 11)
    let noise = random.normal(layout.count)
    for view in layout.tensors {
      let gain = view.name.contains("ln") && view.name.hasSuffix(".weight")
      for i in view.offset..<view.offset + view.count { stage.params[i] = (gain ? 1 : 0) + 0.3 * Double(noise[i]) }
    }
    return stage
  }

  @Test(arguments: [0, 1, 2], [false, true])
  func everyTensorMatchesFiniteDifferences(kind: Int, recompute: Bool) throws {
    let (label, model) = Self.kinds[kind]
    let stage = Self.makeStage(model, recompute: recompute)
    let data = try BatchSource(model: model, source: Self.source(model), seed: 5, shuffle: true)
    let batch = data.batch(step: 0, sequences: 2)
    #expect(batch.countedTokens > 0)
    _ = Self.lossAndGradients(stage, batch)
    let analytic = Array(UnsafeBufferPointer(start: stage.grads, count: stage.layout.count))
    let eps = 1e-5
    var random = SeededRandom(seed: 3)
    for view in stage.layout.tensors {
      // Four entries of each tensor, drawn at random.
      for _ in 0..<4 {
        let i = view.offset + Int(random.next() % UInt64(view.count))
        let saved = stage.params[i]
        stage.params[i] = saved + eps
        let plus = Self.lossAndGradients(stage, batch)
        stage.params[i] = saved - eps
        let minus = Self.lossAndGradients(stage, batch)
        stage.params[i] = saved
        let numeric = (plus - minus) / (2 * eps)
        let error = abs(analytic[i] - numeric)
        #expect(error <= 1e-8 + 1e-5 * abs(numeric), "\(label) \(view.name)[\(i - view.offset)]: analytic \(analytic[i]), finite difference \(numeric)")
      }
    }
  }

  @Test func aFreshModelsLossIsLogVocabulary() throws {
    for (_, model) in Self.kinds + [("small", try ModelConfig.named("small"))] {
      var options = TrainingOptions(model: model, batch: 1, steps: 1)
      options.threadsPerRank = 1
      options.data = Self.source(model)
      let report = try TrainingRun(options).run().reports[0]
      let expected = log(Double(model.vocabulary))
      #expect(abs(report.loss - expected) <= 0.02 * expected, "\(model.name): loss \(report.loss), ln V = \(expected)")
    }
  }
}
