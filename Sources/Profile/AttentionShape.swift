/// softmax(Q·Kᵀ·scale + mask)·V over tensors shaped (batch, heads, seq, headDim), row-major and
/// contiguous. K and V may have fewer heads than Q (grouped-query attention): query head h reads
/// key/value head h / (heads / kvHeads). Causal masking hides key j from query i when j > i.
public struct AttentionShape: Hashable, Codable, Sendable, CustomStringConvertible {
  public var batch: Int
  public var heads: Int
  public var kvHeads: Int
  public var seq: Int
  public var headDim: Int
  public var causal: Bool
  /// The factor on Q·Kᵀ; nil: 1/√headDim.
  public var softmaxScale: Double?

  public init(batch: Int, heads: Int, kvHeads: Int? = nil, seq: Int, headDim: Int, causal: Bool, softmaxScale: Double? = nil) {
    self.batch = batch
    self.heads = heads
    self.kvHeads = kvHeads ?? heads
    self.seq = seq
    self.headDim = headDim
    self.causal = causal
    self.softmaxScale = softmaxScale
  }

  public var description: String {
    "\(batch)x\(heads)x\(seq)x\(headDim)\(kvHeads != heads ? " kv\(kvHeads)" : "")\(causal ? " causal" : "")"
      + (softmaxScale.map { " scale=\($0)" } ?? "")
  }
  /// The factor on Q·Kᵀ: `softmaxScale`, or 1/√headDim.
  public var scale: Double { softmaxScale ?? 1 / Double(headDim).squareRoot() }
  public var groupSize: Int { heads / kvHeads }
  public var qCount: Int { batch * heads * seq * headDim }
  public var kvCount: Int { batch * kvHeads * seq * headDim }

  /// Forward FLOPs as usually counted: 4·B·H·S²·D, half of it when causal.
  public var forwardFlops: Double {
    let full = 4 * Double(batch) * Double(heads) * Double(seq) * Double(seq) * Double(headDim)
    return causal ? full / 2 : full
  }

  /// Why the shape is not valid; nil when it is.
  public var problem: String? {
    if batch < 1 || heads < 1 || kvHeads < 1 || seq < 1 || headDim < 1 { return "every dimension must be at least 1 (got \(self))" }
    if heads % kvHeads != 0 { return "heads (\(heads)) must be a multiple of kvHeads (\(kvHeads))" }
    if let softmaxScale, !(softmaxScale.isFinite && softmaxScale > 0) { return "the softmax scale must be finite and positive (got \(softmaxScale))" }
    return nil
  }
}
