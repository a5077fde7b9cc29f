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

/// Where an attention kernel reads one input from: fp32 in memory (used in place) or an
/// `AttentionTensor` (decoded one head at a time into a per-thread buffer).
struct AttentionInput: @unchecked Sendable {
  let dense: UnsafePointer<Float>?
  let tensor: AttentionTensor?
  let headCount: Int

  init(dense: UnsafePointer<Float>, headCount: Int) {
    self.dense = dense
    tensor = nil
    self.headCount = headCount
  }

  init(_ tensor: AttentionTensor) {
    dense = nil
    self.tensor = tensor
    headCount = tensor.headCount
  }

  /// Floats `head(_:buffer:)` needs in its buffer: one head when this input must be decoded.
  var decodeCount: Int { dense == nil ? headCount : 0 }

  /// Head `index` as fp32: in place, or decoded into `buffer`.
  func head(_ index: Int, buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    if let dense { return dense + index * headCount }
    tensor!.decode(head: index, into: buffer)
    return UnsafePointer(buffer)
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
    let head = shape.seq * shape.headDim
    return AttentionOperands(
      q: AttentionInput(dense: q, headCount: head), k: AttentionInput(dense: k, headCount: head), v: AttentionInput(dense: v, headCount: head),
      dO: dO.map { AttentionInput(dense: $0, headCount: head) })
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
