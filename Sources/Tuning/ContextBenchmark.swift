import Foundation
import Kernels
import NumberFormats
import Platform
import Profile

/// `tune bench contexts`: what a kernel context costs and whether contexts get in each other's
/// way. Two single-thread contexts on different cores multiply their own operands at the same time,
/// in rounds that alternate with one context alone, so that both sides see the same machine;
/// the ratio per round is together/alone. And the per-call overhead of a small GEMM: the time
/// of a whole call against its arithmetic at the micro-kernel's in-cache rate.
public struct ContextBenchmarkResult: Codable, Sendable {
  public struct Concurrency: Codable, Sendable {
    public var shape: String
    public var choice: GEMMChoice
    public var contexts: Int
    /// Hardware threads the contexts ran on, one each.
    public var pus: [Int]
    public var aloneGflops: Statistics
    /// Per context, its rate while all ran together.
    public var togetherGflops: [Statistics]
    /// Per context, the median over rounds of together / alone in that round.
    public var ratios: [Double]
  }

  public struct CallOverhead: Codable, Sendable {
    public var shape: String
    public var choice: GEMMChoice
    public var secondsPerCall: Statistics
    /// The micro-kernel on pre-packed panels in L1: its rate, and the time 2·M·N·K takes at it.
    public var inCacheGflops: Statistics
    public var arithmeticSeconds: Double
    /// secondsPerCall.median / arithmeticSeconds.
    public var ratio: Double
  }

  public var concurrency: Concurrency?
  public var overhead: CallOverhead?

  public init(concurrency: Concurrency?, overhead: CallOverhead?) {
    self.concurrency = concurrency
    self.overhead = overhead
  }

  public var text: String {
    var lines: [String] = []
    if let c = concurrency {
      lines.append("\(c.contexts) one-core contexts on PUs \(c.pus.map(String.init).joined(separator: ",")), \(c.shape) \(c.choice):")
      lines.append(String(format: "  alone %.1f GFLOP/s [%.1f-%.1f]", c.aloneGflops.median, c.aloneGflops.min, c.aloneGflops.max))
      for (index, (together, ratio)) in zip(c.togetherGflops, c.ratios).enumerated() {
        lines.append(String(format: "  context %d together %.1f GFLOP/s [%.1f-%.1f]: %.3fx alone (median of rounds)", index, together.median, together.min, together.max, ratio))
      }
    }
    if let o = overhead {
      lines.append(String(format: "%@ in a context (%@): %.2f us per call; its arithmetic at the in-cache rate (%.1f GFLOP/s) %.2f us: %.2fx",
                          o.shape, o.choice.description, o.secondsPerCall.median * 1e6, o.inCacheGflops.median, o.arithmeticSeconds * 1e6, o.ratio))
    }
    return lines.joined(separator: "\n")
  }
}

public enum ContextBenchmark {
  /// Fp32 operands of one square problem, owned by one context's thread.
  final class Operands: @unchecked Sendable {
    var a: [Float], b: [Float], c: [Float]
    let size: Int
    init(size: Int, seed: UInt64) {
      var random = SeededRandom(seed: seed)
      self.size = size
      a = random.normal(size * size)
      b = random.normal(size * size)
      c = [Float](repeating: 0, count: size * size)
    }

