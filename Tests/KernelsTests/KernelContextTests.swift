import Foundation
import Profile
import Testing

@testable import Kernels
@testable import NumberFormats
@testable import Platform

/// Kernel contexts share nothing: kernels running side by side in several contexts give exactly
/// (bit for bit) what the same calls give one after another.
@Suite struct KernelContextTests {
  /// One kernel call from fixed inputs to its output.
  struct Job: Sendable {
    var name: String
    var run: @Sendable (KernelContext) throws -> [Float]
  }

  static func gemmJob(_ name: String, _ problem: GEMMProblem, precision: Precision, choice: GEMMChoice, seed: UInt64) -> Job {
    var random = SeededRandom(seed: seed)
    let a = random.normal(problem.aHeight * problem.aWidth), b = random.normal(problem.bHeight * problem.bWidth)
    let c0 = random.normal(problem.shape.m * problem.shape.n)
    return Job(name: name) { context in
      var c = c0
      if precision == .fp64 {
        let (a64, b64) = (a.map(Double.init), b.map(Double.init))
        var c64 = c0.map(Double.init)
        try a64.withUnsafeBufferPointer { ap in try b64.withUnsafeBufferPointer { bp in try c64.withUnsafeMutableBufferPointer { cp in
          try GEMM.run(problem, .fp64(a: MatrixPointer(ap.baseAddress!, ld: problem.aWidth), b: MatrixPointer(bp.baseAddress!, ld: problem.bWidth),
                                      c: MutableMatrixPointer(cp.baseAddress!, ld: problem.shape.n)), choice: choice, in: context)
        } } }
        return c64.map(Float.init)
      }
      if precision != .fp32 {
        let qa = QuantizedMatrix(a, rows: problem.shape.m, columns: problem.shape.k, precision: precision)
        let qb = QuantizedMatrix(b, rows: problem.shape.n, columns: problem.shape.k, precision: precision)
        try c.withUnsafeMutableBufferPointer { cp in
          try GEMM.run(problem, .stored(a: qa, b: qb, c: MutableMatrixPointer(cp.baseAddress!, ld: problem.shape.n)), choice: choice, in: context)
        }
        return c
      }
      try a.withUnsafeBufferPointer { ap in try b.withUnsafeBufferPointer { bp in try c.withUnsafeMutableBufferPointer { cp in
        try GEMM.run(problem, .fp32(a: MatrixPointer(ap.baseAddress!, ld: problem.aWidth), b: MatrixPointer(bp.baseAddress!, ld: problem.bWidth),
                                    c: MutableMatrixPointer(cp.baseAddress!, ld: problem.shape.n)), choice: choice, in: context)
      } } }
      return c
    }
  }

