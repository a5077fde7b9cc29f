import Profile
import Testing

@testable import Kernels
@testable import NumberFormats

/// Attention as a trainer calls it: Q, K and V read as views of one fused QKV projection, O and
/// the gradients written into the matrices the next layer reads, a softmax scale of its own, and
/// a backward that shares one key/value head out to several threads.
@Suite struct AttentionLayoutTests {
  /// (tokens × width) fused projection columns: Q heads, then K heads, then V heads.
  static func fused(_ shape: AttentionShape, seed: UInt64) -> (qkv: [Float], width: Int) {
    var random = SeededRandom(seed: seed)
    let width = (shape.heads + 2 * shape.kvHeads) * shape.headDim
    return (random.normal(shape.batch * shape.seq * width), width)
  }

  /// The contiguous (batch, heads, seq, headDim) copy of `heads` heads starting at `column`.
  static func gather(_ qkv: [Float], _ shape: AttentionShape, width: Int, column: Int, heads: Int) -> [Float] {
    let (s, d) = (shape.seq, shape.headDim)
    var out = [Float](repeating: 0, count: shape.batch * heads * s * d)
    for b in 0..<shape.batch { for h in 0..<heads { for i in 0..<s { for c in 0..<d {
      out[((b * heads + h) * s + i) * d + c] = qkv[(b * s + i) * width + column + h * d + c]
    } } } }
    return out
  }

  @Test(arguments: [
    AttentionShape(batch: 2, heads: 4, kvHeads: 2, seq: 37, headDim: 16, causal: true),
    AttentionShape(batch: 1, heads: 3, seq: 50, headDim: 24, causal: false, softmaxScale: 0.3),
  ])
  func viewsOfAFusedProjectionGiveWhatContiguousCopiesGive(_ shape: AttentionShape) throws {
    let (s, d, hidden) = (shape.seq, shape.headDim, shape.heads * shape.headDim)
    let (qkv, width) = Self.fused(shape, seed: 41)
    let kvColumn = hidden, vColumn = hidden + shape.kvHeads * d
    let q = Self.gather(qkv, shape, width: width, column: 0, heads: shape.heads)
    let k = Self.gather(qkv, shape, width: width, column: kvColumn, heads: shape.kvHeads)
    let v = Self.gather(qkv, shape, width: width, column: vColumn, heads: shape.kvHeads)
    var random = SeededRandom(seed: 42)
    let dOTokens = random.normal(shape.batch * s * hidden)
    let dO = Self.gather(dOTokens, shape, width: hidden, column: 0, heads: shape.heads)
    let parameters = FlashParameters(br: 16, bc: 8, threads: 2)
    let context = KernelContext(threads: 2)
    let lseCount = shape.batch * shape.heads * s
    // Contiguous copies.
    var o = [Float](repeating: .nan, count: shape.qCount), lse = [Float](repeating: .nan, count: lseCount)
    var dQ = o, dK = [Float](repeating: .nan, count: shape.kvCount), dV = dK
    try q.withUnsafeBufferPointer { qp in try k.withUnsafeBufferPointer { kp in try v.withUnsafeBufferPointer { vp in try dO.withUnsafeBufferPointer { gp in
      let operands = AttentionOperands.fp32(shape, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, dO: gp.baseAddress!)
      try o.withUnsafeMutableBufferPointer { op in try lse.withUnsafeMutableBufferPointer { lp in
        try FlashAttention.forward(shape, operands, o: op.baseAddress!, lse: lp.baseAddress!, parameters: parameters, in: context)
        try dQ.withUnsafeMutableBufferPointer { a in try dK.withUnsafeMutableBufferPointer { b in try dV.withUnsafeMutableBufferPointer { c in
          try FlashAttention.backward(shape, operands, o: op.baseAddress!, lse: lp.baseAddress!, dQ: a.baseAddress!, dK: b.baseAddress!, dV: c.baseAddress!,
                                      parameters: parameters, in: context)
        } } }
      } }
    } } } }
    // Views: O into (tokens × hidden), dQ, dK, dV into a (tokens × width) gradient of the fused
    // projection, whose other columns are left as they were.
    let tokens = AttentionLayout.projection(seq: s, headDim: d, width: width), hiddenLayout = AttentionLayout.projection(seq: s, headDim: d, width: hidden)
    var oTokens = [Float](repeating: .nan, count: shape.batch * s * hidden), lse2 = [Float](repeating: .nan, count: lseCount)
    var dQKV = [Float](repeating: 7, count: qkv.count)
    try qkv.withUnsafeBufferPointer { x in try dOTokens.withUnsafeBufferPointer { g in
      let base = x.baseAddress!
      let operands = try AttentionOperands.views(
        shape, q: (base, tokens), k: (base + kvColumn, tokens), v: (base + vColumn, tokens), dO: (g.baseAddress!, hiddenLayout))
      try oTokens.withUnsafeMutableBufferPointer { op in try lse2.withUnsafeMutableBufferPointer { lp in
        try FlashAttention.forward(shape, operands, o: op.baseAddress!, lse: lp.baseAddress!, oLayout: hiddenLayout, parameters: parameters, in: context)
        try dQKV.withUnsafeMutableBufferPointer { gradient in
          let gb = gradient.baseAddress!
          try FlashAttention.backward(
            shape, operands, o: op.baseAddress!, lse: lp.baseAddress!, dQ: gb, dK: gb + kvColumn, dV: gb + vColumn,
            layouts: AttentionGradientLayouts(o: hiddenLayout, dQ: tokens, dK: tokens, dV: tokens), parameters: parameters, in: context)
        }
      } }
    } }
    #expect(Self.gather(oTokens, shape, width: hidden, column: 0, heads: shape.heads).map(\.bitPattern) == o.map(\.bitPattern))
    #expect(lse2.map(\.bitPattern) == lse.map(\.bitPattern))
    #expect(Self.gather(dQKV, shape, width: width, column: 0, heads: shape.heads).map(\.bitPattern) == dQ.map(\.bitPattern))
    #expect(Self.gather(dQKV, shape, width: width, column: kvColumn, heads: shape.kvHeads).map(\.bitPattern) == dK.map(\.bitPattern))
    #expect(Self.gather(dQKV, shape, width: width, column: vColumn, heads: shape.kvHeads).map(\.bitPattern) == dV.map(\.bitPattern))
    // And both against the fp64 reference with this shape's scale.
    let reference = ReferenceAttention.forward(shape, q: q, k: k, v: v)
    AttentionTests.close(o, reference.o, 2e-5, "O with scale \(shape.scale)")
    let gradients = ReferenceAttention.backward(shape, q: q, k: k, v: v, dO: dO)
    AttentionTests.close(dQ, gradients.dQ, 1e-4, "dQ")
    AttentionTests.close(dK, gradients.dK, 1e-4, "dK")
    AttentionTests.close(dV, gradients.dV, 1e-4, "dV")
  }

