import Foundation
import Testing

@testable import Autotune

@Suite struct JournalTests {
  func path() -> String { NSTemporaryDirectory() + "scaletune-journal-\(UUID().uuidString)/j.jsonl" }

  func record(_ kc: Int, _ score: Double) -> TuningRecord {
    TuningRecord(fingerprint: "0123456789abcdef", build: "test", kernel: "gemm-native", shape: "64x64x64", precision: "fp32",
                   configuration: Configuration(["kc": String(kc)]), outcome: ok(score), effort: 1)
  }

  @Test func recordsSurviveReopeningAndAreReusedBySessions() throws {
    let file = path()
    do {
      let journal = try KernelJournal(path: file)
      try journal.append(record(64, 10))
      try journal.append(record(128, 20))
    }
    let reopened = try KernelJournal(path: file)
    #expect(reopened.count == 2)
    #expect(reopened.lookup(record(128, 0).key)?.outcome.score == 20)

    let space = SearchSpace(parameters: [Parameter("kc", [64, 128, 256])])
    let objective = RecordedObjective([Configuration(["kc": "256"]): ok(30)])
    let session = TuningSession(space: space, objective: objective, journal: reopened, journalRecord: { configuration, outcome, effort in
      TuningRecord(fingerprint: "0123456789abcdef", build: "test", kernel: "gemm-native", shape: "64x64x64", precision: "fp32",
                     configuration: configuration, outcome: outcome, effort: effort)
    })
    ExhaustiveSearch().run(session)
    #expect(objective.asked == [Configuration(["kc": "256"])], "only the unrecorded configuration is measured")
    #expect(session.trials.filter(\.fromJournal).count == 2)
    #expect(try KernelJournal(path: file).count == 3, "the new measurement was appended")
  }

  @Test func aLineCutShortByAKillIsSkippedAndAppendingGoesOn() throws {
    let file = path()
    do {
      let journal = try KernelJournal(path: file)
      try journal.append(record(64, 10))
    }
    // What a kill in the middle of a write leaves behind.
    let handle = try #require(FileHandle(forWritingAtPath: file))
    handle.seekToEndOfFile()
    handle.write(Data("{\"fingerprint\":\"0123456789abcdef\",\"ker".utf8))
    try handle.close()
    let journal = try KernelJournal(path: file)
    #expect(journal.count == 1 && journal.skippedLines == 1)
    try journal.append(record(128, 20))
    let again = try KernelJournal(path: file)
    #expect(again.count == 2 && again.skippedLines == 1)
  }

  @Test func freshIgnoresEarlierResults() throws {
    let file = path()
    try KernelJournal(path: file).append(record(64, 10))
    #expect(try KernelJournal(path: file, fresh: true).count == 0)
  }

  @Test func anUnwritablePathIsAClearError() {
    #expect(throws: JournalError.self) { try KernelJournal(path: "/proc/scaletune/j.jsonl") }
  }
}
