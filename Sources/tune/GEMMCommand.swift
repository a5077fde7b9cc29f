import ArgumentParser
import Foundation
import Autotune
import Kernels
import NumberFormats
import Platform
import Probe
import Profile
import Report
import Tuning

struct GEMMCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gemm",
    abstract: "Tune GEMM: search the native blocking, check every shape's candidates, sweep precisions; merge kernels.gemm into the profile.")

  @OptionGroup var options: CommonOptions
  @OptionGroup var gemm: GEMMOptions

  func run() throws {
    try GEMMStage.execute(options: options, gemm: gemm, stages: ["gemm"])
  }
}

struct GEMMOptions: ParsableArguments {
  @Option(help: "Comma-separated precisions (default: every one). Known: \(Precision.allCases.map(\.rawValue).joined(separator: ", ")).")
  var precision: String?

  @Option(help: "Comma-separated MxNxK shapes (default: squares 512-4096, 4096x128x4096, transformer projections and MLPs at hidden 1024-4096, 2048 tokens).")
  var shapes: String?

  @Option(help: "Seconds for the whole GEMM stage (default 240, 30 with --quick).")
  var budget: Double?

  @Option(help: "Search strategy on the reference shape: \(StrategyChoice.allCases.map(\.rawValue).joined(separator: ", ")).")
  var strategy = "model"

  @Option(help: "Threads (default: one per core).")
  var threads: Int?

  @Option(help: "Tuning journal (default: results/journal/<fingerprint>.jsonl).")
  var journal: String?

  @Flag(help: "Ignore the journal's earlier results.")
  var fresh = false

  @Option(help: "Tune exactly this model's training GEMMs (forward, dX, dW of QKV, attention output, MLP, LM head) in every precision: \(ModelConfig.named.map(\.name).joined(separator: ", ")).")
  var model: String?

  @Option(help: "A JSON model config (fields as the named models'), in place of --model.")
  var modelFile: String?

  @Option(help: "Sequences per micro-batch for --model: tokens = micro-batch × seq (default 4).")
  var microBatch: Int?

  @Flag(help: "Run more threads than the machine gives this process (the profile's rates are then a contended machine's).")
  var oversubscribe = false

  func validate() throws {
    do {
      _ = try parsedPrecisions()
      _ = try parsedShapes()
    } catch let error as CustomStringConvertible {
      throw ValidationError(error.description)
    }
    if let budget, !(budget > 0) { throw ValidationError("--budget must be a positive number of seconds; got \(budget)") }
    if StrategyChoice(rawValue: strategy) == nil {
      throw ValidationError("unknown --strategy \"\(strategy)\"; expected one of: \(StrategyChoice.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1; got \(threads)") }
    if model != nil && modelFile != nil { throw ValidationError("--model and --model-file: give one") }
    if let microBatch, microBatch < 1 { throw ValidationError("--micro-batch must be at least 1; got \(microBatch)") }
    if microBatch != nil && model == nil && modelFile == nil { throw ValidationError("--micro-batch needs --model or --model-file") }
    if (model != nil || modelFile != nil) && shapes != nil { throw ValidationError("--shapes and --model: the model says the shapes; give one") }
    do {
      _ = try modelConfig()
    } catch let error as ModelConfigError {
      throw ValidationError(error.description)
    }
  }

  /// The model --model or --model-file names, if any.
  func modelConfig() throws -> ModelConfig? {
    if let model { return try ModelConfig.named(model) }
    if let modelFile { return try ModelConfig.load(modelFile) }
    return nil
  }

  /// The model's training GEMMs at --micro-batch × seq tokens.
  func modelProblems() throws -> [GEMMProblem] {
    guard let config = try modelConfig() else { return [] }
    return config.trainingGEMMs(tokens: (microBatch ?? 4) * config.seq).map {
      GEMMProblem(shape: GEMMShape(m: $0.m, n: $0.n, k: $0.k), transA: $0.transA, transB: $0.transB, beta: $0.beta)
    }
  }

  func parsedPrecisions() throws -> [Precision]? {
    try precision.map { try $0.split(separator: ",", omittingEmptySubsequences: false).map { try Precision.parse(String($0).trimmingCharacters(in: .whitespaces)) } }
  }

  func parsedShapes() throws -> [GEMMShape]? {
    try shapes.map { try $0.split(separator: ",", omittingEmptySubsequences: false).map { try GEMMShape.parse(String($0).trimmingCharacters(in: .whitespaces)) } }
  }
}

