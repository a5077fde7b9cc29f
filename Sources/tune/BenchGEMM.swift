import ArgumentParser
import Foundation
import Kernels
import NumberFormats
import Platform
import Probe
import Profile
import Tuning

struct GEMMBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gemm",
    abstract: "Verify and time one GEMM configuration (no search).")

  @Option(help: "Backend: \(GEMMBackend.allCases.map(\.rawValue).joined(separator: ", ")) (default native).")
  var backend: String?

  @Option(help: "Precision: \(Precision.allCases.map(\.rawValue).joined(separator: ", ")).")
  var precision = "fp32"

  @Option(help: "MxNxK.")
  var shape = "1024x1024x1024"

  @Option(help: "Native blocking as k=v,…: kernel=avx2-6x16,mc=…,kc=…,nc=…,loop=ic|jc. Unset ones come from the analytic model.")
  var params: String?

  @Option(help: "Threads (default: one per core).")
  var threads: Int?

  @Flag(name: .customLong("trans-a"), help: "A is stored K×M.")
  var transA = false

  @Flag(name: .customLong("trans-b"), help: "B is stored N×K.")
  var transB = false

  @Option(help: "Also run these backends, comma-separated (same precision, threads, defaults), interleaved with the first, and print each one's rate over the first's.")
  var versus: String?

  @Option(help: "Samples to take.")
  var repeats = 5

  @Flag(help: "Print JSON.")
  var json = false

  @Option(help: "Run the choice this profile holds for the shape, precision and transposes (exact, or the nearest tuned shape), and print the rate it recorded beside the one measured now.")
  var profile: String?

  @Flag(help: "With --profile: apply choices measured on another machine.")
  var force = false

  @Flag(help: "Run more threads than the machine gives this process (the result says it was oversubscribed).")
  var oversubscribe = false

  @Flag(help: "Time the native fp32 candidate with B packed once (a weight reused by every micro-batch) against itself packing B on every call, interleaved, and print the ratio.")
  var prepacked = false

  func validate() throws {
    if profile != nil && (backend != nil || params != nil) { throw ValidationError("--profile says the backend and its parameters; drop --backend and --params") }
    if force && profile == nil { throw ValidationError("--force applies to --profile") }
    if prepacked && versus != nil { throw ValidationError("--prepacked compares the candidate with itself; drop --versus") }
    do {
      _ = try GEMMBackend.parse(backend ?? "native")
      _ = try Precision.parse(precision)
      _ = try GEMMShape.parse(shape)
      for name in versus?.split(separator: ",") ?? [] { _ = try GEMMBackend.parse(String(name)) }
    } catch let error as CustomStringConvertible {
      throw ValidationError(error.description)
    }
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1; got \(threads)") }
    if repeats < 1 || repeats > 1000 { throw ValidationError("--repeats must be between 1 and 1000; got \(repeats)") }
    if let params { _ = try ParameterList.parse(params) }
  }

  func run() throws {
    let topology = try Topology()
    let features = ISAFeatures.current
    let problem = GEMMProblem(shape: try GEMMShape.parse(shape), transA: transA, transB: transB)
    let precision = try Precision.parse(precision)
    let backend = try GEMMBackend.parse(backend ?? "native")
    let threadCount = threads ?? max(1, topology.cores)
    // Threads and memory are checked before anything is allocated.
    let limits = MachineProbe.limits(topology: topology)
    let oversubscribed = try limits.check(threads: threadCount, oversubscribe: oversubscribe)
    let llc = CacheSizes(topology).lastLevel
    try GEMMWorkspace.memoryPlan(problem: problem, precision: precision, lastLevelCacheBytes: llc, threads: threadCount).check(
      "tune bench gemm \(problem.shape) \(precision)", against: limits,
      fits: GEMMWorkspace.fittingShape(problem, precision: precision, limits: limits, lastLevelCacheBytes: llc, threads: threadCount))
    var candidate = try GEMMBenchmark.candidate(
      backend: backend, precision: precision, params: try params.map(ParameterList.parse) ?? [:], threads: threadCount,
      features: features, caches: CacheSizes(topology))
    var recorded: (source: KernelChoices.Source, gflops: Double?)?
    if let profile {
      let machine = try MachineProbe.run(ProbeOptions(measure: false))
      let loaded = try ProfileStore.read(profile)
      let choices = try KernelChoices(profile: loaded, path: profile, machineFingerprint: machine.fingerprint, force: force)
      let (choice, source) = choices.gemmChoice(problem, precision: precision, threads: threadCount, caches: CacheSizes(topology))
      guard source != .none else {
        throw CommandFailure("\(profile) holds no \(precision) GEMM choice this machine can run; run `tune gemm --precision \(precision)` first")
      }
      candidate = choice
      recorded = (source, choices.recordedGflops(problem, precision: precision))
    }
    let other = try (versus?.split(separator: ",") ?? []).map {
      try GEMMBenchmark.candidate(
        backend: try GEMMBackend.parse(String($0)), precision: precision, params: [:], threads: threadCount, features: features,
        caches: CacheSizes(topology))
    }
    var results = try GEMMBenchmark.run(
      problem: problem, precision: precision, candidate: candidate, versus: other, prepacked: prepacked, features: features,
      context: KernelContext(threads: threadCount, placement: .perCore(topology)), repeats: repeats, lastLevelCacheBytes: CacheSizes(topology).lastLevel)
    if oversubscribed {
      for index in results.indices { results[index].oversubscribed = "\(threadCount) threads on \(limits.usableThreads) usable hardware threads" }
    }
    if let recorded {
      results[0].fromProfile = "\(profile ?? ""): \(recorded.source)"
      results[0].recordedGflops = recorded.gflops
    }
    if json {
      print(String(decoding: try ProfileStore.encode(results), as: UTF8.self))
    } else {
      for result in results { print(result.text) }
    }
    if results.contains(where: { !$0.passed }) { throw ExitCode(3) }
  }
}

/// `k=v,k=v` lists.
enum ParameterList {
  static func parse(_ text: String) throws -> [String: String] {
    var result: [String: String] = [:]
    for item in text.split(separator: ",") {
      let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
      guard pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty else {
        throw ValidationError("malformed --params item \"\(item)\"; expected key=value, e.g. kernel=avx2-6x16,mc=96,kc=256,nc=4096")
      }
      result[pair[0]] = pair[1]
    }
    return result
  }
}
