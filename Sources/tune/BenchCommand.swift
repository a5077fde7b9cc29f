import ArgumentParser
import Bench
import Foundation
import NumberFormats
import Profile

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure one configuration with no search.",
    subcommands: [FormatsBench.self, GEMMBench.self, AttentionBench.self])
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

  func precisions() throws -> [Precision] {
    guard let precision else { return Precision.allCases }
    do {
      return try precision.split(separator: ",").map { try Precision.parse(String($0).trimmingCharacters(in: .whitespaces)) }
    } catch let error as Precision.ParseError {
      throw ValidationError(error.description)
    }
  }

  func run() throws {
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
