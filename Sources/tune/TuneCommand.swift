import ArgumentParser
import Autotune
import Foundation
import Probe
import Profile
import Report

struct TuneCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tune",
    abstract: "Measure a training node and write what it can do into a profile (results/<host>-<time>.json).",
    discussion: "With no subcommand, runs every stage (probe, GEMM tuning at the model's training shapes, attention at its heads and sequence, the parallel layout search) for `small` unless --model or --model-file says otherwise, within --budget (default 720 s, 120 with --quick), and writes results/<host>-<time>.json.",
    version: ScaleTuneVersion.string,
    subcommands: [RunAll.self, ProbeCommand.self, GEMMCommand.self, AttentionCommand.self, ParallelCommand.self, PlanCommand.self, FleetCommand.self, BenchCommand.self, CompareCommand.self, ReportCommand.self, ExportCommand.self],
    defaultSubcommand: RunAll.self
  )
}

/// Flags every subcommand shares.
struct CommonOptions: ParsableArguments {
  @Flag(help: "A smoke-sized run: fewer repeats, smaller arrays (for tests and CI).")
  var quick = false

  @Option(help: "Profile to write; an existing profile gets this stage's section merged in. Default: results/<host>-<time>.json.")
  var output: String?

  @Flag(help: "Print JSON instead of the readable summary.")
  var json = false

  @Flag(help: "Print no progress lines.")
  var quiet = false

  func validate() throws {
    if let output, output.isEmpty { throw ValidationError("--output needs a file path, e.g. results/node1.json") }
  }

  func progress(_ message: String) {
    guard !quiet else { return }
    FileHandle.standardError.write(Data("… \(message)\n".utf8))
  }
}

struct RunAll: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run", abstract: "Run every stage (probe, gemm, attention, parallel) for a model and write the profile.")

  @OptionGroup var options: CommonOptions
  @OptionGroup var gemm: GEMMOptions
  @OptionGroup var attention: AttentionOptions
  @OptionGroup var parallel: ParallelOptions

  func run() throws {
    var options = options
    let path = options.output ?? ResultsPath.default(hostname: MachineProbe.hostname(), date: Date())
    options.output = path
    // --budget bounds the whole run; each kernel stage gets a share, the parallel search the rest.
    let budgets = StageBudgets(total: gemm.budget, quick: options.quick)
    let total = budgets.total
    let started = Date()
    func left() -> Double { max(0, total - Date().timeIntervalSince(started)) }
    var gemm = self.gemm, attention = self.attention
    if gemm.model == nil && gemm.modelFile == nil && gemm.shapes == nil { gemm.model = "small" }
    let model = try gemm.modelConfig()
    // The parallel stage's trials run the trainer: a missing one is said now, not after the
    // kernel stages' minutes.
    if model != nil { try ParallelStage.requireTrainer() }
    options.progress("stage 1/4 probe (\(Int(left())) s left of \(Int(total)))")
    try ProbeStage.execute(options: options, stages: ["probe"])
    gemm.budget = budgets.gemm(left: left())
    options.progress("stage 2/4 gemm (\(Int(left())) s left)")
    try GEMMStage.execute(options: options, gemm: gemm, stages: ["gemm"])
    if let model {
      if attention.seq == nil { attention.seq = String(model.seq) }
      if attention.headDim == nil { attention.headDim = String(model.headDim) }
    }
    attention.attentionBudget = attention.attentionBudget ?? budgets.attention(left: left())
    options.progress("stage 3/4 attention (\(Int(left())) s left)")
    try AttentionStage.execute(options: options, attention: attention, stages: ["attention"])
    guard let model else {
      options.progress("no model (--shapes given): the parallel stage needs --model or --model-file; skipped")
      return
    }
    options.progress("stage 4/4 parallel (\(Int(left())) s left)")
    try ParallelStage.execute(options: options, parallel: parallel, model: model, stages: ["parallel"], budget: parallel.parallelBudget ?? budgets.parallel(left: left()))
    options.progress("then: the pick's own GEMM shapes (\(Int(left())) s left)")
    try PickShapeStage.execute(options: options, budget: budgets.pickShapes(left: left()))
  }
}

struct ProbeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "probe",
    abstract: "Probe the hardware: topology, ISA, memory limits, PCI devices, BLAS, measured peaks and bandwidth.")

  @OptionGroup var options: CommonOptions

  @Flag(help: "Read facts only; skip the peak and bandwidth measurements. (Writes a profile only with --output.)")
  var noMeasure = false

  func run() throws {
    try ProbeStage.execute(options: options, stages: ["probe"], measure: !noMeasure)
  }
}

enum ProbeStage {
  static func execute(options: CommonOptions, stages: [String], measure: Bool = true) throws {
    let started = Date()
    let machine = try MachineProbe.run(ProbeOptions(quick: options.quick, measure: measure), progress: options.progress)
    if options.json {
      print(String(decoding: try ProfileStore.encode(machine), as: UTF8.self))
    } else {
      print(MachineSummary.text(machine))
    }
    // A look at the machine leaves no file behind unless asked (--output, or the whole `tune`).
    guard let path = options.output else { return }
    let run = Provenance.Run(
      commandLine: CommandLine.arguments, gitCommit: ResultsPath.gitCommit(), startedAt: started,
      finishedAt: Date(), stages: stages)
    let notes = try ProfileStore.merge(machine: machine, run: run, into: path) { KernelStage.check(&$0, options: options) }
    for note in notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
    options.progress("profile written to \(path)")
  }
}

/// A command that cannot do what it was asked, found while running (the flags themselves were
/// fine, so no usage is printed): the message says what was wrong and what would be right.
struct CommandFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
