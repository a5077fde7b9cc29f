/// What a strategy asks of the thing being tuned: verify, then measure, one configuration. The
/// autotuner knows nothing else about it. `effort` 1 is a normal measurement; successive halving
/// asks survivors for more.
public protocol Objective: AnyObject {
  func evaluate(_ configuration: Configuration, effort: Int) -> Outcome
}

/// One search: the space, the objective, the budget and the journal, with every trial kept.
/// Strategies call `evaluate`, which answers from this session's memory or the journal before it
/// measures, and returns `.timeout` once the budget is spent.
public final class TuningSession {
  public let space: SearchSpace
  public let objective: Objective
  public let budget: Budget
  public let journal: KernelJournal?
  /// Builds the journal record's identity for a configuration (nil: do not journal).
  let journalRecord: ((Configuration, Outcome, Int) -> TuningRecord)?
  let progress: (String) -> Void
  public private(set) var trials: [Trial] = []
  private var memory: [Configuration: Trial] = [:]
  /// Measurements actually taken (not answered from the journal or memory).
  public private(set) var measured = 0

  public init(
    space: SearchSpace, objective: Objective, budget: Budget = .unlimited, journal: KernelJournal? = nil,
    journalRecord: ((Configuration, Outcome, Int) -> TuningRecord)? = nil, progress: @escaping (String) -> Void = { _ in }
  ) {
    self.space = space
    self.objective = objective
    self.budget = budget
    self.journal = journal
    self.journalRecord = journalRecord
    self.progress = progress
  }

  @discardableResult
  public func evaluate(_ configuration: Configuration, effort: Int = 1) -> Trial {
    if let known = memory[configuration], known.effort >= effort { return known }
    if let reason = space.violation(configuration) {
      return record(Trial(configuration: configuration, outcome: .pruned(reason: reason), effort: effort))
    }
    if let journal, let make = journalRecord {
      let key = make(configuration, .budgetExhausted, effort).key
      if let stored = journal.lookup(key), stored.effort >= effort, stored.outcome != .budgetExhausted {
        return record(Trial(configuration: configuration, outcome: stored.outcome, effort: stored.effort, fromJournal: true))
      }
    }
    guard !budget.exhausted else { return Trial(configuration: configuration, outcome: .budgetExhausted, effort: effort) }
    progress("\(configuration) (effort \(effort), \(String(format: "%.0f", budget.remaining)) s left)")
    let outcome = objective.evaluate(configuration, effort: effort)
    measured += 1
    if let journal, let make = journalRecord { try? journal.append(make(configuration, outcome, effort)) }
    return record(Trial(configuration: configuration, outcome: outcome, effort: effort))
  }

  private func record(_ trial: Trial) -> Trial {
    memory[trial.configuration] = trial
    trials.removeAll { $0.configuration == trial.configuration }
    trials.append(trial)
    return trial
  }

  /// The best `.ok` trial (highest score; at the highest effort reached, when efforts differ).
  public var best: Trial? {
    let ok = trials.filter { $0.outcome.score != nil }
    guard let top = ok.map(\.effort).max() else { return nil }
    return ok.filter { $0.effort == top }.max { $0.outcome.score! < $1.outcome.score! }
  }
}
