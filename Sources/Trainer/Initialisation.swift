import NumberFormats
import Profile

/// GPT-2's initialisation, the same whatever the layout: each full tensor is drawn from a
/// generator seeded by (seed, its name), and every rank takes its part (`Recipe`'s deviations).
/// Matrices N(0, 0.02²), the embeddings N(0, 0.01²); the projections into the residual stream
/// (attention output, MLP down) N(0, (0.02/√(2·layers))²); biases 0; LayerNorm gains 1.
enum Initialisation {
  static func values(_ view: TensorView, model: ModelConfig, seed: UInt64) -> [Float] {
    let name = view.name
    if name.hasSuffix(".bias") { return [Float](repeating: 0, count: view.fullCount) }
    if name.contains("ln") && name.hasSuffix(".weight") { return [Float](repeating: 1, count: view.fullCount) }
    var random = SeededRandom(seed: seed ^ fnv1a(name))
    let residual = name.hasSuffix("attn.out.weight") || name.hasSuffix("mlp.down.weight")
    let embedding = name == "embedding.weight" || name == "position.weight"
    let base = Float(Recipe.initStandardDeviation)
    let std = residual ? base / Float(2 * model.layers).squareRoot() : embedding ? Float(Recipe.embeddingStandardDeviation) : base
    return random.normal(view.fullCount).map { $0 * std }
  }

  /// FNV-1a of the name's UTF-8: stable across runs (Swift's Hasher is seeded per process).
  static func fnv1a(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    return hash
  }
}
