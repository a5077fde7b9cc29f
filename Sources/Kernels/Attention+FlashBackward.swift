import Foundation
import Platform
import Profile

/// Where the backward reads O and writes dQ, dK and dV: contiguous (batch, heads, seq, headDim)
/// where a layout is nil, or views such as the matching columns of a fused QKV gradient.
public struct AttentionGradientLayouts: Sendable {
  public var o: AttentionLayout?
  public var dQ: AttentionLayout?
  public var dK: AttentionLayout?
  public var dV: AttentionLayout?

  public init(o: AttentionLayout? = nil, dQ: AttentionLayout? = nil, dK: AttentionLayout? = nil, dV: AttentionLayout? = nil) {
    self.o = o
    self.dQ = dQ
    self.dK = dK
    self.dV = dV
  }
}

extension FlashAttention {
  /// dQ (like q), dK and dV (like k) from dO, with O and the log-sum-exp of the forward. Per pair
  /// of blocks, five products on the GEMM micro-kernels: S = Q·Kᵀ (then P = e^(S − lse)),
  /// dP = dO·Vᵀ (then dS = P∘(dP − D)·scale), dV += Pᵀ·dO, dK += dSᵀ·Q, dQ += dS·K.
  ///
  /// Threads split batch × key/value heads. Where there are fewer of those than threads, each
  /// head's query blocks are also dealt out (interleaved, so causal shares are even): a share
  /// writes its own rows of dQ and sums its dK and dV into a buffer of its own, and the shares'
  /// buffers are then added up (in share order, so the result does not depend on timing). So one
  /// batch with one key/value head still runs on every thread.
  public static func backward(
    _ shape: AttentionShape, _ operands: AttentionOperands, o: UnsafePointer<Float>, lse: UnsafePointer<Float>,
    dQ: UnsafeMutablePointer<Float>, dK: UnsafeMutablePointer<Float>, dV: UnsafeMutablePointer<Float>,
    layouts: AttentionGradientLayouts = AttentionGradientLayouts(), parameters: FlashParameters, in context: KernelContext
  ) throws {
    guard let dOInput = operands.dO else { throw KernelError.invalidParameters("the backward needs dO: give it to the operands") }
    if let problem = shape.problem { throw KernelError.invalidParameters(problem) }
    guard parameters.br >= 1, parameters.bc >= 1, parameters.threads >= 1 else {
      throw KernelError.invalidParameters("br, bc and threads must be at least 1 (got \(parameters))")
    }
    try context.check(threads: parameters.threads, for: "the flash backward")
    let oInput = AttentionInput(dense: o, headsPerBatch: shape.heads, seq: shape.seq, headDim: shape.headDim, layout: layouts.o)
    let gradients = BackwardOutputs(
      dQ: try AttentionOutput(dQ, shape: shape, layout: layouts.dQ, name: "dQ", heads: shape.heads),
      dK: try AttentionOutput(dK, shape: shape, layout: layouts.dK, name: "dK", heads: shape.kvHeads),
      dV: try AttentionOutput(dV, shape: shape, layout: layouts.dV, name: "dV", heads: shape.kvHeads))
    let plan = try BackwardPlan(shape, parameters: parameters, kernel: try kernel(parameters))
    gradients.dQ.zero(heads: shape.batch * shape.heads, seq: shape.seq, headDim: shape.headDim)
    let heads = shape.batch * shape.kvHeads
    let threads = min(parameters.threads, context.threads)
    let queryBlocks = (shape.seq + parameters.br - 1) / parameters.br
    let split = heads >= threads ? 1 : min(queryBlocks, (threads + heads - 1) / heads)
    let lsePointer = SendablePointer(UnsafeMutablePointer(mutating: lse))
    if split == 1 {
      gradients.dK.zero(heads: heads, seq: shape.seq, headDim: shape.headDim)
      gradients.dV.zero(heads: heads, seq: shape.seq, headDim: shape.headDim)
      run(items: heads, threads: threads, context: context) { thread, threads in
        for item in stride(from: thread, to: heads, by: threads) {
          let (dKHead, dKLD) = gradients.dK.head(item), (dVHead, dVLD) = gradients.dV.head(item)
          plan.run(
            item: item, share: 0, of: 1, operands: operands, dO: dOInput, o: oInput, lse: lsePointer, dQ: gradients.dQ,
            dK: MutableMatrixPointer(dKHead, ld: dKLD), dV: MutableMatrixPointer(dVHead, ld: dVLD), thread: thread, context: context)
        }
      }
      return
    }
    // Each (head, share) task sums into its own dK and dV buffers, then the shares are reduced.
    let tasks = heads * split
    let (s, d) = (shape.seq, shape.headDim)
    context.withSharedFloats(count: tasks * 2 * s * d) { partials in
      let partial = SendablePointer(partials)
      run(items: tasks, threads: threads, context: context) { thread, threads in
        for task in stride(from: thread, to: tasks, by: threads) {
          let buffer = partial.base + task * 2 * s * d
          buffer.initialize(repeating: 0, count: 2 * s * d)
          plan.run(
            item: task / split, share: task % split, of: split, operands: operands, dO: dOInput, o: oInput, lse: lsePointer, dQ: gradients.dQ,
            dK: MutableMatrixPointer(buffer, ld: d), dV: MutableMatrixPointer(buffer + s * d, ld: d), thread: thread, context: context)
        }
      }
      // dK and dV of head `item` = Σ over its shares, rows dealt out to the threads.
      let rowsPerChunk = max(1, (heads * s + threads - 1) / threads)
      run(items: threads, threads: threads, context: context) { thread, _ in
        for row in (thread * rowsPerChunk)..<min(heads * s, (thread + 1) * rowsPerChunk) {
          let (item, i) = (row / s, row % s)
          let (dKHead, dKLD) = gradients.dK.head(item), (dVHead, dVLD) = gradients.dV.head(item)
          for (target, offset) in [(dKHead + i * dKLD, 0), (dVHead + i * dVLD, s * d)] {
            target.initialize(repeating: 0, count: d)
            for share in 0..<split {
              let source = partial.base + (item * split + share) * 2 * s * d + offset + i * d
              for c in 0..<d { target[c] += source[c] }
            }
          }
        }
      }
    }
  }
}

