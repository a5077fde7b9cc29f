import Testing

@testable import NumberFormats

@Suite struct ScalingTests {
  static let mxFormats: [MXFormat] = [.mxfp8e4m3, .mxfp8e5m2, .mxfp6e2m3, .mxfp6e3m2, .mxfp4]

  func roundTrip(_ values: [Float], _ format: MXFormat, _ rule: MXScaleRule) -> (MXTensor, [Float]) {
    let tensor = values.withUnsafeBufferPointer { MXQuantizer.quantize($0, format: format, rule: rule) }
    var out = [Float](repeating: 0, count: values.count)
    out.withUnsafeMutableBufferPointer { MXQuantizer.dequantize(tensor, into: $0) }
    return (tensor, out)
  }

  @Test(arguments: mxFormats)
  func scaleRulesFollowTheirDefinitions(_ format: MXFormat) {
    let e = format.element
    // A block max that is a power of two: both rules agree that it lands on 2^emax.
    #expect(MXQuantizer.scale(amax: 1, element: e, rule: .specFloor).exponent == -e.maxExponent)
    // amax just under the next power of two: the spec's rule lets amax / X exceed max finite.
    let amax: Float = 1.99
    let floor = MXQuantizer.scale(amax: amax, element: e, rule: .specFloor)
    #expect(floor.exponent == -e.maxExponent)
    #expect(amax / floor.floatValue > e.maxFinite, "\(format): the spec's scale clamps this block's max")
    let up = MXQuantizer.scale(amax: amax, element: e, rule: .roundUp)
    #expect(amax / up.floatValue <= e.maxFinite && amax / up.floatValue > e.maxFinite / 2, "\(format): rounded-up scale is the tightest that fits")
    #expect(MXQuantizer.scale(amax: .nan, element: e, rule: .specFloor).isNaN)
    #expect(MXQuantizer.scale(amax: .infinity, element: e, rule: .roundUp).isNaN)
    #expect(MXQuantizer.scale(amax: 0, element: e, rule: .specFloor).exponent == -127)
    #expect(MXQuantizer.scale(amax: 1e-38, element: e, rule: .specFloor).exponent == -127, "clamped to E8M0's range")
  }

  @Test(arguments: mxFormats, MXScaleRule.allCases)
  func anOutlierStaysRepresentableAndZeroBlocksAreExact(_ format: MXFormat, _ rule: MXScaleRule) {
    var values = standardNormal(96, seed: 3).map { $0 * 0.01 }
    values[5] = 1000  // block 0 holds an outlier
    for i in 32..<64 { values[i] = 0 }  // block 1 is all zero
    let (tensor, out) = roundTrip(values, format, rule)
    #expect(tensor.scales.count == 3)
    // The outlier comes back within its element precision (clamping by at most the spec rule's
    // factor (2 − 2^-m) / (max significand) when the block max sits above the element max).
    let relative = abs(out[5] - 1000) / 1000
    let bound = rule == .roundUp ? Float(sign: .plus, exponent: -format.element.mantissaBits, significand: 1) : 0.5
    #expect(relative <= bound, "\(format) \(rule): outlier came back as \(out[5])")
    #expect(out[5].isFinite && out[5] > 0)
    #expect(out[32..<64].allSatisfy { $0 == 0 }, "an all-zero block is exact")
  }

  /// The in-place round trip the trainer's MX fp8 runs (blocks along each row, or down each
  /// column) gives exactly what quantize then dequantize give on the gathered values.
  @Test(arguments: [MXFormat.mxfp8e4m3, .mxfp8e5m2], MXScaleRule.allCases)
  func inPlaceBlockRoundTripMatchesQuantizeThenDequantize(_ format: MXFormat, _ rule: MXScaleRule) {
    var values = standardNormal(3 * 70, seed: 5).map { $0 * 0.01 }
    values[7] = 1e6  // an outlier: only its own block's scale moves
    values[100] = .nan
    let codec = MiniFloatCodec(format.element)
    let rows = 3, columns = 70
    // Rows: each row's blocks, the last one 6 values long.
    var byRows = values
    byRows.withUnsafeMutableBufferPointer { codec.roundTripBlocks($0.baseAddress!, rows: rows, columns: columns, alongRows: true, rule: rule) }
    for r in 0..<rows {
      let expected = roundTrip(Array(values[r * columns..<(r + 1) * columns]), format, rule).1
      let got = Array(byRows[r * columns..<(r + 1) * columns])
      #expect(zip(expected, got).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(format) row \(r)")
    }
    // Columns: a transposed view of 70 rows × 3 columns.
    var byColumns = values
    byColumns.withUnsafeMutableBufferPointer { codec.roundTripBlocks($0.baseAddress!, rows: 70, columns: 3, alongRows: false, rule: rule) }
    for c in 0..<3 {
      let column = (0..<70).map { values[$0 * 3 + c] }
      let expected = roundTrip(column, format, rule).1
      let got = (0..<70).map { byColumns[$0 * 3 + c] }
      #expect(zip(expected, got).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(format) column \(c)")
    }
    // The outlier's own block is scaled for it; the next block and the next row are not.
    #expect(byRows[40] != 0 && byRows[75] != 0 && abs(byRows[40] - values[40]) <= 0.07 * abs(values[40]), "\(byRows[40]) for \(values[40])")
  }

