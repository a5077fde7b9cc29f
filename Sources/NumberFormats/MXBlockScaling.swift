/// OCP Microscaling (MX v1.0): blocks of 32 consecutive elements (along the reduction dimension)
/// share one E8M0 scale; each element is a mini-float. X = scale, element P, value = X · P.
public struct MXFormat: Hashable, Sendable, CustomStringConvertible {
  public let name: String
  public let element: MiniFloatFormat
  public let blockSize: Int

  public static let mxfp8e4m3 = MXFormat(name: "mxfp8-e4m3", element: .e4m3, blockSize: 32)
  public static let mxfp8e5m2 = MXFormat(name: "mxfp8-e5m2", element: .e5m2, blockSize: 32)
  public static let mxfp6e2m3 = MXFormat(name: "mxfp6-e2m3", element: .e2m3, blockSize: 32)
  public static let mxfp6e3m2 = MXFormat(name: "mxfp6-e3m2", element: .e3m2, blockSize: 32)
  public static let mxfp4 = MXFormat(name: "mxfp4", element: .e2m1, blockSize: 32)

  public var description: String { name }
  /// FP4 codes are packed two to a byte (element 2i in the low nibble); wider ones take a byte each.
  public var packsTwoPerByte: Bool { element.bitWidth <= 4 }
}

/// How a block's shared scale is chosen.
public enum MXScaleRule: String, Hashable, Sendable, CaseIterable {
  /// The MX v1.0 spec's rule (§6.3): X = 2^(⌊log2 amax⌋ − emax_elem), emax_elem being the exponent
  /// of the element format's largest normal. amax / X can exceed the element's max finite value
  /// (up to just under 2^(emax_elem+1)), and such elements are clamped to it.
  case specFloor = "spec-floor"
  /// Rounded up: X = 2^⌈log2(amax / max finite)⌉, the smallest power of two with amax / X ≤ max
  /// finite, so the block maximum is never clamped; costs up to one binade of resolution for the
  /// other elements.
  case roundUp = "round-up"
}

/// A buffer quantized to an MX format: one scale per block, codes per element.
public struct MXTensor: Sendable, Equatable {
  public let format: MXFormat
  public let count: Int
  public var scales: [E8M0]
  /// One byte per element, or two FP4 codes per byte.
  public var codes: [UInt8]
}

public enum MXQuantizer {
  /// The block's shared scale from its largest magnitude. NaN or ±Inf in the block gives the NaN
  /// scale (every element of the block then decodes to NaN); an all-zero block gets 2^-127.
  public static func scale(amax: Float, element: MiniFloatFormat, rule: MXScaleRule) -> E8M0 {
    if !amax.isFinite { return .nan }
    if amax == 0 { return E8M0(exponent: -127) }
    switch rule {
    case .specFloor:
      return E8M0(exponent: Int(amax.exponent) - element.maxExponent)
    case .roundUp:
      let ratio = amax / element.maxFinite
      var exponent = Int(ratio.exponent) + (ratio.significand > 1 ? 1 : 0)
      // The division rounds; the power-of-two check below is exact.
      while exponent < 127 && amax * Float(sign: .plus, exponent: -exponent, significand: 1) > element.maxFinite {
        exponent += 1
      }
      return E8M0(exponent: exponent)
    }
  }

  /// Quantizes `values` in blocks of `format.blockSize` (the last block may be shorter).
  public static func quantize(_ values: UnsafeBufferPointer<Float>, format: MXFormat, rule: MXScaleRule = .specFloor) -> MXTensor {
    let rounding = MiniFloatCodec.Rounding(format.element, overflow: .saturate)
    let blockSize = format.blockSize
    let count = values.count
    let blocks = (count + blockSize - 1) / blockSize
    var scales = [E8M0](repeating: .nan, count: blocks)
    var codes = [UInt8](repeating: 0, count: count)
    guard let source = values.baseAddress else { return MXTensor(format: format, count: 0, scales: [], codes: []) }
    codes.withUnsafeMutableBufferPointer { out in
      let destination = out.baseAddress!
      for block in 0..<blocks {
        let start = block * blockSize
        let length = min(blockSize, count - start)
        let scale = Self.scale(
          amax: TensorScaling.amax(UnsafeBufferPointer(start: source + start, count: length)), element: format.element, rule: rule)
        scales[block] = scale
        let inverse = scale.reciprocal
        for j in start..<(start + length) {
          destination[j] = UInt8(truncatingIfNeeded: rounding.encode(bits: (source[j] * inverse).bitPattern))
        }
      }
    }
    return MXTensor(format: format, count: count, scales: scales, codes: format.packsTwoPerByte ? FP4Packing.pack(codes) : codes)
  }

