import Foundation

/// What a ranked search asks of the thing being tuned: run one item at an effort, and say what
/// became of it and what it measured, both typed.
public protocol RankedObjective: AnyObject {
  associatedtype Item: Codable & Hashable & Sendable & CustomStringConvertible
  associatedtype Measurement: Codable & Sendable & Equatable
  func evaluate(_ item: Item, effort: Int) -> (outcome: Outcome, measurement: Measurement)
  /// What is recorded for an item the budget ran out before.
  func notRun(_ item: Item) -> Measurement
}

/// One evaluated item of a ranked search.
public struct RankedTrial<Item: Codable & Hashable & Sendable & CustomStringConvertible, Measurement: Codable & Sendable & Equatable>: Sendable, Equatable {
  public var item: Item
  public var outcome: Outcome
  public var effort: Int
  public var measurement: Measurement
  public var fromJournal: Bool
}

/// A ranked search's journal line: the item and what it measured, typed, under a context that
/// says what else the measurement depends on (the machine's fingerprint, the build, the setting
/// every item shares).
public struct RankedRecord<Item: Codable & Hashable & Sendable & CustomStringConvertible, Measurement: Codable & Sendable & Equatable>: JournalEntry, Equatable {
  public var fingerprint: String
  public var build: String
  public var context: String
  public var item: Item
  public var outcome: Outcome
  public var effort: Int
  public var measurement: Measurement
  public var recordedAt: Date

  public init(fingerprint: String, build: String, context: String, item: Item, outcome: Outcome, effort: Int, measurement: Measurement, recordedAt: Date = Date()) {
    self.fingerprint = fingerprint
    self.build = build
    self.context = context
    self.item = item
    self.outcome = outcome
    self.effort = effort
    self.measurement = measurement
    self.recordedAt = recordedAt
  }

  public var key: String { Self.key(fingerprint: fingerprint, build: build, context: context, item: item) }

  static func key(fingerprint: String, build: String, context: String, item: Item) -> String { "\(fingerprint)|\(build)|\(context)|\(item)" }
}

/// A search over items a model has ranked, most promising first (the layout search's candidates):
/// successive halving over the first `initial` (or every item at the final effort, when
/// exhaustive), then the pick confirmed: the item `select` chooses from the trials must have run
/// at the final effort, so where the longest trials failed and the pick was judged on shorter
/// ones, it runs again that long before it is chosen (and the next pick after it, should it
/// fail there). Every evaluation goes through the budget, the session's memory and the journal.
public final class RankedSearch<Objective: RankedObjective> {
  public typealias Trial = RankedTrial<Objective.Item, Objective.Measurement>
  public typealias Record = RankedRecord<Objective.Item, Objective.Measurement>

  public let items: [Objective.Item]
  public let objective: Objective
  public let budget: Budget
  public let journal: Journal<Record>?
  let fingerprint: String, build: String, context: String
  let progress: (String) -> Void
  public private(set) var trials: [Trial] = []
  /// Measurements actually taken (not answered from the journal or memory).
  public private(set) var measured = 0

  public init(
    items: [Objective.Item], objective: Objective, budget: Budget, journal: Journal<Record>? = nil, fingerprint: String = "", build: String = "",
    context: String = "", progress: @escaping (String) -> Void = { _ in }
  ) {
    self.items = items
    self.objective = objective
    self.budget = budget
    self.journal = journal
    self.fingerprint = fingerprint
    self.build = build
    self.context = context
    self.progress = progress
  }

  /// The effort the search's longest trials run at.
  public func finalEffort(initial: Int) -> Int { HalvingSchedule.finalEffort(initial: min(initial, items.count)) }

  /// Halving (or every item, `exhaustive`), then the pick confirmed; returns the confirmed pick.
  @discardableResult
  public func run(initial: Int, exhaustive: Bool, select: ([Trial]) -> Objective.Item?) -> Objective.Item? {
    let final = finalEffort(initial: initial)
    if exhaustive {
      for item in items where !budget.exhausted { evaluate(item, effort: final) }
    } else {
      HalvingSchedule.run(Array(items.prefix(initial)), lastRun: true, exhausted: { budget.exhausted }) { evaluate($0, effort: $1).outcome.score }
    }
    var pick = select(trials)
    while let chosen = pick, let trial = trials.first(where: { $0.item == chosen }), trial.effort < final, !budget.exhausted {
      progress("\(chosen) was judged at effort \(trial.effort) only; running it at \(final)")
      evaluate(chosen, effort: final)
      let again = select(trials)
      if again == pick { break }
      pick = again
    }
    return pick
  }

  /// One item at `effort`: from memory or the journal when it ran at least that long before, else
  /// measured (and journaled) while the budget lasts.
  @discardableResult
  public func evaluate(_ item: Objective.Item, effort: Int) -> Trial {
    if let known = trials.first(where: { $0.item == item }), known.effort >= effort { return known }
    if let journal, let stored = journal.lookup(Record.key(fingerprint: fingerprint, build: build, context: context, item: item)), stored.effort >= effort,
      stored.outcome != .budgetExhausted {
      return record(Trial(item: item, outcome: stored.outcome, effort: stored.effort, measurement: stored.measurement, fromJournal: true))
    }
    let previous = trials.first { $0.item == item }
    guard !budget.exhausted else {
      return previous ?? Trial(item: item, outcome: .budgetExhausted, effort: effort, measurement: objective.notRun(item), fromJournal: false)
    }
    progress("\(item) (effort \(effort), \(String(format: "%.0f", budget.remaining)) s left)")
    let (outcome, measurement) = objective.evaluate(item, effort: effort)
    measured += 1
    try? journal?.append(Record(fingerprint: fingerprint, build: build, context: context, item: item, outcome: outcome, effort: effort, measurement: measurement))
    return record(Trial(item: item, outcome: outcome, effort: effort, measurement: measurement, fromJournal: false))
  }

  private func record(_ trial: Trial) -> Trial {
    trials.removeAll { $0.item == trial.item }
    trials.append(trial)
    return trial
  }
}

