import Platform

/// A wall-clock budget for a search. Strategies ask before each evaluation; an evaluation that has
/// started finishes, so evaluations should be short next to the budget.
public final class Budget: @unchecked Sendable {
  public let seconds: Double
  let start: Double

  public init(seconds: Double) {
    self.seconds = seconds
    start = monotonicSeconds()
  }

  public static var unlimited: Budget { Budget(seconds: .infinity) }

  public var elapsed: Double { monotonicSeconds() - start }
  public var remaining: Double { max(0, seconds - elapsed) }
  public var exhausted: Bool { elapsed >= seconds }

  /// A budget for part of the work: `fraction` of what remains now (and never past this one).
  public func share(_ fraction: Double) -> Budget { Budget(seconds: min(remaining, remaining * fraction)) }
}
