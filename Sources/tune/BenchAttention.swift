import ArgumentParser
import Foundation
import Kernels
import NumberFormats
import Platform
import Probe
import Profile
import Tuning

struct AttentionBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "attention",
    abstract: "Time one attention kernel on one problem, next to the same precision's GEMM rate measured in the same run.")

  @Option(help: "BxHxSxD: batch, heads, sequence, head dim.")
  var shape = "1x8x2048x64"

  @Flag(help: "Causal masking.")
  var causal = false

  @Option(name: .customLong("kv-heads"), help: "Key/value heads (grouped-query attention; default: as many as heads).")
  var kvHeads: Int?

  @Option(help: "flash (tiled, online softmax) or gemm (scores materialised between two GEMMs).")
  var backend = "flash"

  @Option(help: "Storage precision of Q, K, V: fp32, bf16, fp8-e4m3 or fp8-e5m2 (fp32 arithmetic on the decoded values).")
  var precision = "fp32"

  @Option(help: "br=…,bc=…,split=…,kernel=… (query and key block rows; shares of each head's query blocks for the threads; the micro-kernel: an fp32 one, or a bf16 one such as amx-bf16-32x32 for bf16 products; flash only; default br=64,bc=256,split=1).")
  var params: String?

  @Option(help: "Threads (default: one per core).")
  var threads: Int?

  @Option(name: .customLong("gemm-size"), help: "The square GEMM the attention rate is set against (N for NxNxN).")
  var gemmSize = 2048

  @Flag(help: "Time the backward too.")
  var backward = false

  @Option(help: "Samples to take.")
  var repeats = 3

  @Flag(help: "Print JSON.")
  var json = false

  @Flag(help: "Run more threads than the machine gives this process (the result says it was oversubscribed).")
  var oversubscribe = false

  func parsedShape() throws -> AttentionShape {
    let parts = shape.lowercased().split(separator: "x").compactMap { Int($0) }
    guard parts.count == 4, parts.allSatisfy({ $0 > 0 }) else {
      throw ValidationError("malformed --shape \"\(shape)\"; expected BxHxSxD with positive integers, e.g. 1x8x2048x64")
    }
    let result = AttentionShape(batch: parts[0], heads: parts[1], kvHeads: kvHeads, seq: parts[2], headDim: parts[3], causal: causal)
    if let problem = result.problem { throw ValidationError(problem) }
    return result
  }

  func parsedPrecision() throws -> Precision {
    let parsed: Precision
    do { parsed = try Precision.parse(precision) } catch { throw ValidationError("--precision: \(error)") }
    guard AttentionTensor.precisions.contains(parsed) else {
      throw ValidationError("--precision \(precision): attention inputs can be stored as \(AttentionTensor.precisions.map(\.rawValue).joined(separator: ", "))")
    }
    return parsed
  }

  /// The choice --backend and --params say (`AttentionChoice`'s own parser of the key=value form).
  func candidate(threads: Int, precision: Precision = .fp32) throws -> AttentionChoice {
    guard let backend = AttentionBackend(rawValue: backend.lowercased()) else {
      throw ValidationError("unknown --backend \"\(self.backend)\"; expected flash or gemm")
    }
    let pairs: [String: String] = try params.map(ParameterList.parse) ?? [:]
    if pairs["threads"] != nil { throw ValidationError("--params threads=…: give the threads with --threads") }
    do {
      return try AttentionChoice(
        backend: backend, precision: precision, parameters: pairs.merging(["threads": String(threads)]) { $1 },
        defaults: FlashParameters(br: 64, bc: 256, threads: threads))
    } catch let error as ChoiceError {
      throw ValidationError("--params: \(error)\(backend == .gemm ? " (--params sets flash's tiles; the gemm backend takes none)" : "")")
    }
  }

  func validate() throws {
    _ = try parsedShape()
    _ = try parsedPrecision()
    _ = try candidate(threads: 1)
    if gemmSize < 1 { throw ValidationError("--gemm-size must be at least 1; got \(gemmSize)") }
    if backward && backend.lowercased() == "gemm" { throw ValidationError("--backward: the gemm backend has no backward; use --backend flash") }
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1; got \(threads)") }
    if repeats < 1 || repeats > 1000 { throw ValidationError("--repeats must be between 1 and 1000; got \(repeats)") }
  }

  func run() throws {
    let topology = try Topology()
    let threadCount = threads ?? max(1, topology.cores)
    let (shape, precision) = (try parsedShape(), try parsedPrecision())
    let choice = try candidate(threads: threadCount, precision: precision)
    // Threads and memory are checked before anything is allocated: the attention workspace and the
    // GEMM it is timed against live side by side.
    let limits = MachineProbe.limits(topology: topology)
    let oversubscribed = try limits.check(threads: threadCount, oversubscribe: oversubscribe)
    var plan = AttentionBenchmark.memoryPlan(shape: shape, precision: precision, backward: backward, threads: threadCount, materialized: choice.backend == .gemm)
    plan.parts += GEMMWorkspace.memoryPlan(problem: GEMMProblem(shape: GEMMShape(m: gemmSize, n: gemmSize, k: gemmSize)), precision: precision, threads: threadCount, accuracy: false).parts
    try plan.check("tune bench attention \(shape) \(precision) with its \(gemmSize)³ GEMM", against: limits, fits: "a shorter --seq, fewer heads, or a smaller --gemm-size")
    if choice.backend == .gemm, let reason = MaterializedAttention.unavailability(shape, threads: threadCount) {
      throw CommandFailure("--backend gemm: \(reason)")
    }
    var result = try AttentionBenchmark.run(
      shape: shape, precision: precision, candidate: choice,
      backward: backward, context: KernelContext(threads: threadCount, placement: .perCore(topology)), repeats: repeats, verify: true, gemmSize: gemmSize, features: ISAFeatures.current,
      caches: CacheSizes(topology))
    if oversubscribed { result.oversubscribed = "\(threadCount) threads on \(limits.usableThreads) usable hardware threads" }
    if json {
      print(String(decoding: try ProfileStore.encode(result), as: UTF8.self))
    } else {
      print(result.text)
    }
  }
}
