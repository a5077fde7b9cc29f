import ArgumentParser
import Foundation
import Planner
import Probe
import Profile
import Report
import Tuning

struct CompareCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compare",
    abstract: "Set profiles side by side: flag a peer slower than its peers, show run-to-run spread, give ratios between machines.")

  @Argument(help: "Profiles to compare: at least two machines (two profiles, or a fleet profile of several nodes).")
  var profiles: [String]

  @Option(help: "text, markdown, json or html.")
  var format = "text"

  @Option(help: "How much worse than its peers' median a figure may be before the node is flagged (0.10 = 10%).")
  var threshold = 0.10

  @Option(help: "Write to this file instead of standard output.")
  var output: String?

  func validate() throws {
    guard profiles.count >= 1 else { throw ValidationError("compare needs at least two profiles, or a fleet profile; got none") }
    guard Comparison.Format(rawValue: format) != nil else {
      throw ValidationError("unknown --format \"\(format)\"; expected one of: \(Comparison.Format.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    guard threshold > 0 && threshold < 1 else { throw ValidationError("--threshold must be between 0 and 1 (0.10 = 10%); got \(threshold)") }
  }

  func run() throws {
    // Every file is read before anything is printed: one bad profile stops the comparison with
    // its own error, and none is skipped silently.
    let summaries = try profiles.flatMap { path in ProfileSummary.all(profile: try ProfileStore.read(path), path: path) }
    guard summaries.count >= 2 else { throw CommandFailure("compare needs at least two machines: two profiles, or a fleet profile of several nodes; got \(summaries.count)") }
    let text = try Comparison(summaries, threshold: threshold).render(Comparison.Format(rawValue: format)!)
    try Output.write(text, to: output)
  }
}

struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Summarise profiles; --html writes one self-contained page of pictures (roofline, GEMM by shape and precision, accuracy against speed, the tuner's candidates).")

  @Argument(help: "One or more profiles (several are drawn side by side), or plans written by `tune plan --output`.")
  var profiles: [String]

  @Option(help: "Write the HTML page here.")
  var html: String?

  func validate() throws {
    guard !profiles.isEmpty else { throw ValidationError("report needs a profile, e.g. results/<host>-<time>.json") }
  }

  func run() throws {
    // A plan (tune plan --output) is told from a profile by its shape.
    var plans: [(path: String, plan: Plan)] = []
    var loaded: [(path: String, profile: Profile)] = []
    for path in profiles {
      if let plan = Plan.load(path) {
        plans.append((path, plan))
      } else {
        loaded.append((path, try ProfileStore.read(path)))
      }
    }
    if let html {
      try Output.write(HTMLPage.report(loaded, plans: plans), to: html)
      FileHandle.standardError.write(Data("report written to \(html)\n".utf8))
      return
    }
    for (path, plan) in plans {
      print("== \(path)")
      print(PlanSummary.text(plan, top: 10))
    }
    for (path, profile) in loaded {
      print("== \(path)")
      print(ProfileText.text(profile))
    }
  }
}

enum Output {
  static func write(_ text: String, to path: String?) throws {
    guard let path else {
      print(text)
      return
    }
    do {
      try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
      throw ValidationError("\(path): cannot be written (\(error.localizedDescription))")
    }
  }
}