    func run(_ plan: GEMMPlan, in context: KernelContext) {
      a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
        plan.run(.fp32(a: MatrixPointer(ap.baseAddress!, ld: size), b: MatrixPointer(bp.baseAddress!, ld: size), c: MutableMatrixPointer(cp.baseAddress!, ld: size)), in: context)
      } } }
    }
  }

  /// - Parameters:
  ///   - choice: an fp32 GEMM choice; one thread, but for a library (BLIS, oneDNN), whose calls may
  ///     ask for more threads than each context's one core, to measure oversubscription.
  ///   - pus: one hardware thread per context (distinct cores).
  ///   - calls: GEMMs per context per round.
  public static func concurrency(choice: GEMMChoice, size: Int, pus: [Int], topology: Topology, rounds: Int, calls: Int) throws -> ContextBenchmarkResult.Concurrency {
    precondition((choice.threads == 1 || [.blis, .onednn].contains(choice.backend)) && !pus.isEmpty && rounds >= 1 && calls >= 1)
    let problem = GEMMProblem(shape: GEMMShape(m: size, n: size, k: size))
    let plan = try GEMMPlan(problem, choice: choice)
    let contexts = pus.map { KernelContext(threads: choice.threads, placement: ThreadPlacement(topology: topology, pus: [$0])) }
    let operands = pus.indices.map { Operands(size: size, seed: UInt64($0 + 1)) }
    try operands[0].a.withUnsafeBufferPointer { ap in try operands[0].b.withUnsafeBufferPointer { bp in try operands[0].c.withUnsafeMutableBufferPointer { cp in
      try plan.check(.fp32(a: MatrixPointer(ap.baseAddress!, ld: size), b: MatrixPointer(bp.baseAddress!, ld: size), c: MutableMatrixPointer(cp.baseAddress!, ld: size)), in: contexts[0])
    } } }
    /// Seconds per call of each context's `calls` GEMMs, the first `active` released together.
    func round(_ active: Int) -> [Double] {
      ThreadTeam.run(threads: active, pinnedTo: Array(pus.prefix(active)), topology: topology) { index in
        let begin = monotonicSeconds()
        for _ in 0..<calls { operands[index].run(plan, in: contexts[index]) }
        return (monotonicSeconds() - begin) / Double(calls)
      }
    }
    // Warm-up: every context packs and touches its buffers once.
    _ = round(pus.count)
    var alone: [Double] = [], together = Array(repeating: [Double](), count: pus.count), ratios = together
    for _ in 0..<rounds {
      let single = round(1)[0]
      let all = round(pus.count)
      alone.append(single)
      for index in pus.indices {
        together[index].append(all[index])
        ratios[index].append(single / all[index])
      }
    }
    let rate = { (seconds: Double) in problem.shape.flops / seconds / 1e9 }
    return ContextBenchmarkResult.Concurrency(
      shape: problem.shape.description, choice: choice, contexts: pus.count, pus: pus, aloneGflops: Statistics(samples: alone.map(rate)),
      togetherGflops: together.map { Statistics(samples: $0.map(rate)) }, ratios: ratios.map { Statistics(samples: $0).median })
  }

  /// A small GEMM's whole call in a one-thread context against its arithmetic at the
  /// micro-kernel's in-cache rate (the same micro-kernel on one pre-packed MR×K by K×NR pair of
  /// panels, over and over).
  public static func callOverhead(choice: GEMMChoice, size: Int, repeats: Int, minimumSeconds: Double) throws -> ContextBenchmarkResult.CallOverhead {
    guard let blocking = choice.blocking, choice.backend == .native, choice.precision == .fp32 else {
      throw KernelError.invalidParameters("the call overhead is measured on the native fp32 GEMM")
    }
    let problem = GEMMProblem(shape: GEMMShape(m: size, n: size, k: size))
    let plan = try GEMMPlan(problem, choice: choice)
    let context = KernelContext(threads: 1)
    let operands = Operands(size: size, seed: 3)
    operands.run(plan, in: context)
    let call = Stopwatch.secondsPerCall(repeats: repeats, minimumSeconds: minimumSeconds, warmedUp: true) { operands.run(plan, in: context) }
    let kernel = try GEMMPlan.microKernel(Float.self, named: blocking.microKernel)
    var random = SeededRandom(seed: 4)
    let aPanel = random.normal(kernel.mr * size), bPanel = random.normal(size * kernel.nr)
    var tile = [Float](repeating: 0, count: kernel.mr * kernel.nr)
    let kernelSeconds = aPanel.withUnsafeBufferPointer { a in bPanel.withUnsafeBufferPointer { b in tile.withUnsafeMutableBufferPointer { c in
      Stopwatch.secondsPerCall(repeats: repeats, minimumSeconds: minimumSeconds) {
        kernel.run(size, a.baseAddress!, b.baseAddress!, c.baseAddress!, kernel.nr, 1, 1)
      }
    } } }
    let inCache = Statistics(samples: kernelSeconds.map { 2 * Double(kernel.mr * kernel.nr * size) / $0 / 1e9 })
    let arithmetic = problem.shape.flops / (inCache.median * 1e9)
    let perCall = Statistics(samples: call)
    return ContextBenchmarkResult.CallOverhead(
      shape: problem.shape.description, choice: choice, secondsPerCall: perCall, inCacheGflops: inCache, arithmeticSeconds: arithmetic,
      ratio: perCall.median / arithmetic)
  }
}
