import ArgumentParser
import Foundation
import ParallelTune
import Planner
import Platform
import Probe
import Profile
import Report

/// `tune plan`: the layout for a GPU cluster, by the planner's memory and step-time models.
struct PlanCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "plan",
    abstract: "Pick tensor, pipeline, data and context parallelism, micro-batch, recomputation, ZeRO stage and precision for a GPU cluster, before any of it runs.")

  @Option(help: "A named model: \((PlanModel.catalogue.map(\.config.name) + ModelConfig.named.map(\.name)).joined(separator: ", ")).")
  var model: String?

  @Option(name: .customLong("model-file"), help: "A JSON model with ModelConfig's fields (its head is taken as tied).")
  var modelFile: String?

  @Option(help: "nodes=N,devices=D,device=KIND[,intra=600GB/s][,inter=200Gb/s]; KIND one of \(Device.catalogue.keys.sorted().joined(separator: ", ")); or `this`: this node, from its profile (the kernel rates measured here).")
  var cluster: String?

  @Option(help: "With --cluster this: the profile whose rates (and trials) to use (default: this host's newest under results/).")
  var profile: String?

  @Option(help: "With --cluster this: the nodes of this fleet profile (tune fleet), each with this node's rates, joined by the fleet's measured links.")
  var fleet: String?

  @Option(name: .customLong("global-batch"), help: "Sequences per optimizer step.")
  var globalBatch: Int?

  @Option(help: "Sequence length (default: the model's).")
  var seq: Int?

  @Option(help: "Precisions to consider, comma-separated (default: bf16 and, where the device has it, fp8).")
  var precision: String?

  @Option(help: "Evaluate exactly this layout: tp=…,pp=…,dp=…,cp=…,micro=…,virtualStages=…,recompute=none|selective|full,sequenceParallel=…,zero=…")
  var layout: String?

  @Option(help: "How many of the best candidates to print.")
  var top = 5

  @Flag(help: "Print the plan as JSON.")
  var json = false

  @Option(help: "Also write the plan's JSON here (what `tune report` draws and `tune export` writes for other trainers).")
  var output: String?

  @Option(help: "Check the planner against a fixture of published runs (Tests/PlannerTests/Fixtures/published-runs.json): each run's predicted and published step time, and the error with that run left out of the fit.")
  var published: String?

  func validate() throws {
    if published != nil { return }
    if (model == nil) == (modelFile == nil) { throw ValidationError("give one of --model NAME or --model-file F") }
    if cluster == nil { throw ValidationError("--cluster is required: nodes=N,devices=D,device=KIND (e.g. nodes=128,devices=8,device=a100-80gb)") }
    if fleet != nil && cluster != "this" { throw ValidationError("--fleet goes with --cluster this: the fleet's nodes, with this node's rates") }
    if cluster == "this" { return }
    guard let globalBatch, globalBatch > 0 else { throw ValidationError("--global-batch is required: the sequences per optimizer step, a positive number") }
    if let seq, seq <= 0 { throw ValidationError("--seq must be positive; got \(seq)") }
    if top < 1 { throw ValidationError("--top must be at least 1; got \(top)") }
  }

  func run() throws {
    if let published { return try checkPublished(published) }
    if cluster == "this" { return try planThisNode() }
    var planModel = try modelFile.map { PlanModel(try ModelConfig.load($0), source: $0) } ?? PlanModel.named(model!)
    if let seq { planModel.config.seq = seq }
    let cluster = try Cluster.parse(self.cluster!)
    let precisions = try precisions(default: Planner.defaultPrecisions(cluster.device))
    let planner = try Planner(estimator: Estimator(model: planModel, cluster: cluster), globalBatch: globalBatch!, precisions: precisions)
    let started = Date()
    let plan: Plan
    if let layout {
      let parsed = try PlanLayout.parse(layout, devices: cluster.devices)
      if let problem = parsed.problem(model: planModel.config, globalBatch: globalBatch!, devices: cluster.devices) {
        throw PlanError.layout(layout, problem)
      }
      plan = planner.evaluate(parsed, compare: true)
    } else {
      // The file keeps more of the ranking than the screen (for tune report's chart).
      plan = planner.search(top: output == nil ? top : max(top, 200))
    }
    let seconds = Date().timeIntervalSince(started)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    if let output {
      do { try AtomicFile.write(try encoder.encode(plan), to: output) } catch { throw CommandFailure("cannot write \(output): \(error)") }
    }
    var shown = plan
    shown.candidates = Array(plan.candidates.prefix(top))
    if json {
      print(String(decoding: try encoder.encode(shown), as: UTF8.self))
      return
    }
    print(String(format: "links %.0f GB/s within a node, %.0f GB/s across, per device and direction", cluster.intraGBPerSecond, cluster.interGBPerSecond))
    print(PlanSummary.text(shown, seconds: seconds))
    if let best = plan.searchPick, let why = plan.why {
      print("\nthe search's pick: \(best.layout) \(best.precision), \(String(format: "%.3f", best.predicted.stepSeconds)) s per step: \(why)")
    } else if layout != nil && plan.pick != nil {
      print("\nno layout is predicted faster than this one")
    }
    if layout == nil && plan.pick == nil {
      throw CommandFailure("no layout of \(planModel.config.name) fits \(cluster.devices) × \(cluster.device.name) with a global batch of \(globalBatch!): see the pruned reasons above")
    }
  }

  /// `--cluster this`: the node tuner's candidates ranked by the planner's step model on this
  /// node's measured rates (the cost model `tune parallel` ranks with: one code path), and, where
  /// the profile holds trials of this model, each trial's prediction against its measured step.
  func planThisNode() throws {
    guard let path = profile ?? ResultsPath.latest() else {
      throw CommandFailure("--cluster this reads this node's profile: none under results/ for this host; run `make tune` (or give --profile P)")
    }
    let loaded = try ProfileStore.read(path)
    guard let machine = loaded.machine else { throw CommandFailure("\(path) has no machine section: run `tune probe` first") }
    if modelFile == nil, let name = model, (try? ModelConfig.named(name)) == nil, PlanModel.catalogue.contains(where: { $0.config.name == name.lowercased() }) {
      throw CommandFailure(
        "--cluster this plans the models ScaleTune's trainer runs here (\(ModelConfig.named.map(\.name).joined(separator: ", ")), or --model-file); \(name) is a cluster model: give --cluster nodes=N,devices=D,device=KIND")
    }
    let config = try modelFile.map { try ModelConfig.load($0) } ?? (try ModelConfig.named(model!))
    let topology = try Topology()
    let limits = MachineProbe.limits(topology: topology)
    let choices = try KernelChoices(profile: loaded, path: path, machineFingerprint: machine.fingerprint)
    let rates = CostModelRates.resolve(machine, topology: topology, quick: true)
    let section = loaded.parallel.flatMap { $0.model.name == config.name ? $0 : nil }
    let collective = section?.collectiveGBPerSecond ?? CostModel.measureCollectiveBandwidth(members: 2)
    var cost = CostModel(
      profile: loaded, choices: choices, peakGflops: rates.fp32PeakGflops, triadGBPerSecond: rates.triadGBPerSecond, collectiveGBPerSecond: collective,
      tunedThreads: limits.usableThreads)
    let calibration = section?.costCalibration ?? 1
    let batch = globalBatch ?? section?.globalBatch ?? 8
    var world = section?.worldThreads ?? limits.usableThreads
    var processes = 1
    if let fleet {
      let applied = try FleetOption.apply(fleet, to: &cost)
      guard cost.acrossGBPerSecond != nil else { throw CommandFailure("\(fleet): its fleet section has no all-reduce across the nodes") }
      processes = applied.fleet.nodes.count
      world = processes * limits.usableThreads
      cost.processes = processes
      if !json { for line in applied.said { print(line) } }
    }
    let precisions = try precisions(default: [.fp32, .bf16])
    let space = CandidateSpace.enumerate(model: config, worldThreads: world, globalBatch: batch, precisions: precisions, processes: processes)
    let ranked = space.valid.map { ($0, cost.stepSeconds($0, model: config, globalBatch: batch) * calibration) }.sorted { $0.1 < $1.1 }
    var result = ThisNodePlan(
      model: config.name, profile: path, fingerprint: machine.fingerprint, worldThreads: world, processes: processes, globalBatch: batch,
      calibration: calibration, candidates: ranked.prefix(top).map { ThisNodePlan.Ranked(candidate: $0.0, stepSeconds: $0.1) }, trials: [],
      predictionError: nil)
    // Each trial's prediction is scaled as the tuner scales its own (by one measured step over
    // its prediction), here by the median of that ratio over the other trials: the error is on a
    // trial the scale did not see.
    if processes == 1, let section {
      var rows: [(Candidate, predicted: Double, measured: Double)] = []
      for trial in section.trials where trial.status == .ok {
        guard let measured = trial.measuredStepSeconds, measured > 0 else { continue }
        let candidate = Candidate(layout: trial.layout, precision: trial.precision, threadsPerRank: trial.threadsPerRank)
        rows.append((candidate, cost.stepSeconds(candidate, model: config, globalBatch: section.globalBatch), measured))
      }
      if rows.count >= 2 {
        for (index, row) in rows.enumerated() {
          let scale = Statistics(samples: rows.enumerated().filter { $0.offset != index }.map { $0.element.measured / $0.element.predicted }).median
          result.trials.append(ThisNodePlan.Trial(candidate: row.0, predictedStepSeconds: row.predicted * scale, measuredStepSeconds: row.measured))
        }
        result.predictionError = PredictionError(result.trials.map { ($0.predictedStepSeconds, $0.measuredStepSeconds) })
      }
    }
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try encoder.encode(result), as: UTF8.self))
      return
    }
    print(String(format: "%@ on this node (%@): %d threads, rates from %@ (fp32 peak %.1f GFLOP/s, triad %.1f GB/s, all-reduce %.2f GB/s; ranking scaled by %.2f, the profile's calibration)",
      config.name, machine.fingerprint, world, path, rates.fp32PeakGflops, rates.triadGBPerSecond, cost.collectiveGBPerSecond, calibration))
    print("\nthe planner's best \(result.candidates.count) of \(ranked.count) layouts the trainer runs here (global batch \(batch)):")
    for row in result.candidates { print(String(format: "  %@  %8.4f s per step", Self.pad(row.candidate.description, 60), row.stepSeconds)) }
    guard processes == 1 else { return }
    guard let section else {
      print("\n\(path) has no trials of \(config.name) to check the predictions against (run `tune parallel --model \(config.name)`)")
      return
    }
    guard !result.trials.isEmpty else {
      print("\n\(path) has fewer than two trials of \(config.name) that ran: nothing to check the predictions against")
      return
    }
    print("\nits trials in \(path) (\(section.trials.count) recorded): predicted (scaled on the other trials) against measured step time")
    for trial in result.trials {
      print(String(format: "  %@  predicted %8.4f s  measured %8.4f s  %+6.1f%%", Self.pad(trial.candidate.description, 60), trial.predictedStepSeconds,
        trial.measuredStepSeconds, 100 * (trial.predictedStepSeconds / trial.measuredStepSeconds - 1)))
    }
    if let error = result.predictionError {
      print(String(format: "median error %.1f%%, worst %.1f%% over %d trials", 100 * error.median, 100 * error.worst, error.trials))
    }
  }

  /// `--cluster this --json`: the trainer's layouts ranked here, and the profile's trials against
  /// their predictions.
  struct ThisNodePlan: Codable {
    struct Ranked: Codable {
      var candidate: Candidate
      var stepSeconds: Double
    }
    struct Trial: Codable {
      var candidate: Candidate
      var predictedStepSeconds: Double
      var measuredStepSeconds: Double
    }
    var model: String
    var profile: String
    var fingerprint: String
    var worldThreads: Int
    var processes: Int
    var globalBatch: Int
    var calibration: Double
    var candidates: [Ranked]
    var trials: [Trial]
    var predictionError: PredictionError?
  }

  /// --precision's list, or `fallback`.
  func precisions(default fallback: [TrainingPrecision]) throws -> [TrainingPrecision] {
    try precision.map { list in
      try list.split(separator: ",").map { name -> TrainingPrecision in
        guard let p = TrainingPrecision(rawValue: String(name)) else {
          throw PlanError.precision(String(name), "unknown; expected one of \(TrainingPrecision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return p
      }
    } ?? fallback
  }

  static func pad(_ text: String, _ width: Int) -> String { PlanSummary.pad(text, width) }

  func checkPublished(_ path: String) throws {
    let fixture = try PublishedRuns.load(path)
    print("run                     layout                          published s  predicted s  error   left out  (rates fitted on the other runs)")
    var left: [Double] = [], picks: [String] = []
    for run in fixture.runs {
      let (estimator, layout) = try fixture.setting(run)
      let published = try fixture.stepSeconds(run)
      let predicted = estimator.predict(layout, globalBatch: run.globalBatch, precision: run.precision).stepSeconds
      let out = try fixture.error(run, rates: try fixture.fit(fixture.runs.filter { $0.id != run.id }))
      left.append(abs(out))
      let plan = try Planner(estimator: estimator, globalBatch: run.globalBatch, precisions: [run.precision]).evaluate(layout, compare: true)
      picks.append("\(Self.pad(run.id, 22))  " + (plan.searchPick.map { "\($0.layout): \(plan.why ?? "")" } ?? "the published layout is the planner's pick too"))
      print(String(format: "%@  %@  %10.3f  %11.3f  %+5.1f%%  %+6.1f%%", Self.pad(run.id, 22),
        Self.pad("tp\(run.tp) pp\(run.pp) cp\(run.cp) vp\(run.vp) mbs\(run.microBatchSize)", 30), published, predicted, 100 * (predicted / published - 1), 100 * out))
    }
    print("\nthe planner's own pick for each run (same devices, batch and precision), against the published layout:")
    for line in picks { print(line) }
    left.sort()
    print(String(format: "left out: median %.1f%%, worst %.1f%% over %d runs; shipped rates %@", 100 * left[left.count / 2], 100 * left.last!, left.count,
      String(describing: AchievableRates.fitted)))
  }
}
