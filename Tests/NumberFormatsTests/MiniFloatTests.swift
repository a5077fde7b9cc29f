import Testing

@testable import NumberFormats

@Suite struct MiniFloatTests {
  /// The value of a code, straight from the spec's formula (independent of the implementation's
  /// quantum arithmetic): (-1)^s · 2^(E−bias) · (1 + M/2^m), or 2^(1−bias) · M/2^m when E = 0.
  static func specValue(_ f: MiniFloatFormat, _ code: Int) -> Float? {
    let m = f.mantissaBits, e = f.exponentBits
    let sign: Float = code >> (e + m) & 1 == 1 ? -1 : 1
    let exponentField = code >> m & ((1 << e) - 1)
    let mantissa = code & ((1 << m) - 1)
    let scale = Float(mantissa) / Float(1 << m)
    if exponentField == 0 { return sign * scale * Float(sign: .plus, exponent: 1 - f.bias, significand: 1) }
    return sign * (1 + scale) * Float(sign: .plus, exponent: exponentField - f.bias, significand: 1)
  }

  @Test(arguments: MiniFloatFormat.all)
  func everyCodeDecodesToItsSpecValueAndEncodesBack(_ f: MiniFloatFormat) {
    let codec = MiniFloatCodec(f)
    for code in 0..<f.codeCount {
      let value = f.decodeReference(UInt8(code))
      let magnitude = code & Int(f.magnitudeMask)
      let isNaNCode: Bool
      let isInfCode: Bool
      switch f.specials {
      case .none: isNaNCode = false; isInfCode = false
      case .nanOnlyAllOnes: isNaNCode = magnitude == Int(f.magnitudeMask); isInfCode = false
      case .ieee:
        let allOnes = magnitude >> f.mantissaBits == (1 << f.exponentBits) - 1
        isNaNCode = allOnes && magnitude & ((1 << f.mantissaBits) - 1) != 0
        isInfCode = allOnes && !isNaNCode
      }
      if isNaNCode {
        #expect(value.isNaN, "\(f) code \(code) should be NaN")
        #expect(f.decodeReference(f.encodeReference(value)).isNaN)
        #expect(codec.decode(codec.encode(value)).isNaN)
      } else if isInfCode {
        #expect(value.isInfinite, "\(f) code \(code) should be Inf")
        #expect(Int(f.encodeReference(value, overflow: .nonSaturating)) == code)
        #expect(Int(MiniFloatCodec(f, overflow: .nonSaturating).encode(value)) == code)
      } else {
        #expect(value == Self.specValue(f, code), "\(f) code \(code)")
        #expect(value.sign == (code & Int(f.signBit) != 0 ? .minus : .plus), "\(f) code \(code) sign")
        #expect(Int(f.encodeReference(value)) == code, "\(f) reference encode of \(value)")
        #expect(Int(codec.encode(value)) == code, "\(f) fast encode of \(value)")
        #expect(codec.decode(UInt8(code)) == value || (codec.decode(UInt8(code)) == 0 && value == 0))
      }
    }
  }

  @Test func specConstants() {
    #expect(MiniFloatFormat.e4m3.maxFinite == 448)
    #expect(MiniFloatFormat.e5m2.maxFinite == 57344)
    #expect(MiniFloatFormat.e2m3.maxFinite == 7.5)
    #expect(MiniFloatFormat.e3m2.maxFinite == 28)
    #expect(MiniFloatFormat.e2m1.maxFinite == 6)
    #expect(MiniFloatFormat.e4m3.minSubnormal == Float(sign: .plus, exponent: -9, significand: 1))
    #expect(MiniFloatFormat.e5m2.minSubnormal == Float(sign: .plus, exponent: -16, significand: 1))
    let fp4 = (0..<8).map { MiniFloatFormat.e2m1.decodeReference(UInt8($0)) }
    #expect(fp4 == [0, 0.5, 1, 1.5, 2, 3, 4, 6])
    #expect((8..<16).map { MiniFloatFormat.e2m1.decodeReference(UInt8($0)) } == [-0.0, -0.5, -1, -1.5, -2, -3, -4, -6])
    #expect(MiniFloatFormat.e4m3.decodeReference(0x7F).isNaN && MiniFloatFormat.e4m3.decodeReference(0xFF).isNaN)
    #expect(MiniFloatFormat.e4m3.decodeReference(0x7E) == 448 && MiniFloatFormat.e4m3.decodeReference(0x78) == 256)
    #expect(MiniFloatFormat.e5m2.decodeReference(0x7C) == .infinity && MiniFloatFormat.e5m2.decodeReference(0xFC) == -.infinity)
    #expect((0x7D...0x7F).allSatisfy { MiniFloatFormat.e5m2.decodeReference(UInt8($0)).isNaN })
    #expect(MiniFloatFormat.e4m3.maxExponent == 8 && MiniFloatFormat.e5m2.maxExponent == 15)
    #expect(MiniFloatFormat.e2m1.maxExponent == 2 && MiniFloatFormat.e2m3.maxExponent == 2 && MiniFloatFormat.e3m2.maxExponent == 4)
  }

