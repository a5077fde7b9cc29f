import Foundation
import Platform
import Profile

/// Attention as two GEMM calls with the scores materialised, per (batch, head): S = scale·Q·Kᵀ
/// (seq × seq), an exact row softmax, O = P·V. Extra memory seq² floats per thread, so it is for
/// the short sequences where two large products beat flash's many small ones. Causal problems
/// still multiply the full square (the masked half is computed and thrown away), which is why it
/// loses to flash there. Threads split over batch × heads, each product on the native GEMM.
public enum MaterializedAttention {
  /// Scores larger than this in total (threads × seq² × 4 bytes) are refused.
  public static let maximumScoreBytes = 1 << 30

  /// Why this backend does not run `shape` on `threads` threads; nil when it does.
  public static func unavailability(_ shape: AttentionShape, threads: Int) -> String? {
    let bytes = min(threads, shape.batch * shape.heads) * shape.seq * shape.seq * MemoryLayout<Float>.stride
    guard bytes > maximumScoreBytes else { return nil }
    return String(format: "materialised scores would take %.1f GiB (threads × seq² floats), above the %.0f GiB cap; use flash",
                  Double(bytes) / Double(1 << 30), Double(maximumScoreBytes) / Double(1 << 30))
  }

  public static func forward(
    _ shape: AttentionShape, _ operands: AttentionOperands, o: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
    oLayout: AttentionLayout? = nil, parameters: MaterializedParameters, in context: KernelContext
  ) throws {
    let (qInput, kInput, vInput) = (operands.q, operands.k, operands.v)
    if let problem = shape.problem { throw KernelError.invalidParameters(problem) }
    try context.check(threads: parameters.threads, for: "the gemm attention backend")
    if let reason = unavailability(shape, threads: parameters.threads) { throw KernelError.unsupported(backend: "gemm attention", reason: reason) }
    let kernel = try FlashAttention.kernel(FlashParameters(microKernel: parameters.blocking?.microKernel))
    let (s, d) = (shape.seq, shape.headDim)
    let blocking = parameters.blocking ?? BlockingParameters(
      microKernel: kernel.name, mc: (min(s, 240) + kernel.mr - 1) / kernel.mr * kernel.mr, kc: min(max(s, d), 512),
      nc: (min(s, 4096) + kernel.nr - 1) / kernel.nr * kernel.nr)
    if let problem = blocking.problem(mr: kernel.mr, nr: kernel.nr) { throw KernelError.invalidParameters(problem) }
    let scale = Double(shape.scale)
    let items = shape.batch * shape.heads
    let output = try AttentionOutput(o, shape: shape, layout: oLayout, name: "o", heads: shape.heads)
    let lsePointer = SendablePointer(lse)
    FlashAttention.run(items: items, threads: parameters.threads, context: context) { thread, threads in
      context.withFloats(thread: thread, counts: [s * s, qInput.decodeCount, kInput.decodeCount, vInput.decodeCount]) { scratch in
        let (scores, buffers) = (scratch[0], Array(scratch[1...]))
        context.withPackBuffers(thread: thread, Float.self, parameters: blocking, kernel: kernel) { packing in
          for item in stride(from: thread, to: items, by: threads) {
            let (b, h) = (item / shape.heads, item % shape.heads)
            let (qHead, qLD) = qInput.head(item, buffer: buffers[0])
            let (kHead, kLD) = kInput.head(shape.kvHead(b, h), buffer: buffers[1]), (vHead, vLD) = vInput.head(shape.kvHead(b, h), buffer: buffers[2])
            let (oHead, oLD) = output.head(item)
            // S = scale · Q·Kᵀ (B's logical rows are K's rows).
            NativeGEMM.serial(
              GEMMProblem(shape: GEMMShape(m: s, n: s, k: d), alpha: scale), rows: 0..<s, columns: 0..<s,
              a: DenseSource(MatrixPointer(qHead, ld: qLD), transposed: false), b: DenseSource(MatrixPointer(kHead, ld: kLD), transposed: false),
              c: MutableMatrixPointer(scores, ld: s), parameters: blocking, kernel: kernel, buffers: packing)
            for i in 0..<s {
              let row = scores + i * s
              let visible = shape.causal ? i + 1 : s
              let shift = rowMaximum(row, count: visible)
              let sum = exponentiate(row, count: visible, shift: shift)
              let inverse = 1 / sum
              for j in 0..<visible { row[j] *= inverse }
              for j in visible..<s { row[j] = 0 }
              lsePointer.base[item * s + i] = shift + Foundation.log(sum)
            }
            // O = P·V (B's logical rows are V's columns).
            NativeGEMM.serial(
              GEMMProblem(shape: GEMMShape(m: s, n: d, k: s)), rows: 0..<s, columns: 0..<d,
              a: DenseSource(MatrixPointer(scores, ld: s), transposed: false), b: DenseSource(MatrixPointer(vHead, ld: vLD), transposed: true),
              c: MutableMatrixPointer(oHead, ld: oLD), parameters: blocking, kernel: kernel, buffers: packing)
          }
        }
      }
    }
  }
}
