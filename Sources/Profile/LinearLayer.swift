/// Which product of a linear layer a GEMM computes: what sets its precision under a policy that
/// rounds the forward and the backward differently (fp8: E4M3 forward, E5M2 gradients).
public enum GEMMRole: String, Sendable, Hashable, Codable {
  /// Y = X·W.
  case forward
  /// dX = dY·Wᵀ.
  case inputGradient = "dX"
  /// dW += Xᵀ·dY.
  case weightGradient = "dW"
}

/// One GEMM a training step runs, with its problem as the kernels see it (row-major operands,
/// transposes, β), its operand sizes and FLOPs.
public struct GEMMProduct: Sendable, Hashable {
  /// What it computes ("qkv forward", "head dW" …).
  public var role: String
  public var kind: GEMMRole
  public var m: Int, n: Int, k: Int
  public var transA: Bool, transB: Bool
  /// 1 where the product accumulates into C (weight gradients over micro-batches, the input
  /// projection onto the embeddings).
  public var beta: Double
  /// A transformer layer's (not the head's or the input projection's): recomputation reruns its
  /// forward in the backward.
  public var inLayer: Bool

  public init(role: String, kind: GEMMRole, m: Int, n: Int, k: Int, transA: Bool, transB: Bool, beta: Double = 0, inLayer: Bool = false) {
    self.role = role
    self.kind = kind
    self.m = m
    self.n = n
    self.k = k
    self.transA = transA
    self.transB = transB
    self.beta = beta
    self.inLayer = inLayer
  }

  /// Run twice per micro-batch under recomputation.
  public var recomputed: Bool { inLayer && kind == .forward }
  public var aCount: Int { m * k }
  public var bCount: Int { k * n }
  public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
}

/// A linear layer of the model, Y = X·W (+ b), and how tensor parallelism splits it, as
/// Megatron-LM's parallel layers do: a column-parallel layer splits W's output columns (each rank
/// computes its share of Y from the whole X; the backward all-reduces dX), a row-parallel one its
/// input rows (each rank multiplies its share of X; the forward all-reduces Y, and the bias is
/// added once, after); a replicated one is whole on every rank. What it runs per micro-batch of
/// `tokens` tokens is its three products: forward NN, dX = dY·Wᵀ NT, dW += Xᵀ·dY TN with β = 1;
/// a weight stored transposed (the head tied to the embedding, out × in) runs NT, NN and TN with
/// dY as A.
public struct LinearLayer: Sendable, Hashable {
  public enum Split: String, Sendable, Hashable {
    case column, row, replicated
  }

  /// The name its products are listed under ("qkv", "mlp down", "head" …).
  public var name: String
  /// Its parameters' name in a checkpoint, less the layer prefix and the `.weight`/`.bias`
  /// suffix ("attn.qkv"; "embedding" for the tied head).
  public var tensor: String
  /// Full (unsplit) input and output features.
  public var inputs: Int
  public var outputs: Int
  public var split: Split
  /// W is stored out × in (the head, tied to the embedding table).
  public var weightTransposed = false
  /// Its input is data (the continuous-input projection): no input gradient.
  public var inputIsData = false
  /// Its forward adds onto what the output holds (β = 1: the input projection onto the embeddings).
  public var accumulates = false
  /// A transformer layer's (recomputation reruns its forward).
  public var inLayer = false

  public init(
    name: String, tensor: String, inputs: Int, outputs: Int, split: Split, weightTransposed: Bool = false, inputIsData: Bool = false, accumulates: Bool = false,
    inLayer: Bool = false
  ) {
    self.name = name
    self.tensor = tensor
    self.inputs = inputs
    self.outputs = outputs
    self.split = split
    self.weightTransposed = weightTransposed
    self.inputIsData = inputIsData
    self.accumulates = accumulates
    self.inLayer = inLayer
  }

  /// Input features on one of `tp` tensor-parallel ranks.
  public func localInputs(tp: Int) -> Int { split == .row ? inputs / tp : inputs }
  /// Output features on one of `tp` tensor-parallel ranks.
  public func localOutputs(tp: Int) -> Int { split == .column ? outputs / tp : outputs }

