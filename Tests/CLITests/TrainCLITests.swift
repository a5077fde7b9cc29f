import Foundation
import Profile
import Testing

/// `train` as a person runs it: what it prints, what it refuses before any work, and how.
@Suite struct TrainCLITests {
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

  /// A run as a spec file: `--spec-out` writes what a run trains with, `--spec` trains it again,
  /// and flags override it field by field.
  @Test func aSpecWrittenOutTrainsTheSameRunAndFlagsOverrideIt() throws {
    let directory = try scratch()
    let first = try train(["--model", "tiny", "--steps", "2", "--precision", "fp8", "--fp8-scaling", "mx", "--layout", "dp=2", "--threads", "1",
                           "--lr", "0.002", "--seed", "7", "--spec-out", "a.json", "--json"], directory: directory)
    #expect(first.status == 0, "\(first.stderr)")
    let written = try TrainingSpec.load(directory + "/a.json")
    #expect(written.precision == .fp8 && written.fp8Scaling == .mx && written.layout.dp == 2 && written.seed == 7 && written.schedule.learningRate == 0.002)
    let again = try train(["--spec", "a.json", "--steps", "2", "--spec-out", "b.json", "--json"], directory: directory)
    #expect(again.status == 0, "\(again.stderr)")
    #expect(try TrainingSpec.load(directory + "/b.json") == written)
    #expect(again.stderr.contains("spec a.json: applied layout dp=2,tp=1,pp=1,micro=1,recompute=off,zero=0, precision fp8, fp8 scaling mx"), "\(again.stderr)")
    #expect(Self.losses(again.stdout) == Self.losses(first.stdout) && Self.losses(first.stdout).count == 2, "the same run, bit for bit")
    let overridden = try train(["--spec", "a.json", "--steps", "1", "--precision", "bf16", "--spec-out", "c.json"], directory: directory)
    #expect(overridden.status == 0, "\(overridden.stderr)")
    var expected = written
    expected.precision = .bf16
    #expect(try TrainingSpec.load(directory + "/c.json") == expected)
    let refused = try train(["--spec", "missing.json"], directory: directory)
    #expect(refused.status != 0 && refused.stderr.contains("missing.json: cannot be read (no such file)"), "\(refused.stderr)")
  }

  /// `--save-every N`: a run killed at any moment leaves its last complete checkpoint (saves are
  /// atomic), which loads and continues the curve the uninterrupted run trains.
  @Test func aKilledRunLeavesItsLastCompleteCheckpoint() throws {
    let directory = try scratch()
    let common = ["--model", "tiny", "--layout", "dp=2", "--threads", "1", "--oversubscribe", "--schedule-steps", "400", "--warmup", "5", "--seed", "3"]
    let process = Process()
    process.executableURL = try builtBinary("train")
    process.arguments = common + ["--steps", "400", "--json", "--save", "ck.safetensors", "--save-every", "3"]
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    // Killed a while after its first saves, at whatever point of a step or a save it is.
    let path = directory + "/ck.safetensors"
    let deadline = Date().addingTimeInterval(60)
    while !FileManager.default.fileExists(atPath: path) && Date() < deadline { usleep(20_000) }
    usleep(useconds_t.random(in: 200_000...900_000))
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    _ = out.fileHandleForReading.readDataToEndOfFile()
    #expect(FileManager.default.fileExists(atPath: path), "a checkpoint was saved before the kill")
    // What it holds: a whole checkpoint at a multiple of 3 steps.
    let resumed = try train(common + ["--steps", "400", "--json", "--load", "ck.safetensors"], directory: directory, timeout: 600)
    #expect(resumed.status == 0, "\(resumed.stderr)")
    let resumedLosses = Self.losses(resumed.stdout)
    let at = 400 - resumedLosses.count
    #expect(at > 0 && at % 3 == 0, "resumed from step \(at)")
    let whole = try train(common + ["--steps", String(at + 3), "--json"], directory: directory, timeout: 600)
    #expect(Self.losses(whole.stdout).suffix(3) == resumedLosses.prefix(3), "the same curve after the checkpoint")
    let refused = try train(["--model", "tiny", "--save-every", "2"], directory: directory)
    #expect(refused.status != 0 && refused.stderr.contains("--save-every needs --save"), "\(refused.stderr)")
  }

