import ArgumentParser
import Foundation
import Kernels
import ParallelTune
import Planner
import Platform
import Probe
import Profile
import Report
import Trainer

struct ParallelCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "parallel",
    abstract: "Pick the fastest stable layout by short real training trials; merge the parallel section into the profile.")

  @OptionGroup var options: CommonOptions
  @Option(help: "A named model: \(ModelConfig.named.map(\.name).joined(separator: ", ")) (default small).")
  var model: String?
  @Option(name: .customLong("model-file"), help: "A JSON model config, in place of --model.")
  var modelFile: String?
  @OptionGroup var parallel: ParallelOptions

  func validate() throws {
    if model != nil && modelFile != nil { throw ValidationError("--model and --model-file: give one") }
    if let model { do { _ = try ModelConfig.named(model) } catch { throw ValidationError("\(error)") } }
  }

  func run() throws {
    let config = try modelFile.map(ModelConfig.load) ?? ModelConfig.named(model ?? "small")
    try ParallelStage.execute(options: options, parallel: parallel, model: config, stages: ["parallel"])
  }
}

/// The parallel search's flags (the model comes from the command: `tune parallel --model`, or the
/// whole `tune`'s).
struct ParallelOptions: ParsableArguments {
  @Option(help: "Ranks of the world (default: every divisor of the usable hardware threads, each rank given threads / ranks).")
  var ranks: Int?
  @Option(name: .customLong("global-batch"), help: "Sequences per step (default 8).")
  var globalBatch = 8
  @Option(name: .customLong("parallel-precision"), help: "Comma-separated precision policies to try (default fp32,bf16,fp16,fp8).")
  var parallelPrecision: String?
  @Option(name: .customLong("memory-limit"), help: "Bytes the trials may use, e.g. 8G or 512M (default: the usable memory the probe found).")
  var memoryLimit: String?
  @Option(name: .customLong("parallel-budget"), help: "Seconds for the parallel stage (default 360, 60 with --quick).")
  var parallelBudget: Double?
  @Option(help: "Candidates the cost model ranks best that get a first trial (default 8, 4 with --quick).")
  var initial: Int?
  @Flag(help: "Trial every candidate once, as long as halving runs its pick (the truth to hold the pick against); no halving.")
  var exhaustive = false
  @Option(name: .customLong("trial-lr"), help: "The trials' learning rate (default 3e-4).")
  var trialLR = 3e-4
  @Option(name: .customLong("trial-flags"), help: "More flags for every trial's train, written --trial-flags=\"--loss-scale off\" (a planted instability).")
  var trialFlags: String?
  @Flag(name: .customLong("fresh-trials"), help: "Ignore journaled trials.")
  var freshTrials = false
  @Option(help: "Run every trial as a job under this launcher, written --launcher=\"mpirun -np 2 --hostfile H\" (or srun …): the trials' ranks are its processes'.")
  var launcher: String?
  @Option(help: "The launcher's processes: every candidate's ranks are shared evenly by them (needs --launcher).")
  var processes: Int?
  @Option(help: "A fleet profile (tune fleet): the cost model's rates within a node and across nodes come from its measurements.")
  var fleet: String?

  func validate() throws {
    if let ranks, ranks < 1 || ranks > 256 { throw ValidationError("--ranks must be between 1 and 256; got \(ranks)") }
    if globalBatch < 1 || globalBatch > 100_000 { throw ValidationError("--global-batch must be between 1 and 100000; got \(globalBatch)") }
    if let parallelBudget, !(parallelBudget > 0) { throw ValidationError("--parallel-budget must be a positive number of seconds") }
    if let initial, initial < 1 { throw ValidationError("--initial must be at least 1") }
    if !(trialLR.isFinite && trialLR > 0) { throw ValidationError("--trial-lr must be a positive number") }
    _ = try precisions()
    if let memoryLimit { _ = try Self.bytes(memoryLimit) }
    if (launcher == nil) != (processes == nil) {
      throw ValidationError("--launcher and --processes go together: the launcher's command and how many processes it starts")
    }
    if let processes {
      guard processes >= 1 else { throw ValidationError("--processes must be at least 1; got \(processes)") }
      if let ranks, ranks % processes != 0 { throw ValidationError("--ranks \(ranks) cannot be shared evenly by \(processes) processes") }
    }
  }

  func precisions() throws -> [TrainingPrecision] {
    guard let parallelPrecision else { return TrainingPrecision.allCases }
    do {
      return try parallelPrecision.split(separator: ",").map { try TrainingPrecision.parse(String($0)) }
    } catch {
      throw ValidationError("--parallel-precision: \(error)")
    }
  }

