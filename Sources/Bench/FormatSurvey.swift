import Foundation
import NumberFormats
import Platform
import Profile

/// One row of `tune bench formats`: how much a format loses on standard-normal data (and on the
/// same data with a few outliers a thousand times larger, where scaling schemes differ), and how
/// fast whole buffers convert.
public struct FormatSurveyRow: Codable, Sendable, Equatable {
  public var precision: String
  public var bitsPerElement: Double
  public var normwiseErrorNormal: Double
  public var normwiseErrorOutliers: Double
  /// The same input, error measured on the non-outlier elements only: what per-tensor scaling
  /// loses on everything else when one value sets the scale.
  public var normwiseErrorOutliersRest: Double
  /// Quantize then dequantize, as `Precision.roundTrip` does (scales included), in GB/s of fp32 input.
  public var roundTripGBPerSecond: Statistics
}

public enum FormatSurvey {
  /// Standard-normal data with `outliers` values multiplied by 1000, spread evenly.
  public static func data(count: Int, outliers: Int, seed: UInt64) -> [Float] {
    var random = SeededRandom(seed: seed)
    var values = random.normal(count)
    for index in outlierIndices(count: count, outliers: outliers) { values[index] *= 1000 }
    return values
  }

  static func outlierIndices(count: Int, outliers: Int) -> [Int] {
    guard outliers > 0 else { return [] }
    return Array(stride(from: count / (2 * outliers), to: count, by: max(1, count / outliers)))
  }

  public static func run(precisions: [Precision] = Precision.allCases, count: Int = 1 << 20, repeats: Int = 5, minimumSeconds: Double = 0.05) -> [FormatSurveyRow] {
    let normal = data(count: count, outliers: 0, seed: 1)
    let withOutliers = data(count: count, outliers: 8, seed: 1)
    let outliers = Set(outlierIndices(count: count, outliers: 8))
    let rest = withOutliers.indices.filter { !outliers.contains($0) }
    return precisions.map { precision in
      let seconds = Stopwatch.secondsPerCall(repeats: repeats, minimumSeconds: minimumSeconds) {
        _ = precision.roundTrip(normal)
      }
      let gbps = seconds.map { Double(count * 4) / $0 / 1e9 }
      let roundTripped = precision.roundTrip(withOutliers)
      return FormatSurveyRow(
        precision: precision.rawValue, bitsPerElement: precision.bitsPerElement,
        normwiseErrorNormal: ErrorMetrics.normwiseRelativeError(precision.roundTrip(normal), normal),
        normwiseErrorOutliers: ErrorMetrics.normwiseRelativeError(roundTripped, withOutliers),
        normwiseErrorOutliersRest: ErrorMetrics.normwiseRelativeError(rest.map { roundTripped[$0] }, rest.map { withOutliers[$0] }),
        roundTripGBPerSecond: Statistics(samples: gbps))
    }
  }

  public static func text(_ rows: [FormatSurveyRow]) -> String {
    var lines = [
      "normwise relative error on N(0,1) data; '+outliers': 8 values x1000 (all elements / the rest);",
      "round trip = quantize + dequantize, GB/s of fp32 input, median [min-max]",
      "precision      bits  N(0,1)     +outliers  (rest)     round trip GB/s",
    ]
    for row in rows {
      let name = row.precision.padding(toLength: 13, withPad: " ", startingAt: 0)
      lines.append(
        "\(name) \(fixed(row.bitsPerElement, 5, 2))  \(scientific(row.normwiseErrorNormal))  \(scientific(row.normwiseErrorOutliers))  \(scientific(row.normwiseErrorOutliersRest))  "
          + "\(fixed(row.roundTripGBPerSecond.median, 6, 2)) [\(fixed(row.roundTripGBPerSecond.min, 0, 2))-\(fixed(row.roundTripGBPerSecond.max, 0, 2))]")
    }
    return lines.joined(separator: "\n")
  }

  static func fixed(_ value: Double, _ width: Int, _ decimals: Int) -> String {
    let text = String(format: "%.\(decimals)f", value)
    return String(repeating: " ", count: max(0, width - text.count)) + text
  }

  static func scientific(_ value: Double) -> String { String(format: "%.2e", value) }
}