  static func losses(_ stdout: String) -> [Double] {
    stdout.split(separator: "\n").compactMap { line in
      (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["loss"] as? Double
    }
  }

  @Test func jsonPrintsOneDocumentedObjectPerStep() throws {
    let result = try train(["--model", "tiny", "--steps", "3", "--json", "--layout", "dp=2,micro=2", "--batch", "4", "--threads", "1"])
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stdout.split(separator: "\n")
    #expect(lines.count == 3)
    let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
    for field in ["step", "loss", "learningRate", "gradNorm", "lossScale", "skipped", "nonFinite", "tokens", "seconds", "tokensPerSecond",
      "modelFlopsPerToken", "computeSeconds", "communicationSeconds", "bubbleSeconds", "peakBytesPerRank", "rssBytes", "rssPeakBytes"]
    {
      #expect(first[field] != nil, "missing \(field)")
    }
    #expect((first["peakBytesPerRank"] as? [Int])?.count == 2)
    #expect(first["tokens"] as? Int == 4 * 16)
    // What it applied goes to stderr, so that stdout stays JSON.
    #expect(result.stderr.contains("GEMM ") && result.stderr.contains("attention: "))
  }

  @Test(arguments: [
    (["--layout", "tp=3"], "tp=3 does not divide the 4 attention heads"),
    (["--layout", "pp=3"], "pp=3 does not divide the 2 layers of tiny; pp may be 1, 2"),
    (["--layout", "dp=2,micro=2", "--batch", "6"], "does not split into dp=2 × micro=2"),
    (["--layout", "dp=64"], "this machine gives the process"),
    (["--layout", "dp=2,zero=3"], "zero=0 (no sharding) or zero=1"),
    (["--precision", "fp7"], "unknown precision policy \"fp7\""),
    (["--data", "csv:x"], "expected synthetic, text:PATH, fasta:PATH, features"),
    (["--data", "text:/no/such/file"], "needs a vocabulary of at least 256 tokens; tiny has 64"),
    (["--load", "/no/such.safetensors"], "no such file"),
    (["--model", "gpt5"], "unknown model \"gpt5\""),
    (["--loss-scale", "zero"], "--loss-scale must be dynamic, off or a positive number"),
  ])
  func impossibleRequestsAreRefusedBeforeAnyWork(arguments: [String], message: String) throws {
    let result = try train(["--model", "tiny", "--steps", "2"] + arguments)
    #expect(result.status != 0 && result.status < 128)
    #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
    #expect(!result.stdout.contains("step 1/"), "no step ran")
  }

  @Test func aForeignProfileIsRefusedUnlessForced() throws {
    let foreign = Self.repository + "/results/intel-xeon-amx-2core-20261201.json"
    try #require(FileManager.default.fileExists(atPath: foreign))
    let refused = try train(["--model", "tiny", "--steps", "1", "--profile", foreign])
    let isThisMachine = refused.status == 0
    if !isThisMachine {
      #expect(refused.stderr.contains("another machine") && refused.stderr.contains("--force"), "\(refused.stderr)")
      let forced = try train(["--model", "tiny", "--steps", "1", "--profile", foreign, "--force"])
      #expect(forced.status == 0, "\(forced.stderr)")
      #expect(forced.stdout.contains("profile \(foreign)"))
    }
  }

  @Test func aMalformedProfileNamesTheFileAndField() throws {
    let directory = try scratch()
    let path = directory + "/bad.json"
    let good = try Data(contentsOf: URL(fileURLWithPath: Self.repository + "/results/intel-xeon-amx-2core-20261201.json"))
    var object = try #require(try JSONSerialization.jsonObject(with: good) as? [String: Any])
    var machine = try #require(object["machine"] as? [String: Any])
    machine["fingerprint"] = 42
    object["machine"] = machine
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    let result = try train(["--model", "tiny", "--steps", "1", "--profile", path])
    #expect(result.status != 0)
    #expect(result.stderr.contains(path) && result.stderr.contains("fingerprint"), "\(result.stderr)")
  }

  @Test func saveThenLoadContinuesTheRun() throws {
    let directory = try scratch()
    let checkpoint = directory + "/tiny.safetensors"
    let first = try train(["--model", "tiny", "--steps", "3", "--save", checkpoint, "--json"])
    #expect(first.status == 0, "\(first.stderr)")
    let second = try train(["--model", "tiny", "--steps", "5", "--load", checkpoint, "--layout", "tp=2", "--threads", "1", "--json"])
    #expect(second.status == 0, "\(second.stderr)")
    let steps = second.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.compactMap { $0["step"] as? Int }
    #expect(steps == [3, 4])
    let done = try train(["--model", "tiny", "--steps", "3", "--load", checkpoint])
    #expect(done.status != 0 && done.stderr.contains("step 3 already"))
  }
}

/// The whole `tune` for a model, then `train --profile` on what it wrote, then an export: the
/// path a person takes on a new node, end to end (smoke-sized).
@Suite struct TuneThenTrainTests {
  @Test func theWholeTuneWritesAPickThatTrainRunsAndExports() throws {
    let directory = try scratch()
    let path = directory + "/node.json"
    let tuned = try tune(["--quick", "--model", "tiny", "--budget", "60", "--output", path], directory: directory, timeout: 300)
    #expect(tuned.status == 0, "\(tuned.stderr.suffix(600))")
    for stage in ["stage 1/4 probe", "stage 2/4 gemm", "stage 3/4 attention", "stage 4/4 parallel"] { #expect(tuned.stderr.contains(stage)) }
    let profile = try ProfileStore.read(path)
    #expect(profile.machine != nil && profile.kernels?.gemm != nil && profile.kernels?.attention != nil)
    let section = try #require(profile.parallel)
    let pick = try #require(section.pick)
    #expect(section.model.name == "tiny" && section.trials.contains { $0.status == .ok })
    #expect(profile.provenance.runs.flatMap(\.stages).contains("parallel"))
    // No rate the tool wrote exceeds its peak, and utilisation never passes 100%.
    #expect(PeakBounds.excesses(profile) == [])
    #expect(section.trials.compactMap(\.mfu).allSatisfy { $0 > 0 && $0 <= 1 })
    #expect(!section.trials.filter { $0.status == .ok }.isEmpty && section.trials.filter { $0.status == .ok }.allSatisfy { $0.mfu != nil })
    // The pick is what train runs, and it says so.
    let trained = try train(["--model", "tiny", "--steps", "2", "--profile", path, "--json"], directory: directory)
    #expect(trained.status == 0, "\(trained.stderr)")
    #expect(trained.stderr.contains("applied layout \(pick.layout), precision \(pick.precision)"), "\(trained.stderr)")
    #expect(trained.stderr.contains("MFU against the ") && trained.stderr.contains("of the GEMM FLOPs"), "\(trained.stderr)")
    // The pick runs on choices tuned for its own shapes (the whole tune's last stage).
    let gemmLines = trained.stderr.split(separator: "\n").filter { $0.hasPrefix("GEMM ") }
    #expect(!gemmLines.isEmpty && gemmLines.allSatisfy { $0.contains("(profile: tuned for this shape)") }, "\(gemmLines)")
    #expect(profile.provenance.runs.flatMap(\.stages).contains("pick-shapes") || tuned.stderr.contains("every GEMM of the pick has a choice tuned"))
    let exported = try tune(["export", path, "--format", "deepspeed"], directory: directory)
    let config = try #require(try JSONSerialization.jsonObject(with: Data(exported.stdout.utf8)) as? [String: Any])
    #expect(config["train_batch_size"] as? Int == pick.globalBatch)
    let refused = try tune(["export", directory + "/missing.json", "--format", "megatron"], directory: directory)
    #expect(refused.status != 0 && refused.stderr.contains("missing.json"))
  }
}