  /// Decodes into `destination` (at least `tensor.count` elements).
  public static func dequantize(_ tensor: MXTensor, into destination: UnsafeMutableBufferPointer<Float>) {
    precondition(destination.count >= tensor.count, "destination too small")
    let codec = MiniFloatCodec(tensor.format.element)
    let codes = tensor.format.packsTwoPerByte ? FP4Packing.unpack(tensor.codes, count: tensor.count) : tensor.codes
    codes.withUnsafeBufferPointer { all in
      for (block, scale) in tensor.scales.enumerated() {
        let range = (block * tensor.format.blockSize)..<min(tensor.count, (block + 1) * tensor.format.blockSize)
        codec.decode(UnsafeBufferPointer(rebasing: all[range]), scale: scale.floatValue, into: UnsafeMutableBufferPointer(rebasing: destination[range]))
      }
    }
  }
}

extension MiniFloatCodec {
  /// Rounds a rows × columns row-major matrix in place to this format in blocks of `blockSize`
  /// along each row (`alongRows`) or down each column, each block under its own power-of-two
  /// scale (`MXQuantizer.scale`), and writes back the values the codes stand for: what a product
  /// of MX operands computes with, the codes not kept. Blocks down columns are taken 32 rows at a
  /// time across all columns, so both directions stream through memory.
  public func roundTripBlocks(
    _ matrix: UnsafeMutablePointer<Float>, rows: Int, columns: Int, alongRows: Bool, blockSize: Int = 32, rule: MXScaleRule = .specFloor
  ) {
    let rounding = self.rounding, mask = format.codeCount - 1, element = format
    // A block's scale from its largest magnitude as bits: NaN patterns order above every number.
    func factors(_ amaxBits: UInt32) -> (inverse: Float, factor: Float) {
      let scale = MXQuantizer.scale(amax: Float(bitPattern: amaxBits), element: element, rule: rule)
      return (scale.reciprocal, scale.floatValue)
    }
    table.withUnsafeBufferPointer { lut in
      if alongRows {
        for r in 0..<rows {
          let row = matrix + r * columns
          var start = 0
          while start < columns {
            let end = min(columns, start + blockSize)
            var amax: UInt32 = 0
            for j in start..<end { amax = max(amax, row[j].bitPattern & 0x7FFF_FFFF) }
            let (inverse, factor) = factors(amax)
            for j in start..<end { row[j] = lut[Int(rounding.encode(bits: (row[j] * inverse).bitPattern)) & mask] * factor }
            start = end
          }
        }
        return
      }
      var amax = [UInt32](repeating: 0, count: columns)
      var inverse = [Float](repeating: 0, count: columns), factor = inverse
      var start = 0
      while start < rows {
        let end = min(rows, start + blockSize)
        for c in 0..<columns { amax[c] = 0 }
        for r in start..<end {
          let row = matrix + r * columns
          for c in 0..<columns { amax[c] = max(amax[c], row[c].bitPattern & 0x7FFF_FFFF) }
        }
        for c in 0..<columns { (inverse[c], factor[c]) = factors(amax[c]) }
        for r in start..<end {
          let row = matrix + r * columns
          for c in 0..<columns { row[c] = lut[Int(rounding.encode(bits: (row[c] * inverse[c]).bitPattern)) & mask] * factor[c] }
        }
        start = end
      }
    }
  }
}

/// Two 4-bit codes per byte, element 2i in the low nibble.
public enum FP4Packing {
  public static func pack(_ codes: [UInt8]) -> [UInt8] {
    var packed = [UInt8](repeating: 0, count: (codes.count + 1) / 2)
    for i in 0..<codes.count / 2 { packed[i] = (codes[2 * i] & 0xF) | (codes[2 * i + 1] << 4) }
    if codes.count % 2 == 1 { packed[codes.count / 2] = codes[codes.count - 1] & 0xF }
    return packed
  }

  public static func unpack(_ packed: [UInt8], count: Int) -> [UInt8] {
    var codes = [UInt8](repeating: 0, count: count)
    for i in 0..<count / 2 {
      codes[2 * i] = packed[i] & 0xF
      codes[2 * i + 1] = packed[i] >> 4
    }
    if count % 2 == 1 { codes[count - 1] = packed[count / 2] & 0xF }
    return codes
  }
}
