import Profile
import NumberFormats

/// Q, K, V or dO of an attention problem as stored: `heads` slabs (batch × heads, in that order)
/// of seq × headDim values, row-major, in one of the attention kernels' storage precisions. The
/// kernels decode one head at a time to fp32 (its storage precision, fp32 arithmetic on this
/// build's micro-kernels), so decoding costs O(seq·headDim) per head against O(seq²·headDim) of
/// products.
///
/// - fp32: the values themselves.
/// - bf16: round to nearest even.
/// - fp8-e4m3 and fp8-e5m2: one scale per block of `fp8BlockRows` rows of one head (current
///   scaling: the block's amax maps to the format's largest finite value), the per-block scheme of
///   FP8 attention kernels; a NaN or Inf in a block makes that block's scale 1 and stays NaN/Inf.
public struct AttentionTensor: Sendable {
  public static let precisions: [Precision] = [.fp32, .bf16, .fp8e4m3, .fp8e5m2]
  public static let fp8BlockRows = 64

  public let heads: Int
  public let seq: Int
  public let headDim: Int
  public let precision: Precision
  let storage: Storage

  enum Storage: Sendable {
    case fp32([Float])
    case bf16([UInt16])
    /// value = table[code] · decodeScales[head · blocksPerHead + row / fp8BlockRows]
    case fp8(codes: [UInt8], decodeScales: [Float], table: [Float])
  }

  var headCount: Int { seq * headDim }
  var blocksPerHead: Int { (seq + Self.fp8BlockRows - 1) / Self.fp8BlockRows }

  /// Stores `values` (heads × seq × headDim) in `precision`; throws for a precision the attention
  /// kernels do not take.
  public init(_ values: [Float], heads: Int, seq: Int, headDim: Int, precision: Precision) throws {
    precondition(values.count == heads * seq * headDim, "values must hold heads × seq × headDim elements")
    self.heads = heads
    self.seq = seq
    self.headDim = headDim
    self.precision = precision
    switch precision {
    case .fp32:
      storage = .fp32(values)
    case .bf16:
      var bits = [UInt16](repeating: 0, count: values.count)
      values.withUnsafeBufferPointer { source in bits.withUnsafeMutableBufferPointer { HalfPrecision.toBFloat16(source, into: $0) } }
      storage = .bf16(bits)
    case .fp8e4m3, .fp8e5m2:
      let format: MiniFloatFormat = precision == .fp8e4m3 ? .e4m3 : .e5m2
      let codec = MiniFloatCodec(format)
      var codes = [UInt8](repeating: 0, count: values.count)
      let blocks = (seq + Self.fp8BlockRows - 1) / Self.fp8BlockRows
      var scales = [Float](repeating: 1, count: heads * blocks)
      values.withUnsafeBufferPointer { all in
        codes.withUnsafeMutableBufferPointer { out in
          for head in 0..<heads {
            for block in 0..<blocks {
              let start = (head * seq + block * Self.fp8BlockRows) * headDim
              let end = (head * seq + min(seq, (block + 1) * Self.fp8BlockRows)) * headDim
              let slice = UnsafeBufferPointer(rebasing: all[start..<end])
              let scale = TensorScaling.currentScale(amax: TensorScaling.amax(slice), format: format)
              codec.encode(slice, scale: scale, into: UnsafeMutableBufferPointer(rebasing: out[start..<end]))
              scales[head * blocks + block] = 1 / scale
            }
          }
        }
      }
      storage = .fp8(codes: codes, decodeScales: scales, table: codec.table)
    default:
      throw KernelError.unsupported(
        backend: "attention",
        reason: "attention inputs can be stored as \(Self.precisions.map(\.rawValue).joined(separator: ", ")), not \(precision)")
    }
  }

  /// Head `head` (seq × headDim) decoded to fp32 at `destination`.
  public func decode(head: Int, into destination: UnsafeMutablePointer<Float>) {
    precondition(head >= 0 && head < heads, "head out of range")
    let base = head * headCount
    switch storage {
    case .fp32(let values):
      values.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + base, count: headCount) }
    case .bf16(let bits):
      bits.withUnsafeBufferPointer { source in
        let from = source.baseAddress! + base
        for i in 0..<headCount { destination[i] = Float(bitPattern: UInt32(from[i]) << 16) }
      }
    case .fp8(let codes, let scales, let table):
      codes.withUnsafeBufferPointer { source in
        table.withUnsafeBufferPointer { t in
          for block in 0..<blocksPerHead {
            let first = block * Self.fp8BlockRows * headDim
            let last = min(seq, (block + 1) * Self.fp8BlockRows) * headDim
            let scale = scales[head * blocksPerHead + block]
            let from = source.baseAddress! + base
            for i in first..<last { destination[i] = t[Int(from[i])] * scale }
          }
        }
      }
    }
  }

  /// Every head decoded: the values the kernels effectively compute with.
  public func dequantized() -> [Float] {
    var result = [Float](repeating: 0, count: heads * headCount)
    result.withUnsafeMutableBufferPointer { out in
      for head in 0..<heads { decode(head: head, into: out.baseAddress! + head * headCount) }
    }
    return result
  }
}

