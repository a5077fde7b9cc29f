import Foundation
import Testing

@testable import Profile

/// Each kind of bad input gives its own error, naming the file and what was expected.
@Suite struct ProfileErrorTests {
  func write(_ text: String) throws -> String {
    let path = try temporaryDirectory() + "/input.json"
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    return path
  }

  /// The sample profile's JSON with one edit applied to its object tree.
  func edited(_ edit: (inout [String: Any]) -> Void) throws -> String {
    var object = try JSONSerialization.jsonObject(with: Data(try sampleProfileJSON().utf8)) as! [String: Any]
    edit(&object)
    return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
  }

  @Test func missingFile() {
    #expect(throws: ProfileError.notFound(path: "/nonexistent/p.json")) { try ProfileStore.read("/nonexistent/p.json") }
  }

  @Test func directory() throws {
    let directory = try temporaryDirectory()
    #expect(throws: ProfileError.isDirectory(path: directory)) { try ProfileStore.read(directory) }
  }

  @Test func truncatedJSON() throws {
    let text = try sampleProfileJSON()
    let path = try write(String(text.prefix(text.count / 2)))
    let error = #expect(throws: ProfileError.self) { try ProfileStore.read(path) }
    guard case .malformedJSON(let errorPath, _) = error else { Issue.record("got \(String(describing: error))"); return }
    #expect(errorPath == path)
  }

  @Test func emptyFile() throws {
    let path = try write("")
    #expect(throws: ProfileError.malformedJSON(path: path, detail: "the file is empty")) { try ProfileStore.read(path) }
  }

  @Test func jsonThatIsNotAProfile() throws {
    let path = try write("[1, 2, 3]")
    #expect(throws: ProfileError.notAProfile(path: path)) { try ProfileStore.read(path) }
    let other = try write("{\"name\": \"something else\"}")
    #expect(throws: ProfileError.notAProfile(path: other)) { try ProfileStore.read(other) }
  }

  @Test func wrongSchemaVersion() throws {
    let path = try write(try edited { $0["schema"] = "scaletune.profile/0" })
    #expect(throws: ProfileError.wrongSchema(path: path, found: "scaletune.profile/0", expected: "scaletune.profile/1")) {
      try ProfileStore.read(path)
    }
  }

  @Test func missingField() throws {
    let path = try write(try edited { root in
      var machine = root["machine"] as! [String: Any]
      var cpu = machine["cpu"] as! [String: Any]
      cpu.removeValue(forKey: "vendor")
      machine["cpu"] = cpu
      root["machine"] = machine
    })
    #expect(throws: ProfileError.missingField(path: path, field: "machine.cpu.vendor", expected: "a value of type string")) {
      try ProfileStore.read(path)
    }
  }

  @Test func mistypedField() throws {
    let path = try write(try edited { root in
      var machine = root["machine"] as! [String: Any]
      var topology = machine["topology"] as! [String: Any]
      topology["cores"] = "two"
      machine["topology"] = topology
      root["machine"] = machine
    })
    #expect(throws: ProfileError.wrongType(path: path, field: "machine.topology.cores", expected: "integer", found: "string")) {
      try ProfileStore.read(path)
    }
  }

  @Test func valueOutsideItsEnum() throws {
    let path = try write(try edited { root in
      var machine = root["machine"] as! [String: Any]
      var peaks = machine["peaks"] as! [[String: Any]]
      peaks[0]["precision"] = "fp12"
      machine["peaks"] = peaks
      root["machine"] = machine
    })
    let error = #expect(throws: ProfileError.self) { try ProfileStore.read(path) }
    guard case .invalidValue(_, let field, let problem) = error else { Issue.record("got \(String(describing: error))"); return }
    #expect(field == "machine.peaks[0].precision")
    #expect(problem.contains("\"fp12\"") && problem.contains("\"bf16\""))
  }

  @Test func nonFiniteNumberIsNotJSON() throws {
    let text = try sampleProfileJSON().replacingOccurrences(of: "\"probeSeconds\" : 1.5", with: "\"probeSeconds\" : NaN")
    #expect(text.contains("NaN"))
    let path = try write(text)
    let error = #expect(throws: ProfileError.self) { try ProfileStore.read(path) }
    guard case .malformedJSON = error else { Issue.record("got \(String(describing: error))"); return }
  }

  @Test func unknownFieldIsRejectedWithTheKnownOnes() throws {
    let path = try write(try edited { $0["extra"] = 1 })
    let error = #expect(throws: ProfileError.self) { try ProfileStore.read(path) }
    guard case .invalidValue(_, let field, let problem) = error else { Issue.record("got \(String(describing: error))"); return }
    #expect(field == "extra")
    #expect(problem.contains("machine") && problem.contains("provenance"))
  }

  @Test func messagesNameTheFileAndTheField() {
    let message = ProfileError.missingField(path: "results/a.json", field: "machine.cpu", expected: "the CPU").description
    #expect(message.contains("results/a.json") && message.contains("machine.cpu") && message.contains("the CPU"))
  }
}
