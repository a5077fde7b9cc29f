import Profile
import Testing

@testable import Autotune
@testable import Kernels
@testable import NumberFormats
@testable import Tuning

/// The attention objective's checks, on small problems: every kind of candidate must pass them.
@Suite struct AttentionTuningTests {
  static func outcome(_ shape: AttentionShape, _ precision: Precision, _ configuration: [String: String]) throws -> Outcome {
    let workspace = try AttentionWorkspace(shape: shape, precision: precision)
    let objective = AttentionObjective(
      workspace: workspace, threads: 2, context: kernelContext, repeats: 1, minimumSeconds: 0, backwardCheck: BackwardCheck())
    return objective.evaluate(Configuration(configuration), effort: 1)
  }

  @Test func everyKindOfCandidatePassesItsChecks() throws {
    let shape = AttentionShape(batch: 1, heads: 2, kvHeads: 1, seq: 45, headDim: 16, causal: true)
    for precision in [Precision.fp32, .bf16, .fp8e4m3] {
      #expect(try Self.outcome(shape, precision, ["br": "16", "bc": "32"]).status == .ok, "flash \(precision)")
      #expect(try Self.outcome(shape, precision, ["backend": "gemm"]).status == .ok, "gemm \(precision)")
    }
    // bf16 products (probabilities rounded to bf16) are held to a bf16 tolerance, and the backward
    // check behind them runs on fp32 products.
    let bf16 = try Self.outcome(shape, .bf16, ["br": "16", "bc": "32", "kernel": "reference-tiles-32x32"])
    #expect(bf16.status == .ok, "\(bf16)")
  }

  @Test func aCandidateThatCannotRunIsFailedNotTimed() throws {
    let shape = AttentionShape(batch: 1, heads: 1, seq: 8, headDim: 8, causal: false)
    #expect(try Self.outcome(shape, .fp32, ["br": "4", "bc": "4", "kernel": "avx9-1x1"]).status == .failed)
  }
}
