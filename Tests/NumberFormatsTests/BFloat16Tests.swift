import Testing

@testable import NumberFormats

@Suite struct BFloat16Tests {
  /// Bit-level reference: the two bf16 neighbours by truncation, the nearer one by exact Double
  /// distance, ties to the even bit pattern; NaN stays NaN.
  static func reference(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if x.isNaN { return UInt16(bits >> 16) | 0x40 }
    let down = UInt16(bits >> 16)
    if bits & 0xFFFF == 0 { return down }
    let up = down &+ 1
    func value(_ b: UInt16) -> Double {
      // The pattern above the largest finite bf16 is Inf; for rounding it stands for 2^128.
      if b & 0x7FFF == 0x7F80 { return (b & 0x8000 != 0 ? -1 : 1) * 0x1p128 }
      return Double(Float(bitPattern: UInt32(b) << 16))
    }
    let dDown = abs(Double(x) - value(down)), dUp = abs(Double(x) - value(up))
    if dDown < dUp { return down }
    if dUp < dDown { return up }
    return down & 1 == 0 ? down : up
  }

  @Test func matchesTheBitLevelReference() {
    var inputs = wideRangeFloats(50_000, seed: 11)
    inputs += [Float.leastNonzeroMagnitude, -Float.leastNonzeroMagnitude, Float.leastNormalMagnitude.nextDown,
               Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x7F7F_8000),
               Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0xFF80_0001)]
    var bulk = [UInt16](repeating: 0, count: inputs.count)
    inputs.withUnsafeBufferPointer { source in bulk.withUnsafeMutableBufferPointer { HalfPrecision.toBFloat16(source, into: $0) } }
    for (index, x) in inputs.enumerated() {
      let expected = Self.reference(x)
      #expect(BFloat16(x).bitPattern == expected, "\(x) (0x\(String(x.bitPattern, radix: 16)))")
      #expect(bulk[index] == expected, "bulk \(x)")
    }
  }

  @Test func edgeValues() {
    #expect(BFloat16(0).bitPattern == 0 && BFloat16(-0.0).bitPattern == 0x8000)
    #expect(BFloat16(.infinity).bitPattern == 0x7F80 && BFloat16(-.infinity).bitPattern == 0xFF80)
    #expect(BFloat16(.greatestFiniteMagnitude).floatValue == .infinity, "RNE overflows past bf16's max")
    #expect(BFloat16(Float(bitPattern: 0x7F7F_0000)).floatValue == Float(bitPattern: 0x7F7F_0000), "bf16 max is exact")
    #expect(BFloat16(Float(bitPattern: 0x7F80_0001)).isNaN, "a signalling NaN whose payload is in the low bits stays NaN")
    #expect(BFloat16(Float.leastNonzeroMagnitude * 65536).floatValue == Float.leastNonzeroMagnitude * 65536, "subnormals kept")
    #expect(BFloat16(Float(bitPattern: 0x3F80_8000)).bitPattern == 0x3F80, "tie to even (down)")
    #expect(BFloat16(Float(bitPattern: 0x3F81_8000)).bitPattern == 0x3F82, "tie to even (up)")
  }

  @Test func bulkRoundTripsThroughBothHalfFormats() {
    let values = standardNormal(1000, seed: 5)
    var bf = [UInt16](repeating: 0, count: values.count)
    var back = [Float](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { s in bf.withUnsafeMutableBufferPointer { HalfPrecision.toBFloat16(s, into: $0) } }
    bf.withUnsafeBufferPointer { s in back.withUnsafeMutableBufferPointer { HalfPrecision.fromBFloat16(s, into: $0) } }
    #expect(zip(values, back).allSatisfy { abs($0 - $1) <= abs($0) * 0x1p-8 })
    var half = [Float16](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { s in half.withUnsafeMutableBufferPointer { HalfPrecision.toFloat16(s, into: $0) } }
    half.withUnsafeBufferPointer { s in back.withUnsafeMutableBufferPointer { HalfPrecision.fromFloat16(s, into: $0) } }
    #expect(zip(values, back).allSatisfy { abs($0 - $1) <= max(abs($0) * 0x1p-11, 0x1p-25) })
  }
}
