/// E8M0, the MX block scale: 8 exponent bits, no sign, no mantissa. Code e is 2^(e − 127);
/// 0xFF is NaN; there is no zero and no infinity.
public struct E8M0: Hashable, Sendable {
  public var code: UInt8

  public static let nan = E8M0(code: 0xFF)
  public static let bias = 127

  public init(code: UInt8) { self.code = code }

  /// 2^exponent, with the exponent clamped to the representable −127…127.
  public init(exponent: Int) { code = UInt8(max(-127, min(127, exponent)) + 127) }

  public var isNaN: Bool { code == 0xFF }

  /// The unbiased exponent; nil for NaN.
  public var exponent: Int? { isNaN ? nil : Int(code) - 127 }

  /// The scale as a Float: NaN for 0xFF; 2^-127 is a Float subnormal and is exact.
  public var floatValue: Float {
    guard let exponent else { return .nan }
    return Float(sign: .plus, exponent: exponent, significand: 1)
  }

  /// 1 / the scale, exact (2^127 is a normal Float): what a block's elements are multiplied by
  /// before they are encoded. NaN for 0xFF.
  public var reciprocal: Float {
    guard let exponent else { return .nan }
    return Float(sign: .plus, exponent: -exponent, significand: 1)
  }
}
