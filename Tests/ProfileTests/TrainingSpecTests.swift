import Foundation
import Testing

@testable import Profile

/// The spec: its JSON, and how a base (a spec file, a profile's pick) and the flags make the run.
@Suite struct TrainingSpecTests {
  static func pick() throws -> TrainingSpec {
    TrainingSpec(
      model: try ModelConfig.named("tiny"), layout: try ParallelLayout.parse("dp=2,micro=2"), precision: .fp8, fp8Scaling: .mx, lossScale: nil,
      threadsPerRank: 1, globalBatch: 8, data: "features:outliers=0.002,scale=1e6", schedule: TrainingSpec.Schedule(learningRate: 3e-3), seed: 1)
  }

  @Test func theBaseIsRunAndSaidWhereNoFlagOverridesIt() throws {
    let base = try Self.pick()
    let resolved = TrainingSpec.resolve(base: base, overrides: TrainingSpec.Overrides(), defaultModel: try ModelConfig.named("small"), usableThreads: 2)
    #expect(resolved.spec == base)
    #expect(resolved.applied == [
      "layout dp=2,tp=1,pp=1,micro=2,recompute=off,zero=0", "precision fp8", "fp8 scaling mx", "1 thread(s) per rank", "batch 8",
      "data features:outliers=0.002,scale=1e6", "learning rate 0.003",
    ], "\(resolved.applied)")
  }

  @Test func flagsWinAndALayoutFlagDropsTheBaseThreadsAndBatch() throws {
    var flags = TrainingSpec.Overrides()
    flags.fp8Scaling = .current
    flags.layout = try ParallelLayout.parse("dp=1")
    flags.lossScale = .fixed(1)
    let resolved = TrainingSpec.resolve(base: try Self.pick(), overrides: flags, defaultModel: try ModelConfig.named("small"), usableThreads: 2)
    #expect(resolved.spec.fp8Scaling == .current && resolved.spec.layout.dp == 1 && resolved.spec.lossScale == .fixed(1))
    #expect(resolved.spec.threadsPerRank == 2 && resolved.spec.globalBatch == 4, "the layout's own defaults, not the base's")
    #expect(!resolved.applied.contains { $0.hasPrefix("layout") || $0.hasPrefix("fp8") || $0.hasPrefix("batch") })
    // No base: the defaults, and nothing said.
    let defaults = TrainingSpec.resolve(base: nil, overrides: TrainingSpec.Overrides(), defaultModel: try ModelConfig.named("small"), usableThreads: 2)
    #expect(defaults.applied.isEmpty && defaults.spec.model.name == "small" && defaults.spec.precision == .fp32 && defaults.spec.fp8Scaling == .delayed)
    #expect(defaults.spec.threadsPerRank == 2 && defaults.spec.globalBatch == 4 && defaults.spec.data == "synthetic" && defaults.spec.seed == 1)
  }

  /// `train --profile`'s one decision, as a library function: the spec file first, else the
  /// profile's pick for the same model on this machine, under the flags; what came from where said.
  @Test func aRunsSpecComesFromTheSpecFileOrTheProfilesPick() throws {
    let pick = try Self.pick()
    let section = ParallelSection(
      fingerprint: "this-machine", model: pick.model, worldThreads: 2, globalBatch: 8,
      pick: ParallelPick(layout: pick.layout, precision: pick.precision, threadsPerRank: 1, globalBatch: 8, tokensPerSecond: 100, reason: "test", spec: pick),
      trials: [], referenceLosses: [], collectiveGBPerSecond: 1, budgetSeconds: 1, spentSeconds: 1, tolerances: [:])
    let profile = Profile(parallel: section, provenance: Provenance(runs: []))
    let small = try ModelConfig.named("small")
    func run(spec: TrainingSpec? = nil, on machine: String = "this-machine", force: Bool = false, _ overrides: TrainingSpec.Overrides = .init()) throws
      -> (resolution: TrainingSpec.Resolution, notes: [String])
    {
      try TrainingSpec.forRun(
        specFile: spec.map { ("s.json", $0) }, profile: ("p.json", profile), machineFingerprint: machine, force: force, overrides: overrides,
        defaultModel: small, usableThreads: 2)
    }
    // The pick, fp8 with MX scaling, and the note saying so.
    let picked = try run()
    #expect(picked.resolution.spec == pick && picked.resolution.spec.fp8Scaling == .mx)
    #expect(picked.notes == ["profile p.json: applied " + picked.resolution.applied.joined(separator: ", ")] && !picked.resolution.applied.isEmpty)
    // A spec file wins over the profile.
    var other = pick
    other.precision = .bf16
    let fromFile = try run(spec: other)
    #expect(fromFile.resolution.spec.precision == .bf16 && fromFile.notes.first?.hasPrefix("spec s.json: applied") == true)
    // Another machine's pick is refused, unless forced.
    #expect(throws: ProfileError.self) { try run(on: "another-machine") }
    #expect(try run(on: "another-machine", force: true).resolution.spec == pick)
    // A pick for another model is not applied, and said.
    var flags = TrainingSpec.Overrides()
    flags.model = small
    let otherModel = try run(flags)
    #expect(otherModel.resolution.spec.model == small && otherModel.resolution.spec.precision == .fp32)
    #expect(otherModel.notes == ["profile p.json: its parallel pick is for tiny, not small; not applied"])
  }

  @Test func aSpecRoundTripsThroughItsFileAndABadOneIsNamed() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var spec = try Self.pick()
    spec.lossScale = .fixed(1024)
    spec.schedule.horizonSteps = 10
    let path = directory + "/spec.json"
    try JSONEncoder().encode(spec).write(to: URL(fileURLWithPath: path))
    #expect(try TrainingSpec.load(path) == spec)
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.contains("\"lossScale\":\"1024.0\"") && text.contains("\"fp8Scaling\":\"mx\""), "\(text)")
    try Data(text.replacingOccurrences(of: "\"mx\"", with: "\"mx9\"").utf8).write(to: URL(fileURLWithPath: path))
    #expect(throws: ProfileError.self) { try TrainingSpec.load(path) }
    try Data(text.replacingOccurrences(of: "\"1024.0\"", with: "\"loud\"").utf8).write(to: URL(fileURLWithPath: path))
    do {
      _ = try TrainingSpec.load(path)
      Issue.record("a bad loss scale was read")
    } catch {
      #expect("\(error)".contains("lossScale") && "\(error)".contains("dynamic, off or a positive number"), "\(error)")
    }
    #expect(throws: ProfileError.self) { try TrainingSpec.load("/dev/zero") }
    #expect(try LossScaling.fixed(1).description == "off" && LossScaling.parse("dynamic") == .dynamic)
  }
}
