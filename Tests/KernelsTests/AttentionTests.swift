import Foundation
import Profile
import Testing

@testable import Kernels
@testable import NumberFormats

@Suite struct AttentionTests {
  struct Case: CustomTestStringConvertible, Sendable {
    var shape: AttentionShape
    var parameters: FlashParameters
    var testDescription: String { "\(shape) \(parameters)" }
  }

  static let cases: [Case] = [
    Case(shape: AttentionShape(batch: 1, heads: 1, seq: 1, headDim: 8, causal: false), parameters: FlashParameters(br: 4, bc: 4)),
    Case(shape: AttentionShape(batch: 1, heads: 2, seq: 13, headDim: 16, causal: true), parameters: FlashParameters(br: 4, bc: 5, threads: 2, querySplit: 3)),
    Case(shape: AttentionShape(batch: 2, heads: 3, seq: 31, headDim: 24, causal: false), parameters: FlashParameters(br: 8, bc: 7, threads: 2)),
    Case(shape: AttentionShape(batch: 1, heads: 4, kvHeads: 2, seq: 37, headDim: 32, causal: true), parameters: FlashParameters(br: 16, bc: 8, threads: 3)),
    Case(shape: AttentionShape(batch: 1, heads: 1, seq: 70, headDim: 24, causal: true), parameters: FlashParameters(br: 8, bc: 12, threads: 2, querySplit: 2)),
    Case(shape: AttentionShape(batch: 2, heads: 6, kvHeads: 1, seq: 17, headDim: 19, causal: false), parameters: FlashParameters(br: 5, bc: 16, threads: 2)),
    Case(shape: AttentionShape(batch: 1, heads: 2, seq: 64, headDim: 64, causal: true), parameters: FlashParameters(br: 64, bc: 64, threads: 2)),
  ]

  static func inputs(_ shape: AttentionShape, seed: UInt64) -> (q: [Float], k: [Float], v: [Float], dO: [Float]) {
    var random = SeededRandom(seed: seed)
    return (random.normal(shape.qCount), random.normal(shape.kvCount), random.normal(shape.kvCount), random.normal(shape.qCount))
  }

  static func flash(_ shape: AttentionShape, _ parameters: FlashParameters, q: [Float], k: [Float], v: [Float]) throws -> (o: [Float], lse: [Float]) {
    var o = [Float](repeating: .nan, count: shape.qCount)
    var lse = [Float](repeating: .nan, count: shape.batch * shape.heads * shape.seq)
    try q.withUnsafeBufferPointer { qp in try k.withUnsafeBufferPointer { kp in try v.withUnsafeBufferPointer { vp in
      try o.withUnsafeMutableBufferPointer { op in try lse.withUnsafeMutableBufferPointer { lp in
        try FlashAttention.forward(
          shape, .fp32(shape, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!), o: op.baseAddress!, lse: lp.baseAddress!,
          parameters: parameters, in: kernelContext)
      } }
    } } }
    return (o, lse)
  }

  static func close(_ a: [Float], _ b: [Float], _ tolerance: Float, _ label: String) {
    var worst: Float = 0
    for (x, y) in zip(a, b) { worst = max(worst, abs(x - y).isNaN ? .infinity : abs(x - y)) }
    #expect(worst <= tolerance, "\(label): max difference \(worst)")
  }

  @Test(arguments: cases)
  func forwardMatchesTheReference(_ c: Case) throws {
    let (q, k, v, _) = Self.inputs(c.shape, seed: 5)
    let reference = ReferenceAttention.forward(c.shape, q: q, k: k, v: v)
    let (o, lse) = try Self.flash(c.shape, c.parameters, q: q, k: k, v: v)
    Self.close(o, reference.o, 2e-5, "O")
    Self.close(lse, reference.lse.map(Float.init), 2e-5, "log-sum-exp")
  }

