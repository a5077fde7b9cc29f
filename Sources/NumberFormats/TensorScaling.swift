/// Per-tensor scaling for FP8, as Transformer Engine does it: values are multiplied by `scale`
/// before conversion and divided by it after, so the tensor's amax lands on the format's max.
public enum TensorScaling {
  /// Current scaling: scale = maxFinite / amax of this very tensor. An all-zero or non-finite amax
  /// gives scale 1 (nothing to scale; NaN stays NaN through conversion).
  public static func currentScale(amax: Float, format: MiniFloatFormat) -> Float {
    guard amax.isFinite, amax > 0 else { return 1 }
    return format.maxFinite / amax
  }

  /// The largest magnitude in a buffer; NaN if any element is NaN (never silently skipped).
  /// Compares magnitudes as integers: for non-negative IEEE floats the bit patterns order like the
  /// values, and every NaN pattern lies above +Inf's, so NaN wins the max with no branch and the
  /// loop vectorises.
  public static func amax(_ values: UnsafeBufferPointer<Float>) -> Float {
    var largest: UInt32 = 0
    for value in values { largest = Swift.max(largest, value.bitPattern & 0x7FFF_FFFF) }
    return Float(bitPattern: largest)
  }
}

/// Delayed scaling: the scale for step t comes from the amax history of earlier steps (as
/// Transformer Engine's DelayedScaling recipe), so the conversion needs no extra pass over the
/// tensor. scale = maxFinite / (max over the history) / 2^margin.
public struct DelayedScaling: Sendable, Equatable {
  public let format: MiniFloatFormat
  public let historyLength: Int
  public let margin: Int
  public private(set) var history: [Float] = []
  /// The scale to use for the next conversion.
  public private(set) var scale: Float = 1

  /// - Parameters:
  ///   - historyLength: how many past amax values to remember (≥ 1).
  ///   - margin: extra headroom as a power of two (≥ 0).
  public init(format: MiniFloatFormat, historyLength: Int = 16, margin: Int = 0) {
    precondition(historyLength >= 1 && margin >= 0, "historyLength >= 1, margin >= 0")
    self.format = format
    self.historyLength = historyLength
    self.margin = margin
  }

  /// Records the amax observed in this step and updates the scale for the next one. A zero or
  /// non-finite amax is recorded but never turns the scale into Inf or NaN: the scale keeps its
  /// last finite value.
  public mutating func record(amax: Float) {
    history.append(amax)
    if history.count > historyLength { history.removeFirst(history.count - historyLength) }
    let finite = history.filter { $0.isFinite && $0 > 0 }
    guard let largest = finite.max() else { return }
    let candidate = format.maxFinite / largest / Float(sign: .plus, exponent: margin, significand: 1)
    if candidate.isFinite && candidate > 0 { scale = candidate }
  }
}
