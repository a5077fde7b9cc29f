import Foundation
import Profile
import Testing

@testable import Kernels
@testable import NumberFormats
@testable import Platform

/// The README's example of a rank using the runtime, run as written (smaller): a profile's choice
/// for a projection on a pre-packed weight, then attention on views of its output.
@Suite struct RuntimeExampleTests {
  @Test func aRankRunsAProjectionAndAttentionWithTheProfilesChoices() throws {
    let (tokens, hidden, seq, heads) = (64, 32, 16, 4)
    let headDim = hidden / heads
    let topology = try Topology()
    let rank = KernelContext(threads: 1, placement: ThreadPlacement(topology: topology, pus: [topology.firstThreadOfEachCore[0]]))
    let caches = CacheSizes(topology)
    // A profile that tuned this projection (as `tune gemm --model` writes it).
    let tuned = GEMMChoice.fallback(precision: .fp16, threads: 2, caches: caches).blocking!
    let winner = GEMMCandidateRecord(choice: GEMMChoice(backend: .native, precision: .fp32, blocking: tuned), status: .ok, gflops: Statistics(samples: [10]))
    let profile = Profile(
      kernels: KernelsSection(gemm: GEMMSection(
        fingerprint: "this-machine", strategy: "test", budgetSeconds: 1, tuningSeconds: 1, environment: [:], search: nil,
        entries: [GEMMEntry(shape: "\(tokens)x\(3 * hidden)x\(hidden)", m: tokens, n: 3 * hidden, k: hidden, precision: .fp32, winner: winner, candidates: [winner])])),
      provenance: Provenance(runs: []))
    let choices = try KernelChoices(profile: profile, path: "node.json", machineFingerprint: "this-machine")
    let problem = GEMMProblem(shape: GEMMShape(m: tokens, n: 3 * hidden, k: hidden))
    let (choice, source) = choices.gemmChoice(problem, precision: .fp32, threads: rank.threads, caches: caches)
    #expect(source == .exact && choice.backend == .native && choice.threads == 1)
    let plan = try GEMMPlan(problem, choice: choice)
    var random = SeededRandom(seed: 51)
    let x = random.normal(tokens * hidden), w = random.normal(hidden * 3 * hidden)
    var y = [Float](repeating: .nan, count: tokens * 3 * hidden)
    let packedW = try w.withUnsafeBufferPointer { try plan.pack(b: MatrixPointer($0.baseAddress!, ld: 3 * hidden)) }
    try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { yp in
      let operands = GEMMOperands.packed(a: MatrixPointer(xp.baseAddress!, ld: hidden), b: packedW, c: MutableMatrixPointer(yp.baseAddress!, ld: 3 * hidden))
      try plan.check(operands, in: rank)
      plan.run(operands, in: rank)
    } }
    // The product is right: against the reference on the same operands.
    var reference = [Float](repeating: 0, count: y.count)
    x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in reference.withUnsafeMutableBufferPointer { rp in
      ReferenceGEMM.run(problem, a: MatrixPointer(xp.baseAddress!, ld: hidden), b: MatrixPointer(wp.baseAddress!, ld: 3 * hidden), c: MutableMatrixPointer(rp.baseAddress!, ld: 3 * hidden))
    } } }
    #expect(zip(y, reference).allSatisfy { abs($0 - $1) <= 1e-4 })
    // Causal attention on Q, K, V read in place from the projection's output; no attention
    // winner in this profile, so flash's defaults.
    let batch = tokens / seq
    let shape = AttentionShape(batch: batch, heads: heads, seq: seq, headDim: headDim, causal: true)
    let view = AttentionLayout.projection(seq: seq, headDim: headDim, width: 3 * hidden)
    let lookup = choices.attention(shape, precision: .fp32)
    #expect(lookup.source == .none)
    var o = [Float](repeating: .nan, count: tokens * hidden), lse = [Float](repeating: .nan, count: batch * heads * seq)
    try y.withUnsafeBufferPointer { yp in
      let base = yp.baseAddress!
      let operands = try AttentionOperands.views(shape, q: (base, view), k: (base + hidden, view), v: (base + 2 * hidden, view))
      try o.withUnsafeMutableBufferPointer { op in try lse.withUnsafeMutableBufferPointer { lp in
        try Attention.forward(
          shape, operands, o: op.baseAddress!, lse: lp.baseAddress!, oLayout: .projection(seq: seq, headDim: headDim, width: hidden),
          choice: lookup.choice ?? AttentionChoice(backend: .flash, threads: rank.threads), in: rank)
      } }
    }
    #expect(o.allSatisfy(\.isFinite) && lse.allSatisfy(\.isFinite))
  }
}
