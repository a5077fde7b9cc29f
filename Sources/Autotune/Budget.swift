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

/// How the whole `tune` shares one budget among its stages: GEMM 30% of what is left (at most
/// 240 s, 30 with `--quick`; a quarter of an explicit `--budget`), attention 30% of what is then
/// left (at most 150 s, 20 with `--quick`), the parallel search the rest (at least 20 s). A stage
/// given its own budget on the command line keeps it.
public struct StageBudgets: Equatable, Sendable {
  public let total: Double
  let explicit: Bool
  let quick: Bool

  /// - Parameter total: `--budget`; nil: 720 s (120 with `--quick`).
  public init(total: Double?, quick: Bool) {
    self.total = total ?? (quick ? 120 : 720)
    explicit = total != nil
    self.quick = quick
  }

  /// The GEMM stage's seconds when `left` of the total remain.
  public func gemm(left: Double) -> Double { explicit ? total * 0.25 : min(quick ? 30 : 240, left * 0.3) }
  public func attention(left: Double) -> Double { min(quick ? 20 : 150, left * 0.3) }
  public func parallel(left: Double) -> Double { max(20, left) }
  /// The pick's own GEMM shapes, after the layout search: what is left, at least 10 s (30
  /// without `--quick`), at most 20 (120): a few seconds past the total where the search used it all.
  public func pickShapes(left: Double) -> Double { min(quick ? 20 : 120, max(quick ? 10 : 30, left)) }
}
