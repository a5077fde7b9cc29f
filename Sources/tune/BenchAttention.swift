import ArgumentParser
import Foundation
import Kernels
import NumberFormats
import Platform
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

  func parsedShape() throws -> AttentionShape {
    let parts = shape.lowercased().split(separator: "x").compactMap { Int($0) }
    guard parts.count == 4, parts.allSatisfy({ $0 > 0 }) else {
      throw ValidationError("malformed --shape \"\(shape)\"; expected BxHxSxD with positive integers, e.g. 1x8x2048x64")
    }
    let result = AttentionShape(batch: parts[0], heads: parts[1], kvHeads: kvHeads, seq: parts[2], headDim: parts[3], causal: causal)
    if let problem = result.problem { throw ValidationError(problem) }
    return result
  }

  func parsedParameters(threads: Int) throws -> FlashParameters {
    var result = FlashParameters(br: 64, bc: 256, threads: threads)
    let pairs: [String: String] = try params.map(ParameterList.parse) ?? [:]
    for (key, value) in pairs {
      if key == "kernel" {
        result.microKernel = value
        continue
      }
      guard let number = Int(value), number > 0 else { throw ValidationError("--params \(key)=\(value): expected a positive integer") }
      switch key {
      case "br": result.br = number
      case "bc": result.bc = number
      case "split": result.querySplit = number
      default: throw ValidationError("unknown --params key \"\(key)\"; expected br, bc, split or kernel")
      }
    }
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

  func candidate(threads: Int) throws -> AttentionCandidate {
    switch backend.lowercased() {
    case "flash": return .flash(try parsedParameters(threads: threads))
    case "gemm":
      if params != nil { throw ValidationError("--params sets flash's tiles; the gemm backend takes none") }
      return .gemm(MaterializedParameters(threads: threads))
    default: throw ValidationError("unknown --backend \"\(backend)\"; expected flash or gemm")
    }
  }

  func validate() throws {
    _ = try parsedShape()
    _ = try parsedParameters(threads: 1)
    _ = try parsedPrecision()
    _ = try candidate(threads: 1)
    if gemmSize < 1 { throw ValidationError("--gemm-size must be at least 1; got \(gemmSize)") }
    if backward && backend.lowercased() == "gemm" { throw ValidationError("--backward: the gemm backend has no backward; use --backend flash") }
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1; got \(threads)") }
  }

  func run() throws {
    let topology = try Topology()
    let threadCount = threads ?? max(1, topology.cores)
    let result = try AttentionBenchmark.run(
      shape: try parsedShape(), precision: try parsedPrecision(), candidate: try candidate(threads: threadCount),
      backward: backward, context: KernelContext(threads: threadCount, placement: .perCore(topology)), repeats: repeats, verify: true, gemmSize: gemmSize, features: ISAFeatures.current,
      caches: CacheSizes(topology))
    if json {
      print(String(decoding: try ProfileStore.encode(result), as: UTF8.self))
    } else {
      print(result.text)
    }
  }
}
