/// e^x, branch-free, in plain scalar arithmetic that the compiler vectorises in a loop (Swift's
/// SIMD rounding and mask operations are done lane by lane): n = round(x·log2 e) (by the 1.5·2²³
/// trick), r = x − n·ln 2 in two fused steps (Cody–Waite, so the reduction loses nothing), e^r from
/// a degree-5 polynomial, 2^n put into the exponent bits. Relative error below 5·10⁻⁷ for x in
/// [−87, 88]; below −87 it flushes to 0, −∞ gives 0 and NaN stays NaN.
@inlinable @inline(__always)
func fastExp(_ x: Float) -> Float {
  let result = expClamped(x > 88.3 ? 88.3 : x)
  return x < -87.3 ? 0 : (x != x ? x : result)
}

/// e^x for softmax arguments, x = score − max ≤ 0 (or NaN): fastExp without what that range does
/// not need — no upper clamp and no selects (a NaN runs through the arithmetic and comes out
/// NaN). Below −87.3 it returns e^−87.3 ≈ 1.2·10⁻³⁸ rather than 0, which no sum of probabilities
/// can tell apart; callers that need exact zeros for hidden keys (−∞ scores) select them. About 15
/// vector operations where fastExp takes 20.
@inline(__always)
func softmaxExp(_ x: Float) -> Float { expClamped(x) }

/// The shared core: the lower clamp, the reduction and the polynomial. n = round(x·log2 e) comes
/// from 1.5·2²³ + x·log2 e, in whose binade one ulp is 1, so that sum's bits also hold n for the
/// exponent (no float-to-int conversion, which a NaN would make undefined).
@usableFromInline @inline(__always)
func expClamped(_ x: Float) -> Float {
  let clamped = x < -87.3 ? -87.3 : x
  let magic: Float = 12_582_912
  let shifted = magic.addingProduct(clamped, 1.442_695_040_888_963_4)
  let n = shifted - magic
  // ln 2 split so that n·high is exact for |n| < 2^11.
  let f = clamped.addingProduct(-n, 0.693_145_751_953_125).addingProduct(-n, 1.428_606_765_330_187_0e-6)
  // e^f on |f| ≤ ln2/2: 1 + f·q(f) with q of degree 4, fitted for the least largest relative error
  // (9·10⁻⁸ in exact arithmetic, 1.7·10⁻⁷ in fp32; Taylor needs degree 6 for 5·10⁻⁷). Horner on
  // fused multiply-adds: half the dependent latency of separate multiplies and adds.
  var p: Float = 0.008_290_313_184_261_322
  p = Float(0.041_897_933_930_158_615).addingProduct(p, f)
  p = Float(0.166_676_357_388_496_4).addingProduct(p, f)
  p = Float(0.499_991_506_338_119_5).addingProduct(p, f)
  p = Float(0.999_999_701_976_776_1).addingProduct(p, f)
  p = Float(1).addingProduct(p, f)
  return p * Float(bitPattern: (shifted.bitPattern &- magic.bitPattern &+ 127) &<< 23)
}

/// tanh(x) = 1 − 2/(e^{2x} + 1) on fastExp, branch-free so that a loop of it vectorises (libm's
/// tanhf is a scalar call: a GELU over a training step's MLP activations spent a fifth of the
/// step in it). Below |x| = 1/4, where that form loses digits to cancellation, tanh's series to
/// x⁹ (the next term is below 10⁻⁸ of x there). Absolute error below 3·10⁻⁷ and relative error
/// below 10⁻⁶ everywhere; ±1 beyond |x| ≈ 9; ±∞ gives ±1 and NaN stays NaN.
@inlinable @inline(__always)
public func fastTanh(_ x: Float) -> Float {
  let e = fastExp(2 * x)
  let far = 1 - 2 / (e + 1)
  let x2 = x * x
  var p: Float = 62.0 / 2835
  p = Float(-17.0 / 315).addingProduct(p, x2)
  p = Float(2.0 / 15).addingProduct(p, x2)
  p = Float(-1.0 / 3).addingProduct(p, x2)
  let near = x.addingProduct(x * x2, p)
  return abs(x) < 0.25 ? near : far
}

/// row[c] = e^(row[c] − shift) for c < count, returning Σ row[c]. The sum runs on eight lanes:
/// a scalar float sum has a fixed order and would keep the loop from vectorising.
@inline(__always)
func exponentiate(_ row: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
  for c in 0..<count { row[c] = fastExp(row[c] - shift) }
  var lanes = SIMD8<Float>()
  var c = 0
  while c + 8 <= count {
    lanes += UnsafeRawPointer(row + c).loadUnaligned(as: SIMD8<Float>.self)
    c += 8
  }
  var sum = lanes.sum()
  while c < count {
    sum += row[c]
    c += 1
  }
  return sum
}

/// The largest of row[0..<count], by an integer max reduction that vectorises: a float's bits,
/// with the magnitude bits flipped for negatives, order like the floats. A positive NaN sorts above
/// +∞ and comes back as NaN; a negative one sorts below −∞ and is passed over here, but it still
/// turns its own probability, and so the row's sum and output, into NaN.
@inline(__always)
func rowMaximum(_ row: UnsafePointer<Float>, count: Int) -> Float {
  var largest = Int32.min
  for c in 0..<count {
    let bits = Int32(bitPattern: row[c].bitPattern)
    largest = max(largest, bits ^ ((bits >> 31) & 0x7FFF_FFFF))
  }
  return count == 0 ? -.infinity : Float(bitPattern: UInt32(bitPattern: largest ^ ((largest >> 31) & 0x7FFF_FFFF)))
}
