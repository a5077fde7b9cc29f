import Testing

@testable import NumberFormats

@Suite struct ErrorAndPrecisionTests {
  @Test func metricsOnKnownValues() {
    #expect(ErrorMetrics.maxAbsError([1, 2, 3] as [Float], [1, 2.5, 2] as [Double]) == 1)
    #expect(ErrorMetrics.normwiseRelativeError([3, 4] as [Float], [0, 0] as [Float]) == .infinity)
    #expect(ErrorMetrics.normwiseRelativeError([0, 0] as [Float], [0, 0] as [Float]) == 0)
    #expect(abs(ErrorMetrics.normwiseRelativeError([1, 1] as [Float], [1, 0] as [Float]) - 1) < 1e-15)
    // C = A·B with A = [[1, 2]], B = [[3], [4]]: C = 11; off by 1 → 1 / (√5 · 5).
    let e = ErrorMetrics.gemmNormwiseError(c: [12] as [Float], reference: [11] as [Double], a: [1, 2] as [Float], b: [3, 4] as [Float])
    #expect(abs(e - 1 / (5.0.squareRoot() * 5)) < 1e-15)
  }

  @Test func metricsPropagateNaNInsteadOfHidingIt() {
    #expect(ErrorMetrics.maxAbsError([1, .nan, 3] as [Float], [1, 2, 3] as [Float]).isNaN)
    #expect(ErrorMetrics.normwiseRelativeError([1, .nan] as [Float], [1, 2] as [Float]).isNaN)
    #expect(ErrorMetrics.gemmNormwiseError(c: [1] as [Float], reference: [1] as [Float], a: [Float.nan], b: [1] as [Float]).isNaN)
  }

  @Test func precisionNamesParseAndUnknownOnesListTheKnown() throws {
    #expect(try Precision.parse("FP8_E4M3") == .fp8e4m3)
    #expect(try Precision.parse("mxfp4") == .mxfp4)
    let error = #expect(throws: Precision.ParseError.self) { try Precision.parse("fp7") }
    #expect(error?.description.contains("fp7") == true && error?.description.contains("nvfp4") == true)
  }

  /// Quantization error on standard-normal data lands where the mantissa width says: the
  /// normwise relative error of round-to-nearest with m mantissa bits is about 2^-m / √12 · c with
  /// c between 1 and 2 over a binade, so it must fall within [2^-(m+3), 2^-m].
  @Test(arguments: [
    (Precision.bf16, 7), (.fp16, 10), (.fp8e4m3, 3), (.fp8e5m2, 2), (.mxfp8e4m3, 3), (.mxfp8e5m2, 2),
    (.mxfp6e2m3, 3), (.mxfp6e3m2, 2), (.mxfp4, 1), (.nvfp4, 1),
  ])
  func errorOnStandardNormalDataMatchesTheMantissaWidth(_ precision: Precision, _ mantissaBits: Int) {
    let values = standardNormal(1 << 16, seed: 42)
    let error = ErrorMetrics.normwiseRelativeError(precision.roundTrip(values), values)
    let upper = Double(sign: .plus, exponent: -mantissaBits, significand: 1)
    let lower = Double(sign: .plus, exponent: -(mantissaBits + 3), significand: 1)
    #expect(error >= lower && error <= upper, "\(precision): normwise error \(error)")
  }

  @Test func e4m3IsNearTwoToTheMinusFourAndE5M2NearTwoToTheMinusThree() {
    let values = standardNormal(1 << 16, seed: 8)
    let e4m3 = ErrorMetrics.normwiseRelativeError(Precision.fp8e4m3.roundTrip(values), values)
    let e5m2 = ErrorMetrics.normwiseRelativeError(Precision.fp8e5m2.roundTrip(values), values)
    #expect(e4m3 > 0x1p-6 && e4m3 < 0x1p-3, "E4M3 \(e4m3)")
    #expect(e5m2 > 0x1p-5 && e5m2 < 0x1p-2, "E5M2 \(e5m2)")
    #expect(e5m2 > 1.5 * e4m3, "one mantissa bit fewer roughly doubles the error")
  }
}
