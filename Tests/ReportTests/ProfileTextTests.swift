import Platform
import Foundation
import Testing

@testable import Profile
@testable import Report

@Suite struct ProfileTextTests {
  /// `tune report`'s text has every section the profile has: machine, GEMM (transposes shown),
  /// attention.
  @Test func theTextShowsEverySection() {
    var profile = Fleet.profile(host: "node1", scale: 1)
    let choice = GEMMChoice(backend: .openblas, precision: .fp32, threads: 2)
    let winner = GEMMCandidateRecord(choice: choice, status: .ok, gflops: Statistics(samples: [150]))
    profile.kernels?.gemm?.entries.append(
      GEMMEntry(shape: "4096x512x1536", m: 4096, n: 512, k: 1536, precision: .fp32, transB: true, winner: winner, candidates: [winner]))
    let flash = AttentionCandidateRecord(
      backend: .flash, parameters: ["br": "64", "bc": "256", "kernel": "avx2-6x16"], status: .ok, forwardGflops: Statistics(samples: [101.5]),
      backwardGflops: Statistics(samples: [70]), percentOfGEMM: 70, maxError: 3e-7, precisionError: 2e-4)
    profile.kernels?.attention = AttentionSection(
      fingerprint: "00000000000000aa", strategy: "test", budgetSeconds: 1, tuningSeconds: 1, gemmGflops: 150, gemmSource: "test",
      entries: [AttentionEntry(shape: "1x8x2048x64 causal", batch: 1, heads: 8, kvHeads: 8, seq: 2048, headDim: 64, causal: true, precision: .bf16,
                               winner: flash, candidates: [flash])])
    let text = ProfileText.text(profile)
    #expect(text.contains("ScaleTune probe: node1"))
    #expect(text.contains("4096x512x1536 NT") && text.contains("150.0"))
    #expect(text.contains("Attention tuning") && text.contains("1x8x2048x64 causal") && text.contains("flash[br=64,bc=256,6x16]") && text.contains("101.5"))
  }
}

@Suite struct ParallelReportTests {
  static func section() -> ParallelSection {
    var ok = ParallelTrial(layout: ParallelLayout(dp: 2, zero: 1), precision: .bf16, threadsPerRank: 1, status: .ok, predictedPeakBytes: 700 * 1_048_576, predictedStepSeconds: 2.2)
    ok.steps = 10
    ok.tokensPerSecond = Statistics(samples: [1311, 1300, 1320])
    ok.measuredStepSeconds = 3.1
    ok.measuredPeakBytes = 690 * 1_048_576
    var unstable = ParallelTrial(layout: ParallelLayout(), precision: .fp16, threadsPerRank: 2, status: .unstable, reason: "loss is nan at step 3", predictedPeakBytes: 1_073_741_824)
    unstable.tokensPerSecond = Statistics(samples: [900])
    let pruned = ParallelTrial(layout: ParallelLayout(pp: 4), precision: .fp32, threadsPerRank: 1, status: .pruned, reason: "pp=4 does not divide the 6 layers", predictedPeakBytes: 0)
    let pick = ParallelPick(layout: ok.layout, precision: .bf16, threadsPerRank: 1, globalBatch: 8, tokensPerSecond: 1311, reason: "fastest stable")
    return ParallelSection(
      fingerprint: "00000000000000aa", model: try! ModelConfig.named("small"), worldThreads: 2, globalBatch: 8, pick: pick, trials: [ok, unstable, pruned],
      referenceLosses: [5.5], collectiveGBPerSecond: 6.7, budgetSeconds: 360, spentSeconds: 263, tolerances: ["bf16": 0.05])
  }

  @Test func reportAndCompareShowTheParallelSection() {
    var profile = Fleet.profile(host: "node1", scale: 1)
    profile.parallel = Self.section()
    let text = ProfileText.text(profile)
    #expect(text.contains("pick: dp=2,tp=1,pp=1,micro=1,recompute=off,zero=0") == false)
    #expect(text.contains("pick: dp=2,tp=1,pp=1,micro=1,recompute=off,zero=1 bf16"))
    #expect(text.contains("unstable") && text.contains("loss is nan at step 3") && text.contains("pruned (1)"))
    let html = HTMLPage.report([("a.json", profile)])
    #expect(html.contains("Parallel trials: small") && html.contains("unstable: 1"))
    let summary = ProfileSummary(profile: profile, path: "a.json", label: "a")
    #expect(summary.facts["parallel pick"] == "small: dp=2,tp=1,pp=1,micro=1,recompute=off,zero=1 bf16 t1")
    #expect(summary.figure("parallel pick small")?.value == 1311)
  }
}
