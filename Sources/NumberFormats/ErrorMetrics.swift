/// Error measures the tuners and the trainer share. All accumulate in Double and propagate NaN:
/// a NaN anywhere gives a NaN result, never a silently small number.
public enum ErrorMetrics {
  /// max |x − ref|.
  @inlinable public static func maxAbsError<T: BinaryFloatingPoint, U: BinaryFloatingPoint>(_ x: some Collection<T>, _ reference: some Collection<U>) -> Double {
    precondition(x.count == reference.count, "lengths differ")
    var worst = 0.0
    for (a, b) in zip(x, reference) {
      let difference = abs(Double(a) - Double(b))
      if difference.isNaN { return .nan }
      if difference > worst { worst = difference }
    }
    return worst
  }

  /// ‖x − ref‖₂ / ‖ref‖₂. Zero when both are zero; +Inf when only the reference is.
  @inlinable public static func normwiseRelativeError<T: BinaryFloatingPoint, U: BinaryFloatingPoint>(_ x: some Collection<T>, _ reference: some Collection<U>) -> Double {
    precondition(x.count == reference.count, "lengths differ")
    var differenceSquared = 0.0
    var referenceSquared = 0.0
    for (a, b) in zip(x, reference) {
      let d = Double(a) - Double(b)
      differenceSquared += d * d
      referenceSquared += Double(b) * Double(b)
    }
    if differenceSquared.isNaN || referenceSquared.isNaN { return .nan }
    if referenceSquared == 0 { return differenceSquared == 0 ? 0 : .infinity }
    return (differenceSquared / referenceSquared).squareRoot()
  }

  /// GEMM's normwise error ‖C − C_ref‖_F / (‖A‖_F · ‖B‖_F): independent of how C's entries cancel,
  /// and bounded by about K · unit roundoff for a backward-stable GEMM.
  @inlinable public static func gemmNormwiseError<T: BinaryFloatingPoint, U: BinaryFloatingPoint, V: BinaryFloatingPoint>(
    c: some Collection<T>, reference: some Collection<U>, a: some Collection<V>, b: some Collection<V>
  ) -> Double {
    precondition(c.count == reference.count, "lengths differ")
    var differenceSquared = 0.0
    for (x, y) in zip(c, reference) {
      let d = Double(x) - Double(y)
      differenceSquared += d * d
    }
    let normA = frobenius(a)
    let normB = frobenius(b)
    if differenceSquared.isNaN || normA.isNaN || normB.isNaN { return .nan }
    let denominator = normA * normB
    if denominator == 0 { return differenceSquared == 0 ? 0 : .infinity }
    return differenceSquared.squareRoot() / denominator
  }

  @inlinable public static func frobenius<T: BinaryFloatingPoint>(_ x: some Collection<T>) -> Double {
    var sum = 0.0
    for value in x { sum += Double(value) * Double(value) }
    return sum.squareRoot()
  }
}
