import Foundation
import Planner
import Profile
import Testing

/// The memory model against Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
/// Transformer Models"), whose accounting it follows: per layer, with 16-bit activations and
/// dropout, sbh(34 + 5as/h) bytes without parallelism (eq. 1), sbh(10 + 24/t + 5as/(ht)) with
/// tensor parallelism (eq. 2), sbh/t · (34 + 5as/h) with sequence parallelism too (eq. 4),
/// 34 sbh/t with selective recomputation (eq. 6), 2sbh (/t) with full recomputation; and on a
/// pipeline's first stage L layers' worth whatever p (1F1B), (1 + (p−1)/(pm)) times that interleaved.
@Suite struct MemoryTests {
  /// Their table 3's models: 22B, 175B (GPT-3), 530B and 1T, with their tensor-parallel sizes.
  static let models: [(ModelConfig, t: Int)] = [
    (ModelConfig(name: "22b", vocabulary: 51200, hidden: 6144, heads: 64, layers: 48, seq: 2048), 8),
    (ModelConfig(name: "175b", vocabulary: 51200, hidden: 12288, heads: 96, layers: 96, seq: 2048), 8),
    (ModelConfig(name: "530b", vocabulary: 51200, hidden: 20480, heads: 128, layers: 105, seq: 2048), 8),
    (ModelConfig(name: "1t", vocabulary: 51200, hidden: 25600, heads: 160, layers: 128, seq: 2048), 8),
  ]

  func estimator(_ config: ModelConfig) -> Estimator {
    Estimator(model: PlanModel(config), cluster: Cluster(nodes: 1, devicesPerNode: 8, device: Device.catalogue["a100-80gb"]!), dropout: true)
  }

  @Test(arguments: [1, 4])
  func perLayerActivationsFollowTheirEquations(micro: Int) {
    for (config, t) in Self.models {
      let e = estimator(config)
      let s = Double(config.seq), b = Double(micro), h = Double(config.hidden), a = Double(config.heads), tt = Double(t)
      func layer(_ layout: PlanLayout) -> Double { e.layerActivationBytes(layout, sequences: micro, precision: .bf16) }
      let cases: [(PlanLayout, Double, String)] = [
        (PlanLayout(), s * b * h * (34 + 5 * a * s / h), "eq. 1, no parallelism"),
        (PlanLayout(tp: t), s * b * h * (10 + 24 / tt + 5 * a * s / (h * tt)), "eq. 2, tensor parallel"),
        (PlanLayout(tp: t, sequenceParallel: true), s * b * h / tt * (34 + 5 * a * s / h), "eq. 4, tensor and sequence parallel"),
        (PlanLayout(tp: t, recompute: .selective, sequenceParallel: true), 34 * s * b * h / tt, "eq. 6, selective recomputation"),
        (PlanLayout(tp: t, recompute: .selective), s * b * h * (10 + 24 / tt), "selective without sequence parallelism"),
        (PlanLayout(tp: t, recompute: .full, sequenceParallel: true), 2 * s * b * h / tt, "full recomputation"),
      ]
      for (layout, expected, what) in cases {
        #expect(abs(layer(layout) / expected - 1) < 1e-12, "\(config.name) \(what): \(layer(layout)) against \(expected)")
      }
    }
  }

  /// Their headline: sequence parallelism with selective recomputation keeps about a fifth of
  /// tensor parallelism's activations (the abstract's "5x"), for the 530B and 1T models.
  @Test func sequenceParallelismWithSelectiveRecomputationSavesAboutFiveTimes() {
    for (config, t) in Self.models where config.name == "530b" || config.name == "1t" {
      let e = estimator(config)
      let tensorOnly = e.layerActivationBytes(PlanLayout(tp: t), sequences: 1, precision: .bf16)
      let both = e.layerActivationBytes(PlanLayout(tp: t, recompute: .selective, sequenceParallel: true), sequences: 1, precision: .bf16)
      #expect((4.5...5.5).contains(tensorOnly / both), "\(config.name): \(tensorOnly / both)×")
    }
  }

  @Test func theFirstStageHoldsLLayersWorthUnderOneFOneBAndMoreInterleaved() {
    let (config, _) = Self.models[1]
    let e = estimator(config)
    for p in [2, 4, 8] {
      #expect(e.inFlightLayers(PlanLayout(pp: p, micro: 64)) == Double(config.layers))
      let v = 2
      let expected = Double(config.layers) * (1 + Double(p - 1) / Double(p * v))
      #expect(abs(e.inFlightLayers(PlanLayout(pp: p, micro: 64, virtualStages: v)) - expected) < 1e-9)
    }
    // Fewer micro-batches than stages: only those are in flight.
    #expect(e.inFlightLayers(PlanLayout(pp: 8, micro: 2)) == Double(config.layers / 8 * 2))
  }

  /// Mixed-precision state per weight: 2 bytes of weights, 2 of 16-bit gradients, 12 of fp32
  /// master weights and Adam's moments (Megatron-LM's distributed-optimizer table: 16 bytes, and
  /// 4 + 12/d sharded), the optimizer's 12 divided over the data-parallel ranks by ZeRO-1, the
  /// gradients by ZeRO-2.
  @Test func stateBytesPerWeightFollowZeRO() {
    let (config, _) = Self.models[0]
    let e = estimator(config)
    let weights = PlanModel(config).parameters
    for (zero, perWeight) in [(0, 16.0), (1, 4 + 12.0 / 8), (2, 2 + 14.0 / 8)] {
      let m = e.memory(PlanLayout(dp: 8, zero: zero), globalBatch: 8, precision: .bf16)
      #expect(abs((m.weights + m.gradients + m.optimizer) / weights / perWeight - 1) < 1e-9, "zero=\(zero)")
    }
  }
}

/// The profile's summary of a model's error against measured trials.
@Suite struct PredictionErrorTests {
  @Test func medianAndWorstOfTheRelativeErrors() throws {
    let error = try #require(PredictionError([(1.1, 1), (0.8, 1), (1, 2), (3, 3)]))
    #expect(error.trials == 4)
    #expect(abs(error.median - 0.15) < 1e-12 && abs(error.worst - 0.5) < 1e-12)
    #expect(PredictionError([]) == nil)
  }
}
