import Foundation
import Profile
import Testing

@testable import Trainer

@Suite struct CheckpointTests {
  static func directory() -> String {
    let path = NSTemporaryDirectory() + "scaletune-checkpoint-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  static func options(_ layout: String, steps: Int, precision: TrainingPrecision = .fp32) throws -> TrainingOptions {
    var options = TrainingOptions(
      model: try ModelConfig.named("tiny"), layout: try ParallelLayout.parse(layout), batch: 8, steps: steps, precision: precision, learningRate: 3e-3)
    options.optimizer.warmupSteps = 2
    options.optimizer.totalSteps = 10
    options.seed = 9
    return options
  }

  /// Saved at step 5 under one layout, loaded under another and run to step 10: the same losses
  /// as 10 steps straight on one rank (parameters, both moments and the step counters restored).
  @Test(arguments: [("dp=2,zero=1", "tp=2,pp=2,micro=2"), ("tp=2,pp=2,micro=4", "dp=1"), ("pp=2,micro=2", "dp=4,zero=1")])
  func resumesUnderAnotherLayout(saved: String, loaded: String) throws {
    let dir = Self.directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let straight = try TrainingRun(try Self.options("dp=1", steps: 10)).run().reports.map(\.loss)
    var first = try Self.options(saved, steps: 5)
    first.save = dir + "/five.safetensors"
    let head = try TrainingRun(first).run().reports.map(\.loss)
    var second = try Self.options(loaded, steps: 10)
    second.load = first.save
    let run = try TrainingRun(second)
    #expect(run.firstStep == 5)
    let tail = try run.run().reports.map(\.loss)
    #expect(head.count == 5 && tail.count == 5)
    for (step, (a, b)) in zip(straight, head + tail).enumerated() {
      #expect(abs(a - b) <= 1e-4 * abs(a), "step \(step): straight \(a), saved under \(saved) and loaded under \(loaded): \(b)")
    }
  }

  @Test func theFileIsSafetensorsWithDocumentedNames() throws {
    let dir = Self.directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var options = try Self.options("dp=1", steps: 2, precision: .bf16)
    options.save = dir + "/bf16.safetensors"
    try TrainingRun(options).run()
    let data = try Data(contentsOf: URL(fileURLWithPath: options.save!))
    // The layout by hand: u64 header length, JSON, then the bytes.
    let length = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    #expect(length % 8 == 0)
    let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<8 + length)) as? [String: Any])
    let qkv = try #require(header["layers.0.attn.qkv.weight"] as? [String: Any])
    #expect(qkv["dtype"] as? String == "BF16")
    #expect(qkv["shape"] as? [Int] == [32, 32 + 2 * 2 * 8])
    let master = try #require(header["optimizer.master.layers.0.attn.qkv.weight"] as? [String: Any])
    #expect(master["dtype"] as? String == "F32")
    #expect(header["optimizer.m.embedding.weight"] != nil && header["optimizer.v.final_ln.bias"] != nil)
    let metadata = try #require(header["__metadata__"] as? [String: String])
    #expect(metadata["scaletune.step"] == "2" && metadata["scaletune.precision"] == "bf16")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 1, "no temporary file is left")
  }

  @Test func badCheckpointsAreRefusedWithTheReason() throws {
    let dir = Self.directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var options = try Self.options("dp=1", steps: 1)
    options.save = dir + "/good.safetensors"
    try TrainingRun(options).run()
    let good = try Data(contentsOf: URL(fileURLWithPath: options.save!))
    func refusal(_ bytes: Data?, model: ModelConfig? = nil, name: String) throws -> String {
      let path = dir + "/" + name
      if let bytes { try bytes.write(to: URL(fileURLWithPath: path)) }
      var attempt = try Self.options("dp=1", steps: 3)
      if let model { attempt.model = model }
      attempt.load = path
      do {
        _ = try TrainingRun(attempt)
      } catch let error as CheckpointError {
        return error.description
      }
      Issue.record("\(name) was accepted")
      return ""
    }
    #expect(try refusal(good.prefix(good.count - 100), name: "truncated.safetensors").contains("truncated"))
    #expect(try refusal(good.prefix(5), name: "stub.safetensors").contains("truncated"))
    var garbage = good
    garbage.replaceSubrange(8..<40, with: Data(repeating: 0x7B, count: 32))
    #expect(try refusal(garbage, name: "corrupt.safetensors").contains("corrupt"))
    #expect(try refusal(nil, name: "missing.safetensors").contains("no such file"))
    var wider = try ModelConfig.named("tiny")
    wider.hidden = 64
    let message = try refusal(good, model: wider, name: "other-model.safetensors")
    #expect(message.contains("embedding.weight") && message.contains("[64, 64]"), "\(message)")
  }

  @Test func aSaveIntoAMissingDirectoryFailsCleanly() throws {
    var options = try Self.options("dp=1", steps: 1)
    options.save = NSTemporaryDirectory() + "no-such-dir-\(UUID().uuidString)/x.safetensors"
    #expect(throws: CheckpointError.self) { try TrainingRun(options).run() }
  }
}

/// The schedule's horizon (`--schedule-steps`, what the parallel tuner gives every trial): a run
/// of 6 steps with the horizon at 10 trains exactly the first 6 steps of a 10-step run; with its
/// own horizon at 6 its learning rate decays sooner and its losses part from step 3 on.
@Suite struct ScheduleHorizonTests {
  @Test func aShortRunWithTheLongHorizonIsTheLongRunsPrefix() throws {
    func losses(steps: Int, horizon: Int?) throws -> [Double] {
      var options = TrainingOptions(model: try ModelConfig.named("tiny"), batch: 8, steps: steps, learningRate: 3e-3)
      options.optimizer.warmupSteps = 1
      if let horizon { options.optimizer.totalSteps = horizon }
      options.seed = 4
      return try TrainingRun(options).run().reports.map(\.loss)
    }
    let long = try losses(steps: 10, horizon: nil)
    #expect(try losses(steps: 6, horizon: 10) == Array(long.prefix(6)))
    let own = try losses(steps: 6, horizon: nil)
    #expect(Array(own.prefix(3)) == Array(long.prefix(3)), "the first two updates run at the same rates either way")
    #expect(own[3...] != long[3..<6], "a 6-step schedule decays sooner")
  }
}
