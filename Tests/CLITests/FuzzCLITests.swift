import Foundation
import Profile
import Testing

/// Every subcommand of `tune`, and `train`, run with a few hundred generated argument lists: hostile numbers
/// (0, negative, huge, NaN, not numbers), malformed shapes, unknown names, and missing, empty,
/// binary, directory, truncated and wrong-kind files. None may end on a signal (status ≥ 128, a
/// crash or a kill for hanging), every failure must say why on stderr, and no run may leave a
/// partial file behind. Seeded (the same lists every run) and bounded in time.
@Suite struct FuzzCLITests {
  /// xorshift64*: the same argument lists on every run.
  struct Random {
    var state: UInt64
    mutating func next() -> UInt64 {
      state ^= state >> 12
      state ^= state << 25
      state ^= state >> 27
      return state &* 0x2545_F491_4F6C_DD1D
    }
    mutating func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }
    mutating func chance(_ percent: UInt64) -> Bool { next() % 100 < percent }
  }

  enum Value { case none, number, shape, attentionShape, name, list, params, file, output, layout, data, steps, batch, checkpoint, model }

  struct Command {
    var path: [String]
    var flags: [(String, Value)]
    /// Files given without a flag (compare, report).
    var positional: Bool = false
    /// Put first, so that a list that happens to be valid stays small unless it says otherwise
    /// (a repeated option's last value wins).
    var defaults: [String] = []
    /// Put last, where they win: the budgets that keep every run short.
    var bounded: [String] = []
    var binary = "tune"
  }

  static let commands: [Command] = [
    Command(path: ["probe"], flags: [("--no-measure", .none), ("--json", .none), ("--quick", .none), ("--output", .output), ("--quiet", .none)],
            defaults: ["--no-measure"], bounded: ["--quick"]),
    Command(path: ["gemm"], flags: [
      ("--precision", .list), ("--shapes", .shape), ("--budget", .number), ("--strategy", .name), ("--threads", .number), ("--journal", .file),
      ("--model", .name), ("--model-file", .file), ("--micro-batch", .number), ("--output", .output), ("--fresh", .none),
    ], defaults: ["--shapes", "24x20x16", "--precision", "fp32", "--output", "profile.json"], bounded: ["--quick", "--quiet", "--budget", "1"]),
    Command(path: ["attention"], flags: [
      ("--seq", .list), ("--head-dim", .list), ("--attention-precision", .list), ("--attention-budget", .number), ("--output", .output),
    ], defaults: ["--seq", "24", "--head-dim", "16", "--attention-precision", "fp32", "--output", "profile.json"],
       bounded: ["--quick", "--quiet", "--attention-budget", "1"]),
    Command(path: ["run"], flags: [("--budget", .number), ("--precision", .list), ("--seq", .list), ("--output", .output), ("--shapes", .shape)],
            defaults: ["--shapes", "24x20x16", "--precision", "fp32", "--seq", "24", "--head-dim", "16", "--attention-precision", "fp32", "--output", "profile.json"],
            bounded: ["--quick", "--quiet", "--budget", "1", "--attention-budget", "1"]),
    Command(path: ["bench", "gemm"], flags: [
      ("--backend", .name), ("--precision", .name), ("--shape", .shape), ("--params", .params), ("--threads", .number), ("--versus", .name),
      ("--repeats", .number), ("--profile", .file), ("--json", .none), ("--trans-a", .none), ("--force", .none),
    ], defaults: ["--shape", "24x20x16", "--repeats", "1"]),
    Command(path: ["bench", "attention"], flags: [
      ("--shape", .attentionShape), ("--backend", .name), ("--precision", .name), ("--params", .params), ("--threads", .number),
      ("--gemm-size", .number), ("--repeats", .number), ("--backward", .none), ("--causal", .none), ("--json", .none),
    ], defaults: ["--shape", "1x2x40x16", "--gemm-size", "64", "--repeats", "1"], bounded: ["--repeats", "1"]),
    Command(path: ["bench", "formats"], flags: [("--precision", .list), ("--count", .number), ("--json", .none)], defaults: ["--count", "4096"], bounded: ["--quick"]),
    Command(path: ["bench", "contexts"], flags: [("--contexts", .number), ("--size", .number), ("--small", .number), ("--rounds", .number), ("--params", .params)],
            defaults: ["--size", "64", "--small", "16"], bounded: ["--rounds", "1"]),
    Command(path: ["compare"], flags: [("--format", .name), ("--threshold", .number), ("--output", .output)], positional: true),
    Command(path: ["report"], flags: [("--html", .output)], positional: true),
    Command(path: [], flags: [
      ("--model", .model), ("--model-file", .file), ("--data", .data), ("--steps", .steps), ("--batch", .batch), ("--layout", .layout),
      ("--precision", .name), ("--threads", .number), ("--lr", .number), ("--seed", .number), ("--save", .checkpoint), ("--load", .file),
      ("--profile", .file), ("--force", .none), ("--json", .none), ("--loss-scale", .name), ("--fp8-scaling", .name), ("--shuffle", .name),
      ("--oversubscribe", .none), ("--warmup", .number), ("--schedule-steps", .number),
    ], defaults: ["--model", "tiny", "--steps", "2"], binary: "train"),
  ]
  static let layouts = [
    "dp=2", "tp=3", "pp=7", "dp=0", "dp=2,tp=2,pp=2,micro=2", "micro=0", "zero=2", "recompute=maybe", "dp=4096", "x=1", "dp=2,dp=2", "",
    "tp=2,pp=2", "dp=-1", "micro=3", "dp=99999999999999999999", "=", "pp=2,micro=2,recompute=on,zero=1",
  ]
  /// Models `train` can run in a fuzz run's seconds (small and larger take tens of seconds in a debug build).
  static let models = ["tiny", "gpt5", "", "TINY", "small-", "-", "tiny,small"]
  static let steps = ["0", "-5", "abc", "1", "3", "99999999999", "nan", ""]
  static let batches = ["0", "-1", "abc", "3", "1e9", "nan", "999999", "2", "5"]

  static let numbers = [
    "0", "-1", "-7.5", "nan", "NaN", "inf", "-inf", "1e309", "999999999999999999999", "9223372036854775807", "2147483648", "1", "2", "3",
    "0.5", "abc", "", "0x10", "1e3", "64", "300",
  ]
  static let shapes = [
    "0x1x1", "1x1", "-5x3x3", "99999999999x99999999999x99999999999", "100000x100000x100000", "9223372036854775807x2x2", "axbxc",
    "64x64x64", "3x5x7", "1x1x1x1", "", "8x8x8,0x0x0", "65536x65536x65536",
  ]
  static let attentionShapes = ["1x2x40x16", "0x1x1x1", "1x1x1", "1x3x9999999999x64", "1x1024x3000000x64", "nan", "1x2x40x16x2", "2x3x33x7", "1x4x64x8"]
  static let names = [
    "fp7", "bf16", "fp32", "fp8-e4m3", "mxfp4", "blas", "native", "openblas", "amx", "naive", "gemm", "flash", "tiny", "gpt5", "small", "fp8", "fp16", "dynamic", "off", "current", "delayed", "on",
    "avx9-1x1", "-", "html", "json", "markdown", "exhaustive", "🙂", "",
  ]
  static let lists = ["fp32,bf16", "fp7", "12,x", "0", "-64", "64,128", "fp32,,bf16", "nan", "1e9", "32"]
  static let params = ["kernel", "mc=0", "kc=-1", "br=8,bc=0", "kernel=avx9-1x1", "mc=24,kc=16", "nc=99999999999999999999", "=", "a=b", "split=2", "threads=3"]

  /// The hostile files, made once per test in `directory`.
  static func files(in directory: String) throws -> [String] {
    let fm = FileManager.default
    let empty = directory + "/empty.json", binary = directory + "/binary.json", truncated = directory + "/truncated.json"
    let array = directory + "/array.json", folder = directory + "/folder.json", model = directory + "/model.json"
    _ = fm.createFile(atPath: empty, contents: Data())
    _ = fm.createFile(atPath: binary, contents: Data((0..<512).map { UInt8(($0 * 37 + 11) % 256) }))
    _ = fm.createFile(atPath: array, contents: Data("[1, 2, 3]".utf8))
    _ = fm.createFile(atPath: model, contents: Data(#"{"vocabulary": 16, "hidden": 8, "heads": 3, "layers": 1, "seq": 4}"#.utf8))
    try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
    // Input that never ends: a FIFO no one writes to, and a sparse file far past any profile.
    let fifo = directory + "/fifo.json", huge = directory + "/huge.json"
    guard mkfifo(fifo, 0o600) == 0, fm.createFile(atPath: huge, contents: nil), truncate(huge, 1 << 37) == 0 else { throw CocoaError(.fileWriteUnknown) }
    let valid = try sampleProfile(in: directory)
    let text = try Data(contentsOf: URL(fileURLWithPath: valid))
    _ = fm.createFile(atPath: truncated, contents: text.prefix(text.count / 2))
    return [directory + "/missing.json", empty, binary, truncated, array, folder, model, fifo, huge, valid]
  }

  /// Devices that read forever or read nothing: given where a file is read, never where one is
  /// written (an atomic write renames over its target).
  static let devices = ["/dev/zero", "/dev/null", "/dev/stdin"]

  /// A real profile of this machine (a probe without measurements), to give the commands that read one.
  static func sampleProfile(in directory: String) throws -> String {
    let path = directory + "/valid.json"
    let result = try tune(["probe", "--no-measure", "--quiet", "--output", path])
    guard result.status == 0 else { throw CocoaError(.fileWriteUnknown) }
    return path
  }

  static func arguments(_ command: Command, _ random: inout Random, files: [String]) -> [String] {
    var list = command.path + command.defaults
    for _ in 0..<(1 + Int(random.next() % 3)) {
      let (flag, kind) = random.pick(command.flags)
      list.append(flag)
      switch kind {
      case .none: break
      case .number: list.append(random.pick(numbers))
      case .shape: list.append(random.pick(shapes))
      case .attentionShape: list.append(random.pick(attentionShapes))
      case .name: list.append(random.pick(names))
      case .list: list.append(random.pick(lists))
      case .params: list.append(random.pick(params))
      case .file: list.append(random.chance(20) ? random.pick(devices) : random.pick(files))
      case .output: list.append(random.chance(70) ? "out/p\(random.next() % 4).json" : random.pick(files))
      case .layout: list.append(random.pick(layouts))
      case .model: list.append(random.pick(models))
      case .steps: list.append(random.pick(steps))
      case .batch: list.append(random.pick(batches))
      case .data:
        list.append(random.pick(["synthetic", "text:", "fasta:", "csv:x", "text:/no/such/file", "features", "features:outliers=0.5,scale=", "features:"]) + (random.chance(50) ? random.pick(files) : ""))
      case .checkpoint: list.append(random.chance(70) ? "out/c\(random.next() % 4).safetensors" : random.pick(files))
      }
    }
    if command.positional {
      for _ in 0..<Int(random.next() % 3) { list.append(random.chance(20) ? random.pick(devices) : random.pick(files)) }
    }
    if random.chance(5) { list.append(random.pick(["--bogus", "-x", "--", "--help"])) }
    return list + command.bounded
  }

  /// Files a run left in `directory` that are partial: temporary files, or JSON that does not parse.
  static func partialFiles(in directory: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
    var bad: [String] = []
    for case let name as String in walker {
      let path = directory + "/" + name
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
      let base = (name as NSString).lastPathComponent
      if base.contains(".tmp") { bad.append(name) }
      if base.hasSuffix(".json"), let data = FileManager.default.contents(atPath: path), (try? JSONSerialization.jsonObject(with: data)) == nil {
        bad.append(name)
      }
    }
    return bad
  }

  @Test func noArgumentListCrashesHangsOrLeavesAPartialFile() throws {
    let root = try scratch()
    let files = try Self.files(in: root)
    var random = Random(state: 0x5CA1_E7E5_7ED5_EED5)
    // A fixed number of argument lists, not as many as fit in a time: the count must not depend
    // on how busy the machine is (the suite's other tests run beside this one).
    let count = 160
    var runs = 0, failures: [String] = [], exits: [Int32: Int] = [:]
    // The commands that tune or probe take seconds when their list is valid: a third as often.
    let heavy: Set<String> = ["probe", "gemm", "attention", "run"]
    let weighted = Self.commands.flatMap { Array(repeating: $0, count: heavy.contains($0.path.first ?? "") ? 1 : 3) }
    while runs < count {
      let command = random.pick(weighted)
      let arguments = Self.arguments(command, &random, files: files)
      let directory = root + "/run\(runs)"
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      // A profile of this machine to merge into, so that the tuning commands need not probe first.
      try FileManager.default.copyItem(atPath: files[files.count - 1], toPath: directory + "/profile.json")
      let result = try execute(command.binary, arguments, environment: [:], directory: directory, timeout: 20)
      runs += 1
      exits[result.status, default: 0] += 1
      let line = command.binary + " " + arguments.map { $0.isEmpty ? "''" : $0 }.joined(separator: " ")
      if result.timedOut {
        failures.append("\(line): still running after 20 s")
      } else if result.status >= 128 || result.signaled {
        failures.append("\(line): ended on signal/status \(result.status)\n\(result.stderr.suffix(400))")
      } else if result.status != 0 && result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
        failures.append("\(line): exit \(result.status) with nothing on stderr")
      }
      let partial = Self.partialFiles(in: directory)
      if !partial.isEmpty { failures.append("\(line): left partial files \(partial)") }
    }
    print("fuzz: \(runs) argument lists; exit statuses \(exits.sorted { $0.key < $1.key })")
    #expect(exits.keys.contains(0) && exits.keys.contains { $0 != 0 }, "both successes and refusals among \(exits)")
    #expect(failures.isEmpty, "\(failures.count) of \(runs) runs:\n\(failures.prefix(8).joined(separator: "\n"))")
  }
}
