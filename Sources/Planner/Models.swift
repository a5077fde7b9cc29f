import Profile

/// A model the planner lays out: its shape (the trainer's `ModelConfig`), whether the output head
/// shares the input embedding's weights, and where the shape comes from.
public struct PlanModel: Sendable, Hashable {
  public var config: ModelConfig
  /// The output head reuses the embedding (GPT-3, ESM-2); else it is a matrix of its own (Llama 3).
  public var tiedEmbeddings: Bool
  public var source: String

  public init(_ config: ModelConfig, tiedEmbeddings: Bool = true, source: String = "") {
    self.config = config
    self.tiedEmbeddings = tiedEmbeddings
    self.source = source
  }

  /// Weights of one transformer layer: attention (Q, K and V with grouped-query heads, the
  /// output projection), the MLP (a gate besides for SwiGLU), biases and norms left out (under 0.1%).
  public var layerParameters: Double {
    let c = config, h = Double(c.hidden), f = Double(c.mlpHidden)
    return h * Double(c.qkvWidth) + h * h + (c.mlp == .swiglu ? 3 : 2) * h * f
  }

  public var embeddingParameters: Double { Double(config.vocabulary) * Double(config.hidden) }

  /// Every weight: the layers, the embedding and, untied, the head.
  public var parameters: Double {
    Double(config.layers) * layerParameters + embeddingParameters * (tiedEmbeddings ? 1 : 2)
  }

  /// The model's FLOPs per token of a training step, as PaLM (Chowdhery et al. 2022, appendix B)
  /// counts them: 6 per weight a token passes through (the layers' and the head's; an embedding
  /// lookup is no product) and 12 · layers · hidden · seq for the attention scores and their
  /// weighted sum, forward and backward, whether or not the attention is causal.
  public var flopsPerToken: Double {
    let c = config
    return 6 * (Double(c.layers) * layerParameters + embeddingParameters) + 12 * Double(c.layers) * Double(c.hidden) * Double(c.seq)
  }

  /// The named models beside `ModelConfig.named`, by the names `tune plan --model` takes.
  public static let catalogue: [PlanModel] = [
    PlanModel(
      ModelConfig(name: "gpt3-175b", vocabulary: 50257, hidden: 12288, heads: 96, layers: 96, seq: 2048),
      source: "Brown et al. 2020, Language Models are Few-Shot Learners, table 2.1 (GPT-3 175B: 96 layers, d_model 12288, 96 heads, context 2048; GPT-2's 50257-token BPE)"),
    PlanModel(
      ModelConfig(name: "llama3-8b", vocabulary: 128256, hidden: 4096, heads: 32, kvHeads: 8, layers: 32, seq: 8192, mlpHidden: 14336, mlp: .swiglu, positions: .rotary),
      tiedEmbeddings: false, source: "Llama 3 Herd of Models (Dubey et al. 2024), table 3; NeMo Llama3Config8B"),
    PlanModel(
      ModelConfig(name: "llama3-70b", vocabulary: 128256, hidden: 8192, heads: 64, kvHeads: 8, layers: 80, seq: 8192, mlpHidden: 28672, mlp: .swiglu, positions: .rotary),
      tiedEmbeddings: false, source: "Llama 3 Herd of Models (Dubey et al. 2024), table 3; NeMo Llama3Config70B"),
    PlanModel(
      ModelConfig(name: "llama3-405b", vocabulary: 128256, hidden: 16384, heads: 128, kvHeads: 8, layers: 126, seq: 8192, mlpHidden: 53248, mlp: .swiglu, positions: .rotary),
      tiedEmbeddings: false, source: "Llama 3 Herd of Models (Dubey et al. 2024), table 3 (126 layers, model dimension 16,384, FFN 53,248, 128 heads, 8 key/value heads)"),
    PlanModel(
      ModelConfig(name: "esm2-650m", kind: .maskedLM, vocabulary: 33, hidden: 1280, heads: 20, layers: 33, seq: 1024, mlpHidden: 5120, positions: .rotary),
      source: "Lin et al. 2023, Evolutionary-scale prediction of atomic-level protein structure (ESM-2), table S1; BioNeMo's esm2 recipes (1024-token crops)"),
    PlanModel(
      ModelConfig(name: "esm2-3b", kind: .maskedLM, vocabulary: 33, hidden: 2560, heads: 40, layers: 36, seq: 1024, mlpHidden: 10240, positions: .rotary),
      source: "Lin et al. 2023 (ESM-2), table S1"),
    PlanModel(
      ModelConfig(name: "esm2-15b", kind: .maskedLM, vocabulary: 33, hidden: 5120, heads: 40, layers: 48, seq: 1024, mlpHidden: 20480, positions: .rotary),
      source: "Lin et al. 2023 (ESM-2), table S1"),
  ]

  /// A catalogue model, or one of the trainer's named models.
  public static func named(_ name: String) throws -> PlanModel {
    if let model = catalogue.first(where: { $0.config.name == name.lowercased() }) { return model }
    if let config = try? ModelConfig.named(name) { return PlanModel(config, source: "ScaleTune's named model") }
    throw ModelConfigError.unknownName(name, known: catalogue.map(\.config.name) + ModelConfig.named.map(\.name))
  }
}