  static func attentionJob(_ shape: AttentionShape, _ parameters: FlashParameters, stored: Precision?, materialized: Bool = false) -> Job {
    let (q, k, v, dO) = AttentionTests.inputs(shape, seed: 31)
    let name = "attention \(shape) \(stored.map(\.rawValue) ?? "fp32")\(materialized ? " gemm" : " flash")"
    return Job(name: name) { context in
      var o = [Float](repeating: .nan, count: shape.qCount)
      var lse = [Float](repeating: .nan, count: shape.batch * shape.heads * shape.seq)
      if let stored {
        let heads = shape.batch * shape.heads, kvHeads = shape.batch * shape.kvHeads
        let operands = try AttentionOperands.stored(
          shape, q: try AttentionTensor(q, heads: heads, seq: shape.seq, headDim: shape.headDim, precision: stored),
          k: try AttentionTensor(k, heads: kvHeads, seq: shape.seq, headDim: shape.headDim, precision: stored),
          v: try AttentionTensor(v, heads: kvHeads, seq: shape.seq, headDim: shape.headDim, precision: stored))
        try o.withUnsafeMutableBufferPointer { op in try lse.withUnsafeMutableBufferPointer { lp in
          try FlashAttention.forward(shape, operands, o: op.baseAddress!, lse: lp.baseAddress!, parameters: parameters, in: context)
        } }
        return o + lse
      }
      var dQ = [Float](repeating: .nan, count: shape.qCount), dK = [Float](repeating: .nan, count: shape.kvCount), dV = dK
      try q.withUnsafeBufferPointer { qp in try k.withUnsafeBufferPointer { kp in try v.withUnsafeBufferPointer { vp in try dO.withUnsafeBufferPointer { gp in
        let operands = AttentionOperands.fp32(shape, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, dO: gp.baseAddress!)
        try o.withUnsafeMutableBufferPointer { op in try lse.withUnsafeMutableBufferPointer { lp in
          if materialized {
            try MaterializedAttention.forward(
              shape, operands, o: op.baseAddress!, lse: lp.baseAddress!, parameters: MaterializedParameters(threads: parameters.threads), in: context)
            return
          }
          try FlashAttention.forward(shape, operands, o: op.baseAddress!, lse: lp.baseAddress!, parameters: parameters, in: context)
          try dQ.withUnsafeMutableBufferPointer { a in try dK.withUnsafeMutableBufferPointer { b in try dV.withUnsafeMutableBufferPointer { c in
            try FlashAttention.backward(
              shape, operands, o: UnsafePointer(op.baseAddress!), lse: UnsafePointer(lp.baseAddress!), dQ: a.baseAddress!, dK: b.baseAddress!,
              dV: c.baseAddress!, parameters: parameters, in: context)
          } } }
        } }
      } } } }
      return materialized ? o + lse : o + lse + dQ + dK + dV
    }
  }

  /// Every backend and precision this CPU can run, on small shapes with edges.
  static func jobs() -> [Job] {
    let features = ISAFeatures.current
    var jobs: [Job] = []
    let fp32Kernel = Float.searchableMicroKernels(features)[0], fp64Kernel = Double.searchableMicroKernels(features)[0]
    func native<T>(_ kernel: MicroKernel<T>, threads: Int, loop: BlockingParameters.ParallelLoop) -> BlockingParameters {
      BlockingParameters(microKernel: kernel.name, mc: 2 * kernel.mr, kc: 24, nc: 2 * kernel.nr, threads: threads, parallelLoop: loop)
    }
    for (index, (transA, transB)) in [(false, false), (false, true), (true, false)].enumerated() {
      let problem = GEMMProblem(shape: GEMMShape(m: 45, n: 77, k: 53), transA: transA, transB: transB, alpha: 0.5, beta: 1)
      let loop: BlockingParameters.ParallelLoop = index == 1 ? .jc : .ic
      jobs.append(gemmJob("native fp32 \(problem)", problem, precision: .fp32,
                          choice: GEMMChoice(backend: .native, precision: .fp32, blocking: native(fp32Kernel, threads: 2, loop: loop)), seed: UInt64(index)))
      jobs.append(gemmJob("native fp64 \(problem)", problem, precision: .fp64,
                          choice: GEMMChoice(backend: .native, precision: .fp64, blocking: native(fp64Kernel, threads: 2, loop: loop)), seed: UInt64(index)))
      jobs.append(gemmJob("openblas fp32 \(problem)", problem, precision: .fp32, choice: GEMMChoice(backend: .openblas, precision: .fp32), seed: UInt64(index)))
    }
    let tn = GEMMProblem(shape: GEMMShape(m: 41, n: 70, k: 67), transA: false, transB: true)
    for precision in [Precision.bf16, .fp8e4m3, .mxfp4] {
      jobs.append(gemmJob("native \(precision)", tn, precision: precision,
                          choice: GEMMChoice(backend: .native, precision: precision, blocking: native(fp32Kernel, threads: 2, loop: .ic)), seed: 7))
    }
    // bf16 products: the hardware kernels where they run, and the portable ones over both layouts.
    for kernel in BF16MicroKernel.usable(features) + [BF16MicroKernel.pairsReference, BF16MicroKernel.tilesReference] {
      let blocking = BlockingParameters(microKernel: kernel.name, mc: 2 * kernel.mr, kc: 64, nc: 2 * kernel.nr, threads: 2)
      jobs.append(gemmJob("amx \(kernel.name)", tn, precision: .bf16, choice: GEMMChoice(backend: .amx, precision: .bf16, blocking: blocking), seed: 8))
    }
    let causal = AttentionShape(batch: 1, heads: 2, kvHeads: 1, seq: 45, headDim: 16, causal: true)
    jobs.append(attentionJob(causal, FlashParameters(br: 8, bc: 16, threads: 2, querySplit: 2), stored: nil))
    jobs.append(attentionJob(AttentionShape(batch: 2, heads: 2, seq: 33, headDim: 24, causal: false), FlashParameters(br: 16, bc: 8, threads: 2), stored: nil))
    jobs.append(attentionJob(causal, FlashParameters(br: 8, bc: 16, threads: 2), stored: .bf16))
    jobs.append(attentionJob(causal, FlashParameters(threads: 2), stored: nil, materialized: true))
    return jobs
  }