/// Where one attention tensor lies in memory: element (b, h, i, c) of a (batch, heads, seq,
/// headDim) tensor at base[b·batchStride + h·headStride + i·rowStride + c]. Contiguous tensors
/// have rowStride = headDim; views of a projection's output (tokens × width, the heads side by
/// side) have rowStride = width and headStride = headDim, so Q, K and V of one fused QKV
/// projection are read where they lie, with no copy.
public struct AttentionLayout: Hashable, Sendable {
  public var rowStride: Int
  public var headStride: Int
  public var batchStride: Int

  public init(rowStride: Int, headStride: Int, batchStride: Int) {
    self.rowStride = rowStride
    self.headStride = headStride
    self.batchStride = batchStride
  }

  /// (batch, heads, seq, headDim), row-major and contiguous.
  public static func contiguous(heads: Int, seq: Int, headDim: Int) -> AttentionLayout {
    AttentionLayout(rowStride: headDim, headStride: seq * headDim, batchStride: heads * seq * headDim)
  }

  /// Heads side by side in a (batch·seq) × `width` matrix (a projection's output), from its first
  /// column: point the base at the tensor's first column (K of a fused QKV at column `hidden`).
  public static func projection(seq: Int, headDim: Int, width: Int) -> AttentionLayout {
    AttentionLayout(rowStride: width, headStride: headDim, batchStride: seq * width)
  }

  /// The offset of row 0 of head h of batch b.
  @inline(__always) func offset(_ b: Int, _ h: Int) -> Int { b * batchStride + h * headStride }

  /// Why `heads` heads of seq × headDim written through this layout would overlap; nil when
  /// they do not (heads stacked one after another, or side by side in each row).
  func overlap(heads: Int, seq: Int, headDim: Int) -> String? {
    let rowsFit = rowStride >= headDim
    let stacked = headStride >= (seq - 1) * rowStride + headDim
    let sideBySide = headStride >= headDim && rowStride >= (heads - 1) * headStride + headDim
    let batchExtent = max((heads - 1) * headStride + (seq - 1) * rowStride + headDim, 1)
    if rowsFit && (stacked || sideBySide || heads == 1) && batchStride >= batchExtent { return nil }
    return "rowStride \(rowStride), headStride \(headStride), batchStride \(batchStride) make \(heads) heads of \(seq)x\(headDim) overlap"
  }
}

/// Where an attention kernel reads one input from: fp32 in memory (used in place, in any
/// `AttentionLayout`) or an `AttentionTensor` (decoded one head at a time into a per-thread
/// buffer, contiguous).
struct AttentionInput: @unchecked Sendable {
  let dense: UnsafePointer<Float>?
  let tensor: AttentionTensor?
  let headCount: Int
  /// Heads per batch entry (heads for Q and dO, kvHeads for K and V) and the layout in memory.
  let headsPerBatch: Int
  let layout: AttentionLayout

  init(dense: UnsafePointer<Float>, headsPerBatch: Int, seq: Int, headDim: Int, layout: AttentionLayout? = nil) {
    self.dense = dense
    tensor = nil
    headCount = seq * headDim
    self.headsPerBatch = headsPerBatch
    self.layout = layout ?? .contiguous(heads: headsPerBatch, seq: seq, headDim: headDim)
  }

  init(_ tensor: AttentionTensor) {
    dense = nil
    self.tensor = tensor
    headCount = tensor.headCount
    headsPerBatch = max(1, tensor.heads)
    layout = .contiguous(heads: tensor.heads, seq: tensor.seq, headDim: tensor.headDim)
  }

  /// Floats `head(_:buffer:)` needs in its buffer: one head when this input must be decoded.
  var decodeCount: Int { dense == nil ? headCount : 0 }

  /// Head `index` (b · headsPerBatch + h) as fp32 rows `ld` apart: in place, or decoded into `buffer`.
  func head(_ index: Int, buffer: UnsafeMutablePointer<Float>) -> (base: UnsafePointer<Float>, ld: Int) {
    if let dense { return (dense + layout.offset(index / headsPerBatch, index % headsPerBatch), layout.rowStride) }
    tensor!.decode(head: index, into: buffer)
    return (UnsafePointer(buffer), tensor!.headDim)
  }
}

/// Where an attention kernel writes one output (O, dQ, dK or dV) in fp32.
struct AttentionOutput: @unchecked Sendable {
  let base: UnsafeMutablePointer<Float>
  let headsPerBatch: Int
  let layout: AttentionLayout

