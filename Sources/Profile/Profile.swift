import Foundation

/// One ScaleTune profile: what a machine is, which kernels and layouts win on it, and how it was
/// measured. Sections a stage does not own (`kernels`, `parallel`) pass through untouched.
public struct Profile: Codable, Equatable, Sendable {
  public static let currentSchema = "scaletune.profile/1"

  public var schema: String
  public var machine: MachineSection?
  public var kernels: KernelsSection?
  public var parallel: ParallelSection?
  /// What `tune fleet` measured over several nodes (a fleet profile).
  public var fleet: FleetSection?
  public var provenance: Provenance

  public init(
    schema: String = Profile.currentSchema, machine: MachineSection? = nil,
    kernels: KernelsSection? = nil, parallel: ParallelSection? = nil, fleet: FleetSection? = nil, provenance: Provenance
  ) {
    self.fleet = fleet
    self.schema = schema
    self.machine = machine
    self.kernels = kernels
    self.parallel = parallel
    self.provenance = provenance
  }
}

/// How a profile came to be. Each run that writes into a profile appends itself to `runs`.
public struct Provenance: Codable, Equatable, Sendable {
  public var tool: String
  public var version: String
  public var runs: [Run]

  public struct Run: Codable, Equatable, Sendable {
    public var commandLine: [String]
    public var gitCommit: String?
    public var startedAt: Date
    public var finishedAt: Date
    /// The stages this run wrote (probe, gemm, attention, parallel).
    public var stages: [String]

    public init(
      commandLine: [String], gitCommit: String?, startedAt: Date, finishedAt: Date, stages: [String]
    ) {
      self.commandLine = commandLine
      self.gitCommit = gitCommit
      self.startedAt = startedAt
      self.finishedAt = finishedAt
      self.stages = stages
    }
  }

  public init(tool: String = "scaletune", version: String = ScaleTuneVersion.string, runs: [Run]) {
    self.tool = tool
    self.version = version
    self.runs = runs
  }
}

public enum ScaleTuneVersion {
  public static let string = "0.1.0"
}
