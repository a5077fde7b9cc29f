/// A row-major matrix stored in a low precision, as a GEMM operand whose reduction dimension runs
/// along the rows (A as M×K, Bᵀ as N×K): block scales then cover 32 (MX) or 16 (NVFP4) consecutive
/// elements of one row, the way block-scaled GEMMs lay them out. GEMM packing decodes row segments
/// back to fp32 with `decodeRow`.
public struct QuantizedMatrix: Sendable {
  public let rows: Int
  public let columns: Int
  public let precision: Precision
  let storage: Storage

  enum Storage: Sendable {
    case fp32([Float])
    case fp16([Float16])
    case bf16([UInt16])
    /// Per-tensor scaled FP8: value = table[code] · decodeScale.
    case minifloat(codes: [UInt8], table: [Float], decodeScale: Float)
    /// One MX tensor per row.
    case mx([MXTensor], table: [Float])
    /// NVFP4 with one tensor scale for the whole matrix, blocks of 16 along each row.
    case nvfp4(codes: [[UInt8]], blockScales: [[Float]], table: [Float])
  }

  /// Quantizes `values` (rows × columns, row-major) to `precision`. fp64 is stored as fp32.
  public init(_ values: [Float], rows: Int, columns: Int, precision: Precision, mxRule: MXScaleRule = .specFloor) {
    precondition(values.count == rows * columns, "values must hold rows × columns elements")
    self.rows = rows
    self.columns = columns
    self.precision = precision
    switch precision {
    case .fp64, .fp32:
      storage = .fp32(values)
    case .fp16:
      storage = .fp16(values.map { Float16($0) })
    case .bf16:
      storage = .bf16(values.map { BFloat16($0).bitPattern })
    case .fp8e4m3, .fp8e5m2:
      let format: MiniFloatFormat = precision == .fp8e4m3 ? .e4m3 : .e5m2
      let codec = MiniFloatCodec(format)
      let scale = values.withUnsafeBufferPointer { TensorScaling.currentScale(amax: TensorScaling.amax($0), format: format) }
      var codes = [UInt8](repeating: 0, count: values.count)
      values.withUnsafeBufferPointer { source in codes.withUnsafeMutableBufferPointer { codec.encode(source, scale: scale, into: $0) } }
      storage = .minifloat(codes: codes, table: codec.table, decodeScale: 1 / scale)
    case .mxfp8e4m3, .mxfp8e5m2, .mxfp6e2m3, .mxfp6e3m2, .mxfp4:
      let format = precision.mxFormat!
      let tensors = (0..<rows).map { row in
        values.withUnsafeBufferPointer { all in
          MXQuantizer.quantize(UnsafeBufferPointer(rebasing: all[(row * columns)..<((row + 1) * columns)]), format: format, rule: mxRule)
        }
      }
      storage = .mx(tensors, table: MiniFloatCodec(format.element).table)
    case .nvfp4:
      let tensorScale = values.withUnsafeBufferPointer { NVFP4Quantizer.tensorScale(amax: NVFP4Quantizer.finiteAmax($0)) }
      var codes: [[UInt8]] = []
      var scales: [[Float]] = []
      let e4m3 = MiniFloatCodec(.e4m3)
      for row in 0..<rows {
        let tensor = values.withUnsafeBufferPointer { all in
          NVFP4Quantizer.quantize(UnsafeBufferPointer(rebasing: all[(row * columns)..<((row + 1) * columns)]), tensorScale: tensorScale)
        }
        codes.append(tensor.codes)
        scales.append(tensor.blockScales.map { e4m3.decode($0) * tensorScale })
      }
      storage = .nvfp4(codes: codes, blockScales: scales, table: MiniFloatCodec(.e2m1).table)
    }
  }

  /// Decodes row `row`, columns `columns`, to fp32 at `destination`.
  public func decodeRow(_ row: Int, columns range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
    precondition(row >= 0 && row < rows && range.lowerBound >= 0 && range.upperBound <= columns, "row segment out of bounds")
    let base = row * columns
    switch storage {
    case .fp32(let values):
      values.withUnsafeBufferPointer { v in for (i, c) in range.enumerated() { destination[i] = v[base + c] } }
    case .fp16(let values):
      values.withUnsafeBufferPointer { v in for (i, c) in range.enumerated() { destination[i] = Float(v[base + c]) } }
    case .bf16(let values):
      values.withUnsafeBufferPointer { v in for (i, c) in range.enumerated() { destination[i] = Float(bitPattern: UInt32(v[base + c]) << 16) } }
    case .minifloat(let codes, let table, let scale):
      codes.withUnsafeBufferPointer { v in
        table.withUnsafeBufferPointer { t in for (i, c) in range.enumerated() { destination[i] = t[Int(v[base + c])] * scale } }
      }
    case .mx(let tensors, let table):
      let tensor = tensors[row]
      let blockSize = tensor.format.blockSize
      let packed = tensor.format.packsTwoPerByte
      tensor.codes.withUnsafeBufferPointer { v in
        table.withUnsafeBufferPointer { t in
          for (i, c) in range.enumerated() {
            let code = packed ? (v[c >> 1] >> UInt8((c & 1) * 4)) & 0xF : v[c]
            destination[i] = t[Int(code)] * tensor.scales[c / blockSize].floatValue
          }
        }
      }
    case .nvfp4(let codes, let blockScales, let table):
      let rowCodes = codes[row], rowScales = blockScales[row]
      for (i, c) in range.enumerated() {
        let code = (rowCodes[c >> 1] >> UInt8((c & 1) * 4)) & 0xF
        destination[i] = table[Int(code)] * rowScales[c / NVFP4Tensor.blockSize]
      }
    }
  }

  /// The whole matrix decoded: what a GEMM on this operand effectively multiplies.
  /// The stored bf16 bit patterns (row-major, `columns` apart) when the precision is bf16: what a
  /// library that multiplies bf16 in memory reads in place.
  public var bf16Bits: [UInt16]? {
    if case .bf16(let bits) = storage { return bits }
    return nil
  }

  public func dequantized() -> [Float] {
    var result = [Float](repeating: 0, count: rows * columns)
    result.withUnsafeMutableBufferPointer { out in
      for row in 0..<rows { decodeRow(row, columns: 0..<columns, into: out.baseAddress! + row * columns) }
    }
    return result
  }
}
