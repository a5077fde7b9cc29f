/// bfloat16: fp32's sign and 8-bit exponent with a 7-bit mantissa. Conversion from Float rounds to
/// nearest, ties to even; subnormals are kept (bf16 has fp32's range, so none flush); NaN stays a
/// (quiet) NaN with its sign; ±Inf stays ±Inf.
public struct BFloat16: Hashable, Sendable, CustomStringConvertible {
  public var bitPattern: UInt16

  public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

  public init(_ value: Float) { bitPattern = BFloat16.round(value.bitPattern) }

  /// Rounds fp32 bits to bf16 bits (RNE). A NaN keeps its sign and upper payload, with the quiet
  /// bit set so truncation never turns it into Inf.
  @inlinable @inline(__always)
  public static func round(_ bits: UInt32) -> UInt16 {
    let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
    let quietNaN = (bits &>> 16) | 0x0040
    return UInt16(truncatingIfNeeded: bits & 0x7FFF_FFFF > 0x7F80_0000 ? quietNaN : rounded)
  }

  public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }

  public var isNaN: Bool { bitPattern & 0x7FFF > 0x7F80 }

  public var description: String { floatValue.description }
}

extension Float {
  public init(_ value: BFloat16) { self = value.floatValue }
}
