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

  /// A kernel stage's end: its section merged into `kernels` (through `update`), then `commit`.
  func finish<Section: Encodable>(
    options: CommonOptions, stages: [String], section: Section, summary: String, update: (inout KernelsSection) -> Void
  ) throws {
    try commit(options: options, stages: stages, section: section, summary: summary) { profile in
      var kernels = profile.kernels ?? KernelsSection()
      update(&kernels)
      profile.kernels = kernels
    }
  }

  /// The one way a stage writes its profile: the profile as opened (or a new one for this
  /// machine), this machine's section, the stage's change (`update`), the run recorded in its
  /// provenance, the peak check, the atomic write; then the section printed as JSON or as `summary`.
  func commit<Section: Encodable>(
    options: CommonOptions, stages: [String], section: Section, summary: String, update: (inout Profile) -> Void
  ) throws {
    var profile = self.profile ?? Profile(machine: machine, provenance: Provenance(runs: []))
    profile.machine = machine
    update(&profile)
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
