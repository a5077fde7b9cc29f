/// How to walk a search space. Every strategy evaluates through the session, so it inherits the
/// budget, the journal and verification.
public protocol SearchStrategy: Sendable {
  var name: String { get }
  func run(_ session: TuningSession)
}

/// Every valid configuration, in order.
public struct ExhaustiveSearch: SearchStrategy {
  public init() {}
  public var name: String { "exhaustive" }
  public func run(_ session: TuningSession) {
    for configuration in session.space.allValid() {
      if session.budget.exhausted { return }
      session.evaluate(configuration)
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

/// Starts from a model's prediction and climbs: evaluate every neighbour of the best so far, move
/// to the best one that improves, stop when none does (or after `maxEvaluations`).
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
    var evaluations = 0
    var current = session.evaluate(start)
    evaluations += 1
    while evaluations < maxEvaluations, !session.budget.exhausted {
      var improved: Trial?
      for neighbour in session.space.neighbours(of: current.configuration) {
        if evaluations >= maxEvaluations || session.budget.exhausted { break }
        let alreadyKnown = session.trials.contains { $0.configuration == neighbour }
        let trial = session.evaluate(neighbour)
        if !alreadyKnown { evaluations += 1 }
        if let score = trial.outcome.score, score > (improved?.outcome.score ?? current.outcome.score ?? -.infinity) {
          improved = trial
        }
      }
      guard let next = improved else { return }
      current = next
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
    var survivors = Array(session.space.allValid().shuffled(using: &generator).prefix(initial))
    var effort = 1
    while !survivors.isEmpty, !session.budget.exhausted {
      let scored = survivors.map { ($0, session.evaluate($0, effort: effort).outcome.score) }
      let ranked = scored.compactMap { item in item.1.map { (item.0, $0) } }.sorted { $0.1 > $1.1 }
      if ranked.count <= 1 { return }
      survivors = ranked.prefix((ranked.count + 1) / 2).map(\.0)
      if survivors.count == 1 { return }
      effort *= 2
    }
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
