import Benchmark
import Foundation
import Kernels
import Platform
import Probe
import Profile
import Trainer

/// One training step of `small` (batch 8 × seq 512, synthetic data, one rank on every core), fp32
/// and bf16 on the built-in kernel choices: tokens/s and model FLOPs utilisation (against the
/// fp32 all-core FMA peak measured once here) as custom metrics. The session (ranks, parameters)
/// is made before the measurement; each iteration is one real step.
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .custom("tokens/s", polarity: .prefersLarger, useScalingFactor: false),
      .custom("MFU %", polarity: .prefersLarger, useScalingFactor: false)],
    timeUnits: .milliseconds, warmupIterations: 1, maxDuration: .seconds(30), maxIterations: 8)

  guard let topology = try? Topology(), let model = try? ModelConfig.named("small") else { return }
  let threads = max(1, topology.cores)
  let peak = PeakProbe.fp32AllCores(topology: topology, plan: .full)?.median
  for precision in [TrainingPrecision.fp32, .bf16] {
    Benchmark("small \(precision) step, batch 8, \(threads) thread(s)") { benchmark in
      var options = TrainingOptions(model: model, batch: 8, steps: 1000, precision: precision, threadsPerRank: threads)
      options.caches = CacheSizes(topology)
      options.placement = .perCore(topology)
      options.peakGflops = peak
      guard let run = try? TrainingRun(options) else { return }
      let session = TrainingSession(run)
      for _ in benchmark.scaledIterations {
        benchmark.startMeasurement()
        guard let report = session.step() else { break }
        benchmark.stopMeasurement()
        benchmark.measurement(.custom("tokens/s"), Int(report.tokensPerSecond))
        if let mfu = report.mfu { benchmark.measurement(.custom("MFU %"), Int(100 * mfu)) }
      }
    }
  }
}

