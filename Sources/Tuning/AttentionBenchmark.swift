import Foundation
import Kernels
import NumberFormats
import Platform
import Profile

/// `tune bench attention`: one attention candidate on one problem, verified on a slice against
/// the reference, timed forward (and, for flash, backward), next to the GEMM rate of the same
/// precision measured in the same run.
public struct AttentionBenchmarkResult: Codable, Sendable {
  public var shape: String
  public var precision: String
  public var candidate: String
  public var forwardGflops: Statistics
  public var backwardGflops: Statistics?
  /// The best GEMM at this precision on a square (2048³ unless told) with the same threads, measured in this run.
  public var gemm: GEMMRate
  /// The forward's rate over the GEMM's, per interleaved round.
  public var ratioToGEMM: Statistics
  /// The growth of this process's peak resident memory while the kernels ran (the inputs and
  /// outputs were already allocated): the kernels' extra memory.
  public var extraPeakBytes: UInt64
  /// Largest |O − O_ref| on the checked rows against the reference on the decoded inputs.
  public var maxErrorAgainstReference: Double?
  /// The same against the reference on the unquantised inputs (the precision's cost).
  public var precisionError: Double?
  /// Set when more threads ran than the machine gives the process: what ran on what.
  public var oversubscribed: String?

  public var text: String {
    var lines = ["attention \(shape) \(precision) \(candidate)"]
    lines.append(String(format: "  forward  %.1f GFLOP/s [%.1f-%.1f]; the %@ GEMM %.1f GFLOP/s (%@), timed in turns with it",
                        forwardGflops.median, forwardGflops.min, forwardGflops.max, precision, gemm.gflops, gemm.source))
    lines.append(String(format: "  forward / GEMM = %.2fx [%.2f-%.2f] per round", ratioToGEMM.median, ratioToGEMM.min, ratioToGEMM.max))
    if let b = backwardGflops {
      lines.append(String(format: "  backward %.1f GFLOP/s (2.5x forward work) = %.2fx the forward", b.median, b.median / forwardGflops.median))
    }
    lines.append(String(format: "  extra peak memory %.1f MiB", Double(extraPeakBytes) / Double(1 << 20)))
    if let error = maxErrorAgainstReference { lines.append(String(format: "  max |O − O_ref| on the checked rows: %.2e", error)) }
    if let error = precisionError, precision != "fp32" {
      lines.append(String(format: "  max |O − O_ref(unquantised inputs)|: %.2e (what %@ storage costs)", error, precision))
    }
    if let oversubscribed { lines.append("  OVERSUBSCRIBED: \(oversubscribed); the rates are the contended machine's, not the kernel's") }
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
    shape: AttentionShape, precision: Precision = .fp32, candidate: AttentionChoice, backward: Bool, context: KernelContext, repeats: Int,
    verify: Bool, gemmSize: Int = 2048, features: ISAFeatures, caches: CacheSizes
  ) throws -> AttentionBenchmarkResult {
    let workspace = try AttentionWorkspace(shape: shape, precision: precision)
    let flash: FlashParameters? = candidate.backend == .flash ? Attention.flashParameters(candidate) : nil
    if backward {
      guard flash != nil else { throw KernelError.unsupported(backend: "gemm attention", reason: "it has no backward; time the backward with --backend flash") }
      try workspace.prepareBackward()
    }
    let before = peakResidentBytes()
    try workspace.forward(candidate, context: context)
    // Checked against the fp64 reference on the first query rows of the first head.
    let error: Double? = verify ? workspace.checkedError() : nil
    let precisionError: Double? = verify ? workspace.precisionError() : nil
    if backward, let flash { try workspace.backward(flash, context: context) }
    // Taken before the GEMM's operands exist: what the attention kernels themselves added.
    let extra = peakResidentBytes() > before ? peakResidentBytes() - before : 0
    // Attention and the GEMM in turns, so that a slow phase of a shared machine hits both alike.
    let gemmRun = try AttentionGEMMReference.prepare(
      precision: precision, size: gemmSize, threads: candidate.threads, features: features, caches: caches, context: context)
    let forwardRun = TimedRun { try workspace.forward(candidate, context: context) }
    let interleaved = Stopwatch.interleaved(repeats: repeats, minimumSeconds: 0.1, warmedUp: true, [forwardRun.callAsFunction, gemmRun.call])
    try forwardRun.check()
    let (forwardSeconds, gemmSeconds) = (interleaved[0], interleaved[1])
    var backwardStats: Statistics?
    if backward, let flash {
      let backwardRun = TimedRun { try workspace.backward(flash, context: context) }
      let seconds = Stopwatch.secondsPerCall(repeats: repeats, minimumSeconds: 0.1, warmedUp: true, backwardRun.callAsFunction)
      try backwardRun.check()
      backwardStats = Statistics(samples: seconds.map { 2.5 * shape.forwardFlops / $0 / 1e9 })
    }
    let gemm = GEMMRate(precision: precision, gflops: Statistics(samples: gemmSeconds.map { gemmRun.flops / $0 / 1e9 }).median, source: gemmRun.source)
    // Per round: attention's rate over the GEMM's, both taken in the same turn.
    let ratios = zip(forwardSeconds, gemmSeconds).map { (shape.forwardFlops / $0) / (gemmRun.flops / $1) }
    return AttentionBenchmarkResult(
      shape: shape.description, precision: precision.rawValue, candidate: candidate.description,
      forwardGflops: Statistics(samples: forwardSeconds.map { shape.forwardFlops / $0 / 1e9 }), backwardGflops: backwardStats,
      gemm: gemm, ratioToGEMM: Statistics(samples: ratios), extraPeakBytes: extra, maxErrorAgainstReference: error, precisionError: precisionError)
  }
}
