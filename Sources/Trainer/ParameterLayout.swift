import Profile

/// How one full tensor is split over the tensor-parallel group (Megatron's column- and
/// row-parallel linears).
public enum TensorShard: Hashable, Sendable {
  /// Every tensor-parallel rank holds all of it (LayerNorms, the biases added after a
  /// row-parallel all-reduce, the embedding).
  case replicated
  /// Columns split: the full tensor's columns are `groups` side by side (Q | K | V for the fused
  /// projection, gate | up for SwiGLU), each group split into tp equal parts; a rank holds part t
  /// of every group, in order.
  case columns(groups: [Int])
  /// Rows split into tp equal parts (the row-parallel linears' weights).
  case rows
}

/// One named tensor of the model as a rank holds it: the full shape (rows × columns, a vector
/// as 1 × n), its split, and where the rank's part lies in the flat parameter buffer.
public struct TensorView: Hashable, Sendable {
  public var name: String
  public var rows: Int
  public var columns: Int
  /// Whether the shape is a vector (a bias or LayerNorm gain), saved 1-D.
  public var isVector: Bool
  public var shard: TensorShard
  /// Weight decay applies (matrices; not biases, gains or positions).
  public var decays: Bool
  /// Offset of the local part in the rank's flat buffer, and its local shape.
  public var offset: Int
  public var localRows: Int
  public var localColumns: Int

  public var count: Int { localRows * localColumns }
  public var fullCount: Int { rows * columns }
  public var fullShape: [Int] { isVector ? [columns] : [rows, columns] }

  /// The index in the full (row-major) tensor of local element (r, c) on tensor-parallel rank
  /// `t` of `tp`.
  public func fullIndex(row r: Int, column c: Int, rank t: Int, of tp: Int) -> Int {
    switch shard {
    case .replicated:
      return r * columns + c
    case .rows:
      return (t * localRows + r) * columns + c
    case .columns(let groups):
      var local = c, start = 0
      for width in groups {
        let part = width / tp
        if local < part { return r * columns + start + t * part + local }
        local -= part
        start += width
      }
      preconditionFailure("column \(c) outside \(name)")
    }
  }
}

/// The tensors one rank holds, in the order of its flat parameter buffer (and of its gradients
/// and optimizer state, which share the layout): the embedding (first and last pipeline stage:
/// the output head is tied to it), learned positions and the continuous inputs' projection (first
/// stage), the stage's layers, the
/// final LayerNorm (last stage). Names are the checkpoint's (see the README).
public struct ParameterLayout: Sendable {
  public let model: ModelConfig
  public let tp: Int
  public let tpRank: Int
  public let stage: Int
  public let stages: Int
  public private(set) var tensors: [TensorView] = []
  /// Per layer of this stage (global index), the range of its tensors in the flat buffer.
  public private(set) var layerRanges: [Int: Range<Int>] = [:]
  public private(set) var count = 0

  public var layersPerStage: Int { model.layers / stages }
  public var layers: Range<Int> { stage * layersPerStage..<(stage + 1) * layersPerStage }
  public var isFirst: Bool { stage == 0 }
  public var isLast: Bool { stage == stages - 1 }
  public var holdsEmbedding: Bool { isFirst || isLast }

  // Local widths.
  public var localHeads: Int { model.heads / tp }
  public var localKVHeads: Int { model.kvHeads / tp }
  public var localQWidth: Int { localHeads * model.headDim }
  public var localKVWidth: Int { localKVHeads * model.headDim }
  public var localQKVWidth: Int { localQWidth + 2 * localKVWidth }
  public var localMLP: Int { model.mlpHidden / tp }
  /// Columns of the local up projection (gate and up side by side for SwiGLU).
  public var localUpWidth: Int { model.mlp == .swiglu ? 2 * localMLP : localMLP }

  public init(model: ModelConfig, tp: Int = 1, tpRank: Int = 0, stage: Int = 0, stages: Int = 1) {
    self.model = model
    self.tp = tp
    self.tpRank = tpRank
    self.stage = stage
    self.stages = stages
    let h = model.hidden, kvWidth = model.kvHeads * model.headDim
    if holdsEmbedding { add("embedding.weight", model.vocabulary, h, .replicated, decays: true) }
    if isFirst && model.positions == .learned { add("position.weight", model.seq, h, .replicated, decays: false) }
    if isFirst, let features = model.features { add("input.weight", features, h, .replicated, decays: true) }
    for layer in layers {
      let start = count
      let p = "layers.\(layer)."
      add(p + "ln1.weight", 1, h, .replicated, vector: true)
      add(p + "ln1.bias", 1, h, .replicated, vector: true)
      add(p + "attn.qkv.weight", h, model.qkvWidth, .columns(groups: [h, kvWidth, kvWidth]), decays: true)
      add(p + "attn.qkv.bias", 1, model.qkvWidth, .columns(groups: [h, kvWidth, kvWidth]), vector: true)
      add(p + "attn.out.weight", h, h, .rows, decays: true)
      add(p + "attn.out.bias", 1, h, .replicated, vector: true)
      add(p + "ln2.weight", 1, h, .replicated, vector: true)
      add(p + "ln2.bias", 1, h, .replicated, vector: true)
      let up: [Int] = model.mlp == .swiglu ? [model.mlpHidden, model.mlpHidden] : [model.mlpHidden]
      add(p + "mlp.up.weight", h, up.reduce(0, +), .columns(groups: up), decays: true)
      add(p + "mlp.up.bias", 1, up.reduce(0, +), .columns(groups: up), vector: true)
      add(p + "mlp.down.weight", model.mlpHidden, h, .rows, decays: true)
      add(p + "mlp.down.bias", 1, h, .replicated, vector: true)
      layerRanges[layer] = start..<count
    }
    if isLast {
      add("final_ln.weight", 1, h, .replicated, vector: true)
      add("final_ln.bias", 1, h, .replicated, vector: true)
    }
  }

  private mutating func add(_ name: String, _ rows: Int, _ columns: Int, _ shard: TensorShard, decays: Bool = false, vector: Bool = false) {
    var localRows = rows, localColumns = columns
    switch shard {
    case .replicated: break
    case .rows: localRows = rows / tp
    case .columns: localColumns = columns / tp
    }
    tensors.append(TensorView(
      name: name, rows: rows, columns: columns, isVector: vector, shard: shard, decays: decays, offset: count, localRows: localRows,
      localColumns: localColumns))
    count += localRows * localColumns
  }

  public func view(_ name: String) -> TensorView {
    guard let view = tensors.first(where: { $0.name == name }) else { preconditionFailure("no tensor \(name) on this rank") }
    return view
  }

  /// Whether this rank's copy of `view` counts in the global gradient norm: a tensor replicated
  /// over the tensor-parallel group counts on its rank 0, and the embedding on the first stage
  /// only (the last stage's tied copy holds the same values and, after the embedding all-reduce,
  /// the same gradient).
  public func countsInNorm(_ view: TensorView) -> Bool {
    if view.shard == .replicated && tpRank != 0 { return false }
    if view.name == "embedding.weight" && !isFirst { return false }
    return true
  }

  /// Every tensor of the whole model (all stages, full shapes), in checkpoint order.
  public static func fullModel(_ model: ModelConfig) -> [TensorView] {
    ParameterLayout(model: model).tensors
  }

  /// Parameters of the whole model (positions included).
  public static func parameterCount(_ model: ModelConfig) -> Int { ParameterLayout(model: model).count }
}