  @Test(arguments: cases)
  func backwardMatchesTheReference(_ c: Case) throws {
    let (q, k, v, dO) = Self.inputs(c.shape, seed: 6)
    let (o, lse) = try Self.flash(c.shape, c.parameters, q: q, k: k, v: v)
    var dQ = [Float](repeating: .nan, count: c.shape.qCount)
    var dK = [Float](repeating: .nan, count: c.shape.kvCount)
    var dV = [Float](repeating: .nan, count: c.shape.kvCount)
    try q.withUnsafeBufferPointer { qp in try k.withUnsafeBufferPointer { kp in try v.withUnsafeBufferPointer { vp in
      try o.withUnsafeBufferPointer { op in try lse.withUnsafeBufferPointer { lp in try dO.withUnsafeBufferPointer { gp in
        try dQ.withUnsafeMutableBufferPointer { a in try dK.withUnsafeMutableBufferPointer { b in try dV.withUnsafeMutableBufferPointer { cc in
          try FlashAttention.backward(
            c.shape, .fp32(c.shape, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, dO: gp.baseAddress!), o: op.baseAddress!,
            lse: lp.baseAddress!, dQ: a.baseAddress!, dK: b.baseAddress!, dV: cc.baseAddress!, parameters: c.parameters, in: kernelContext)
        } } }
      } } }
    } } }
    let reference = ReferenceAttention.backward(c.shape, q: q, k: k, v: v, dO: dO)
    Self.close(dQ, reference.dQ, 1e-4, "dQ")
    Self.close(dK, reference.dK, 1e-4, "dK")
    Self.close(dV, reference.dV, 1e-4, "dV")
  }

  /// The reference backward against central finite differences of the reference forward, in fp64.
  @Test func referenceGradientsMatchFiniteDifferences() {
    let shape = AttentionShape(batch: 1, heads: 2, kvHeads: 1, seq: 5, headDim: 3, causal: true)
    var random = SeededRandom(seed: 8)
    let q = random.normal(shape.qCount).map(Double.init), k = random.normal(shape.kvCount).map(Double.init)
    let v = random.normal(shape.kvCount).map(Double.init), dO = random.normal(shape.qCount).map(Double.init)
    func loss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
      zip(ReferenceAttention.forward(shape, q: q, k: k, v: v).o, dO).reduce(0) { $0 + $1.0 * $1.1 }
    }
    let (dQ, dK, dV) = ReferenceAttention.backward(shape, q: q, k: k, v: v, dO: dO)
    let h = 1e-6
    for (index, analytic) in dQ.enumerated() {
      var plus = q, minus = q
      plus[index] += h
      minus[index] -= h
      #expect(abs((loss(plus, k, v) - loss(minus, k, v)) / (2 * h) - analytic) < 1e-6, "dQ[\(index)]")
    }
    for (index, analytic) in dK.enumerated() {
      var plus = k, minus = k
      plus[index] += h
      minus[index] -= h
      #expect(abs((loss(q, plus, v) - loss(q, minus, v)) / (2 * h) - analytic) < 1e-6, "dK[\(index)]")
    }
    for (index, analytic) in dV.enumerated() {
      var plus = v, minus = v
      plus[index] += h
      minus[index] -= h
      #expect(abs((loss(q, k, plus) - loss(q, k, minus)) / (2 * h) - analytic) < 1e-6, "dV[\(index)]")
    }
  }

  @Test func veryLargeScoresStayFinite() throws {
    let shape = AttentionShape(batch: 1, heads: 1, seq: 9, headDim: 8, causal: false)
    var (q, k, v, _) = Self.inputs(shape, seed: 3)
    q = q.map { $0 * 300 }
    k = k.map { $0 * 300 }
    let (o, lse) = try Self.flash(shape, FlashParameters(br: 4, bc: 3), q: q, k: k, v: v)
    #expect(o.allSatisfy { $0.isFinite } && lse.allSatisfy { $0.isFinite })
    // Each output is a convex combination of V's rows.
    #expect(o.allSatisfy { abs($0) <= v.map(abs).max()! + 1e-4 })
  }

  @Test func nanInTheInputComesOutAsNaN() throws {
    let shape = AttentionShape(batch: 1, heads: 1, seq: 8, headDim: 8, causal: true)
    var (q, k, v, _) = Self.inputs(shape, seed: 4)
    k[3 * 8 + 2] = .nan  // key 3: every query that sees it (3...7) must be NaN
    let (o, _) = try Self.flash(shape, FlashParameters(br: 4, bc: 4), q: q, k: k, v: v)
    for row in 0..<8 {
      let values = o[(row * 8)..<(row * 8 + 8)]
      if row >= 3 { #expect(values.allSatisfy { $0.isNaN }, "row \(row) sees key 3") } else { #expect(values.allSatisfy { $0.isFinite }, "row \(row) does not") }
    }
    v[0] = .nan
    let (o2, _) = try Self.flash(shape, FlashParameters(br: 4, bc: 4), q: q, k: k, v: v)
    #expect(o2[0].isNaN)
    // Query 0 sees key 0 alone: with a NaN in that query, every score it has is NaN.
    var (q3, _, _, _) = Self.inputs(shape, seed: 9)
    let (_, k3, v3, _) = Self.inputs(shape, seed: 9)
    q3[1] = .nan
    let (o3, lse3) = try Self.flash(shape, FlashParameters(br: 4, bc: 4), q: q3, k: k3, v: v3)
    let firstRowNaN = o3[0..<8].allSatisfy { $0.isNaN } && lse3[0].isNaN
    let restFinite = o3[8...].allSatisfy { $0.isFinite }
    #expect(firstRowNaN)
    #expect(restFinite)
  }

  @Test func badShapesAreRejected() {
    #expect(AttentionShape(batch: 1, heads: 6, kvHeads: 4, seq: 8, headDim: 8, causal: false).problem?.contains("multiple") == true)
    #expect(throws: KernelError.self) { try Self.flash(AttentionShape(batch: 1, heads: 1, seq: 4, headDim: 4, causal: false), FlashParameters(br: 0, bc: 4), q: [Float](repeating: 0, count: 16), k: [Float](repeating: 0, count: 16), v: [Float](repeating: 0, count: 16)) }
  }
}

