/// How to walk a search space. Every strategy evaluates through the session, so it inherits the
/// budget, the journal and verification.
public protocol SearchStrategy: Sendable {
  var name: String { get }
  func run(_ session: TuningSession)
}

/// Every valid configuration, in order, each at `effort`.
public struct ExhaustiveSearch: SearchStrategy {
  public var effort: Int
  public init(effort: Int = 1) { self.effort = effort }
  public var name: String { effort == 1 ? "exhaustive" : "exhaustive(effort \(effort))" }
  public func run(_ session: TuningSession) {
    for configuration in session.space.allValid() {
      if session.budget.exhausted { return }
      session.evaluate(configuration, effort: effort)
    }
  }
}

/// `count` configurations drawn without replacement, reproducibly from `seed`.
public struct RandomSearch: SearchStrategy {
  public var count: Int
  public var seed: UInt64

  public init(count: Int, seed: UInt64 = 1) {
    self.count = count
    self.seed = seed
  }

  public var name: String { "random(\(count))" }

  public func run(_ session: TuningSession) {
    var generator = SplitMix(seed: seed)
    for configuration in session.space.allValid().shuffled(using: &generator).prefix(count) {
      if session.budget.exhausted { return }
      session.evaluate(configuration)
    }
  }
}

/// Starts from a model's prediction and climbs, best first: it expands the best configuration that
/// still has unmeasured neighbours, measuring all of them, so that when the climb reaches a local
/// optimum it carries on from the next best one instead of stopping. Ends after `maxEvaluations`
/// measurements or when nothing is left to expand.
public struct ModelSeededLocalSearch: SearchStrategy {
  public var seed: Configuration
  public var maxEvaluations: Int

  public init(seed: Configuration, maxEvaluations: Int) {
    self.seed = seed
    self.maxEvaluations = maxEvaluations
  }

  public var name: String { "model-seeded local search" }

  public func run(_ session: TuningSession) {
    guard let start = session.space.snap(seed) else { return }
    var evaluated: Set<Configuration> = [start]
    var expanded: Set<Configuration> = []
    session.evaluate(start)
    while evaluated.count < maxEvaluations, !session.budget.exhausted {
      // The best measured configuration not yet expanded.
      let candidates = session.trials.filter { $0.outcome.score != nil && !expanded.contains($0.configuration) }
      guard let next = candidates.max(by: { $0.outcome.score! < $1.outcome.score! }) else { return }
      expanded.insert(next.configuration)
      for neighbour in session.space.neighbours(of: next.configuration) where !evaluated.contains(neighbour) {
        if evaluated.count >= maxEvaluations || session.budget.exhausted { return }
        evaluated.insert(neighbour)
        session.evaluate(neighbour)
      }
    }
  }
}

/// Successive halving: evaluate `initial` configurations at effort 1, keep the better half, double
/// the effort, until one is left. Short, noisy measurements discard the clearly slow; the close
/// ones get longer ones.
public struct SuccessiveHalving: SearchStrategy {
  public var initial: Int
  public var seed: UInt64

  public init(initial: Int, seed: UInt64 = 1) {
    self.initial = initial
    self.seed = seed
  }

  public var name: String { "successive halving(\(initial))" }

  public func run(_ session: TuningSession) {
    var generator = SplitMix(seed: seed)
    Self.halve(session, Array(session.space.allValid().shuffled(using: &generator).prefix(initial)), lastRun: false)
  }

  static func halve(_ session: TuningSession, _ start: [Configuration], lastRun: Bool) {
    HalvingSchedule.run(start, lastRun: lastRun, exhausted: { session.budget.exhausted }) { session.evaluate($0, effort: $1).outcome.score }
  }
}

/// The successive-halving rounds, for points of any kind: every survivor at this effort, the
/// better half on at twice the effort, until one is left (run once more, longer, when `lastRun`)
/// or the budget is spent. Points without a score drop out at once.
public enum HalvingSchedule {
  public static func run<Point>(_ start: [Point], lastRun: Bool, exhausted: () -> Bool, score: (Point, Int) -> Double?) {
    var survivors = start
    var effort = 1
    while !survivors.isEmpty, !exhausted() {
      let ranked = survivors.compactMap { point in score(point, effort).map { (point, $0) } }.sorted { $0.1 > $1.1 }
      if ranked.count <= 1 { return }
      survivors = ranked.prefix((ranked.count + 1) / 2).map(\.0)
      effort *= 2
      if survivors.count == 1 {
        if lastRun { _ = score(survivors[0], effort) }
        return
      }
    }
  }

  /// The effort the last survivor of `initial` points reaches: 1, 2, 4 … until one is left, its
  /// last, longer run included.
  public static func finalEffort(initial: Int) -> Int {
    var (count, effort) = (max(1, initial), 1)
    while count > 1 {
      count = (count + 1) / 2
      effort *= 2
    }
    return effort
  }
}

/// Successive halving best first: the first `initial` valid configurations in the space's own
/// order (a cost model ranks them, most promising first) at effort 1, then the better half at
/// twice the effort, until one is left or the budget is spent. Outcomes without a score
/// (unstable, failed, out of memory) drop out at once.
public struct BestFirstHalving: SearchStrategy {
  public var initial: Int

  public init(initial: Int) { self.initial = initial }

  public var name: String { "best-first successive halving(\(initial))" }

  public func run(_ session: TuningSession) {
    // The last survivor gets one longer trial, so that the pick's figures are its best measured.
    SuccessiveHalving.halve(session, Array(session.space.allValid().prefix(initial)), lastRun: true)
  }
}

/// SplitMix64, for reproducible shuffles.
struct SplitMix: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
