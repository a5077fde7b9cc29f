import Foundation

/// A seeded random source (SplitMix64) with standard-normal samples (Box–Muller): every test and
/// survey input is reproducible from its seed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
  var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in (0, 1): never 0, so its logarithm is finite.
  mutating func openUniform() -> Double { (Double(next() >> 11) + 0.5) / Double(1 << 53) }

  /// `count` standard-normal samples.
  public mutating func normal(_ count: Int) -> [Float] {
    var result: [Float] = []
    result.reserveCapacity(count)
    while result.count < count {
      let radius = (-2 * log(openUniform())).squareRoot()
      let angle = 2 * Double.pi * openUniform()
      result.append(Float(radius * cos(angle)))
      if result.count < count { result.append(Float(radius * sin(angle))) }
    }
    return result
  }

  /// `count` samples drawn (with replacement) from 65,536 exact standard-normal values: one random
  /// number per sample instead of a logarithm and a cosine, for filling big operands quickly.
  /// Its distribution is the normal one to within the table's resolution.
  public mutating func tabulatedNormal(_ count: Int) -> [Float] {
    var tableSource = SeededRandom(seed: 0x5EED)
    let table = tableSource.normal(1 << 16)
    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      table.withUnsafeBufferPointer { values in
        var i = 0
        while i < count {
          var bits = next()
          for _ in 0..<4 where i < count {
            buffer[i] = values[Int(bits & 0xFFFF)]
            bits >>= 16
            i += 1
          }
        }
      }
      initialized = count
    }
  }
}
