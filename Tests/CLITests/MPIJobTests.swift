import Foundation
import Platform
import Profile
import Testing

/// `mpirun -np P train …`: ranks as P processes of one job (this machine's processes, talking
/// through Open MPI), against the same run in one process: the loss curve, the printed output
/// (once per job) and the checkpoint.
@Suite struct MPIJobTests {
  /// mpirun, from the PATH (Open MPI is a dependency: a machine without it fails here).
  static func mpirun() throws -> URL {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
      let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("mpirun")
      if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    throw MPITestError.noMPI
  }

  enum MPITestError: Error, CustomStringConvertible {
    case noMPI
    var description: String { "mpirun is not on the PATH: install Open MPI (make deps installs openmpi-bin and libopenmpi-dev)" }
  }

  /// `train ARGUMENTS` under mpirun with `processes` processes on this machine (not bound to
  /// cores, more processes than cores allowed; as root, allowed).
  static func job(_ processes: Int, _ arguments: [String], directory: String? = nil) throws -> Outcome {
    var launcher = ["-np", String(processes), "--oversubscribe", "--bind-to", "none"]
    if getuid() == 0 { launcher.append("--allow-run-as-root") }
    return try launch(try mpirun(), launcher + [try builtBinary("train").path] + arguments, directory: directory, timeout: 300)
  }

  static func losses(_ stdout: String) -> [Double] { TrainCLITests.losses(stdout) }

  static let models: [String: String] = [
    "tiny-masked": #"{"name":"tiny-masked","kind":"masked-lm","vocabulary":64,"hidden":32,"heads":4,"kvHeads":2,"layers":2,"seq":16,"mlpHidden":64,"mlp":"swiglu","positions":"rotary"}"#,
    "tiny-features": #"{"name":"tiny-features","vocabulary":64,"hidden":32,"heads":4,"kvHeads":2,"layers":2,"seq":16,"mlpHidden":64,"features":8}"#,
  ]

