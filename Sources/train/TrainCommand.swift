import ArgumentParser
import Foundation
import Kernels
import Platform
import Probe
import Profile
import Trainer

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a transformer on this node: data, tensor and pipeline parallel ranks on the kernel runtime.",
    discussion: """
      Models: tiny, small, esm2-8m, gpt2-124m, or --model-file with a JSON config. Data: synthetic, text:PATH \
      (bytes), fasta:PATH (proteins). Layout: dp=2,tp=1,pp=1,micro=4,recompute=off,zero=1 (keys left out keep \
      these defaults: dp=1,tp=1,pp=1,micro=1,recompute=off,zero=0). --steps counts all steps: a run loaded \
      from a checkpoint at step k runs steps k..<N. --json prints one JSON object per step on stdout.
      """)

  @Option(help: "A profile from `tune`: its kernel choices run each GEMM and attention shape, and its parallel pick is the run (flags override it).")
  var profile: String?
  @Option(help: "A training spec (JSON, as --spec-out writes it or a parallel trial ran): the run, which flags override; with --profile, the profile's kernel choices apply and its pick does not.")
  var spec: String?
  @Option(name: .customLong("spec-out"), help: "Write the spec this run trains with (every override applied) here before the first step.")
  var specOut: String?
  @Flag(help: "Apply a profile measured on another machine.")
  var force = false
  @Option(help: "A named model: tiny, small, esm2-8m, gpt2-124m.")
  var model: String?
  @Option(name: .customLong("model-file"), help: "A JSON model config.")
  var modelFile: String?
  @Option(help: "synthetic, text:PATH, fasta:PATH or features[:outliers=R,scale=S] (default synthetic).")
  var data: String?
  @Option(help: "on: windows at seeded random positions (the default); off: consecutive windows from the start of the file.")
  var shuffle: String?
  @Option(help: "Train until this many steps in all.")
  var steps = 20
  @Option(help: "Sequences per step over all ranks and micro-batches (default: the smallest multiple of dp×micro that is at least 4).")
  var batch: Int?
  @Option(help: "dp=…,tp=…,pp=…,micro=…,recompute=on|off,zero=0|1 (default: the profile's pick, else dp=1).")
  var layout: String?
  @Option(help: "fp32, bf16, fp16 or fp8 (default: the profile's pick, else fp32).")
  var precision: String?
  @Option(name: .customLong("fp8-scaling"), help: "fp8's scaling: current or delayed (per tensor: its own amax, or an amax history of 16 steps; the default), or mx (a power-of-two scale per 32 values along K).")
  var fp8Scaling: String?
  @Option(name: .customLong("loss-scale"), help: "dynamic (fp16's default), off, or a fixed scale.")
  var lossScale: String?
  @Option(help: "Kernel threads per rank (default: the usable hardware threads over the ranks).")
  var threads: Int?
  @Option(help: "Peak learning rate (default 3e-4).")
  var lr: Double?
  @Option(help: "Warm-up steps (default: a tenth of --steps, at least 1, at most 100).")
  var warmup: Int?
  @Option(name: .customLong("schedule-steps"), help: "The learning-rate schedule's length, where its cosine decay ends (default --steps): runs of different lengths with the same value follow the same rates step by step.")
  var scheduleSteps: Int?
  @Option(help: "Seed of the initialisation and the data (default 1).")
  var seed: UInt64?
  @Option(help: "Save a safetensors checkpoint here at the end.")
  var save: String?
  @Option(name: .customLong("save-every"), help: "With --save: also save after every N steps (each save atomic: a kill leaves the last complete checkpoint).")
  var saveEvery: Int?
  @Flag(name: .customLong("no-gradient-overlap"), help: "All-reduce the data-parallel gradients after the backward instead of beside it (for the overlap benchmark).")
  var noGradientOverlap = false
  @Option(help: "Start from this safetensors checkpoint.")
  var load: String?
  @Flag(help: "One JSON object per step on stdout.")
  var json = false
  @Flag(help: "No per-step lines (the summary still prints).")
  var quiet = false
  @Flag(help: "Run more threads than the machine's usable hardware threads.")
  var oversubscribe = false

  func validate() throws {
    if model != nil && modelFile != nil { throw ValidationError("give --model or --model-file, not both") }
    if force && profile == nil { throw ValidationError("--force applies to --profile") }
    do {
      if let layout { _ = try ParallelLayout.parse(layout) }
      if let precision { _ = try TrainingPrecision.parse(precision) }
      if let data { _ = try DataSource.parse(data) }
      if let model { _ = try ModelConfig.named(model) }
      if let lossScale, (try? LossScaling.parse(lossScale)) == nil {
        throw ValidationError("--loss-scale must be dynamic, off or a positive number; got \(lossScale)")
      }
    } catch let error as CustomStringConvertible {
      throw ValidationError(error.description)
    }
    if let shuffle, !["on", "off"].contains(shuffle) { throw ValidationError("--shuffle must be on or off; got \(shuffle)") }
    if let fp8Scaling, FP8Scaling(rawValue: fp8Scaling) == nil { throw ValidationError("--fp8-scaling must be current, delayed or mx; got \(fp8Scaling)") }
    if steps < 1 || steps > 10_000_000 { throw ValidationError("--steps must be between 1 and 10000000; got \(steps)") }
    if let batch, batch < 1 || batch > 1_000_000 { throw ValidationError("--batch must be between 1 and 1000000; got \(batch)") }
    if let threads, threads < 1 || threads > 4096 { throw ValidationError("--threads must be between 1 and 4096; got \(threads)") }
    if let saveEvery {
      if save == nil { throw ValidationError("--save-every needs --save PATH: the checkpoint it writes") }
      if saveEvery < 1 { throw ValidationError("--save-every must be at least 1; got \(saveEvery)") }
    }
    if let warmup, warmup < 0 { throw ValidationError("--warmup must be at least 0; got \(warmup)") }
    if let scheduleSteps, scheduleSteps < 1 || scheduleSteps > 10_000_000 { throw ValidationError("--schedule-steps must be between 1 and 10000000; got \(scheduleSteps)") }
    if let lr, !(lr.isFinite && lr > 0 && lr < 100) { throw ValidationError("--lr must be a positive number below 100; got \(lr)") }
  }

  /// The flags as overrides of a spec: nil where none was given.
  func overrides() throws -> TrainingSpec.Overrides {
    var o = TrainingSpec.Overrides()
    o.model = try modelFile.map(ModelConfig.load) ?? model.map(ModelConfig.named)
    o.layout = try layout.map(ParallelLayout.parse)
    o.precision = try precision.map(TrainingPrecision.parse)
    o.fp8Scaling = fp8Scaling.flatMap(FP8Scaling.init(rawValue:))
    o.lossScale = try lossScale.map(LossScaling.parse)
    o.threadsPerRank = threads
    o.globalBatch = batch
    o.data = data
    o.shuffle = shuffle.map { $0 == "on" }
    o.learningRate = lr
    o.warmupSteps = warmup
    o.horizonSteps = scheduleSteps
    o.seed = seed
    return o
  }

  func run() throws {
    var status: Int32 = 0
    do {
      try train()
    } catch let error as ExitCode {
      status = error.rawValue
    } catch let error as ResourceError {
      FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
      status = { if case .memory = error { return ResourceError.memoryExitStatus } else { return 1 } }()
    } catch {
      FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
      status = 1
    }
    // In an MPI job every process ends together: a failed one takes the others with it, so none
    // waits for it in a collective.
    if let job = Self.job {
      if status != 0 { job.abort(status: status) }
      job.finish()
    }
    if status != 0 { throw ExitCode(status) }
  }

  /// The MPI job this process is part of (launched by mpirun or srun), if any: only its first
  /// process prints the run's lines, so that a job reads like one process.
  static var job: MPIJob? { MPIJob.current }
  static var speaks: Bool { (job?.rank ?? 0) == 0 }

  private func train() throws {
    let topology = try Topology()
    let limits = MachineProbe.limits(topology: topology)
    let overrides = try self.overrides()
    // The profile first: its environment, kernel choices and parallel pick shape everything after.
    var loaded: Profile?
    var machineFingerprint = ""
    if let profile {
      machineFingerprint = try MachineProbe.run(ProbeOptions(measure: false)).fingerprint
      let read = try ProfileStore.read(profile)
      loaded = read
      let wanted = read.kernels?.gemm?.environment ?? [:]
      if let status = try Reexecution.withEnvironment(wanted, note: { FileHandle.standardError.write(Data("train: \($0)\n".utf8)) }) {
        if status != 0 { throw ExitCode(status) }
        return
      }
    }
    // The run's base: a spec file, or the profile's pick (for its model), which the flags override.
    let (resolution, notes) = try TrainingSpec.forRun(
      specFile: try self.spec.map { ($0, try TrainingSpec.load($0)) }, profile: loaded.map { (profile ?? "", $0) },
      machineFingerprint: machineFingerprint, force: force, overrides: overrides, defaultModel: try ModelConfig.named("small"),
      usableThreads: limits.usableThreads)
    let spec = resolution.spec
    let config = spec.model, layout = spec.layout, batch = spec.globalBatch, threadsPerRank = spec.threadsPerRank
    var options = try TrainingOptions(spec: spec, steps: steps)
    options.caches = CacheSizes(topology)
    options.placement = .perCore(topology)
    options.load = load
    options.save = save
    options.saveEvery = saveEvery
    options.overlapsGradients = !noGradientOverlap
    // Layout, threads and memory are checked before anything is allocated.
    let processes = Self.job?.size ?? 1
    // A job's processes must be alike: one build, one kind of machine (checked before any work).
    if let job = Self.job, job.size > 1 {
      let fingerprint = machineFingerprint.isEmpty ? try MachineProbe.run(ProbeOptions(measure: false)).fingerprint : machineFingerprint
      try job.requireUniform(fingerprint: fingerprint, build: BuildIdentity.current)
    }
    try options.validate(usableThreads: limits.usableThreads, oversubscribe: oversubscribe, processes: processes)
    try options.memoryPlan(processes: processes).check(
      "train \(config.name) \(layout) --batch \(batch)", against: limits,
      fits: "a smaller --batch, more micro-batches (micro=), recompute=on, or zero=1")
    if let specOut {
      do {
        try AtomicFile.write(try JSONEncoder.compact.encode(spec), to: specOut)
      } catch {
        throw ValidationError("--spec-out \(specOut): cannot be written (\(error))")
      }
    }
    for line in notes { note(line) }
    if let profile, let loaded {
      options.choices = try KernelChoices(profile: loaded, path: profile, machineFingerprint: machineFingerprint, force: force)
      let counts = options.choices.counts
      let environment = (loaded.kernels?.gemm?.environment ?? [:]).sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }
      note("profile \(profile): \(counts.gemm) GEMM and \(counts.attention) attention choices"
        + (environment.isEmpty ? "" : "; applied " + environment.joined(separator: ", ")))
    }
    let utilisation = UtilisationPeak.resolve(
      units: options.gemmFlopsByUnit(), machine: loaded?.machine.map { ($0, profile ?? "") },
      fingerprint: machineFingerprint, topology: topology)
    options.peakGflops = utilisation?.gflops
    let run = try TrainingRun(options)
    let flops = TrainingOptions.flopsPerToken(config)
    note(
      "train \(config.name) (\(ParameterLayout.parameterCount(config)) parameters) on \(options.data), \(layout), \(spec.policy), "
        + "batch \(batch) × seq \(config.seq), \(threadsPerRank) thread\(threadsPerRank == 1 ? "" : "s") per rank, steps \(run.firstStep)..<\(steps)")
    note(
      String(format: "model FLOPs per token %.4g (6 × parameters without positions + 12 · layers · seq · hidden); ", flops)
        + (utilisation.map {
          String(format: "MFU against the %@ peak %.1f GFLOP/s (the unit that runs %.0f%% of the GEMM FLOPs; %@)", $0.unit.description, $0.gflops, $0.share * 100, $0.source)
        } ?? "no peak could be measured here: no MFU"))
    let interactive = isatty(STDERR_FILENO) == 1 && !json && !quiet
    let started = Date()
    let total = steps - run.firstStep
    let json = self.json, quiet = self.quiet, totalSteps = steps
    let summary = try run.run { report in
      if json {
        if let data = try? JSONEncoder.compact.encode(report) { Self.out(String(decoding: data, as: UTF8.self)) }
      } else if !quiet {
        Self.out(Self.line(report, steps: totalSteps))
      }
      if interactive && Self.speaks {
        let done = report.step - run.firstStep + 1
        let left = Date().timeIntervalSince(started) / Double(done) * Double(total - done)
        FileHandle.standardError.write(Data(String(format: "\rstep %d/%d  loss %.4f  %.0f tok/s  %.0fs left ", report.step + 1, totalSteps, report.loss, report.tokensPerSecond, left).utf8))
      }
    }
    if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    for (shape, choice) in summary.appliedGEMMs.sorted(by: { $0.key < $1.key }) { note("GEMM \(shape): \(choice)") }
    note("attention: \(summary.appliedAttention)")
    if let steady = summary.steadyState {
      note(
        String(format: "median over steps %d..%d: %.1f tokens/s", steady.steps.lowerBound, steady.steps.upperBound, steady.tokensPerSecond)
          + (steady.mfu.map { String(format: ", MFU %.1f%%", $0 * 100) } ?? ""))
    }
    if let save { note("saved \(save)") }
  }

  /// Writes a line to stdout at once (unbuffered: a pipe reader sees each step as it ends); in an
  /// MPI job, from its first process only.
  static func out(_ text: String) {
    guard speaks else { return }
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
  }

  /// Progress and facts: on stderr under --json (stdout is the steps' JSON), else on stdout.
  private func note(_ text: String) {
    guard Self.speaks else { return }
    if json {
      FileHandle.standardError.write(Data((text + "\n").utf8))
    } else {
      Self.out(text)
    }
  }

  static func line(_ r: StepReport, steps: Int) -> String {
    let shares = r.seconds > 0 ? (r.computeSeconds / r.seconds, r.communicationSeconds / r.seconds, r.bubbleSeconds / r.seconds) : (0, 0, 0)
    let peak = Double(r.peakBytesPerRank.max() ?? 0) / Double(1 << 20)
    var text = String(format: "step %d/%d  loss %.4f  lr %.2e  gnorm %.3f  %.0f tok/s", r.step + 1, steps, r.loss, r.learningRate, r.gradNorm, r.tokensPerSecond)
    if let mfu = r.mfu { text += String(format: "  MFU %.1f%%", mfu * 100) }
    text += String(format: "  compute %.0f%% comm %.0f%% bubble %.0f%%  peak %.0f MiB/rank", shares.0 * 100, shares.1 * 100, shares.2 * 100, peak)
    if r.lossScale != 1 { text += String(format: "  scale %.0f", r.lossScale) }
    if r.skipped { text += "  skipped" }
    if r.nonFinite > 0 { text += "  non-finite \(r.nonFinite)" }
    return text
  }
}

extension JSONEncoder {
  static var compact: JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return encoder
  }
}
