import Foundation
import Platform
import Testing

@testable import Autotune

/// A ranked item and what its (recorded) runs measured: the search's items and measurements are
/// typed, as the layout search's candidates and trial records are.
struct Layout: Codable, Hashable, Sendable, CustomStringConvertible {
  var dp: Int
  var tp: Int
  var description: String { "dp=\(dp),tp=\(tp)" }
}

struct Run: Codable, Sendable, Equatable {
  var steps: Int
  var tokensPerSecond: Double?
}

/// Answers from a table of rates; an item listed in `failsAbove` fails once its effort exceeds
/// that (a trial that goes unstable only when run longer). It counts what it was asked.
final class RecordedLayouts: RankedObjective {
  let rates: [Layout: Double]
  let failsAbove: [Layout: Int]
  private(set) var asked: [(Layout, Int)] = []

  init(_ rates: [Layout: Double], failsAbove: [Layout: Int] = [:]) {
    self.rates = rates
    self.failsAbove = failsAbove
  }

  func evaluate(_ item: Layout, effort: Int) -> (outcome: Outcome, measurement: Run) {
    asked.append((item, effort))
    if let limit = failsAbove[item], effort > limit { return (.unstable(reason: "left the reference"), Run(steps: 2 + effort, tokensPerSecond: nil)) }
    guard let rate = rates[item] else { return (.failed(reason: "not recorded"), Run(steps: 0, tokensPerSecond: nil)) }
    return (.ok(Statistics(samples: [rate])), Run(steps: 2 + effort, tokensPerSecond: rate))
  }

  func notRun(_ item: Layout) -> Run { Run(steps: 0, tokensPerSecond: nil) }
}

@Suite struct RankedSearchTests {
  static let items = (1...4).flatMap { dp in (1...2).map { Layout(dp: dp, tp: $0) } }
  static let rates = Dictionary(uniqueKeysWithValues: items.map { ($0, Double(10 * $0.dp + $0.tp)) })

  /// The fastest ok trial at the longest effort any reached (what the layout search's selection does).
  static func select(_ trials: [RankedSearch<RecordedLayouts>.Trial]) -> Layout? {
    let ok = trials.filter { $0.outcome.score != nil }
    guard let longest = ok.map(\.effort).max() else { return nil }
    return ok.filter { $0.effort == longest }.max { $0.outcome.score! < $1.outcome.score! }?.item
  }

  @Test func halvingRunsTheBestHalfLongerAndEndsOnTheBest() {
    let objective = RecordedLayouts(Self.rates)
    let search = RankedSearch(items: Self.items, objective: objective, budget: .unlimited)
    let pick = search.run(initial: 8, exhaustive: false, select: Self.select)
    #expect(pick == Layout(dp: 4, tp: 2))
    #expect(search.finalEffort(initial: 8) == 8)
    #expect(search.trials.first { $0.item == pick }?.effort == 8, "the last survivor's final run is the longest")
    #expect(objective.asked.filter { $0.1 == 1 }.count == 8 && objective.asked.filter { $0.1 == 2 }.count == 4)
  }

  @Test func aPickJudgedOnShorterTrialsRunsAsLongBeforeItIsChosen() {
    // The two fastest go unstable when run longer: the second fails at effort 4, so the halving
    // ends with the fastest judged at effort 4 only; run at 8 it fails too, and the pick moves on
    // to the next, judged at effort 2, which is run at 8 before it is chosen.
    let objective = RecordedLayouts(Self.rates, failsAbove: [Layout(dp: 4, tp: 2): 4, Layout(dp: 4, tp: 1): 2])
    let search = RankedSearch(items: Self.items, objective: objective, budget: .unlimited)
    let pick = search.run(initial: 8, exhaustive: false, select: Self.select)
    #expect(pick == Layout(dp: 3, tp: 2))
    #expect(search.trials.first { $0.item == pick }?.effort == 8)
    #expect(search.trials.first { $0.item == Layout(dp: 4, tp: 2) }?.outcome == .unstable(reason: "left the reference"))
  }

  @Test func exhaustiveRunsEveryItemAtTheFinalEffort() {
    let objective = RecordedLayouts(Self.rates)
    let search = RankedSearch(items: Self.items, objective: objective, budget: .unlimited)
    #expect(search.run(initial: 2, exhaustive: true, select: Self.select) == Layout(dp: 4, tp: 2))
    #expect(objective.asked.count == Self.items.count && objective.asked.allSatisfy { $0.1 == 2 })
  }

  @Test func trialsAreJournaledTypedAndReusedByTheNextSearch() throws {
    let file = NSTemporaryDirectory() + "scaletune-ranked-\(UUID().uuidString)/j.jsonl"
    defer { try? FileManager.default.removeItem(atPath: (file as NSString).deletingLastPathComponent) }
    let first = RecordedLayouts(Self.rates)
    let search = RankedSearch(
      items: Self.items, objective: first, budget: .unlimited, journal: try Journal(path: file), fingerprint: "f", build: "b", context: "model tiny")
    search.run(initial: 4, exhaustive: false, select: Self.select)

    let again = RecordedLayouts(Self.rates)
    let journal = try Journal<RankedRecord<Layout, Run>>(path: file)
    #expect(journal.count == 4 && journal.skippedLines == 0)
    let resumed = RankedSearch(items: Self.items, objective: again, budget: .unlimited, journal: journal, fingerprint: "f", build: "b", context: "model tiny")
    resumed.run(initial: 4, exhaustive: false, select: Self.select)
    #expect(again.asked.isEmpty, "every trial came from the journal")
    #expect(resumed.trials.allSatisfy { $0.fromJournal })
    #expect(resumed.trials.map(\.measurement) == search.trials.map(\.measurement), "the measurements come back as they were recorded")

    // Another setting (or build) shares nothing.
    let other = RecordedLayouts(Self.rates)
    RankedSearch(items: Self.items, objective: other, budget: .unlimited, journal: try Journal(path: file), fingerprint: "f", build: "b", context: "model small")
      .run(initial: 4, exhaustive: false, select: Self.select)
    #expect(other.asked.count == 7)
  }

  @Test func nothingRunsOnceTheBudgetIsSpent() {
    let objective = RecordedLayouts(Self.rates)
    let search = RankedSearch(items: Self.items, objective: objective, budget: Budget(seconds: 0))
    #expect(search.run(initial: 8, exhaustive: false, select: Self.select) == nil)
    #expect(objective.asked.isEmpty)
  }
}