  /// The products one rank runs for a micro-batch of `tokens` tokens: forward, input gradient
  /// (unless the input is data), weight gradient.
  public func products(tokens t: Int, tp: Int = 1) -> [GEMMProduct] {
    let i = localInputs(tp: tp), o = localOutputs(tp: tp)
    var list = [GEMMProduct(
      role: name + " forward", kind: .forward, m: t, n: o, k: i, transA: false, transB: weightTransposed, beta: accumulates ? 1 : 0, inLayer: inLayer)]
    if !inputIsData {
      list.append(GEMMProduct(role: name + " dX", kind: .inputGradient, m: t, n: i, k: o, transA: false, transB: !weightTransposed, inLayer: inLayer))
    }
    list.append(
      weightTransposed
        ? GEMMProduct(role: name + " dW", kind: .weightGradient, m: o, n: i, k: t, transA: true, transB: false, beta: 1, inLayer: inLayer)
        : GEMMProduct(role: name + " dW", kind: .weightGradient, m: i, n: o, k: t, transA: true, transB: false, beta: 1, inLayer: inLayer))
    return list
  }
}

extension ModelConfig {
  /// A transformer layer's linear layers in the order they run: the fused QKV projection and the
  /// MLP's up projection (gate and up side by side for SwiGLU) column-parallel, the attention
  /// output and the MLP's down projection row-parallel.
  public var layerLinears: [LinearLayer] {
    [
      LinearLayer(name: "qkv", tensor: "attn.qkv", inputs: hidden, outputs: qkvWidth, split: .column, inLayer: true),
      LinearLayer(name: "attention output", tensor: "attn.out", inputs: heads * headDim, outputs: hidden, split: .row, inLayer: true),
      LinearLayer(name: "mlp up", tensor: "mlp.up", inputs: hidden, outputs: mlp == .swiglu ? 2 * mlpHidden : mlpHidden, split: .column, inLayer: true),
      LinearLayer(name: "mlp down", tensor: "mlp.down", inputs: mlpHidden, outputs: hidden, split: .row, inLayer: true),
    ]
  }

  /// The continuous inputs' projection onto the embeddings (first stage), when the model has them.
  public var inputLinear: LinearLayer? {
    features.map { LinearLayer(name: "input", tensor: "input", inputs: $0, outputs: hidden, split: .replicated, inputIsData: true, accumulates: true) }
  }

  /// The output head, logits = x·Eᵀ, tied to the embedding table (last stage).
  public var headLinear: LinearLayer {
    LinearLayer(name: "head", tensor: "embedding", inputs: hidden, outputs: vocabulary, split: .replicated, weightTransposed: true)
  }

  /// The products one rank runs per micro-batch of `tokens` tokens: its `layers` transformer
  /// layers' linears split over `tp`, the input projection on the first stage, the head on the last.
  public func rankGEMMs(tokens: Int, tp: Int, layers: Int, first: Bool, last: Bool) -> [GEMMProduct] {
    var list = (0..<layers).flatMap { _ in layerLinears.flatMap { $0.products(tokens: tokens, tp: tp) } }
    if first, let input = inputLinear { list += input.products(tokens: tokens, tp: tp) }
    if last { list += headLinear.products(tokens: tokens, tp: tp) }
    return list
  }

  /// What `tune gemm --model` tunes: the distinct problems of one layer, the input projection and
  /// the head at tp = 1, for `tokens` tokens. Duplicates (the same problem for two roles) appear
  /// once, under the first role.
  public func trainingGEMMs(tokens: Int) -> [GEMMProduct] {
    var seen = Set<[Int]>()
    return rankGEMMs(tokens: tokens, tp: 1, layers: 1, first: true, last: true).filter {
      seen.insert([$0.m, $0.n, $0.k, $0.transA ? 1 : 0, $0.transB ? 1 : 0, Int($0.beta)]).inserted
    }
  }
}
