import Benchmark
import Foundation
import Kernels
import NumberFormats
import Platform
import Profile
import Tuning

/// native, openblas and amx GEMM side by side: square 1024, 2048, 4096 on one thread and on every
/// core (fp32 for native and openblas, bf16 operands for amx), GFLOP/s as a custom metric. The
/// native blocking is the analytic model's unless SCALETUNE_GEMM_PARAMS gives one (k=v,… as
/// `tune bench gemm --params`); `tune gemm` finds the tuned one. amx runs only where the CPU has
/// AMX-BF16 or AVX512-BF16 (it is skipped, and says so, elsewhere).
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .custom("GFLOP/s", polarity: .prefersLarger, useScalingFactor: false)],
    timeUnits: .milliseconds, warmupIterations: 1, maxDuration: .seconds(4), maxIterations: 20)

  guard let topology = try? Topology() else { return }
  let features = ISAFeatures.current
  let caches = CacheSizes(topology)
  var params: [String: String] = [:]
  if let text = ProcessInfo.processInfo.environment["SCALETUNE_GEMM_PARAMS"] {
    for item in text.split(separator: ",") {
      let pair = item.split(separator: "=", maxSplits: 1)
      if pair.count == 2 { params[String(pair[0])] = String(pair[1]) }
    }
  }

  for size in [1024, 2048, 4096] {
    for threads in Set([1, max(1, topology.cores)]).sorted() {
      let problem = GEMMProblem(shape: GEMMShape(m: size, n: size, k: size))
      for (backend, precision) in [(GEMMBackend.native, Precision.fp32), (.openblas, .fp32), (.amx, .bf16)] {
        let name = "\(backend.rawValue) \(precision) \(size)^3 \(threads) thread(s)"
        guard let candidate = try? GEMMBenchmark.candidate(
          backend: backend, precision: precision, params: backend == .native ? params : [:], threads: threads, features: features, caches: caches),
          backend.unavailability(precision: precision, features: features) == nil
        else {
          print("skipped \(name): \(backend.unavailability(precision: precision, features: features) ?? "cannot run")")
          continue
        }
        Benchmark(name) { benchmark in
          // Operands are made and the result verified once per process, outside the measurement.
          guard let run = Runners.shared.runner(problem: problem, precision: precision, candidate: candidate, features: features, topology: topology) else {
            print("skipped \(name): its result failed verification")
            return
          }
          let start = ContinuousClock.now
          benchmark.startMeasurement()
          run()
          benchmark.stopMeasurement()
          let elapsed = (ContinuousClock.now - start).components
          let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
          benchmark.measurement(.custom("GFLOP/s"), Int(problem.shape.flops / seconds / 1e9))
        }
      }
    }
  }
}

/// Verified runners, made on first use and kept for the process.
final class Runners: @unchecked Sendable {
  static let shared = Runners()
  private var cache: [String: () -> Void] = [:]
  private let lock = NSLock()

  func runner(problem: GEMMProblem, precision: Precision, candidate: GEMMChoice, features: ISAFeatures, topology: Topology) -> (() -> Void)? {
    lock.lock()
    defer { lock.unlock() }
    let key = "\(problem.shape) \(precision) \(candidate)"
    if let run = cache[key] { return run }
    let evaluator = GEMMEvaluator(
      workspace: GEMMWorkspace(problem: problem, precision: precision), features: features,
      context: KernelContext(threads: candidate.threads, placement: .perCore(topology)))
    guard let run = try? evaluator.runner(for: candidate), evaluator.verify(run).passed else { return nil }
    cache[key] = run
    return run
  }
}
