import NumberFormats

/// Standard-normal samples, seeded.
func standardNormal(_ count: Int, seed: UInt64) -> [Float] {
  var random = SeededRandom(seed: seed)
  return random.normal(count)
}

/// Floats spread over many binades, both signs, plus the edge values every conversion must handle.
func wideRangeFloats(_ count: Int, seed: UInt64) -> [Float] {
  var generator = SeededRandom(seed: seed)
  var values: [Float] = [0, -0, .infinity, -.infinity, .nan, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                         .leastNonzeroMagnitude, .leastNormalMagnitude, 1, -1, 0.5, 448, 464, 480, 57344, 61440, 7.5, 7.75, 28, 30, 6, 5, 7]
  while values.count < count {
    let exponent = Int.random(in: -30...20, using: &generator)
    let significand = Float.random(in: 1..<2, using: &generator)
    let sign: FloatingPointSign = Bool.random(using: &generator) ? .minus : .plus
    values.append(Float(sign: sign, exponent: exponent, significand: significand))
  }
  return values
}