struct BackwardOutputs: @unchecked Sendable {
  let dQ: AttentionOutput, dK: AttentionOutput, dV: AttentionOutput
}

/// One backward's tiles and micro-kernel, and the work of one (key/value head, query share).
struct BackwardPlan: @unchecked Sendable {
  let shape: AttentionShape
  let br: Int, bc: Int
  let kernel: MicroKernel<Float>
  let blocking: BlockingParameters

  init(_ shape: AttentionShape, parameters: FlashParameters, kernel: MicroKernel<Float>) throws {
    self.shape = shape
    (br, bc) = (parameters.br, parameters.bc)
    self.kernel = kernel
    let largest = max(br, bc, shape.headDim)
    blocking = BlockingParameters(
      microKernel: kernel.name, mc: (largest + kernel.mr - 1) / kernel.mr * kernel.mr, kc: largest,
      nc: (largest + kernel.nr - 1) / kernel.nr * kernel.nr)
  }

  /// Key/value head `item` (b · kvHeads + kvHead) against the query blocks q with q mod `split` ==
  /// `share`, for every query head of its group: writes those rows of dQ, adds into dK and dV.
  func run(
    item: Int, share: Int, of split: Int, operands: AttentionOperands, dO dOInput: AttentionInput, o oInput: AttentionInput,
    lse: SendablePointer, dQ: AttentionOutput, dK: MutableMatrixPointer<Float>, dV: MutableMatrixPointer<Float>, thread: Int, context: KernelContext
  ) {
    let (qInput, kInput, vInput) = (operands.q, operands.k, operands.v)
    let (s, d) = (shape.seq, shape.headDim)
    let scale = Float(shape.scale)
    let counts = [br * bc, br * bc, s, qInput.decodeCount, kInput.decodeCount, vInput.decodeCount, dOInput.decodeCount]
    context.withFloats(thread: thread, counts: counts) { scratch in
      let (p, dS, rowTerm) = (scratch[0], scratch[1], scratch[2])
      context.withPackBuffers(thread: thread, Float.self, parameters: blocking, kernel: kernel) { buffers in
        func product(
          m: Int, n: Int, k: Int, alpha: Float, beta: Float, a: DenseSource<Float>, b: DenseSource<Float>, c: UnsafeMutablePointer<Float>, ldc: Int
        ) {
          NativeGEMM.serial(
            GEMMProblem(shape: GEMMShape(m: m, n: n, k: k), alpha: Double(alpha), beta: Double(beta)), rows: 0..<m, columns: 0..<n,
            a: a, b: b, c: MutableMatrixPointer(c, ld: ldc), parameters: blocking, kernel: kernel, buffers: buffers)
        }
        let (b, kvHead) = (item / shape.kvHeads, item % shape.kvHeads)
        let (kHead, kLD) = kInput.head(item, buffer: scratch[4]), (vHead, vLD) = vInput.head(item, buffer: scratch[5])
        for h in (kvHead * shape.groupSize)..<((kvHead + 1) * shape.groupSize) {
          let head = b * shape.heads + h
          let (qHead, qLD) = qInput.head(head, buffer: scratch[3]), (dOHead, dOLD) = dOInput.head(head, buffer: scratch[6])
          let (oHead, oLD) = oInput.head(head, buffer: scratch[3])
          let (dQHead, dQLD) = dQ.head(head)
          let lseRow = lse.base + head * s
          // D_i = Σ_c dO_i·O_i, the softmax backward's row term, for this share's rows.
          for q0 in stride(from: share * br, to: s, by: br * split) {
            for i in q0..<min(s, q0 + br) { rowTerm[i] = FlashAttention.dot(dOHead + i * dOLD, oHead + i * oLD, d) }
          }
          for k0 in stride(from: 0, to: s, by: bc) {
            let cols = min(bc, s - k0)
            let kBlock = kHead + k0 * kLD, vBlock = vHead + k0 * vLD
            for q0 in stride(from: share * br, to: s, by: br * split) where !shape.causal || q0 + br > k0 {
              let rows = min(br, s - q0)
              let qBlock = qHead + q0 * qLD, dOBlock = dOHead + q0 * dOLD
              // P = e^(scale·Q·Kᵀ − lse)
              product(m: rows, n: cols, k: d, alpha: scale, beta: 0, a: DenseSource(MatrixPointer(qBlock, ld: qLD), transposed: false),
                      b: DenseSource(MatrixPointer(kBlock, ld: kLD), transposed: false), c: p, ldc: bc)
              // dP = dO·Vᵀ
              product(m: rows, n: cols, k: d, alpha: 1, beta: 0, a: DenseSource(MatrixPointer(dOBlock, ld: dOLD), transposed: false),
                      b: DenseSource(MatrixPointer(vBlock, ld: vLD), transposed: false), c: dS, ldc: bc)
              for r in 0..<rows {
                let prow = p + r * bc, grow = dS + r * bc
                let shift = lseRow[q0 + r], term = rowTerm[q0 + r]
                let visible = shape.causal ? max(0, min(cols, q0 + r - k0 + 1)) : cols
                for c in 0..<visible {
                  let probability = fastExp(prow[c] - shift)
                  prow[c] = probability
                  grow[c] = probability * (grow[c] - term) * scale
                }
                for c in visible..<cols {
                  prow[c] = 0
                  grow[c] = 0
                }
              }
              // dV += Pᵀ·dO, dK += dSᵀ·Q (rows of the key block), dQ += dS·K
              product(m: cols, n: d, k: rows, alpha: 1, beta: 1, a: DenseSource(MatrixPointer(p, ld: bc), transposed: true),
                      b: DenseSource(MatrixPointer(dOBlock, ld: dOLD), transposed: true), c: dV.base + k0 * dV.ld, ldc: dV.ld)
              product(m: cols, n: d, k: rows, alpha: 1, beta: 1, a: DenseSource(MatrixPointer(dS, ld: bc), transposed: true),
                      b: DenseSource(MatrixPointer(qBlock, ld: qLD), transposed: true), c: dK.base + k0 * dK.ld, ldc: dK.ld)
              product(m: rows, n: d, k: cols, alpha: 1, beta: 1, a: DenseSource(MatrixPointer(dS, ld: bc), transposed: false),
                      b: DenseSource(MatrixPointer(kBlock, ld: kLD), transposed: true), c: dQHead + q0 * dQLD, ldc: dQLD)
            }
          }
        }
      }
    }
  }
}