  /// One batch, one key/value head: 1, 2 and 3 threads (query shares reduced) all match the
  /// reference, and every thread count gives the same result within rounding.
  @Test func oneKeyValueHeadIsSharedOutToEveryThread() throws {
    let shape = AttentionShape(batch: 1, heads: 2, kvHeads: 1, seq: 90, headDim: 16, causal: true)
    let (q, k, v, dO) = AttentionTests.inputs(shape, seed: 43)
    let gradients = ReferenceAttention.backward(shape, q: q, k: k, v: v, dO: dO)
    for threads in [1, 2, 3] {
      let parameters = FlashParameters(br: 16, bc: 16, threads: threads)
      let context = KernelContext(threads: threads)
      let (o, lse) = try AttentionTests.flash(shape, parameters, q: q, k: k, v: v)
      var dQ = [Float](repeating: .nan, count: shape.qCount), dK = [Float](repeating: .nan, count: shape.kvCount), dV = dK
      try q.withUnsafeBufferPointer { qp in try k.withUnsafeBufferPointer { kp in try v.withUnsafeBufferPointer { vp in try dO.withUnsafeBufferPointer { gp in
        try o.withUnsafeBufferPointer { op in try lse.withUnsafeBufferPointer { lp in
          try dQ.withUnsafeMutableBufferPointer { a in try dK.withUnsafeMutableBufferPointer { b in try dV.withUnsafeMutableBufferPointer { c in
            try FlashAttention.backward(
              shape, .fp32(shape, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, dO: gp.baseAddress!), o: op.baseAddress!,
              lse: lp.baseAddress!, dQ: a.baseAddress!, dK: b.baseAddress!, dV: c.baseAddress!, parameters: parameters, in: context)
          } } }
        } }
      } } } }
      AttentionTests.close(dQ, gradients.dQ, 1e-4, "\(threads) threads: dQ")
      AttentionTests.close(dK, gradients.dK, 1e-4, "\(threads) threads: dK")
      AttentionTests.close(dV, gradients.dV, 1e-4, "\(threads) threads: dV")
    }
  }

  @Test func layoutsThatOverlapAndScalesThatAreNotNumbersAreRefused() throws {
    let shape = AttentionShape(batch: 1, heads: 2, seq: 4, headDim: 8, causal: false)
    #expect(AttentionLayout(rowStride: 8, headStride: 8, batchStride: 64).overlap(heads: 2, seq: 4, headDim: 8) != nil)
    #expect(AttentionLayout.projection(seq: 4, headDim: 8, width: 16).overlap(heads: 2, seq: 4, headDim: 8) == nil)
    #expect(AttentionLayout.contiguous(heads: 2, seq: 4, headDim: 8).overlap(heads: 2, seq: 4, headDim: 8) == nil)
    var values = [Float](repeating: 0, count: 64)
    let error = #expect(throws: KernelError.self) {
      try values.withUnsafeMutableBufferPointer { p in
        let base = UnsafePointer(p.baseAddress!)
        try FlashAttention.forward(
          shape, .fp32(shape, q: base, k: base, v: base), o: p.baseAddress!, lse: p.baseAddress!,
          oLayout: AttentionLayout(rowStride: 8, headStride: 8, batchStride: 64), parameters: FlashParameters(), in: KernelContext())
      }
    }
    #expect("\(String(describing: error))".contains("overlap"))
    #expect(AttentionShape(batch: 1, heads: 1, seq: 4, headDim: 8, causal: false, softmaxScale: .nan).problem?.contains("scale") == true)
    #expect(throws: KernelError.self) {
      try values.withUnsafeBufferPointer { p in
        _ = try AttentionOperands.views(shape, q: (p.baseAddress!, AttentionLayout(rowStride: 4, headStride: 8, batchStride: 64)), k: (p.baseAddress!, .contiguous(heads: 2, seq: 4, headDim: 8)), v: (p.baseAddress!, .contiguous(heads: 2, seq: 4, headDim: 8)))
      }
    }
  }
}