  /// "8G", "512M", "4096K" or a byte count.
  static func bytes(_ text: String) throws -> Double {
    let units: [Character: Double] = ["K": 1024, "M": 1_048_576, "G": 1_073_741_824, "T": 1_099_511_627_776]
    var number = text.uppercased()
    var scale = 1.0
    if let last = number.last, let unit = units[last] {
      scale = unit
      number.removeLast()
    }
    guard let value = Double(number), value.isFinite, value > 0 else {
      throw ValidationError("--memory-limit must be a size such as 8G, 512M or a byte count; got \(text)")
    }
    return value * scale
  }
}

enum ParallelStage {
  /// The `train` the trials run (beside this `tune`, or SCALETUNE_TRAIN_BINARY).
  /// - Throws: `CommandFailure` saying how to build it when it is missing.
  @discardableResult
  static func requireTrainer() throws -> String {
    let binary = TrialRunner.defaultBinary()
    guard FileManager.default.isExecutableFile(atPath: binary) else {
      throw CommandFailure("the trainer \(binary) is missing: build every product (swift build -c release, or make tune), or set SCALETUNE_TRAIN_BINARY")
    }
    return binary
  }

  static func execute(options: CommonOptions, parallel: ParallelOptions, model: ModelConfig, stages: [String], budget: Double? = nil) throws {
    let stage = try KernelStage.open(options: options)
    let machine = stage.machine
    let topology = try Topology()
    let limits = MachineProbe.limits(topology: topology)
    let world = parallel.ranks ?? limits.usableThreads
    let binary = try requireTrainer()
    // The kernel choices trials run and the cost model reads: the profile this stage writes when it
    // has them, else this host's newest profile that does (an --output of a new file would
    // otherwise time every trial on untuned kernels); said either way.
    var kernelSource: (profile: Profile, path: String)?
    if let own = stage.profile, own.kernels != nil, FileManager.default.fileExists(atPath: stage.path) {
      kernelSource = (own, stage.path)
    } else if let newest = ResultsPath.latest(), newest != stage.path, let loaded = try? ProfileStore.read(newest),
      loaded.kernels != nil, loaded.machine?.fingerprint == machine.fingerprint
    {
      kernelSource = (loaded, newest)
      options.progress("parallel: \(stage.path) has no kernel choices; trials run those of \(newest)")
    } else {
      options.progress("parallel: no kernel choices for this machine; trials run the untuned defaults (run `tune gemm --model …` first)")
    }
    let profile = kernelSource?.profile ?? stage.profile
    let choices = try kernelSource.map { try KernelChoices(profile: $0.profile, path: $0.path, machineFingerprint: machine.fingerprint) } ?? .none
    let rates = CostModelRates.resolve(machine, topology: topology, quick: options.quick)
    if !rates.note.isEmpty { options.progress("parallel: \(rates.note)") }
    let (peak, triad) = (rates.fp32PeakGflops, rates.triadGBPerSecond)
    var cost = CostModel(profile: profile, choices: choices, peakGflops: peak, triadGBPerSecond: triad, collectiveGBPerSecond: 0, tunedThreads: limits.usableThreads)
    if let path = parallel.fleet {
      for line in try FleetOption.apply(path, to: &cost).said { options.progress("parallel: " + line) }
    } else {
      options.progress("parallel: measuring the shared-memory all-reduce")
      cost.collectiveGBPerSecond = CostModel.measureCollectiveBandwidth(members: max(2, min(world, 4)))
    }
    cost.processes = parallel.processes ?? 1
    var tuneOptions = ParallelTuneOptions(
      model: model, worldThreads: world, memoryLimitBytes: try parallel.memoryLimit.map(ParallelOptions.bytes) ?? Double(limits.usableBytes),
      budgetSeconds: budget ?? parallel.parallelBudget ?? (options.quick ? 60 : 360), trainBinary: binary, fingerprint: machine.fingerprint,
      build: BuildIdentity.of(binary))
    tuneOptions.ranks = parallel.ranks
    tuneOptions.globalBatch = parallel.globalBatch
    tuneOptions.precisions = try parallel.precisions()
    tuneOptions.initialTrials = parallel.initial ?? (options.quick ? 4 : 8)
    tuneOptions.exhaustive = parallel.exhaustive
    tuneOptions.learningRate = parallel.trialLR
    // Trials run those kernel choices (the file as it is now, before this stage writes).
    let trialFlags = parallel.trialFlags.map { $0.split(separator: " ").map(String.init) } ?? []
    tuneOptions.trainFlags = (kernelSource.map { ["--profile", $0.path] } ?? []) + trialFlags
    tuneOptions.journalPath = "results/journal/trials-\(machine.fingerprint).jsonl"
    tuneOptions.fresh = parallel.freshTrials
    tuneOptions.launcher = parallel.launcher.map { $0.split(separator: " ").map(String.init) } ?? []
    tuneOptions.processes = parallel.processes ?? 1
    let section = try ParallelTuner(options: tuneOptions, costModel: cost).run(progress: options.progress)
    try stage.commit(options: options, stages: stages, section: section, summary: ParallelSummary.text(section)) { $0.parallel = section }
  }
}

struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Write a profile's parallel pick, with its whole recipe, in another trainer's terms: megatron, deepspeed, torchrun, nemo, bionemo.",
    discussion: "What the tool cannot express of the recipe is said on stderr (and on the export's comment lines where its format has them).")

  @Argument(help: "A profile with a parallel section, or a plan written by `tune plan --output`.")
  var profile: String
  @Option(help: "megatron, deepspeed, torchrun, nemo or bionemo.")
  var format: String
  @Option(help: "The run's length in steps, which the learning-rate schedule decays over.")
  var steps = Export.defaultSteps
  @Option(help: "Write here instead of stdout.")
  var output: String?

  func validate() throws {
    guard Export.Format(rawValue: format) != nil else { throw ValidationError(Export.ExportError.unknownFormat(format).description) }
  }

  func run() throws {
    let rendered: Export.Rendered
    do {
      // A plan (tune plan --output) or a profile.
      if let plan = Plan.load(profile) {
        guard plan.pick != nil else { throw CommandFailure("\(profile): the plan has no pick (no layout fitted); nothing to export") }
        rendered = try Export.render(plan, format: Export.Format(rawValue: format)!, steps: steps)
      } else {
        let loaded = try ProfileStore.read(profile)
        guard let section = loaded.parallel, section.pick != nil else { throw CommandFailure(Export.ExportError.noPick(path: profile).description) }
        rendered = try Export.render(section, format: Export.Format(rawValue: format)!, steps: steps)
      }
    } catch let error as Export.ExportError {
      throw CommandFailure(error.description)
    }
    for item in rendered.unexpressed { FileHandle.standardError.write(Data("warning: \(format) cannot express \(item)\n".utf8)) }
    let text = rendered.text
    if let output {
      do {
        try AtomicFile.write(Data(text.utf8), to: output)
      } catch {
        throw CommandFailure("cannot write \(output): \(error)")
      }
    } else {
      print(text, terminator: "")
    }
  }
}

/// `--fleet F` (tune parallel, tune plan --cluster this): the cost model's rates from a fleet
/// profile: the all-reduce within a node and across the nodes (bounded by the slowest link), and
/// the nodes' own kernel rates where they ran their kernel stages.
enum FleetOption {
  /// Sets `cost`'s rates from the fleet at `path`; the fleet and what was set, in words.
  static func apply(_ path: String, to cost: inout CostModel) throws -> (fleet: FleetSection, said: [String]) {
    guard let fleet = try ProfileStore.read(path).fleet else { throw CommandFailure("\(path) has no fleet section: write one with `mpirun … tune fleet`") }
    let rates = FleetRates(fleet)
    guard let within = rates.withinNode else { throw CommandFailure("\(path): its fleet section has no all-reduce within a node") }
    cost.collectiveGBPerSecond = within
    cost.acrossGBPerSecond = rates.acrossNodes
    let kernels = FleetRates.nodeRates(fleet)
    cost.nodes = kernels.rates
    let links = String(
      format: "the fleet of %@: %d nodes, all-reduce %.3g GB/s within a node and %@ across (the slowest link)", path, fleet.nodes.count, within,
      rates.acrossNodes.map { String(format: "%.3g GB/s", $0) } ?? "none")
    let nodes =
      kernels.rates.isEmpty
      ? "its nodes have no kernel sections (tune fleet --kernels): this node's rates stand in for theirs"
      : "each product at the slowest of its \(kernels.rates.count) nodes' measured rates"
        + (kernels.without.isEmpty ? "" : " (without kernel sections: \(kernels.without.joined(separator: ", ")))")
    return (fleet, [links, nodes])
  }
}
