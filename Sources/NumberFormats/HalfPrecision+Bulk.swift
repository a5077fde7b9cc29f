/// Bulk conversions between Float and the 16-bit formats.
public enum HalfPrecision {
  /// Float → bfloat16 bits, RNE (`BFloat16.round`, which the compiler vectorises in this loop).
  public static func toBFloat16(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<UInt16>) {
    precondition(destination.count >= source.count, "destination too small")
    guard let src = source.baseAddress, let dst = destination.baseAddress else { return }
    for i in 0..<source.count { dst[i] = BFloat16.round(src[i].bitPattern) }
  }

  public static func fromBFloat16(_ source: UnsafeBufferPointer<UInt16>, into destination: UnsafeMutableBufferPointer<Float>) {
    precondition(destination.count >= source.count, "destination too small")
    for i in 0..<source.count { destination[i] = Float(bitPattern: UInt32(source[i]) << 16) }
  }

  /// Float → IEEE binary16 (Swift's Float16: RNE, overflow to ±Inf, subnormals kept).
  public static func toFloat16(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<Float16>) {
    precondition(destination.count >= source.count, "destination too small")
    for i in 0..<source.count { destination[i] = Float16(source[i]) }
  }

  public static func fromFloat16(_ source: UnsafeBufferPointer<Float16>, into destination: UnsafeMutableBufferPointer<Float>) {
    precondition(destination.count >= source.count, "destination too small")
    for i in 0..<source.count { destination[i] = Float(source[i]) }
  }
}
