/// A measured number with its spread: every figure in a profile carries one of these, with the unit
/// in the name of the field that holds it (`perCoreGflops`, `triadGBPerSecond`).
public struct Statistics: Codable, Equatable, Sendable {
  public var median: Double
  public var min: Double
  public var max: Double
  public var runs: Int

  public init(median: Double, min: Double, max: Double, runs: Int) {
    self.median = median
    self.min = min
    self.max = max
    self.runs = runs
  }

  /// Summarises samples. Precondition: at least one sample.
  public init(samples: [Double]) {
    precondition(!samples.isEmpty, "Statistics needs at least one sample")
    let sorted = samples.sorted()
    let mid = sorted.count / 2
    median = sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    min = sorted[0]
    max = sorted[sorted.count - 1]
    runs = sorted.count
  }

  /// (max - min) / median: how far apart the fastest and slowest runs were.
  public var relativeSpread: Double { median > 0 ? (max - min) / median : 0 }
}
