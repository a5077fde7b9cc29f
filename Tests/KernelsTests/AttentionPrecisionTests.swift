import Foundation
import Profile
import Testing

@testable import Kernels
@testable import NumberFormats
@testable import Platform

/// Stored (bf16, fp8) inputs and the materialised-scores backend.
@Suite struct AttentionPrecisionTests {
  static let lowPrecisions: [Precision] = [.bf16, .fp8e4m3, .fp8e5m2]

  static func tensors(_ shape: AttentionShape, _ q: [Float], _ k: [Float], _ v: [Float], _ precision: Precision) throws
    -> (q: AttentionTensor, k: AttentionTensor, v: AttentionTensor)
  {
    let (bh, bkv) = (shape.batch * shape.heads, shape.batch * shape.kvHeads)
    return (
      try AttentionTensor(q, heads: bh, seq: shape.seq, headDim: shape.headDim, precision: precision),
      try AttentionTensor(k, heads: bkv, seq: shape.seq, headDim: shape.headDim, precision: precision),
      try AttentionTensor(v, heads: bkv, seq: shape.seq, headDim: shape.headDim, precision: precision)
    )
  }

  static func run(_ shape: AttentionShape, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) throws -> Void) rethrows
    -> (o: [Float], lse: [Float])
  {
    var o = [Float](repeating: .nan, count: shape.qCount)
    var lse = [Float](repeating: .nan, count: shape.batch * shape.heads * shape.seq)
    try o.withUnsafeMutableBufferPointer { op in try lse.withUnsafeMutableBufferPointer { lp in try body(op.baseAddress!, lp.baseAddress!) } }
    return (o, lse)
  }

  static func worst(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1).isNaN ? .infinity : abs($1.0 - $1.1)) }
  }

  @Test(arguments: [Precision.fp32, .bf16, .fp8e4m3, .fp8e5m2])
  func storedValuesDecodeWithinTheirPrecision(_ precision: Precision) throws {
    var random = SeededRandom(seed: 11)
    var values = random.normal(3 * 150 * 8)
    // The second 64-row block of head 1 is 1000× larger: per-block fp8 scales keep the other
    // blocks as accurate as if it were not there.
    for i in (150 * 8 + 64 * 8)..<(150 * 8 + 128 * 8) { values[i] *= 1000 }
    let tensor = try AttentionTensor(values, heads: 3, seq: 150, headDim: 8, precision: precision)
    let decoded = tensor.dequantized()
    let bound: Float = switch precision {
    case .fp32: 0
    case .bf16: 1.0 / 256
    case .fp8e4m3: 1.0 / 16
    default: 1.0 / 8
    }
    for (index, (x, y)) in zip(values, decoded).enumerated() {
      // Relative to the value, or to the smallest normal of the block's scaled range.
      let floor: Float = precision == .fp32 || precision == .bf16 ? 0 : 0.02 * (abs(x) > 10 ? 1000 : 1)
      #expect(abs(x - y) <= bound * abs(x) + floor, "element \(index): \(x) decoded as \(y)")
    }
  }

  @Test func unsupportedPrecisionsAndMismatchedTensorsAreRejected() throws {
    #expect(throws: KernelError.self) { try AttentionTensor([0, 0], heads: 1, seq: 1, headDim: 2, precision: .mxfp4) }
    let shape = AttentionShape(batch: 1, heads: 2, seq: 4, headDim: 2, causal: false)
    let small = try AttentionTensor([Float](repeating: 0, count: 8), heads: 1, seq: 4, headDim: 2, precision: .bf16)
    #expect(throws: KernelError.self) {
      _ = try Self.run(shape) { o, lse in try FlashAttention.forward(shape, try .stored(shape, q: small, k: small, v: small), o: o, lse: lse, parameters: FlashParameters(), in: kernelContext) }
    }
    // A backward without dO says what it is missing.
    let zeros = [Float](repeating: 0, count: shape.qCount)
    let error = zeros.withUnsafeBufferPointer { z in
      var gradient = [Float](repeating: 0, count: shape.qCount)
      return gradient.withUnsafeMutableBufferPointer { g in
        #expect(throws: KernelError.self) {
          try FlashAttention.backward(
            shape, .fp32(shape, q: z.baseAddress!, k: z.baseAddress!, v: z.baseAddress!), o: z.baseAddress!, lse: z.baseAddress!,
            dQ: g.baseAddress!, dK: g.baseAddress!, dV: g.baseAddress!, parameters: FlashParameters(), in: kernelContext)
        }
      }
    }
    #expect(error.map { "\($0)".contains("dO") } == true)
  }

  /// The kernels compute in fp32 on the decoded inputs: they must match the reference run on
  /// those inputs as closely as fp32 inputs do, and the quantisation error against the unquantised
  /// inputs must grow as the format narrows.
  @Test(arguments: AttentionTests.cases)
  func storedForwardMatchesTheReferenceOnDecodedInputs(_ c: AttentionTests.Case) throws {
    let (q, k, v, _) = AttentionTests.inputs(c.shape, seed: 15)
    let exact = ReferenceAttention.forward(c.shape, q: q, k: k, v: v).o
    var errors: [Float] = []
    for precision in Self.lowPrecisions {
      let stored = try Self.tensors(c.shape, q, k, v, precision)
      let reference = ReferenceAttention.forward(c.shape, q: stored.q.dequantized(), k: stored.k.dequantized(), v: stored.v.dequantized())
      let (o, lse) = try Self.run(c.shape) { o, lse in
        try FlashAttention.forward(c.shape, try .stored(c.shape, q: stored.q, k: stored.k, v: stored.v), o: o, lse: lse, parameters: c.parameters, in: kernelContext)
      }
      #expect(Self.worst(o, reference.o) <= 2e-5, "\(precision) O")
      #expect(Self.worst(lse, reference.lse.map(Float.init)) <= 2e-5, "\(precision) log-sum-exp")
      errors.append(Self.worst(o, exact))
    }
    #expect(errors[0] < 0.05 && errors[1] < 0.5, "errors against the unquantised inputs: \(errors)")
    #expect(errors[0] <= errors[1] && errors[0] <= errors[2], "bf16 must be the most accurate: \(errors)")
  }

  /// bf16 products (Q·Kᵀ and P·V, probabilities rounded to bf16, fp32 accumulation, fp32 softmax)
  /// on the portable C kernels over both packed layouts, and on the AMX/AVX512-BF16 kernels where
  /// the CPU has them.
  @Test(arguments: [AttentionTests.cases[0], AttentionTests.cases[1], AttentionTests.cases[3], AttentionTests.cases[4], AttentionTests.cases[5]])
  func bf16ProductsMatchTheReferenceWithinBF16Rounding(_ c: AttentionTests.Case) throws {
    let (q, k, v, _) = AttentionTests.inputs(c.shape, seed: 19)
    let stored = try Self.tensors(c.shape, q, k, v, .bf16)
    let operands = try AttentionOperands.stored(c.shape, q: stored.q, k: stored.k, v: stored.v)
    let reference = ReferenceAttention.forward(c.shape, q: stored.q.dequantized(), k: stored.k.dequantized(), v: stored.v.dequantized())
    let (fp32Products, _) = try Self.run(c.shape) { o, lse in try FlashAttention.forward(c.shape, operands, o: o, lse: lse, parameters: c.parameters, in: kernelContext) }
    let features = ISAFeatures.current
    for kernel in [BF16MicroKernel.pairsReference, .tilesReference] + BF16MicroKernel.usable(features) {
      var parameters = c.parameters
      parameters.microKernel = kernel.name
      let (o, lse) = try Self.run(c.shape) { o, lse in try FlashAttention.forward(c.shape, operands, o: o, lse: lse, parameters: parameters, in: kernelContext) }
      #expect(Self.worst(o, reference.o) <= 2e-2, "\(kernel.name) O")
      #expect(Self.worst(lse, reference.lse.map(Float.init)) <= 1e-2, "\(kernel.name) log-sum-exp")
      // The probabilities really went through bf16 (c.shape.seq = 1 has one probability, exactly 1).
      if c.shape.seq > 1 { #expect(Self.worst(o, fp32Products) > 0, "\(kernel.name) should differ from fp32 products") }
    }
  }

  @Test(arguments: [AttentionTests.cases[1], AttentionTests.cases[3], AttentionTests.cases[4]])
  func storedBackwardMatchesTheReferenceOnDecodedInputs(_ c: AttentionTests.Case) throws {
    let (q, k, v, dO) = AttentionTests.inputs(c.shape, seed: 16)
    let stored = try Self.tensors(c.shape, q, k, v, .bf16)
    let storedGradient = try AttentionTensor(dO, heads: c.shape.batch * c.shape.heads, seq: c.shape.seq, headDim: c.shape.headDim, precision: .bf16)
    let (o, lse) = try Self.run(c.shape) { o, lse in
      try FlashAttention.forward(c.shape, try .stored(c.shape, q: stored.q, k: stored.k, v: stored.v), o: o, lse: lse, parameters: c.parameters, in: kernelContext)
    }
    var dQ = [Float](repeating: .nan, count: c.shape.qCount)
    var dK = [Float](repeating: .nan, count: c.shape.kvCount)
    var dV = dK
    try o.withUnsafeBufferPointer { op in try lse.withUnsafeBufferPointer { lp in
      try dQ.withUnsafeMutableBufferPointer { a in try dK.withUnsafeMutableBufferPointer { b in try dV.withUnsafeMutableBufferPointer { cc in
        try FlashAttention.backward(
          c.shape, try .stored(c.shape, q: stored.q, k: stored.k, v: stored.v, dO: storedGradient), o: op.baseAddress!, lse: lp.baseAddress!,
          dQ: a.baseAddress!, dK: b.baseAddress!, dV: cc.baseAddress!, parameters: c.parameters, in: kernelContext)
      } } }
    } }
    let reference = ReferenceAttention.backward(
      c.shape, q: stored.q.dequantized(), k: stored.k.dequantized(), v: stored.v.dequantized(), dO: storedGradient.dequantized())
    #expect(Self.worst(dQ, reference.dQ) <= 1e-4)
    #expect(Self.worst(dK, reference.dK) <= 1e-4)
    #expect(Self.worst(dV, reference.dV) <= 1e-4)
  }

  @Test(arguments: AttentionTests.cases)
  func materializedForwardMatchesTheReference(_ c: AttentionTests.Case) throws {
    let (q, k, v, _) = AttentionTests.inputs(c.shape, seed: 17)
    let reference = ReferenceAttention.forward(c.shape, q: q, k: k, v: v)
    let (o, lse) = try Self.run(c.shape) { o, lse in
      try q.withUnsafeBufferPointer { qp in try k.withUnsafeBufferPointer { kp in try v.withUnsafeBufferPointer { vp in
        try MaterializedAttention.forward(
          c.shape, .fp32(c.shape, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!), o: o, lse: lse,
          parameters: MaterializedParameters(threads: c.parameters.threads), in: kernelContext)
      } } }
    }
    #expect(Self.worst(o, reference.o) <= 2e-5)
    #expect(Self.worst(lse, reference.lse.map(Float.init)) <= 2e-5)
    let stored = try Self.tensors(c.shape, q, k, v, .fp8e4m3)
    let decoded = ReferenceAttention.forward(c.shape, q: stored.q.dequantized(), k: stored.k.dequantized(), v: stored.v.dequantized())
    let (o8, _) = try Self.run(c.shape) { o, lse in
      try MaterializedAttention.forward(
        c.shape, try .stored(c.shape, q: stored.q, k: stored.k, v: stored.v), o: o, lse: lse, parameters: MaterializedParameters(threads: 2), in: kernelContext)
    }
    #expect(Self.worst(o8, decoded.o) <= 2e-5)
  }

  @Test func nanInStoredOrMaterializedInputsComesOutAsNaN() throws {
    let shape = AttentionShape(batch: 1, heads: 1, seq: 8, headDim: 8, causal: true)
    var (q, k, v, _) = AttentionTests.inputs(shape, seed: 4)
    k[3 * 8 + 2] = .nan
    for precision in [Precision.bf16, .fp8e4m3] {
      let stored = try Self.tensors(shape, q, k, v, precision)
      let (o, _) = try Self.run(shape) { o, lse in
        try FlashAttention.forward(shape, try .stored(shape, q: stored.q, k: stored.k, v: stored.v), o: o, lse: lse, parameters: FlashParameters(br: 4, bc: 4), in: kernelContext)
      }
      for row in 0..<8 {
        let values = o[(row * 8)..<(row * 8 + 8)]
        #expect(row >= 3 ? values.allSatisfy(\.isNaN) : values.allSatisfy(\.isFinite), "\(precision) row \(row)")
      }
    }
    v[0] = .nan
    let (o, _) = try Self.run(shape) { o, lse in
      try q.withUnsafeBufferPointer { qp in try k.withUnsafeBufferPointer { kp in try v.withUnsafeBufferPointer { vp in
        try MaterializedAttention.forward(
          shape, .fp32(shape, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!), o: o, lse: lse, parameters: MaterializedParameters(), in: kernelContext)
      } } }
    }
    for row in 0..<8 {
      // Every row sees key 0, whose value has a NaN in column 0; rows 3... also see the NaN key.
      #expect(row >= 3 ? o[(row * 8)..<(row * 8 + 8)].allSatisfy(\.isNaN) : o[row * 8].isNaN && o[row * 8 + 1].isFinite, "row \(row)")
    }
  }

  @Test func materializedRefusesScoresBeyondItsCap() {
    let long = AttentionShape(batch: 1, heads: 8, seq: 32768, headDim: 64, causal: false)
    #expect(MaterializedAttention.unavailability(long, threads: 2)?.contains("GiB") == true)
    #expect(MaterializedAttention.unavailability(AttentionShape(batch: 1, heads: 8, seq: 2048, headDim: 64, causal: false), threads: 2) == nil)
  }
}
