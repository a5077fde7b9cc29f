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
    let winner = GEMMCandidateRecord(choice: choice, status: "ok", gflops: Statistics(samples: [150]))
    profile.kernels?.gemm?.entries.append(
      GEMMEntry(shape: "4096x512x1536", m: 4096, n: 512, k: 1536, precision: "fp32", transB: true, winner: winner, candidates: [winner]))
    let flash = AttentionCandidateRecord(
      backend: "flash", parameters: ["br": "64", "bc": "256", "kernel": "avx2-6x16"], status: "ok", forwardGflops: Statistics(samples: [101.5]),
      backwardGflops: Statistics(samples: [70]), percentOfGEMM: 70, maxError: 3e-7, precisionError: 2e-4)
    profile.kernels?.attention = AttentionSection(
      fingerprint: "00000000000000aa", strategy: "test", budgetSeconds: 1, tuningSeconds: 1, gemmGflops: 150, gemmSource: "test",
      entries: [AttentionEntry(shape: "1x8x2048x64 causal", batch: 1, heads: 8, kvHeads: 8, seq: 2048, headDim: 64, causal: true, precision: "bf16",
                               winner: flash, candidates: [flash])])
    let text = ProfileText.text(profile)
    #expect(text.contains("ScaleTune probe: node1"))
    #expect(text.contains("4096x512x1536 NT") && text.contains("150.0"))
    #expect(text.contains("Attention tuning") && text.contains("1x8x2048x64 causal") && text.contains("flash[br=64,bc=256,6x16]") && text.contains("101.5"))
  }
}
