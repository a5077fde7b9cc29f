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
    let workspace = AttentionWorkspace(shape: shape)
    if backward { workspace.prepareBackward() }
    let before = peakResidentBytes()
    try workspace.forward(parameters, placement: placement)
    // Checked against the fp64 reference on the first query rows of the first head.
    let error: Double? = verify ? workspace.checkedError() : nil
    let forwardSeconds = Stopwatch.secondsPerCall(repeats: repeats, minimumSeconds: 0.1, warmedUp: true) {
      try? workspace.forward(parameters, placement: placement)
    }
    var backwardStats: Statistics?
    if backward {
      let seconds = Stopwatch.secondsPerCall(repeats: repeats, minimumSeconds: 0.1) { try? workspace.backward(parameters, placement: placement) }
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
