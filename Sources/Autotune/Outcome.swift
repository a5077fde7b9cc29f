import Platform

/// What became of a candidate, as a profile records it (kernel candidates and layout trials alike;
/// written as the case's name).
public enum TrialStatus: String, Codable, Sendable, CaseIterable {
  case ok, wrong, failed, pruned, timeout, unstable, oom
}

/// What became of one candidate: a typed outcome, never a sentinel or an exception that stops the
/// search. Only `.ok` candidates can be chosen.
public enum Outcome: Codable, Sendable, Equatable {
  /// Verified, then measured: the score's statistics (higher is better).
  case ok(Statistics)
  /// Its output differed from the reference beyond the tolerance; error nil when the output held
  /// NaN or Inf (an element never written, or an overflow).
  case wrong(error: Double?, tolerance: Double)
  /// It cannot run here, or it failed while running.
  case failed(reason: String)
  /// Not run: excluded before measuring (a constraint, a backend the machine lacks).
  case pruned(reason: String)
  /// Not run because the budget ran out (no reason), or stopped because it ran past its time
  /// limit (the reason says how long it had).
  case timeout(reason: String?)

  /// The budget ran out before it ran.
  public static let budgetExhausted = Outcome.timeout(reason: nil)
  /// It ran, but its result cannot be trusted: a training trial whose loss went non-finite,
  /// whose loss scale kept collapsing, or that left the reference trajectory.
  case unstable(reason: String)
  /// It ran out of memory (killed at its memory limit, or refused before it started).
  case oom(reason: String)

  public var score: Double? { statistics?.median }

  /// The measurement of an `.ok` outcome.
  public var statistics: Statistics? {
    if case .ok(let statistics) = self { return statistics }
    return nil
  }

  /// Its status in a profile.
  public var status: TrialStatus {
    switch self {
    case .ok: return .ok
    case .wrong: return .wrong
    case .failed: return .failed
    case .pruned: return .pruned
    case .timeout: return .timeout
    case .unstable: return .unstable
    case .oom: return .oom
    }
  }

  public var reason: String? {
    switch self {
    case .ok: return nil
    case .wrong(let error?, let tolerance): return "error \(error) above tolerance \(tolerance)"
    case .wrong(nil, _): return "output held NaN or Inf (an element left unwritten, or an overflow)"
    case .failed(let reason), .pruned(let reason), .unstable(let reason), .oom(let reason): return reason
    case .timeout(let reason): return reason ?? "budget exhausted before it ran"
    }
  }
}

/// One evaluated configuration.
public struct Trial: Codable, Sendable, Equatable {
  public var configuration: Configuration
  public var outcome: Outcome
  /// The measurement effort it was evaluated at (successive halving raises it for survivors).
  public var effort: Int
  /// True when the result came from the journal rather than a new measurement.
  public var fromJournal: Bool

  public init(configuration: Configuration, outcome: Outcome, effort: Int = 1, fromJournal: Bool = false) {
    self.configuration = configuration
    self.outcome = outcome
    self.effort = effort
    self.fromJournal = fromJournal
  }
}