  @Test(arguments: MiniFloatFormat.all)
  func midpointsRoundToTheEvenNeighbour(_ f: MiniFloatFormat) {
    let codec = MiniFloatCodec(f)
    for code in 0..<Int(f.maxFiniteCode) {
      let low = f.decodeReference(UInt8(code)), high = f.decodeReference(UInt8(code + 1))
      let midpoint = (low + high) / 2  // exact: both are short binary fractions
      let even = code % 2 == 0 ? code : code + 1
      #expect(Int(f.encodeReference(midpoint)) == even, "\(f): midpoint of \(low) and \(high)")
      #expect(Int(codec.encode(midpoint)) == even, "\(f) fast: midpoint of \(low) and \(high)")
      #expect(Int(codec.encode(midpoint.nextDown)) == code && Int(codec.encode(midpoint.nextUp)) == code + 1)
      #expect(Int(codec.encode(-midpoint)) == even | Int(f.signBit))
    }
  }

  @Test(arguments: MiniFloatFormat.all)
  func beyondTheMaximumSaturatesOrOverflowsAsTheSpecSays(_ f: MiniFloatFormat) {
    let saturating = MiniFloatCodec(f)
    let strict = MiniFloatCodec(f, overflow: .nonSaturating)
    let maxCode = Int(f.maxFiniteCode)
    // Half a step above the max still rounds to the max (ties to even go down when max is even).
    let step = f.maxFinite - f.decodeReference(UInt8(maxCode - 1))
    let justAbove = f.maxFinite + step / 4
    #expect(Int(strict.encode(justAbove)) == maxCode)
    for big in [f.maxFinite * 2, 1e30, Float.infinity] {
      #expect(Int(saturating.encode(big)) == maxCode, "\(f) saturating \(big)")
      #expect(Int(saturating.encode(-big)) == maxCode | Int(f.signBit))
      switch f.specials {
      case .none: #expect(Int(strict.encode(big)) == maxCode)
      case .nanOnlyAllOnes: #expect(f.decodeReference(strict.encode(big)).isNaN, "E4M3 overflow is NaN")
      case .ieee: #expect(f.decodeReference(strict.encode(big)) == .infinity && f.decodeReference(strict.encode(-big)) == -.infinity)
      }
      #expect(strict.encode(big) == f.encodeReference(big, overflow: .nonSaturating))
    }
  }

  @Test(arguments: MiniFloatFormat.all)
  func tinyValuesFlushOrGoSubnormal(_ f: MiniFloatFormat) {
    let codec = MiniFloatCodec(f)
    let smallest = f.minSubnormal
    #expect(codec.encode(smallest / 2) == 0, "a tie at half the smallest subnormal goes to even zero")
    #expect(codec.encode((smallest / 2).nextUp) == 1)
    #expect(codec.encode(smallest / 4) == 0)
    #expect(codec.encode(-smallest / 4) == f.signBit, "negative underflow keeps its sign")
    #expect(codec.encode(Float.leastNonzeroMagnitude) == 0)
    #expect(codec.encode(f.minNormal) == UInt8(1 << f.mantissaBits))
    #expect(codec.encode(f.minNormal.nextDown) == UInt8(1 << f.mantissaBits), "rounds up into the normal range")
  }

  @Test(arguments: MiniFloatFormat.all)
  func fastPathMatchesTheReferenceEverywhere(_ f: MiniFloatFormat) {
    var inputs = wideRangeFloats(20_000, seed: 7)
    // Every half-precision value as well: dense near the formats' ranges.
    inputs += (0..<UInt16.max).map { Float(Float16(bitPattern: $0)) }
    for overflow in [MiniFloatFormat.Overflow.saturate, .nonSaturating] {
      let codec = MiniFloatCodec(f, overflow: overflow)
      var codes = [UInt8](repeating: 0, count: inputs.count)
      inputs.withUnsafeBufferPointer { source in codes.withUnsafeMutableBufferPointer { codec.encode(source, into: $0) } }
      var mismatches = 0
      for (value, code) in zip(inputs, codes) where code != f.encodeReference(value, overflow: overflow) {
        mismatches += 1
        if mismatches < 5 { Issue.record("\(f) \(overflow): \(value) -> \(code), reference \(f.encodeReference(value, overflow: overflow))") }
      }
      #expect(mismatches == 0)
    }
  }

  @Test func bulkEncodeAppliesTheScaleAndHandlesTails() {
    let codec = MiniFloatCodec(.e4m3)
    let values: [Float] = (0..<37).map { Float($0 % 17) / 8 }
    var codes = [UInt8](repeating: 0xAA, count: values.count)
    values.withUnsafeBufferPointer { source in codes.withUnsafeMutableBufferPointer { codec.encode(source, scale: 8, into: $0) } }
    var back = [Float](repeating: -1, count: values.count)
    codes.withUnsafeBufferPointer { source in back.withUnsafeMutableBufferPointer { codec.decode(source, scale: 1.0 / 8, into: $0) } }
    #expect(back == values, "integers 0…16 are exact in E4M3")
  }
}
