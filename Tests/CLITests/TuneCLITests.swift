import Foundation
import Platform
import Profile
import Testing

/// The `tune` executable, built next to this test bundle.
func tuneBinary() throws -> URL { try builtBinary("tune") }

/// An executable of this package (`tune`, `train`), built next to this test bundle.
func builtBinary(_ name: String) throws -> URL {
  let me = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
  var directory = URL(fileURLWithPath: me).deletingLastPathComponent()
  // The test runner may live inside a .xctest bundle directory.
  while directory.path != "/" {
    let candidate = directory.appendingPathComponent(name)
    if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    directory = directory.deletingLastPathComponent()
  }
  throw CLIError.binaryNotFound(me)
}

enum CLIError: Error { case binaryNotFound(String) }

struct Outcome {
  var status: Int32
  var stdout: String
  var stderr: String
  /// Ended on a signal (a crash, or the kill after `timeout`).
  var signaled = false
  var timedOut = false
}

/// Runs the built `tune`; past `timeout` seconds it is killed (and says so in the outcome).
func tune(_ arguments: [String], environment extra: [String: String] = [:], directory: String? = nil, timeout: Double? = nil) throws -> Outcome {
  try execute("tune", arguments, environment: extra, directory: directory, timeout: timeout)
}

/// Runs the built `train` likewise.
func train(_ arguments: [String], environment extra: [String: String] = [:], directory: String? = nil, timeout: Double? = nil) throws -> Outcome {
  try execute("train", arguments, environment: extra, directory: directory, timeout: timeout)
}

func execute(_ binary: String, _ arguments: [String], environment extra: [String: String], directory: String?, timeout: Double?) throws -> Outcome {
  try launch(try builtBinary(binary), arguments, environment: extra, directory: directory, timeout: timeout)
}

/// Runs `executable` with `arguments`, its output collected; past `timeout` seconds it is killed.
func launch(_ executable: URL, _ arguments: [String], environment extra: [String: String] = [:], directory: String? = nil, timeout: Double? = nil) throws
  -> Outcome
{
  let process = Process()
  process.executableURL = executable
  process.arguments = arguments
  if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
  process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  process.standardInput = FileHandle.nullDevice
  try process.run()
  // Both pipes drained at once, so that neither fills while the other is read.
  let group = DispatchGroup()
  let collected = Collected()
  for (pipe, isError) in [(out, false), (err, true)] {
    group.enter()
    DispatchQueue.global().async {
      let data = pipe.fileHandleForReading.readDataToEndOfFile()
      collected.set(data, error: isError)
      group.leave()
    }
  }
  var timedOut = false
  if let timeout {
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(2000) }
    if process.isRunning {
      timedOut = true
      kill(process.processIdentifier, SIGKILL)
    }
  }
  process.waitUntilExit()
  group.wait()
  return Outcome(
    status: process.terminationStatus, stdout: String(decoding: collected.stdout, as: UTF8.self), stderr: String(decoding: collected.stderr, as: UTF8.self),
    signaled: process.terminationReason == .uncaughtSignal, timedOut: timedOut)
}

final class Collected: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var stdout = Data(), stderr = Data()
  func set(_ data: Data, error: Bool) { lock.withLock { if error { stderr = data } else { stdout = data } } }
}

func scratch() throws -> String {
  let path = NSTemporaryDirectory() + "scaletune-cli-" + UUID().uuidString
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

@Suite struct TuneCLITests {
  @Test func probeWritesAValidProfileAndPrintsJSON() throws {
    let path = try scratch() + "/p.json"
    let result = try tune(["probe", "--no-measure", "--json", "--quiet", "--output", path])
    #expect(result.status == 0, "\(result.stderr)")
    let profile = try ProfileStore.read(path)
    let printed = try JSONDecoder().decode(MachineSection.self, from: Data(result.stdout.utf8))
    #expect(printed.fingerprint == profile.machine?.fingerprint)
    #expect(profile.provenance.runs.first?.stages == ["probe"])
  }

  @Test func missingHwlocXMLFileIsAClearError() throws {
    let path = try scratch() + "/p.json"
    let result = try tune(["probe", "--no-measure", "--quiet", "--output", path], environment: ["HWLOC_XMLFILE": "/nonexistent/topo.xml"])
    #expect(result.status != 0)
    #expect(result.stderr.contains("HWLOC_XMLFILE=/nonexistent/topo.xml") && result.stderr.contains("lstopo"))
    #expect(!FileManager.default.fileExists(atPath: path))
  }

  @Test func topologyFromAnXMLFileIsReportedAsSuch() throws {
    let directory = try scratch()
    try Topology().exportXML(to: directory + "/topo.xml")
    let result = try tune(["probe", "--no-measure", "--json", "--quiet", "--output", directory + "/p.json"], environment: ["HWLOC_XMLFILE": directory + "/topo.xml"])
    #expect(result.status == 0, "\(result.stderr)")
    let machine = try JSONDecoder().decode(MachineSection.self, from: Data(result.stdout.utf8))
    #expect(machine.topology.source.contains("XML file \(directory)/topo.xml"))
    #expect(machine.topology.cores == (try Topology().cores))
  }

  @Test func aMalformedExistingProfileIsNeitherOverwrittenNorAccepted() throws {
    let path = try scratch() + "/old.json"
    let original = "{\"schema\": \"scaletune.profile/1\", \"machine\": {"
    try Data(original.utf8).write(to: URL(fileURLWithPath: path))
    let result = try tune(["probe", "--no-measure", "--quiet", "--output", path])
    #expect(result.status != 0)
    #expect(result.stderr.contains(path) && result.stderr.contains("not valid JSON"))
    #expect(try String(contentsOfFile: path, encoding: .utf8) == original)
  }

  @Test func aWrongVersionProfileNamesBothVersions() throws {
    let path = try scratch() + "/v0.json"
    try Data("{\"schema\": \"scaletune.profile/0\"}".utf8).write(to: URL(fileURLWithPath: path))
    let result = try tune(["probe", "--no-measure", "--quiet", "--output", path])
    #expect(result.status != 0)
    #expect(result.stderr.contains("scaletune.profile/0") && result.stderr.contains("scaletune.profile/1"))
  }

  @Test func unknownFlagIsRejectedBeforeAnyWork() throws {
    let result = try tune(["probe", "--precision", "fp7"])
    #expect(result.status != 0)
    #expect(result.stderr.contains("--precision"))
  }

  @Test func aLookAtTheMachineLeavesNoFileBehind() throws {
    let directory = try scratch()
    let result = try tune(["probe", "--no-measure", "--json", "--quiet"], directory: directory)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty, "tune probe without --output writes nothing")
  }

  @Test func theISAMaskReachesTheProbeAndABadOneIsRefused() throws {
    let result = try tune(["probe", "--no-measure", "--json", "--quiet"], environment: ["SCALETUNE_ISA": "sse2"])
    #expect(result.status == 0, "\(result.stderr)")
    let machine = try JSONDecoder().decode(MachineSection.self, from: Data(result.stdout.utf8))
    #expect(machine.cpu.features.filter(\.usable).map(\.name) == ["sse2"])
    #expect(machine.fingerprintFacts.contains { $0.hasPrefix("isaMask=") }, "a masked machine has its own fingerprint")
    let bad = try tune(["probe", "--no-measure"], environment: ["SCALETUNE_ISA": "avx3"])
    #expect(bad.status != 0 && bad.stderr.contains("SCALETUNE_ISA") && bad.stderr.contains("avx3") && bad.stderr.contains("avx2"))
  }
}