  /// The layouts of `LayoutEquivalenceTests` (dp, tp, pp, their products, ZeRO-1, recompute,
  /// accumulation, both model kinds) as 2 and 4 processes: each gives the one-process loss curve
  /// over 10 steps within 1e-5 relative, printed once.
  @Test(arguments: [
    (2, "tiny", "dp=2"), (2, "tiny", "tp=2"), (2, "tiny", "pp=2,micro=2"), (4, "tiny", "dp=2,tp=2"), (4, "tiny", "dp=2,pp=2,micro=2"),
    (2, "tiny", "dp=2,zero=1,micro=2"), (2, "tiny", "tp=2,pp=2,micro=2,recompute=on"), (4, "tiny-masked", "dp=2,tp=2,zero=1"),
    (2, "tiny-masked", "tp=2,pp=2,micro=2"), (4, "tiny-features", "tp=2,pp=2,micro=4,recompute=on"), (4, "tiny", "dp=4,micro=2"),
  ])
  func aJobOfProcessesTrainsTheOneProcessCurve(processes: Int, model: String, layout: String) throws {
    let directory = try scratch()
    var arguments = ["--layout", layout, "--steps", "10", "--json", "--oversubscribe", "--seed", "7", "--lr", "0.003"]
    if let text = Self.models[model] {
      try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/model.json"))
      arguments += ["--model-file", "model.json"]
      if model == "tiny-features" { arguments += ["--data", "features:outliers=0.01,scale=8"] }
    } else {
      arguments += ["--model", model]
    }
    let alone = try train(arguments, directory: directory)
    #expect(alone.status == 0, "\(alone.stderr)")
    let job = try Self.job(processes, arguments, directory: directory)
    #expect(job.status == 0 && !job.timedOut, "\(job.stderr)")
    let (one, many) = (Self.losses(alone.stdout), Self.losses(job.stdout))
    #expect(one.count == 10 && many.count == 10, "one line per step for the job, not one per process: \(many.count)")
    for (a, b) in zip(one, many) { #expect(abs(a - b) <= 1e-5 * abs(a), "\(layout) on \(processes) processes: \(a) alone, \(b) in the job") }
  }

  /// A checkpoint saved by a job of 4 processes holds the same tensors as one saved by one
  /// process, and a run of one process resumes from it on the same curve.
  @Test func aJobsCheckpointIsTheOneProcessCheckpoint() throws {
    let directory = try scratch()
    let common = ["--model", "tiny", "--layout", "dp=2,tp=2,zero=1", "--oversubscribe", "--quiet", "--schedule-steps", "8"]
    let alone = try train(common + ["--steps", "4", "--save", "one.safetensors"], directory: directory)
    #expect(alone.status == 0, "\(alone.stderr)")
    let job = try Self.job(4, common + ["--steps", "4", "--save", "job.safetensors"], directory: directory)
    #expect(job.status == 0, "\(job.stderr)")
    func tensors(_ name: String) throws -> Data {
      let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
      let header = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
      return data.dropFirst(8 + header)
    }
    #expect(try tensors("one.safetensors") == tensors("job.safetensors"), "the same bytes for every tensor and optimizer state")
    let resume = ["--model", "tiny", "--layout", "dp=2,tp=2,zero=1", "--oversubscribe", "--json", "--schedule-steps", "8", "--steps", "8"]
    let fromOne = try train(resume + ["--load", "one.safetensors"], directory: directory)
    let fromJob = try train(resume + ["--load", "job.safetensors"], directory: directory)
    #expect(fromOne.status == 0 && fromJob.status == 0, "\(fromOne.stderr) \(fromJob.stderr)")
    #expect(Self.losses(fromOne.stdout).count == 4 && Self.losses(fromJob.stdout) == Self.losses(fromOne.stdout))
  }

  /// Processes on machines of different fingerprints (here one of them masked to AVX2, which
  /// changes its fingerprint) are refused before any work, each named with its node.
  @Test func processesOnDifferentMachinesAreRefused() throws {
    let train = try builtBinary("train").path
    let arguments = ["--model", "tiny", "--layout", "dp=2", "--steps", "2", "--oversubscribe"]
    var launcher = ["--oversubscribe", "--bind-to", "none"]
    if getuid() == 0 { launcher.append("--allow-run-as-root") }
    let job = try launch(
      try Self.mpirun(), launcher + ["-np", "1", train] + arguments + [":", "-np", "1", "-x", "SCALETUNE_ISA=sse2", train] + arguments, timeout: 120)
    #expect(job.status != 0 && !job.timedOut)
    #expect(job.stderr.contains("run on different machines or builds") && job.stderr.contains("process 0 (") && job.stderr.contains("process 1 ("), "\(job.stderr)")
    #expect(!job.stdout.contains("step 1/2"), "no step ran")
  }

  /// The parallel tuner's trials as jobs of 2 processes (`--launcher mpirun … --processes 2`): every
  /// trial a real run across both, the pick among them, its ranks shared by the processes.
  @Test func theParallelSearchRunsItsTrialsAsJobs() throws {
    let directory = try scratch()
    let launcher = "\(try Self.mpirun().path) -np 2 --oversubscribe --bind-to none" + (getuid() == 0 ? " --allow-run-as-root" : "")
    let result = try tune(
      ["parallel", "--model", "tiny", "--quick", "--ranks", "2", "--launcher", launcher, "--processes", "2", "--parallel-precision", "fp32,bf16",
       "--parallel-budget", "90", "--output", directory + "/p.json", "--quiet"],
      directory: directory, timeout: 300)
    #expect(result.status == 0, "\(result.stderr)")
    let section = try #require(try ProfileStore.read(directory + "/p.json").parallel)
    let pick = try #require(section.pick)
    #expect(pick.layout.ranks == 2 && section.trials.filter { $0.status == .ok }.count >= 2)
    #expect(section.trials.filter { $0.status == .ok }.allSatisfy { ($0.losses?.count ?? 0) >= 3 }, "each trial reported its steps through the job's first process")
    let refused = try tune(["parallel", "--model", "tiny", "--ranks", "3", "--launcher", launcher, "--processes", "2"], directory: directory)
    #expect(refused.status != 0 && refused.stderr.contains("cannot be shared evenly by 2 processes"), "\(refused.stderr)")
  }

  /// A rank killed (SIGKILL) inside one trial's job: the parallel tuner records that trial as
  /// `failed`, naming the signal, and goes on to a pick among the others.
  @Test func aTrialWhoseRankIsKilledIsRecordedFailedAndTheSearchGoesOn() throws {
    let directory = try scratch()
    let mark = "SCALETUNE_TEST_MARK_\(UInt32.random(in: 0...UInt32.max))"
    let launcher = "\(try Self.mpirun().path) -np 2 --oversubscribe --bind-to none -x \(mark)" + (getuid() == 0 ? " --allow-run-as-root" : "")
    let train = try builtBinary("train").path
    let launcherBinary = try Self.mpirun().resolvingSymlinksInPath().path
    @Sendable func executable(_ pid: pid_t) -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe") }
    // The second job (the first is the fp32 reference, which another fp32 layout replaces when it
    // fails) loses a process once both have run for half a second.
    let killed = Killed()
    let watcher = Thread {
      let deadline = Date().addingTimeInterval(240)
      var seen: [pid_t: Date] = [:]
      while !killed.done && Date() < deadline {
        for job in Self.processes(marked: mark) where executable(job) == launcherBinary {
          let ranks = ProcessTree.descendants(of: job).filter { executable($0) == train }
          guard ranks.count == 2 else { continue }
          let first = seen[job] ?? Date()
          seen[job] = first
          if seen.count == 2 && seen.keys.max() == job && Date().timeIntervalSince(first) > 0.5, let victim = ranks.max() {
            kill(victim, SIGKILL)
            killed.done = true
            break
          }
        }
        usleep(20_000)
      }
    }
    watcher.start()
    let result = try tune(
      ["parallel", "--model", "tiny", "--quick", "--ranks", "2", "--launcher", launcher, "--processes", "2", "--parallel-precision", "fp32,bf16",
       "--parallel-budget", "90", "--output", directory + "/p.json", "--quiet"],
      environment: [mark: "1"], directory: directory, timeout: 300)
    let hit = killed.done
    killed.done = true
    #expect(result.status == 0, "\(result.stderr)")
    let section = try #require(try ProfileStore.read(directory + "/p.json").parallel)
    let failed = section.trials.filter { $0.status == .failed }
    #expect(failed.count == 1 && failed.allSatisfy { ($0.reason ?? "").contains("signal 9") }, "killed: \(hit); \(section.trials.map { "\($0.status) \($0.reason ?? "")" })")
    #expect(section.pick != nil && section.trials.contains { $0.status == .ok }, "the search went on to a pick")
  }

  final class Killed: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var done: Bool {
      get { lock.withLock { value } }
      set { lock.withLock { value = newValue } }
    }
  }

