import Foundation
import Platform
import Profile
import Trainer

/// What one trial measured.
public struct TrialResult: Sendable {
  public enum Status: Sendable, Equatable {
    case ok
    case failed(String)
    case oom(String)
    case timeout(String)
  }

  public var status: Status
  /// The spec the trial's `train` trained with, as it wrote it (`--spec-out`): its flags applied.
  public var spec: TrainingSpec?
  public var reports: [StepReport]
  public var seconds: Double
  public var stderrTail: String
}

/// Runs one trial as a real `train` run in a child process (warm-up steps, then timed steps),
/// with a time limit and a memory limit enforced on it: its resident set is read every 50 ms and
/// the child killed past the limit (`oom`), or past the time limit (`timeout`). A `train` that
/// refused the run for want of memory (`ResourceError.memoryExitStatus`) is `oom` too; a crash or
/// another non-zero exit is `failed`, with the end of its stderr.
public struct TrialRunner: Sendable {
  public var binary: String
  /// Flags every trial gets (the model, the profile, the seed …).
  public var common: [String]
  public var memoryLimitBytes: Double
  public var environment: [String: String]
  /// A launcher the trial's `train` runs under (`mpirun -np 2 …`, `srun …`): its processes are the
  /// trial's, their resident memory summed, all of them killed at a limit.
  public var launcher: [String] = []

  public init(binary: String, common: [String], memoryLimitBytes: Double, environment: [String: String] = [:]) {
    self.binary = binary
    self.common = common
    self.memoryLimitBytes = memoryLimitBytes
    self.environment = environment
  }

  /// The `train` next to the running executable (SCALETUNE_TRAIN_BINARY overrides).
  public static func defaultBinary() -> String {
    if let path = ProcessInfo.processInfo.environment["SCALETUNE_TRAIN_BINARY"] { return path }
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("train").path
  }

  /// Trains `spec` for `steps` steps: the spec goes to `train --spec` as a file, the common flags
  /// (a profile, the trial flags) override it, and `train` writes back the spec it ran.
  public func run(_ spec: TrainingSpec, steps: Int, timeout: Double) -> TrialResult {
    let stem = NSTemporaryDirectory() + "scaletune-trial-\(getpid())-\(UUID().uuidString)"
    let input = stem + ".json", output = stem + "-ran.json"
    defer {
      try? FileManager.default.removeItem(atPath: input)
      try? FileManager.default.removeItem(atPath: output)
    }
    do {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      try encoder.encode(spec).write(to: URL(fileURLWithPath: input))
    } catch {
      return TrialResult(status: .failed("cannot write the trial's spec \(input): \(error.localizedDescription)"), reports: [], seconds: 0, stderrTail: "")
    }
    var result = run(arguments: ["--spec", input, "--spec-out", output] + common + ["--steps", String(steps), "--json", "--quiet"], timeout: timeout)
    result.spec = try? TrainingSpec.load(output)
    return result
  }

  public func run(arguments: [String], timeout: Double) -> TrialResult {
    let process = Process()
    if let program = launcher.first {
      process.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : Self.onPath(program) ?? program)
      process.arguments = Array(launcher.dropFirst()) + [binary] + arguments
    } else {
      process.executableURL = URL(fileURLWithPath: binary)
      process.arguments = arguments
    }
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    let started = Date()
    do {
      try process.run()
    } catch {
      return TrialResult(status: .failed("cannot start \(binary): \(error.localizedDescription)"), reports: [], seconds: 0, stderrTail: "")
    }
    let collected = Collected()
    let readers = DispatchGroup()
    for (pipe, isError) in [(out, false), (err, true)] {
      readers.enter()
      DispatchQueue.global().async {
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        collected.set(data, error: isError)
        readers.leave()
      }
    }
    var killed: TrialResult.Status?
    var peakResident = 0.0
    let root = process.processIdentifier
    // Under a launcher the trial is a tree of processes: all of them are counted and killed.
    func tree() -> [Int32] { launcher.isEmpty ? [root] : ProcessTree.descendants(of: root) }
    func killAll() { for pid in tree().reversed() { kill(pid, SIGKILL) } }
    while process.isRunning {
      let resident = tree().map(Self.residentBytes).reduce(0, +)
      peakResident = max(peakResident, resident)
      if resident > memoryLimitBytes {
        killed = .oom(String(format: "resident %.0f MiB passed the limit of %.0f MiB; killed", resident / 1048576, memoryLimitBytes / 1048576))
        killAll()
        break
      }
      if Date().timeIntervalSince(started) > timeout {
        killed = .timeout(String(format: "still running after %.0f s; killed", timeout))
        killAll()
        break
      }
      usleep(50_000)
    }
    process.waitUntilExit()
    readers.wait()
    let seconds = Date().timeIntervalSince(started)
    let stdout = String(decoding: collected.stdout, as: UTF8.self), stderr = String(decoding: collected.stderr, as: UTF8.self)
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    let reports = stdout.split(separator: "\n").compactMap { try? decoder.decode(StepReport.self, from: Data($0.utf8)) }
    let tail = String(stderr.split(separator: "\n").suffix(3).joined(separator: " | ").suffix(400))
    if let killed { return TrialResult(status: killed, reports: reports, seconds: seconds, stderrTail: tail) }
    if process.terminationReason == .uncaughtSignal {
      return TrialResult(status: .failed("ended on signal \(process.terminationStatus): \(tail)"), reports: reports, seconds: seconds, stderrTail: tail)
    }
    if process.terminationStatus != 0 {
      let reason = "exit \(process.terminationStatus): \(tail)"
      let refusedMemory = process.terminationStatus == ResourceError.memoryExitStatus
      return TrialResult(status: refusedMemory ? .oom(reason) : .failed(reason), reports: reports, seconds: seconds, stderrTail: tail)
    }
    return TrialResult(status: .ok, reports: reports, seconds: seconds, stderrTail: tail)
  }

  /// `name` found on the PATH.
  static func onPath(_ name: String) -> String? {
    (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/\(name)" }
      .first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  /// VmRSS of a process, in bytes (0 when it cannot be read).
  static func residentBytes(_ pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
      let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return Double(line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0) * 1024
  }
}

final class Collected: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var stdout = Data(), stderr = Data()
  func set(_ data: Data, error: Bool) { lock.withLock { if error { stderr = data } else { stdout = data } } }
}