@Suite struct FastExpTests {
  @Test func fastExpIsAccurateOverTheSoftmaxRange() {
    var worst: Float = 0
    var x: Float = -87
    while x <= 88 {
      let exact = Foundation.exp(Double(x))
      let relative = Float(abs(Double(fastExp(x)) - exact) / exact)
      worst = max(worst, relative)
      x += 0.0137
    }
    #expect(worst < 5e-7, "worst relative error \(worst)")
    #expect(fastExp(-.infinity) == 0 && fastExp(-100) == 0 && fastExp(0) == 1)
    #expect(fastExp(.nan).isNaN)
  }

  @Test func rowMaximumAndExponentiateAgreeWithPlainLoops() {
    var random = SeededRandom(seed: 2)
    var row = random.normal(37).map { $0 * 10 }
    row[5] = -.infinity
    #expect(rowMaximum(row, count: row.count) == row.max()!)
    #expect(rowMaximum(row, count: 0) == -.infinity)
    let shift = row.max()!
    let expected = row.map { Foundation.exp($0 - shift) }
    let sum = row.withUnsafeMutableBufferPointer { exponentiate($0.baseAddress!, count: $0.count, shift: shift) }
    #expect(abs(sum - expected.reduce(0, +)) < 1e-5)
    #expect(zip(row, expected).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, $1) })
  }
}

@Suite struct SoftmaxExpTests {
  @Test func softmaxExpIsAccurateOnItsRange() {
    var worst: Float = 0
    var x: Float = -87
    while x <= 0 {
      let exact = Foundation.exp(Double(x))
      worst = max(worst, Float(abs(Double(softmaxExp(x)) - exact) / exact))
      x += 0.0071
    }
    #expect(worst < 5e-7, "worst relative error \(worst)")
    #expect(softmaxExp(0) == 1 && softmaxExp(.nan).isNaN)
    // Far below: tiny, never negative, never NaN (exact zeros for hidden keys are the caller's).
    #expect(softmaxExp(-200) >= 0 && softmaxExp(-200) < 1e-37 && softmaxExp(-.infinity) < 1e-37)
    #expect(FlashAttention.softmaxWeight(-.infinity, -.infinity) == 0 && FlashAttention.softmaxWeight(-.infinity, 3) == 0)
  }
}
