/// An 8-bit-or-narrower floating-point element format: FP8 (E4M3, E5M2), FP6 (E2M3, E3M2) and
/// FP4 (E2M1), exactly as the OCP 8-bit floating point spec and the OCP Microscaling (MX) v1.0
/// spec define them. Codes are stored right-aligned in a UInt8: sign at bit `exponentBits +
/// mantissaBits`, then the exponent, then the mantissa.
public struct MiniFloatFormat: Hashable, Sendable, CustomStringConvertible {
  /// Which bit patterns are special.
  public enum Specials: Hashable, Sendable {
    /// Every code is a finite number (FP6, FP4).
    case none
    /// S.1111.111 is NaN; no infinity (OCP E4M3).
    case nanOnlyAllOnes
    /// IEEE style: exponent all ones is ±Inf (mantissa 0) or NaN (E5M2).
    case ieee
  }

  public let name: String
  public let exponentBits: Int
  public let mantissaBits: Int
  public let bias: Int
  public let specials: Specials

  public static let e4m3 = MiniFloatFormat(name: "fp8-e4m3", exponentBits: 4, mantissaBits: 3, bias: 7, specials: .nanOnlyAllOnes)
  public static let e5m2 = MiniFloatFormat(name: "fp8-e5m2", exponentBits: 5, mantissaBits: 2, bias: 15, specials: .ieee)
  public static let e2m3 = MiniFloatFormat(name: "fp6-e2m3", exponentBits: 2, mantissaBits: 3, bias: 1, specials: .none)
  public static let e3m2 = MiniFloatFormat(name: "fp6-e3m2", exponentBits: 3, mantissaBits: 2, bias: 3, specials: .none)
  public static let e2m1 = MiniFloatFormat(name: "fp4-e2m1", exponentBits: 2, mantissaBits: 1, bias: 1, specials: .none)

  public static let all: [MiniFloatFormat] = [.e4m3, .e5m2, .e2m3, .e3m2, .e2m1]

  public var description: String { name }
  public var bitWidth: Int { 1 + exponentBits + mantissaBits }
  public var codeCount: Int { 1 << bitWidth }
  public var signBit: UInt8 { UInt8(1 << (exponentBits + mantissaBits)) }
  var magnitudeMask: UInt8 { signBit - 1 }

  /// The largest finite magnitude's code (without sign).
  public var maxFiniteCode: UInt8 {
    switch specials {
    case .none: return magnitudeMask
    case .nanOnlyAllOnes: return magnitudeMask - 1
    case .ieee: return UInt8(((1 << exponentBits) - 1) << mantissaBits) - 1
    }
  }

  /// The code of a quiet NaN (positive); nil for formats without NaN.
  public var nanCode: UInt8? {
    switch specials {
    case .none: return nil
    case .nanOnlyAllOnes: return magnitudeMask
    case .ieee: return UInt8(((1 << exponentBits) - 1) << mantissaBits) | UInt8(1 << (mantissaBits - 1))
    }
  }

  /// The code of +Inf; nil for formats without infinity.
  public var infinityCode: UInt8? {
    specials == .ieee ? UInt8(((1 << exponentBits) - 1) << mantissaBits) : nil
  }

  /// Smallest normal exponent (unbiased).
  public var minExponent: Int { 1 - bias }
  /// Exponent of the largest finite value (unbiased): emax_elem in the MX spec.
  public var maxExponent: Int { Int(maxFiniteCode >> UInt8(mantissaBits)) - bias }

  public var maxFinite: Float { decodeReference(maxFiniteCode) }
  public var minNormal: Float { Float(sign: .plus, exponent: minExponent, significand: 1) }
  public var minSubnormal: Float { Float(sign: .plus, exponent: minExponent - mantissaBits, significand: 1) }

  /// What a conversion does with a finite value beyond the largest finite one (and with ±Inf).
  public enum Overflow: Hashable, Sendable {
    /// Clamp to ±max finite (the OCP default for conversions, and the only mode FP6/FP4 define).
    case saturate
    /// E5M2: ±Inf; E4M3: NaN. Formats without specials saturate regardless.
    case nonSaturating
  }

  /// The value of a code, from the format's definition (the reference the fast paths are tested against).
  public func decodeReference(_ code: UInt8) -> Float {
    let magnitude = code & magnitudeMask
    let negative = code & signBit != 0
    let exponentField = Int(magnitude >> UInt8(mantissaBits))
    let mantissa = Int(magnitude) & ((1 << mantissaBits) - 1)
    let exponentAllOnes = exponentField == (1 << exponentBits) - 1
    switch specials {
    case .nanOnlyAllOnes where magnitude == magnitudeMask:
      return .nan
    case .ieee where exponentAllOnes:
      return mantissa == 0 ? (negative ? -.infinity : .infinity) : .nan
    default:
      break
    }
    let value: Float
    if exponentField == 0 {
      value = Float(mantissa) * Float(sign: .plus, exponent: minExponent - mantissaBits, significand: 1)
    } else {
      value = Float((1 << mantissaBits) + mantissa) * Float(sign: .plus, exponent: exponentField - bias - mantissaBits, significand: 1)
    }
    return negative ? -value : value
  }

  /// Rounds a Float to this format by the definition: scale to the quantum of the value's binade,
  /// round to nearest with ties to even, then handle overflow. Slow and plain; the reference for
  /// the bulk paths.
  ///
  /// NaN becomes this format's NaN; FP6 and FP4 have none, and the OCP MX spec leaves that
  /// conversion to the implementation: here NaN gives the signed largest magnitude, and every
  /// block-scaled API carries the NaN in the block's scale instead (see `MXBlock`).
  public func encodeReference(_ value: Float, overflow: Overflow = .saturate) -> UInt8 {
    let sign: UInt8 = value.sign == .minus ? signBit : 0
    if value.isNaN { return (nanCode ?? maxFiniteCode) | sign }
    let magnitude = value.magnitude
    if magnitude.isInfinite { return overflowCode(overflow) | sign }
    if magnitude == 0 { return sign }
    let exponent = max(Int(magnitude.exponent), minExponent)
    let quantum = Float(sign: .plus, exponent: exponent - mantissaBits, significand: 1)
    // magnitude / quantum is exact (a power-of-two scaling well inside Float's range).
    let steps = Int((magnitude / quantum).rounded(.toNearestOrEven))
    let code = steps + ((exponent - minExponent) << mantissaBits)
    if code > Int(maxFiniteCode) { return overflowCode(overflow) | sign }
    return UInt8(code) | sign
  }

  func overflowCode(_ overflow: Overflow) -> UInt8 {
    guard overflow == .nonSaturating else { return maxFiniteCode }
    switch specials {
    case .none: return maxFiniteCode
    case .nanOnlyAllOnes: return nanCode!
    case .ieee: return infinityCode!
    }
  }
}