  /// Processes whose command line holds `marker`.
  static func processes(marked marker: String) -> [pid_t] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> pid_t? in
      guard let pid = pid_t(entry), let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
        String(decoding: cmdline, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(marker)
      else { return nil }
      return pid
    }
  }

  /// A world the job's processes cannot share evenly is refused before any work, saying what
  /// would fit, and every process exits non-zero.
  @Test func aWorldTheProcessesCannotShareIsRefused() throws {
    let job = try Self.job(3, ["--model", "tiny", "--layout", "dp=2,tp=2", "--steps", "2", "--oversubscribe"])
    #expect(job.status != 0 && !job.timedOut)
    #expect(job.stderr.contains("cannot be shared evenly by the job's 3 processes") && job.stderr.contains("(1, 2, 4)"), "\(job.stderr)")
  }

  /// The pids of this machine's processes running `binary` whose command line holds `marker`.
  static func processes(of binary: String, marked marker: String) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> pid_t? in
      guard let pid = pid_t(entry), let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/exe"), exe == binary,
        let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
        String(decoding: cmdline, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(marker)
      else { return nil }
      return pid
    }
  }

  /// What became of a job disturbed mid-run.
  struct Disrupted {
    var stderr: String
    /// The launcher ended by itself within 60 s of the disturbance, or 10 s of the job's
    /// processes (else the test ended it).
    var launcherEnded: Bool
    var status: Int32
    /// Seconds from the disturbance until no process of the job ran any more.
    var seconds: Double
    /// The job's processes still running (neither gone nor a zombie) 60 s after it.
    var survivors: [pid_t]
  }

  /// Runs `train ARGUMENTS` under mpirun with `options`, waits until its two processes (marked by
  /// a seed of their own) are into their steps, runs `disturb` on their pids, then waits up to
  /// 60 s for every one of them to end, and 10 s more for the launcher; whatever is left is killed.
  static func disrupted(
    on host: [String] = [], _ options: [String], _ arguments: [String], timeout: String, disturb: ([pid_t]) throws -> Void
  ) throws -> Disrupted {
    let train = try builtBinary("train").path
    let seed = String(4_000 + Int.random(in: 0..<1_000_000))
    let process = Process()
    process.environment = ProcessInfo.processInfo.environment.merging(["SCALETUNE_MPI_TIMEOUT": timeout]) { $1 }
    let command = [try mpirun().path] + options + ["-x", "SCALETUNE_MPI_TIMEOUT", "-np", "2", train] + arguments + ["--seed", seed]
    process.executableURL = URL(fileURLWithPath: (host + command)[0])
    process.arguments = Array((host + command).dropFirst())
    let err = Pipe()
    process.standardOutput = FileHandle.nullDevice
    process.standardError = err
    try process.run()
    let collected = Collected()
    let reader = DispatchGroup()
    reader.enter()
    DispatchQueue.global().async {
      collected.set(err.fileHandleForReading.readDataToEndOfFile(), error: true)
      reader.leave()
    }
    func state(_ pid: pid_t) -> String {
      let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
      return stat.split(separator: ")").last?.split(separator: " ").first.map(String.init) ?? "gone"
    }
    var ranks: [pid_t] = []
    let started = Date().addingTimeInterval(60)
    while Date() < started {
      ranks = processes(of: train, marked: "--seed \(seed)")
      if ranks.count == 2 { break }
      usleep(100_000)
    }
    #expect(ranks.count == 2, "the job's two processes started")
    sleep(3)
    try disturb(ranks)
    let disturbed = Date()
    func running() -> [pid_t] { ranks.filter { !["gone", "Z"].contains(state($0)) } }
    while !running().isEmpty && Date().timeIntervalSince(disturbed) < 60 { usleep(100_000) }
    let seconds = Date().timeIntervalSince(disturbed), survivors = running()
    // The launcher: until 60 s after the disturbance, and a few seconds more once the job's
    // processes are gone.
    let grace = max(disturbed.addingTimeInterval(60), Date().addingTimeInterval(10))
    while process.isRunning && Date() < grace { usleep(100_000) }
    let launcherEnded = !process.isRunning
    for pid in ProcessTree.descendants(of: process.processIdentifier).reversed() + survivors { kill(pid, SIGKILL) }
    process.waitUntilExit()
    reader.wait()
    return Disrupted(
      stderr: String(decoding: collected.stderr, as: UTF8.self), launcherEnded: launcherEnded, status: process.terminationStatus, seconds: seconds,
      survivors: survivors)
  }

  /// A rank's process killed mid-step (SIGKILL), or stopped (SIGSTOP: a hung process, which the
  /// launcher does not see): every process of the job and the launcher exit, non-zero, within
  /// 60 s, and the job says what failed: the launcher names the killed rank and its node; for the
  /// hung one, the waiting process names itself, its node and the collective that did not
  /// complete (after SCALETUNE_MPI_TIMEOUT seconds, 5 here).
  @Test(arguments: [SIGKILL, SIGSTOP])
  func aFailedProcessEndsTheWholeJobNamingIt(signal: Int32) throws {
    var options = ["--oversubscribe", "--bind-to", "none"]
    if getuid() == 0 { options.append("--allow-run-as-root") }
    let job = try Self.disrupted(options, ["--model", "small", "--layout", "dp=2", "--steps", "100000", "--oversubscribe"], timeout: "5") { ranks in
      if let victim = ranks.last { kill(victim, signal) }
    }
    #expect(job.launcherEnded && job.status != 0 && job.survivors.isEmpty, "ended within 60 s: \(job.seconds) s, survivors \(job.survivors)")
    if signal == SIGKILL {
      #expect(job.stderr.contains("rank") && job.stderr.contains("signal 9"), "\(job.stderr)")
    } else {
      // The collective in flight when the peer stopped: the gradients' (with its group) or the
      // step time's maximum over the processes.
      #expect(
        job.stderr.contains("did not complete in 5 s") && job.stderr.contains("of 2 on ")
          && (job.stderr.contains(" group of ranks ") || job.stderr.contains("'s time (1 values) over the job's processes")), "\(job.stderr)")
    }
  }
}