enum GEMMStage {
  /// The peaks `threads` threads are held to, for percent of peak: fp32 and fp64 by precision,
  /// the bf16 units (AVX512-BF16, AMX) by ISA, for the amx backend.
  static func peaks(_ machine: MachineSection, threads: Int) -> [ArithmeticUnit: Double] {
    var peaks: [ArithmeticUnit: Double] = [:]
    for peak in machine.peaks where ["fp32", "fp64", "bf16"].contains(peak.precision) {
      let unit = ArithmeticUnit(precision: peak.precision, isa: peak.precision == "bf16" ? peak.isa : nil)
      peaks[unit] = max(peaks[unit] ?? 0, peak.bound(threads: threads))
    }
    return peaks
  }

  /// Runs the GEMM stage for `machine` and merges its section into the profile at `path`.
  static func tune(machine: MachineSection, options: CommonOptions, gemm: GEMMOptions) throws -> GEMMSection {
    let topology = try Topology()
    let features = ISAFeatures.current
    let threads = gemm.threads ?? max(1, topology.cores)
    let limits = MachineProbe.limits(topology: topology)
    if try limits.check(threads: threads, oversubscribe: gemm.oversubscribe) {
      options.progress("OVERSUBSCRIBED: \(threads) threads on \(limits.usableThreads) usable hardware threads")
    }
    let journalPath = gemm.journal ?? "results/journal/\(machine.fingerprint).jsonl"
    let journal = try KernelJournal(path: journalPath, fresh: gemm.fresh)
    if journal.skippedLines > 0 { options.progress("journal \(journalPath): skipped \(journal.skippedLines) unreadable line(s) (a run killed mid-write)") }
    if journal.count > 0 { options.progress("journal \(journalPath): reusing \(journal.count) earlier result(s); --fresh ignores them") }
    let peaks = Self.peaks(machine, threads: threads)
    let level = BLASRule.isa(of: features)
    let coreTypes = options.quick ? [] : BLASRule.candidateCores(for: level, vendor: machine.cpu.vendor, libraryVersion: machine.blas.version)
    let modelProblems = try gemm.modelProblems()
    // A model's largest forward product is the shape the blocking search runs on.
    let modelReference = modelProblems.filter { !$0.transA && !$0.transB }.max { $0.shape.flops < $1.shape.flops }.map { [$0.shape] }
    var tuningOptions = GEMMTuningOptions(
      shapes: try modelReference ?? gemm.parsedShapes() ?? (options.quick ? GEMMTuningOptions.quickShapes : GEMMTuningOptions.defaultShapes),
      precisions: try gemm.parsedPrecisions() ?? Precision.allCases,
      budgetSeconds: gemm.budget ?? (options.quick ? 30 : 240), quick: options.quick, threads: threads, fingerprint: machine.fingerprint,
      build: BuildIdentity.current,
      peaks: peaks, coreTypes: coreTypes, executable: try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"),
      strategy: StrategyChoice(rawValue: gemm.strategy) ?? .model, sweepAllShapes: gemm.shapes != nil)
    tuningOptions.modelProblems = modelProblems.filter { !($0.shape == tuningOptions.shapes.first && !$0.transA && !$0.transB) }
    // The largest problem's workspace, in the most demanding precision, must fit before any runs.
    let llc = CacheSizes(topology).lastLevel
    let problems = tuningOptions.shapes.map { GEMMProblem(shape: $0) } + tuningOptions.modelProblems
    if let largest = problems.max(by: { $0.shape.flops < $1.shape.flops }) {
      let plans = tuningOptions.precisions.map {
        ($0, GEMMWorkspace.memoryPlan(problem: largest, precision: $0, lastLevelCacheBytes: llc, threads: threads))
      }
      if let (precision, plan) = plans.max(by: { $0.1.totalBytes < $1.1.totalBytes }) {
        try plan.check(
          "tune gemm on \(largest.shape) \(precision)", against: limits,
          fits: GEMMWorkspace.fittingShape(largest, precision: precision, limits: limits, lastLevelCacheBytes: llc, threads: threads))
      }
    }
    let tuner = GEMMTuner(
      options: tuningOptions, features: features, context: KernelContext(threads: threads, placement: .perCore(topology)), caches: CacheSizes(topology), journal: journal,
      progress: options.progress)
    return tuner.run()
  }

  static func execute(options: CommonOptions, gemm: GEMMOptions, stages: [String]) throws {
    let stage = try KernelStage.open(options: options)
    let section = try tune(machine: stage.machine, options: options, gemm: gemm)
    try stage.finish(options: options, stages: stages, section: section, summary: GEMMSummary.text(section)) { $0.gemm = section }
  }
}
