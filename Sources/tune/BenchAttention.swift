import ArgumentParser
import Foundation
import Kernels
import Platform
import Profile
import Tuning

struct AttentionBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "attention",
    abstract: "Time the flash attention kernels on one problem (fp32), next to the fp32 GEMM rate of the same run.")

  @Option(help: "BxHxSxD: batch, heads, sequence, head dim.")
  var shape = "1x8x2048x64"

  @Flag(help: "Causal masking.")
  var causal = false

  @Option(name: .customLong("kv-heads"), help: "Key/value heads (grouped-query attention; default: as many as heads).")
  var kvHeads: Int?

  @Option(help: "br=…,bc=… (query and key block rows).")
  var params: String?

  @Option(help: "Threads (default: one per core).")
  var threads: Int?

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
    var result = FlashParameters(br: 64, bc: 64, threads: threads)
    let pairs: [String: String] = try params.map(ParameterList.parse) ?? [:]
    for (key, value) in pairs {
      guard let number = Int(value), number > 0 else { throw ValidationError("--params \(key)=\(value): expected a positive integer") }
      switch key {
      case "br": result.br = number
      case "bc": result.bc = number
      default: throw ValidationError("unknown --params key \"\(key)\"; expected br or bc")
      }
    }
    return result
  }

  func validate() throws {
    _ = try parsedShape()
    _ = try parsedParameters(threads: 1)
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1; got \(threads)") }
  }

  func run() throws {
    let topology = try Topology()
    let result = try AttentionBenchmark.run(
      shape: try parsedShape(), parameters: try parsedParameters(threads: threads ?? max(1, topology.cores)), backward: backward,
      placement: .perCore(topology), repeats: repeats, verify: true)
    if json {
      print(String(decoding: try ProfileStore.encode(result), as: UTF8.self))
    } else {
      print(result.text)
    }
  }
}
