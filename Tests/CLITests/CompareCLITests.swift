import Foundation
import Testing

/// `tune compare` and `tune report` on the committed profile and on every kind of bad input.
@Suite struct CompareCLITests {
  func committedProfile() throws -> String {
    var directory = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { directory.deleteLastPathComponent() }
    let results = directory.appendingPathComponent("results").path
    let name = try #require(try FileManager.default.contentsOfDirectory(atPath: results).filter { $0.hasSuffix(".json") }.sorted().last)
    return results + "/" + name
  }

  @Test func compareAndReportRunOnTheCommittedProfile() throws {
    let profile = try committedProfile()
    for format in ["text", "markdown", "json", "html"] {
      let result = try tune(["compare", profile, profile, "--format", format])
      #expect(result.status == 0, "\(format): \(result.stderr)")
      #expect(!result.stdout.isEmpty)
    }
    let page = try scratch() + "/report.html"
    let report = try tune(["report", profile, "--html", page])
    #expect(report.status == 0, "\(report.stderr)")
    let html = try String(contentsOfFile: page, encoding: .utf8)
    #expect(html.contains("Roofline") && html.contains("<svg"))
  }

  /// Each bad input gives one clear error naming the file and the problem, and a non-zero exit.
  @Test func everyBadInputIsNamed() throws {
    let good = try String(contentsOfFile: try committedProfile(), encoding: .utf8)
    let directory = try scratch()
    func file(_ name: String, _ text: String) throws -> String {
      let path = directory + "/" + name
      try Data(text.utf8).write(to: URL(fileURLWithPath: path))
      return path
    }
    var cases: [(path: String, expected: String)] = [
      (try file("truncated.json", String(good.prefix(good.count / 3))), "not valid JSON"),
      (try file("version.json", good.replacingOccurrences(of: "scaletune.profile/1", with: "scaletune.profile/9")), "scaletune.profile/9"),
      (try file("missing.json", good.replacingOccurrences(of: "\"hostname\" :", with: "\"hostnamo\" :")), "machine.hostname"),
      (try file("mistyped.json", good.replacingOccurrences(of: "\"hardwareThreads\" : 2", with: "\"hardwareThreads\" : \"two\"")), "machine.topology.hardwareThreads"),
      (try file("nan.json", good.replacingOccurrences(of: "\"probeSeconds\" : ", with: "\"probeSeconds\" : NaN, \"x\" : ")), "not valid JSON"),
      (try file("other.json", "{\"name\": \"not a profile\"}"), "not a ScaleTune profile"),
      (directory, "is a directory"),
      (directory + "/nowhere.json", "no such file"),
    ]
    if getuid() != 0 {
      let locked = try file("locked.json", good)
      chmod(locked, 0)
      cases.append((locked, "cannot be read"))
    }
    for (path, expected) in cases {
      let result = try tune(["compare", try committedProfile(), path])
      #expect(result.status != 0, "\(path) was accepted")
      #expect(result.stderr.contains(path) && result.stderr.contains(expected), "\(path): \(result.stderr)")
      #expect(result.stdout.isEmpty, "nothing is printed when one profile is bad")
    }
    let report = try tune(["report", directory + "/truncated.json", "--html", directory + "/r.html"])
    #expect(report.status != 0 && report.stderr.contains("truncated.json"))
  }

  @Test func badFlagsAreRejected() throws {
    let profile = try committedProfile()
    #expect(try tune(["compare", profile]).status != 0)
    let format = try tune(["compare", profile, profile, "--format", "pdf"])
    #expect(format.status != 0 && format.stderr.contains("markdown"))
    let threshold = try tune(["compare", profile, profile, "--threshold", "5"])
    #expect(threshold.status != 0 && threshold.stderr.contains("--threshold"))
  }
}