  @Test(arguments: [2, 4])
  func concurrentContextsGiveWhatSequentialCallsGive(contexts: Int) throws {
    let jobs = Self.jobs()
    let sequential = KernelContext(threads: 2)
    let expected = try jobs.map { try $0.run(sequential) }
    let mismatches = Mismatches()
    let done = DispatchGroup()
    for index in 0..<contexts {
      done.enter()
      let thread = Thread {
        defer { done.leave() }
        let context = KernelContext(threads: 2)
        for round in 0..<4 {
          // Each context walks the jobs from another place, so that different kernels overlap.
          for step in 0..<jobs.count {
            let j = (step + index * 3 + round) % jobs.count
            do {
              let result = try jobs[j].run(context)
              if result.map(\.bitPattern) != expected[j].map(\.bitPattern) { mismatches.add("context \(index) round \(round): \(jobs[j].name)") }
            } catch {
              mismatches.add("context \(index): \(jobs[j].name) threw \(error)")
            }
          }
        }
      }
      thread.stackSize = 8 << 20
      thread.start()
    }
    done.wait()
    #expect(mismatches.all.isEmpty, "\(mismatches.all.prefix(5))")
    #expect(jobs.count >= 14, "every backend and precision usable here takes part")
  }

  @Test func aCallAskingForMoreThreadsThanItsContextIsRefused() throws {
    let job = Self.gemmJob(
      "native", GEMMProblem(shape: GEMMShape(m: 8, n: 8, k: 8)), precision: .fp32,
      choice: GEMMChoice(backend: .openblas, precision: .fp32, threads: 3), seed: 1)
    let error = #expect(throws: KernelError.self) { _ = try job.run(KernelContext(threads: 2)) }
    #expect(error.map { "\($0)".contains("3 threads") && "\($0)".contains("has 2") } == true, "\(String(describing: error))")
  }

  @Test func aPoolRunsEveryIndexOnceAndReusesItsThreads() {
    let pool = WorkerPool(size: 3)
    let seen = Mismatches()
    for round in 0..<200 {
      let count = 1 + round % 3
      let hits = UnsafeMutablePointer<Int>.allocate(capacity: 3)
      hits.initialize(repeating: 0, count: 3)
      pool.run(count) { index in hits[index] += 1 }
      if (0..<3).map({ hits[$0] }) != (0..<3).map({ $0 < count ? 1 : 0 }) { seen.add("round \(round)") }
      hits.deallocate()
    }
    #expect(seen.all.isEmpty, "\(seen.all.prefix(3))")
  }
}

final class Mismatches: @unchecked Sendable {
  private let lock = NSLock()
  private var items: [String] = []
  func add(_ item: String) { lock.withLock { items.append(item) } }
  var all: [String] { lock.withLock { items } }
}