  /// `heads` heads per batch entry of seq × headDim at `base` (contiguous without a layout).
  /// - Throws: when the layout would make heads overlap.
  init(_ base: UnsafeMutablePointer<Float>, shape: AttentionShape, layout: AttentionLayout?, name: String, heads: Int) throws {
    let layout = layout ?? .contiguous(heads: heads, seq: shape.seq, headDim: shape.headDim)
    if let overlap = layout.overlap(heads: heads, seq: shape.seq, headDim: shape.headDim) {
      throw KernelError.invalidParameters("\(name): \(overlap)")
    }
    self.base = base
    headsPerBatch = heads
    self.layout = layout
  }

  /// Head `index` (b · headsPerBatch + h): its first row and the distance between rows.
  @inline(__always) func head(_ index: Int) -> (base: UnsafeMutablePointer<Float>, ld: Int) {
    (base + layout.offset(index / headsPerBatch, index % headsPerBatch), layout.rowStride)
  }

  /// Zeroes every element of every head (only those: a view leaves the rest of its matrix).
  func zero(heads: Int, seq: Int, headDim: Int) {
    for index in 0..<heads {
      let (row, ld) = head(index)
      for i in 0..<seq { (row + i * ld).initialize(repeating: 0, count: headDim) }
    }
  }
}

/// Q, K and V (and dO, for a backward) as the attention kernels take them: fp32 in memory, used
/// in place, or stored tensors, decoded one head at a time into per-thread buffers.
public struct AttentionOperands: @unchecked Sendable {
  let q: AttentionInput, k: AttentionInput, v: AttentionInput
  let dO: AttentionInput?

  /// fp32 tensors in memory: Q (and dO) batch × heads, K and V batch × kvHeads heads of
  /// seq × headDim, row-major and contiguous.
  public static func fp32(
    _ shape: AttentionShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, dO: UnsafePointer<Float>? = nil
  ) -> AttentionOperands {
    let (s, d) = (shape.seq, shape.headDim)
    return AttentionOperands(
      q: AttentionInput(dense: q, headsPerBatch: shape.heads, seq: s, headDim: d),
      k: AttentionInput(dense: k, headsPerBatch: shape.kvHeads, seq: s, headDim: d),
      v: AttentionInput(dense: v, headsPerBatch: shape.kvHeads, seq: s, headDim: d),
      dO: dO.map { AttentionInput(dense: $0, headsPerBatch: shape.heads, seq: s, headDim: d) })
  }

  /// fp32 tensors read where they lie, each through its own layout: for example Q, K and V as
  /// views of one fused projection's output (tokens × 3·hidden), with no copy:
  /// `.views(shape, q: (qkv, .projection(seq: s, headDim: d, width: 3 * hidden)), k: (qkv + hidden, …), v: (qkv + 2 * hidden, …))`.
  /// - Throws: `KernelError.invalidParameters` when a layout's rows are shorter than headDim.
  public static func views(
    _ shape: AttentionShape, q: (UnsafePointer<Float>, AttentionLayout), k: (UnsafePointer<Float>, AttentionLayout),
    v: (UnsafePointer<Float>, AttentionLayout), dO: (UnsafePointer<Float>, AttentionLayout)? = nil
  ) throws -> AttentionOperands {
    if let problem = shape.problem { throw KernelError.invalidParameters(problem) }
    for (name, layout) in [("q", q.1), ("k", k.1), ("v", v.1)] + (dO.map { [("dO", $0.1)] } ?? []) where layout.rowStride < shape.headDim {
      throw KernelError.invalidParameters("\(name): rowStride \(layout.rowStride) is below headDim \(shape.headDim)")
    }
    let (s, d) = (shape.seq, shape.headDim)
    return AttentionOperands(
      q: AttentionInput(dense: q.0, headsPerBatch: shape.heads, seq: s, headDim: d, layout: q.1),
      k: AttentionInput(dense: k.0, headsPerBatch: shape.kvHeads, seq: s, headDim: d, layout: k.1),
      v: AttentionInput(dense: v.0, headsPerBatch: shape.kvHeads, seq: s, headDim: d, layout: v.1),
      dO: dO.map { AttentionInput(dense: $0.0, headsPerBatch: shape.heads, seq: s, headDim: d, layout: $0.1) })
  }

  /// Stored tensors (fp32, bf16 or fp8 with per-block scales); throws unless their heads and sizes
  /// are the ones `shape` needs.
  public static func stored(
    _ shape: AttentionShape, q: AttentionTensor, k: AttentionTensor, v: AttentionTensor, dO: AttentionTensor? = nil
  ) throws -> AttentionOperands {
    try shape.check(q: q, k: k, v: v)
    if let dO { try shape.check(q: dO, k: k, v: v) }
    return AttentionOperands(q: AttentionInput(q), k: AttentionInput(k), v: AttentionInput(v), dO: dO.map(AttentionInput.init))
  }
}
