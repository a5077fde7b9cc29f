import Kernels
import NumberFormats
import Platform
import Profile

/// Bytes per element a stored operand keeps in memory: one code per byte below 16 bits (not the
/// format's packed density, `Precision.bitsPerElement`); block scales are a small fraction more.
func storedBytesPerElement(_ precision: Precision) -> Double {
  switch precision {
  case .fp64, .fp32: 4
  case .fp16, .bf16: 2
  default: 1
  }
}

extension GEMMWorkspace {
  /// What `GEMMWorkspace(problem:precision:padding:lastLevelCacheBytes:)` and a benchmark on it
  /// allocate: the operands (fp32, their rotated copies, stored or fp64 copies), C and its copies,
  /// the verification's and the accuracy check's fp64 arrays, and each thread's packing buffers.
  /// Computed in floating point, so that any shape gives a figure (no overflow).
  public static func memoryPlan(
    problem: GEMMProblem, precision: Precision, padding: Int = 0, lastLevelCacheBytes: Int = 0, threads: Int = 1, accuracy: Bool = true
  ) -> MemoryPlan {
    let (m, n, k) = (Double(problem.shape.m), Double(problem.shape.n), Double(problem.shape.k))
    let pad = Double(padding)
    let quantized = ![.fp32, .fp64].contains(precision)
    // A and B as created (quantized precisions in the TN layout: the same element counts).
    let aElements = (problem.transA && !quantized ? k * (m + pad) : m * (k + pad))
    let bElements = (problem.transB || quantized ? n * (k + pad) : k * (n + pad))
    let cElements = m * (n + pad)
    var plan = MemoryPlan([("A and B (fp32)", 4 * (aElements + bElements)), ("C, its initial value and its fp64 copy", 16 * cElements)])
    let operandBytes = (aElements + bElements) * (precision == .fp64 ? 8 : 4)
    let rotations = quantized || operandBytes == 0 ? 1 : max(1, min(16, (2 * Double(lastLevelCacheBytes) / operandBytes).rounded(.up)))
    if precision == .fp64 { plan.add("A and B in fp64", 8 * (aElements + bElements)) }
    if rotations > 1 { plan.add("\(Int(rotations)) rotated copies of A and B (timed cold)", rotations * operandBytes) }
    if quantized {
      plan.add("A and B stored in \(precision)", storedBytesPerElement(precision) * (aElements + bElements))
      plan.add("the fp32 copies stored from", 4 * (aElements + bElements))
    }
    plan.add("the verification's fp64 result", 8 * cElements)
    if accuracy {
      plan.add("the accuracy check's fp64 operands and products", 8 * (aElements + bElements) + 32 * cElements)
    }
    plan.add("packing buffers", Double(max(1, threads)) * 4 * (1024 * 512 + 4096 * 512))
    return plan
  }

  /// The same aspect ratio scaled down until it fits, as "MxNxK" (nil when nothing does).
  public static func fittingShape(
    _ problem: GEMMProblem, precision: Precision, limits: MachineLimits, lastLevelCacheBytes: Int = 0, threads: Int = 1
  ) -> String? {
    func scaled(_ permille: Int) -> GEMMProblem {
      var p = problem
      let s = Double(permille) / 1000
      p.shape = GEMMShape(m: max(1, Int(Double(problem.shape.m) * s)), n: max(1, Int(Double(problem.shape.n) * s)), k: max(1, Int(Double(problem.shape.k) * s)))
      return p
    }
    guard let permille = MemoryPlan.largest(upTo: 999, fitting: limits, { memoryPlan(problem: scaled($0), precision: precision, lastLevelCacheBytes: lastLevelCacheBytes, threads: threads) })
    else { return nil }
    return "\(scaled(permille).shape) (the same aspect ratio) or smaller"
  }
}

extension AttentionBenchmark {
  /// What an attention workspace and a benchmark on it allocate: Q, K, V (fp32 and stored), O and the
  /// log-sum-exp, the backward's dO and gradients, and the kernels' per-thread scratch (flash: each
  /// head's packed K and V; the gemm backend: seq² scores per thread).
  public static func memoryPlan(shape: AttentionShape, precision: Precision, backward: Bool, threads: Int, materialized: Bool) -> MemoryPlan {
    let (q, kv) = (Double(shape.batch) * Double(shape.heads) * Double(shape.seq) * Double(shape.headDim),
                   Double(shape.batch) * Double(shape.kvHeads) * Double(shape.seq) * Double(shape.headDim))
    let (s, d) = (Double(shape.seq), Double(shape.headDim))
    var plan = MemoryPlan([("Q, K and V", 4 * (q + 2 * kv)), ("O and the log-sum-exp", 4 * q + 4 * Double(shape.batch * shape.heads) * s)])
    if precision != .fp32 { plan.add("Q, K and V stored in \(precision)", storedBytesPerElement(precision) * (q + 2 * kv)) }
    if backward { plan.add("dO, dQ, dK, dV", 4 * (2 * q + 2 * kv)) }
    let perThread = materialized ? 4 * s * s : 4 * (2 * (s + 256) * (d + 16) + 3 * 256 * 256)
    plan.add("\(threads) thread(s) of kernel scratch", Double(max(1, threads)) * perThread)
    if backward && shape.batch * shape.kvHeads < threads { plan.add("the backward's per-share dK and dV", Double(threads) * 8 * s * d) }
    return plan
  }
}
