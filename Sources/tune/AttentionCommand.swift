import ArgumentParser
import Autotune
import Foundation
import Kernels
import NumberFormats
import Platform
import Probe
import Profile
import Report
import Tuning

struct AttentionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "attention",
    abstract: "Tune attention (flash tiles and the materialised-scores backend, per storage precision), each candidate verified first; merge kernels.attention into the profile.")

  @OptionGroup var options: CommonOptions
  @OptionGroup var attention: AttentionOptions

  func run() throws {
    try AttentionStage.execute(options: options, attention: attention, stages: ["attention"])
  }
}

struct AttentionOptions: ParsableArguments {
  @Option(help: "Comma-separated sequence lengths (default 512,1024,2048,4096).")
  var seq: String?

  @Option(name: .customLong("head-dim"), help: "Comma-separated head dims (default 64,128).")
  var headDim: String?

  @Option(name: .customLong("attention-budget"), help: "Seconds for the attention stage (default 240, 20 with --quick).")
  var attentionBudget: Double?

  @Option(
    name: .customLong("attention-precision"),
    help: "Comma-separated storage precisions of Q, K, V (default fp32,bf16,fp8-e4m3; fp32 alone with --quick; also fp8-e5m2).")
  var attentionPrecision: String?

  func precisions(quick: Bool) throws -> [Precision] {
    guard let attentionPrecision else { return quick ? [.fp32, .bf16] : AttentionTuningOptions.defaultPrecisions }
    var result: [Precision] = []
    for name in attentionPrecision.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
      let precision = try Precision.parse(name)
      guard AttentionTensor.precisions.contains(precision) else {
        throw ValidationError(
          "--attention-precision \(name): attention inputs can be stored as \(AttentionTensor.precisions.map(\.rawValue).joined(separator: ", "))")
      }
      if !result.contains(precision) { result.append(precision) }
    }
    // fp32 first: its search picks the tiles the lower precisions start from.
    return result.sorted { ($0 == .fp32 ? 0 : 1) < ($1 == .fp32 ? 0 : 1) }
  }

  func list(_ text: String?, _ name: String) throws -> [Int]? {
    guard let text else { return nil }
    let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard values.allSatisfy({ ($0 ?? 0) > 0 }) else { throw ValidationError("--\(name) takes positive integers separated by commas, e.g. 512,1024; got \(text)") }
    return values.compactMap { $0 }
  }

  func validate() throws {
    _ = try list(seq, "seq")
    _ = try list(headDim, "head-dim")
    if let attentionBudget, !(attentionBudget > 0) { throw ValidationError("--attention-budget must be a positive number of seconds") }
    do { _ = try precisions(quick: false) } catch let error as Precision.ParseError { throw ValidationError("--attention-precision: \(error)") }
  }

  func problems(quick: Bool) throws -> [AttentionShape] {
    if quick && seq == nil && headDim == nil { return AttentionTuningOptions.quickProblems }
    let sequences = try list(seq, "seq") ?? [512, 1024, 2048, 4096]
    let dims = try list(headDim, "head-dim") ?? [64, 128]
    return dims.flatMap { d in sequences.flatMap { s in [false, true].map { AttentionShape(batch: 1, heads: 8, seq: s, headDim: d, causal: $0) } } }
  }
}

enum AttentionStage {
  static func execute(options: CommonOptions, attention: AttentionOptions, stages: [String]) throws {
    let stage = try KernelStage.open(options: options)
    let machine = stage.machine
    let topology = try Topology()
    let precisions = try attention.precisions(quick: options.quick)
    // GEMM rates from this machine's kernels.gemm (2048³ winners) where it has them.
    var rates: [GEMMRate] = []
    if let section = stage.profile?.kernels?.gemm, section.fingerprint == machine.fingerprint {
      for precision in precisions {
        if let entry = section.entries.first(where: { $0.shape == "2048x2048x2048" && $0.precision == precision }), let winner = entry.winner,
          let g = winner.gflops?.median
        {
          rates.append(GEMMRate(precision: precision, gflops: g, source: "kernels.gemm 2048x2048x2048 \(precision) winner (\(winner.backend))"))
        }
      }
    }
    // The largest problem must fit before any runs (flash's scratch, the backward's buffers).
    let problems = try attention.problems(quick: options.quick)
    let threads = max(1, topology.cores)
    let limits = MachineProbe.limits(topology: topology)
    if let largest = problems.max(by: { $0.forwardFlops < $1.forwardFlops }) {
      try AttentionBenchmark.memoryPlan(shape: largest, precision: .fp32, backward: true, threads: threads, materialized: false)
        .check("tune attention on \(largest)", against: limits, fits: "shorter --seq or a smaller --head-dim")
    }
    let journal = try KernelJournal(path: "results/journal/\(machine.fingerprint).jsonl")
    let tuner = AttentionTuner(
      options: AttentionTuningOptions(
        problems: problems, precisions: precisions,
        budgetSeconds: attention.attentionBudget ?? (options.quick ? 20 : 240), quick: options.quick, threads: max(1, topology.cores),
        fingerprint: machine.fingerprint, build: BuildIdentity.current, gemmRates: rates),
      context: KernelContext(threads: max(1, topology.cores), placement: .perCore(topology)), journal: journal, features: ISAFeatures.current, caches: CacheSizes(topology),
      progress: options.progress)
    let section = tuner.run()
    try stage.finish(options: options, stages: stages, section: section, summary: AttentionSummary.text(section)) { $0.attention = section }
  }
}
