import ArgumentParser
import Bench
import Foundation
import Kernels
import Platform
import Probe
import Tuning
import NumberFormats
import Profile

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure one configuration with no search.",
    subcommands: [FormatsBench.self, GEMMBench.self, AttentionBench.self, ContextsBench.self, CollectivesBench.self])
}

struct FormatsBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "formats",
    abstract: "Error and bulk conversion throughput of every number format on standard-normal data.")

  @Option(help: "Comma-separated precisions (default: all). Known: \(Precision.allCases.map(\.rawValue).joined(separator: ", ")).")
  var precision: String?

  @Option(help: "Elements per buffer.")
  var count = 1 << 20

  @Flag(help: "Fewer repeats and a smaller buffer.")
  var quick = false

  @Flag(help: "Print JSON rows.")
  var json = false

  func validate() throws {
    guard count >= 32 else { throw ValidationError("--count must be at least 32 (one MX block); got \(count)") }
    _ = try precisions()
  }

  /// The survey's buffers (the normal and outlier inputs, their codes and decoded values), checked
  /// before any is allocated.
  func checkMemory() throws {
    try MemoryPlan([("the formats' input, codes and decoded values", 24 * Double(count))])
      .check("tune bench formats --count \(count)", against: try MachineProbe.limits(), fits: "--count \(1 << 24) or fewer elements")
  }

  func precisions() throws -> [Precision] {
    guard let precision else { return Precision.allCases }
    do {
      return try precision.split(separator: ",", omittingEmptySubsequences: false).map { try Precision.parse(String($0).trimmingCharacters(in: .whitespaces)) }
    } catch let error as Precision.ParseError {
      throw ValidationError(error.description)
    }
  }

  func run() throws {
    try checkMemory()
    let rows = FormatSurvey.run(
      precisions: try precisions(), count: quick ? min(count, 1 << 16) : count, repeats: quick ? 3 : 7,
      minimumSeconds: quick ? 0.01 : 0.05)
    if json {
      print(String(decoding: try ProfileStore.encode(rows), as: UTF8.self))
    } else {
      print(FormatSurvey.text(rows))
    }
  }
}

struct ContextsBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "contexts",
    abstract: "Kernel contexts side by side and the cost of a call in one.",
    discussion: """
      Two (or --contexts) single-thread contexts, each on its own core, run --size³ fp32 GEMMs at once, in rounds that \
      alternate with the first context alone; prints each context's rate together, alone, and the median per-round ratio. \
      Then a --small³ GEMM's whole call against its arithmetic at the micro-kernel's in-cache rate.
      """)

  @Option(help: "Contexts running together, one core each (at most the cores).")
  var contexts = 2

  @Option(help: "Square size of the concurrent GEMMs.")
  var size = 2048

  @Option(help: "Square size of the per-call overhead GEMM.")
  var small = 64

  @Option(help: "Rounds (alone, then together).")
  var rounds = 5

  @Option(help: "Native blocking as key=value pairs (kernel, mc, kc, nc); default: the analytic model's.")
  var params: String?

  @Option(help: "The GEMM backend each context calls: native, openblas, blis or onednn (the call overhead is measured on native alone).")
  var backend = "native"

  @Option(help: "Threads each call asks for (blis, onednn): 1 is each context's own core; more lets each context's OpenMP team oversubscribe its core, to see what that costs.")
  var callThreads = 1

  @Flag(help: "Print JSON.")
  var json = false

  func validate() throws {
    do {
      let parsed = try GEMMBackend.parse(backend)
      if ![.native, .openblas, .blis, .onednn].contains(parsed) { throw ValidationError("--backend \(backend): contexts compare native, openblas, blis or onednn") }
      if callThreads != 1 && parsed != .blis && parsed != .onednn { throw ValidationError("--call-threads applies to blis and onednn") }
    } catch let error as GEMMBackend.ParseError {
      throw ValidationError(error.description)
    }
    if callThreads < 1 || callThreads > 64 { throw ValidationError("--call-threads must be between 1 and 64; got \(callThreads)") }
    if params != nil && backend != "native" { throw ValidationError("--params is the native blocking; drop it with --backend \(backend)") }
    if contexts < 1 { throw ValidationError("--contexts must be at least 1; got \(contexts)") }
    if size < 1 || size > 16384 { throw ValidationError("--size must be between 1 and 16384; got \(size)") }
    if small < 1 || small > 4096 { throw ValidationError("--small must be between 1 and 4096; got \(small)") }
    if rounds < 1 || rounds > 1000 { throw ValidationError("--rounds must be between 1 and 1000; got \(rounds)") }
    if let params { _ = try ParameterList.parse(params) }
  }

  func run() throws {
    let topology = try Topology()
    let cores = topology.firstThreadOfEachCore
    guard contexts <= cores.count else {
      throw CommandFailure("--contexts \(contexts): this machine has \(cores.count) cores, and each context needs one of its own")
    }
    let limits = MachineProbe.limits(topology: topology)
    try MemoryPlan([("\(contexts) contexts' A, B and C", Double(contexts) * 12 * Double(size) * Double(size))])
      .check("tune bench contexts at \(size)³", against: limits, fits: "a smaller --size")
    let native = try GEMMBenchmark.candidate(
      backend: .native, precision: .fp32, params: try params.map(ParameterList.parse) ?? [:], threads: 1, features: ISAFeatures.current,
      caches: CacheSizes(topology))
    let parsed = try GEMMBackend.parse(backend)
    let choice = parsed == .native ? native : GEMMChoice(backend: parsed, precision: .fp32, threads: callThreads)
    // About a second of GEMMs per context per round (at most 1000 calls of a small size).
    let calls = max(1, min(1000, Int(1.5e10 / GEMMShape(m: size, n: size, k: size).flops)))
    let result = ContextBenchmarkResult(
      concurrency: try ContextBenchmark.concurrency(choice: choice, size: size, pus: Array(cores.prefix(contexts)), topology: topology, rounds: rounds, calls: calls),
      overhead: parsed == .native ? try ContextBenchmark.callOverhead(choice: choice, size: small, repeats: 9, minimumSeconds: 0.05) : nil)
    if json {
      print(String(decoding: try ProfileStore.encode(result), as: UTF8.self))
    } else {
      print(result.text)
    }
  }
}
