import Autotune
import Foundation
import Kernels
import ParallelTune
import Platform
import Probe
import Profile
import Report
import Tuning

/// The whole `tune`'s last stage: the GEMMs of the parallel pick that the profile has no choice
/// tuned for exactly (another micro-batch, tensor parallelism's split shapes) are tuned at the
/// pick's threads per rank, and merged into `kernels.gemm`, so that `train --profile` runs the
/// pick on choices measured at its own shapes.
enum PickShapeStage {
  static func execute(options: CommonOptions, budget: Double) throws {
    let stage = try KernelStage.open(options: options)
    guard let profile = stage.profile, let section = profile.parallel, let pick = section.pick, profile.kernels?.gemm != nil else {
      options.progress("pick shapes: no parallel pick with kernel choices to tune for; skipped")
      return
    }
    let spec = pick.spec ?? TrainingSpec(
      model: section.model, layout: pick.layout, precision: pick.precision, threadsPerRank: pick.threadsPerRank, globalBatch: pick.globalBatch)
    let choices = try KernelChoices(profile: profile, path: stage.path, machineFingerprint: stage.machine.fingerprint)
    let problems = try PickShapes.untuned(spec, choices: choices)
    guard !problems.isEmpty else {
      options.progress("pick shapes: every GEMM of the pick has a choice tuned for its shape")
      return
    }
    let threads = spec.threadsPerRank
    options.progress("pick shapes: \(problems.count) GEMM(s) of the pick have no choice tuned for their shape; tuning them at \(threads) thread(s), \(Int(budget)) s")
    let topology = try Topology()
    let tuningOptions = GEMMTuningOptions(
      shapes: [], precisions: Array(Set(problems.map(\.precision))), budgetSeconds: budget, quick: options.quick, threads: threads,
      fingerprint: stage.machine.fingerprint, build: BuildIdentity.current, peaks: GEMMStage.peaks(stage.machine, threads: threads), coreTypes: [],
      executable: nil, strategy: .model, sweepAllShapes: false)
    let journal = try KernelJournal(path: "results/journal/\(stage.machine.fingerprint).jsonl", fresh: false)
    let tuner = GEMMTuner(
      options: tuningOptions, features: .current, context: KernelContext(threads: threads, placement: .perCore(topology)), caches: CacheSizes(topology),
      journal: journal, progress: options.progress)
    let entries = tuner.checkProblems(problems)
    let tuned = entries.filter { $0.winner != nil }.count
    try stage.commit(
      options: options, stages: ["pick-shapes"], section: entries,
      summary: "pick shapes: \(tuned) of \(entries.count) GEMMs of the pick \(spec.layout) \(spec.precision) tuned at \(threads) thread(s) per rank"
    ) { $0.kernels?.gemm?.entries += entries }
  }
}
