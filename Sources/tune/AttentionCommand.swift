import ArgumentParser
import Autotune
import Foundation
import Kernels
import Platform
import Probe
import Profile
import Tuning

struct AttentionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "attention",
    abstract: "Tune flash attention (fp32): Br and Bc per problem, each candidate verified first; merge kernels.attention into the profile.")

  @OptionGroup var options: CommonOptions
  @OptionGroup var attention: AttentionOptions

  func run() throws {
    try AttentionStage.execute(options: options, attention: attention, stages: ["attention"])
  }
}

struct AttentionOptions: ParsableArguments {
  @Option(help: "Comma-separated sequence lengths (default 512,1024,2048,4096).")
  var seq: String?

  @Option(name: .customLong("head-dim"), help: "Comma-separated head dims (default 64,128).")
  var headDim: String?

  @Option(name: .customLong("attention-budget"), help: "Seconds for the attention stage (default 120, 20 with --quick).")
  var attentionBudget: Double?

  func list(_ text: String?, _ name: String) throws -> [Int]? {
    guard let text else { return nil }
    let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard values.allSatisfy({ ($0 ?? 0) > 0 }) else { throw ValidationError("--\(name) takes positive integers separated by commas, e.g. 512,1024; got \(text)") }
    return values.compactMap { $0 }
  }

  func validate() throws {
    _ = try list(seq, "seq")
    _ = try list(headDim, "head-dim")
    if let attentionBudget, !(attentionBudget > 0) { throw ValidationError("--attention-budget must be a positive number of seconds") }
  }

  func problems(quick: Bool) throws -> [AttentionShape] {
    if quick && seq == nil && headDim == nil { return AttentionTuningOptions.quickProblems }
    let sequences = try list(seq, "seq") ?? [512, 1024, 2048, 4096]
    let dims = try list(headDim, "head-dim") ?? [64, 128]
    return dims.flatMap { d in sequences.flatMap { s in [false, true].map { AttentionShape(batch: 1, heads: 8, seq: s, headDim: d, causal: $0) } } }
  }
}

enum AttentionStage {
  static func execute(options: CommonOptions, attention: AttentionOptions, stages: [String]) throws {
    let stage = try KernelStage.open(options: options)
    let machine = stage.machine
    let topology = try Topology()
    var gemm: (gflops: Double, source: String)?
    if let section = stage.profile?.kernels?.gemm, section.fingerprint == machine.fingerprint,
      let entry = section.entries.first(where: { $0.shape == "2048x2048x2048" && $0.precision == "fp32" }), let winner = entry.winner,
      let g = winner.gflops?.median
    {
      gemm = (g, "kernels.gemm 2048x2048x2048 fp32 winner (\(winner.backend))")
    }
    let journal = try Journal(path: "results/journal/\(machine.fingerprint).jsonl")
    let tuner = AttentionTuner(
      options: AttentionTuningOptions(
        problems: try attention.problems(quick: options.quick), budgetSeconds: attention.attentionBudget ?? (options.quick ? 20 : 120),
        quick: options.quick, threads: max(1, topology.cores), fingerprint: machine.fingerprint, build: BuildIdentity.current, gemm: gemm),
      placement: .perCore(topology), journal: journal, progress: options.progress)
    let section = tuner.run()
    try stage.finish(options: options, stages: stages, section: section, summary: AttentionSummary.text(section)) { $0.attention = section }
  }
}

enum AttentionSummary {
  static func text(_ section: AttentionSection) -> String {
    var lines = [String(format: "Attention tuning: %.0f s of a %.0f s budget; GEMM reference %.1f GFLOP/s (%@)", section.tuningSeconds, section.budgetSeconds, section.gemmGflops, section.gemmSource)]
    lines.append("problem                     winner                 forward GFLOP/s        % of GEMM  backward GFLOP/s  max error")
    for entry in section.entries {
      let name = entry.shape.padding(toLength: 27, withPad: " ", startingAt: 0)
      guard let w = entry.winner, let f = w.forwardGflops else {
        lines.append("\(name) no candidate passed (\(entry.candidates.map(\.status).joined(separator: ",")))")
        continue
      }
      let params = "flash[br=\(w.parameters["br"] ?? "?"),bc=\(w.parameters["bc"] ?? "?")]".padding(toLength: 22, withPad: " ", startingAt: 0)
      func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count + 1), withPad: " ", startingAt: 0) }
      lines.append(
        name + " " + params + " " + pad(String(format: "%.1f [%.1f-%.1f]", f.median, f.min, f.max), 22)
          + pad(w.percentOfGEMM.map { String(format: "%.0f%%", $0) } ?? "-", 11)
          + pad(w.backwardGflops.map { String(format: "%.1f", $0.median) } ?? "-", 18)
          + (w.maxError.map { String(format: "%.1e", $0) } ?? "-"))
    }
    return lines.joined(separator: "\n")
  }
}
