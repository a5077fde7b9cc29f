import Foundation
import Kernels
import NumberFormats
import Platform
import Profile

/// `tune bench attention`: the flash kernels on one problem, verified on a slice against the
/// reference, timed forward and backward, next to the fp32 GEMM rate measured in the same run.
public struct AttentionBenchmarkResult: Codable, Sendable {
  public var shape: String
  public var parameters: FlashParameters
  public var forwardGflops: Statistics
  public var backwardGflops: Statistics?
  /// OpenBLAS sgemm at 2048³ on the same threads, measured in this run.
  public var gemmGflops: Statistics
  /// The growth of this process's peak resident memory while the kernels ran (the inputs and
  /// outputs were already allocated): the kernels' extra memory.
  public var extraPeakBytes: UInt64
  public var maxErrorAgainstReference: Double?

  public var text: String {
    var lines = ["attention \(shape) flash[\(parameters)]"]
    lines.append(String(format: "  forward  %.1f GFLOP/s [%.1f-%.1f] = %.2fx the fp32 GEMM rate (%.1f GFLOP/s, openblas 2048³, same run)",
                        forwardGflops.median, forwardGflops.min, forwardGflops.max, forwardGflops.median / gemmGflops.median, gemmGflops.median))
    if let b = backwardGflops {
      lines.append(String(format: "  backward %.1f GFLOP/s (2.5x forward work) = %.2fx the forward", b.median, b.median / forwardGflops.median))
    }
    lines.append(String(format: "  extra peak memory %.1f MiB", Double(extraPeakBytes) / Double(1 << 20)))
    if let error = maxErrorAgainstReference { lines.append(String(format: "  max |O − O_ref| on the checked rows: %.2e", error)) }
    return lines.joined(separator: "\n")
  }
}

public enum AttentionBenchmark {
  static func peakResidentBytes() -> UInt64 {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return UInt64(usage.ru_maxrss) * 1024
  }

  public static func run(
    shape: AttentionShape, parameters: FlashParameters, backward: Bool, placement: ThreadPlacement?, repeats: Int, verify: Bool
  ) throws -> AttentionBenchmarkResult {
    if let problem = shape.problem { throw KernelError.invalidParameters(problem) }
    var random = SeededRandom(seed: 11)
    let q = random.tabulatedNormal(shape.qCount), k = random.tabulatedNormal(shape.kvCount), v = random.tabulatedNormal(shape.kvCount)
    let dO = backward ? random.tabulatedNormal(shape.qCount) : []
    var o = [Float](repeating: 0, count: shape.qCount), lse = [Float](repeating: 0, count: shape.batch * shape.heads * shape.seq)
    var dQ = [Float](repeating: 0, count: backward ? shape.qCount : 0)
    var dK = [Float](repeating: 0, count: backward ? shape.kvCount : 0), dV = dK
    let before = peakResidentBytes()
    let forward: () -> Void = {
      q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
        o.withUnsafeMutableBufferPointer { op in lse.withUnsafeMutableBufferPointer { lp in
          try? FlashAttention.forward(shape, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, o: op.baseAddress!, lse: lp.baseAddress!,
                                      parameters: parameters, placement: placement)
        } }
      } } }
    }
    forward()
    var error: Double?
    if verify {
      // The reference on one (batch, head) and at most 64 query rows; the others are the same code.
      let sliceSeq = min(shape.seq, 256)
      let slice = AttentionShape(batch: 1, heads: 1, seq: sliceSeq, headDim: shape.headDim, causal: shape.causal)
      let reference = ReferenceAttention.forward(slice, q: Array(q[0..<(sliceSeq * shape.headDim)]), k: Array(k[0..<(sliceSeq * shape.headDim)]), v: Array(v[0..<(sliceSeq * shape.headDim)]))
      if shape.causal || sliceSeq == shape.seq {
        // Causal rows depend only on earlier keys, so the first rows of a long sequence match the slice.
        error = zip(reference.o, o[0..<(sliceSeq * shape.headDim)]).map { abs(Double($0) - Double($1)) }.max()
      }
    }
    let forwardSeconds = Stopwatch.secondsPerCall(repeats: repeats, minimumSeconds: 0.1, warmedUp: true, forward)
    var backwardStats: Statistics?
    if backward {
      let run: () -> Void = {
        q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in o.withUnsafeBufferPointer { op in
          lse.withUnsafeBufferPointer { lp in dO.withUnsafeBufferPointer { gp in
            dQ.withUnsafeMutableBufferPointer { a in dK.withUnsafeMutableBufferPointer { b in dV.withUnsafeMutableBufferPointer { c in
              try? FlashAttention.backward(shape, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, o: op.baseAddress!, lse: lp.baseAddress!,
                                           dO: gp.baseAddress!, dQ: a.baseAddress!, dK: b.baseAddress!, dV: c.baseAddress!, parameters: parameters, placement: placement)
            } } }
          } }
        } } } }
      }
      let seconds = Stopwatch.secondsPerCall(repeats: repeats, minimumSeconds: 0.1, run)
      backwardStats = Statistics(samples: seconds.map { 2.5 * shape.forwardFlops / $0 / 1e9 })
    }
    let extra = peakResidentBytes() > before ? peakResidentBytes() - before : 0
    let gemm = try GEMMBenchmark.run(
      problem: GEMMProblem(shape: GEMMShape(m: 2048, n: 2048, k: 2048)), precision: .fp32,
      candidate: GEMMCandidate(backend: .openblas, threads: parameters.threads), features: ISAFeatures(CPUIDReadings.current()),
      placement: placement, repeats: repeats)[0]
    return AttentionBenchmarkResult(
      shape: shape.description, parameters: parameters,
      forwardGflops: Statistics(samples: forwardSeconds.map { shape.forwardFlops / $0 / 1e9 }), backwardGflops: backwardStats,
      gemmGflops: gemm.gflops ?? Statistics(samples: [0]), extraPeakBytes: extra, maxErrorAgainstReference: error)
  }
}