  @Test(arguments: mxFormats)
  func aBlockWithNaNYieldsNaNAndLeavesOthersAlone(_ format: MXFormat) {
    var values = standardNormal(64, seed: 9)
    values[40] = .nan
    let (tensor, out) = roundTrip(values, format, .specFloor)
    #expect(tensor.scales[1].isNaN)
    #expect(out[32..<64].allSatisfy { $0.isNaN })
    #expect(out[0..<32].allSatisfy { $0.isFinite })
  }

  @Test func fp4PackingRoundTripsOddCounts() {
    let codes: [UInt8] = [1, 15, 7, 8, 3]
    let packed = FP4Packing.pack(codes)
    #expect(packed == [0xF1, 0x87, 0x03])
    #expect(FP4Packing.unpack(packed, count: 5) == codes)
    let (tensor, _) = roundTrip(standardNormal(33, seed: 1), .mxfp4, .specFloor)
    #expect(tensor.codes.count == 17 && tensor.scales.count == 2)
  }

  @Test func nvfp4RoundTripKeepsNaNBlocksAndZeros() {
    var values = standardNormal(64, seed: 4)
    values[20] = .nan
    var out = [Float](repeating: 0, count: values.count)
    let tensor = values.withUnsafeBufferPointer { NVFP4Quantizer.quantize($0) }
    out.withUnsafeMutableBufferPointer { NVFP4Quantizer.dequantize(tensor, into: $0) }
    #expect(tensor.blockScales.count == 4)
    #expect(out[16..<32].allSatisfy { $0.isNaN })
    #expect(out[0..<16].allSatisfy { $0.isFinite } && out[32..<64].allSatisfy { $0.isFinite })
    let finite = Array(out[0..<16]) + Array(out[32..<64])
    let reference = Array(values[0..<16]) + Array(values[32..<64])
    #expect(ErrorMetrics.normwiseRelativeError(finite, reference) < 0.25)
    let zeros = [Float](repeating: 0, count: 20)
    #expect(Precision.nvfp4.roundTrip(zeros) == zeros)
  }

  @Test func perTensorCurrentScalingMapsAmaxToTheFormatMax() {
    #expect(TensorScaling.currentScale(amax: 2, format: .e4m3) == 224)
    #expect(TensorScaling.currentScale(amax: 0, format: .e4m3) == 1)
    #expect(TensorScaling.currentScale(amax: .nan, format: .e5m2) == 1)
    let values: [Float] = [0.5, -3, 1e-3]
    #expect(values.withUnsafeBufferPointer { TensorScaling.amax($0) } == 3)
    #expect([Float(1), .nan].withUnsafeBufferPointer { TensorScaling.amax($0) }.isNaN)
  }

  @Test func delayedScalingUsesTheHistoryWindowAndMargin() {
    var scaling = DelayedScaling(format: .e4m3, historyLength: 3, margin: 1)
    #expect(scaling.scale == 1)
    scaling.record(amax: 4)
    #expect(scaling.scale == 448 / 4 / 2)
    scaling.record(amax: 1)
    scaling.record(amax: 2)
    #expect(scaling.scale == 448 / 4 / 2, "4 is still in the window")
    scaling.record(amax: 1)
    #expect(scaling.scale == 448 / 2 / 2, "4 has left the window of 3")
    scaling.record(amax: 0)
    scaling.record(amax: .infinity)
    #expect(scaling.scale == 448 / 1 / 2, "zero and Inf never become the scale")
    #expect(scaling.history == [1, 0, .infinity])
  }
}
