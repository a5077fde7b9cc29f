/// Bulk conversion between Float buffers and a mini-float format: branch-free integer bit
/// manipulation that the compiler vectorises, and table lookups for decoding. Packing for GEMM
/// and attention calls these on every tile.
public struct MiniFloatCodec: Sendable {
  public let format: MiniFloatFormat
  public let overflow: MiniFloatFormat.Overflow
  /// Decoded value of every code.
  public let table: [Float]
  let rounding: Rounding

  public init(_ format: MiniFloatFormat, overflow: MiniFloatFormat.Overflow = .saturate) {
    self.format = format
    self.overflow = overflow
    table = (0..<format.codeCount).map { format.decodeReference(UInt8($0)) }
    rounding = Rounding(format, overflow: overflow)
  }

  /// The constants of the rounding, kept apart from the table so that a loop holds them in
  /// registers (a struct with an array inside is reloaded per element and blocks vectorisation).
  struct Rounding: Sendable {
    let shift: UInt32  // 23 - mantissaBits
    let rebias: UInt32  // (127 - bias) << mantissaBits
    let minNormalBits: UInt32
    let subnormalShiftBase: UInt32  // 151 - bias - mantissaBits
    let maxCode: UInt32
    let overflowValue: UInt32
    let nanValue: UInt32
    let signPosition: UInt32

    init(_ format: MiniFloatFormat, overflow: MiniFloatFormat.Overflow) {
      shift = UInt32(23 - format.mantissaBits)
      rebias = UInt32((127 - format.bias) << format.mantissaBits)
      minNormalBits = format.minNormal.bitPattern
      subnormalShiftBase = UInt32(151 - format.bias - format.mantissaBits)
      maxCode = UInt32(format.maxFiniteCode)
      overflowValue = UInt32(format.overflowCode(overflow))
      nanValue = UInt32(format.nanCode ?? format.maxFiniteCode)
      signPosition = UInt32(format.exponentBits + format.mantissaBits)
    }

    /// Encodes one Float (as its bit pattern) to a code, round to nearest even. Branch-free
    /// integer arithmetic, so that the loops calling it vectorise (Swift's SIMD mask operations are
    /// scalarised; plain selects in a counted loop are not).
    @inline(__always)
    func encode(bits: UInt32) -> UInt32 {
      let magnitude = bits & 0x7FFF_FFFF
      let sign = (bits &>> 31) &<< signPosition
      // Normal range of the target: round the fp32 mantissa to `mantissaBits` bits (RNE),
      // carrying into the exponent, then rebias the exponent.
      let odd = (magnitude &>> shift) & 1
      let normal = ((magnitude &+ ((1 &<< (shift &- 1)) &- 1) &+ odd) &>> shift) &- rebias
      // Subnormal range of the target: shift the full significand right by a per-value amount,
      // RNE. Values in the normal range wrap below zero here and are clamped, then not selected;
      // from 25 steps on every significand (< 2^24) rounds to zero.
      let significand = (magnitude & 0x007F_FFFF) | 0x0080_0000
      let rawSteps = subnormalShiftBase &- (magnitude &>> 23)
      let steps = rawSteps > 25 ? 25 : rawSteps
      let half = 1 &<< (steps &- 1)
      let subnormal = (significand &+ (half &- 1) &+ ((significand &>> steps) & 1)) &>> steps
      let isSubnormal = magnitude < minNormalBits
      var code = isSubnormal ? subnormal : normal
      code = !isSubnormal && code > maxCode ? overflowValue : code
      code = magnitude > 0x7F80_0000 ? nanValue : code
      return code | sign
    }
  }

  /// Quantizes `source[i] * scale` into `codes` (one code per byte, right-aligned).
  public func encode(_ source: UnsafeBufferPointer<Float>, scale: Float = 1, into codes: UnsafeMutableBufferPointer<UInt8>) {
    precondition(codes.count >= source.count, "codes must hold one byte per element")
    guard let src = source.baseAddress, let dst = codes.baseAddress else { return }
    let rounding = self.rounding
    for i in 0..<source.count {
      dst[i] = UInt8(truncatingIfNeeded: rounding.encode(bits: (src[i] * scale).bitPattern))
    }
  }

  /// Decodes codes to `codes[i]` value × `scale`.
  public func decode(_ codes: UnsafeBufferPointer<UInt8>, scale: Float = 1, into destination: UnsafeMutableBufferPointer<Float>) {
    precondition(destination.count >= codes.count, "destination must hold one Float per code")
    let mask = UInt8(format.codeCount - 1)
    table.withUnsafeBufferPointer { lut in
      for i in 0..<codes.count { destination[i] = lut[Int(codes[i] & mask)] * scale }
    }
  }

  /// One value, by the same arithmetic as the bulk path.
  public func encode(_ value: Float) -> UInt8 { UInt8(truncatingIfNeeded: rounding.encode(bits: value.bitPattern)) }

  public func decode(_ code: UInt8) -> Float { table[Int(code) & (format.codeCount - 1)] }
}
