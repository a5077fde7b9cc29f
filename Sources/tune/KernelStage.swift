import Foundation
import Platform
import Probe
import Profile

/// The part every tuning stage shares: the profile it merges into (--output, else this host's
/// newest under results/, else a new one), the machine section it runs for (the profile's own when
/// its fingerprint is this machine's, else a fresh probe), and the merge and write at the end.
struct KernelStage {
  let started: Date
  let path: String
  let profile: Profile?
  let machine: MachineSection

  static func open(options: CommonOptions) throws -> KernelStage {
    let started = Date()
    let path = options.output ?? ResultsPath.latest() ?? ResultsPath.default(hostname: MachineProbe.hostname(), date: started)
    let profile = FileManager.default.fileExists(atPath: path) ? try ProfileStore.read(path) : nil
    let machine: MachineSection
    if let existing = profile?.machine, existing.fingerprint == (try MachineProbe.run(ProbeOptions(measure: false))).fingerprint {
      machine = existing
    } else {
      options.progress("no probe of this machine in \(path): probing first")
      machine = try MachineProbe.run(ProbeOptions(quick: options.quick), progress: options.progress)
    }
    return KernelStage(started: started, path: path, profile: profile, machine: machine)
  }

  /// Merges the stage's section (through `update`), records the run, writes the profile
  /// atomically, and prints the section as JSON or as `summary`.
  func finish<Section: Encodable>(
    options: CommonOptions, stages: [String], section: Section, summary: String, update: (inout KernelsSection) -> Void
  ) throws {
    var profile = self.profile ?? Profile(machine: machine, provenance: Provenance(runs: []))
    profile.machine = machine
    var kernels = profile.kernels ?? KernelsSection()
    update(&kernels)
    profile.kernels = kernels
    profile.provenance.runs.append(
      Provenance.Run(commandLine: CommandLine.arguments, gitCommit: ResultsPath.gitCommit(), startedAt: started, finishedAt: Date(), stages: stages))
    try Self.write(&profile, to: path, options: options)
    print(options.json ? String(decoding: try ProfileStore.encode(section), as: UTF8.self) : summary)
    options.progress("profile written to \(path)")
  }

  /// Every profile a stage writes passes the peak check first (`PeakCheck`: a kernel above its
  /// peak has the peak measured again; what still exceeds is said here and in the profile).
  static func write(_ profile: inout Profile, to path: String, options: CommonOptions) throws {
    check(&profile, options: options)
    try ProfileStore.write(profile, to: path)
  }

  static func check(_ profile: inout Profile, options: CommonOptions) {
    guard let fingerprint = profile.machine?.fingerprint else { return }
    let excesses = PeakCheck.enforce(&profile, fingerprint: fingerprint, topology: try? Topology(), plan: options.quick ? .quick : .full, progress: options.progress)
    for excess in excesses { FileHandle.standardError.write(Data("warning: peak check: \(excess)\n".utf8)) }
  }
}
