import Platform
import Foundation
import Testing

@testable import Autotune

/// An objective that answers from a recorded table: strategies are tested without running a kernel
/// (Kernel Tuner's simulation mode). It counts what it was asked.
final class RecordedObjective: Objective {
  let table: [Configuration: Outcome]
  private(set) var asked: [Configuration] = []

  init(_ table: [Configuration: Outcome]) { self.table = table }

  func evaluate(_ configuration: Configuration, effort: Int) -> Outcome {
    asked.append(configuration)
    return table[configuration] ?? .failed(reason: "not recorded")
  }
}

func ok(_ score: Double) -> Outcome { .ok(Statistics(samples: [score])) }

@Suite struct StrategyTests {
  /// A GEMM-like landscape: a best kernel, a best KC and an MC optimum that depends on KC
  /// (together they must fit L2), the loop mattering a little.
  static let space = SearchSpace(
    parameters: [
      Parameter("kernel", ["a", "b", "c"]), Parameter("mc", [24, 48, 96, 192]), Parameter("kc", [64, 128, 256, 512]),
      Parameter("nc", [1024, 4096]), Parameter("loop", ["ic", "jc"]),
    ],
    constraints: [{ $0.int("mc")! * $0.int("kc")! > 96 * 512 ? "A block beyond L2" : nil }])

  static func score(_ c: Configuration) -> Double {
    let kernel = ["a": 60.0, "b": 70.0, "c": 55.0][c["kernel"]!]!
    let kc = Double(c.int("kc")!), mc = Double(c.int("mc")!)
    let kcFit = 1 - 0.15 * abs(log2(kc / 256))
    let mcFit = 1 - 0.1 * abs(log2(mc * kc / (96 * 256)))
    return kernel * kcFit * mcFit * (c["nc"] == "4096" ? 1.0 : 0.97) * (c["loop"] == "jc" ? 1.02 : 1.0)
  }

  static let table: [Configuration: Outcome] = Dictionary(uniqueKeysWithValues: space.allValid().map { ($0, ok(score($0))) })
  static let knownBest = table.max { $0.value.score! < $1.value.score! }!.key

  @Test func exhaustiveFindsTheKnownBest() {
    let session = TuningSession(space: Self.space, objective: RecordedObjective(Self.table))
    ExhaustiveSearch().run(session)
    #expect(session.best?.configuration == Self.knownBest)
    #expect(session.trials.count == Self.space.count)
  }

  @Test func modelSeededLocalSearchFindsItWithinAFifthOfTheSpace() {
    let objective = RecordedObjective(Self.table)
    let session = TuningSession(space: Self.space, objective: objective)
    let seed = Configuration(["kernel": "a", "mc": "48", "kc": "128", "nc": "1024", "loop": "ic"])
    ModelSeededLocalSearch(seed: seed, maxEvaluations: Self.space.count / 5).run(session)
    #expect(session.best?.configuration == Self.knownBest)
    #expect(objective.asked.count <= Self.space.count / 5)
  }

  @Test func successiveHalvingKeepsTheBestAndSpendsMoreOnSurvivors() {
    let objective = RecordedObjective(Self.table)
    let session = TuningSession(space: Self.space, objective: objective)
    SuccessiveHalving(initial: Self.space.count).run(session)
    #expect(session.best?.configuration == Self.knownBest)
    #expect(session.best!.effort > 1)
  }

  @Test func randomSearchDrawsDistinctConfigurationsReproducibly() {
    let first = RecordedObjective(Self.table), second = RecordedObjective(Self.table)
    RandomSearch(count: 20, seed: 7).run(TuningSession(space: Self.space, objective: first))
    RandomSearch(count: 20, seed: 7).run(TuningSession(space: Self.space, objective: second))
    #expect(first.asked == second.asked)
    #expect(Set(first.asked).count == 20)
  }

  @Test func wrongAndFailedCandidatesAreNeverChosen() {
    var table = Self.table
    table[Self.knownBest] = .wrong(error: 0.5, tolerance: 1e-6)
    let runnerUp = Self.table.filter { $0.key != Self.knownBest }.max { $0.value.score! < $1.value.score! }!.key
    table[runnerUp] = .failed(reason: "crashed")
    let session = TuningSession(space: Self.space, objective: RecordedObjective(table))
    ExhaustiveSearch().run(session)
    #expect(session.best?.configuration != Self.knownBest && session.best?.configuration != runnerUp)
    #expect(session.trials.first { $0.configuration == Self.knownBest }?.outcome.status == .wrong)
  }

  @Test func anExhaustedBudgetStopsTheSearch() {
    let objective = RecordedObjective(Self.table)
    let session = TuningSession(space: Self.space, objective: objective, budget: Budget(seconds: 0))
    ExhaustiveSearch().run(session)
    #expect(objective.asked.isEmpty)
    #expect(session.best == nil)
  }

  @Test func spaceHonoursConstraintsAndNeighboursStayValid() {
    // mc·kc ≤ 96·512 leaves out (mc, kc) = (192, 512) only: 15 of 16 pairs, × 3 kernels × 2 nc × 2 loops.
    let valid = Self.space.allValid()
    #expect(valid.count == 15 * 3 * 2 * 2)
    #expect(!valid.contains { $0["mc"] == "192" && $0["kc"] == "512" })
    #expect(Set(valid).count == valid.count, "no configuration twice")
    let corner = Configuration(["kernel": "a", "mc": "96", "kc": "512", "nc": "1024", "loop": "ic"])
    let neighbours = Self.space.neighbours(of: corner)
    #expect(!neighbours.contains { $0["mc"] == "192" }, "mc=192 with kc=512 breaks the constraint")
    #expect(neighbours.allSatisfy { Self.space.violation($0) == nil })
    #expect(Self.space.snap(Configuration(["kernel": "b", "mc": "90", "kc": "250", "nc": "4000", "loop": "jc"]))
      == Configuration(["kernel": "b", "mc": "96", "kc": "256", "nc": "4096", "loop": "jc"]))
  }
}

/// The whole `tune`'s budget split among its stages.
@Suite struct StageBudgetTests {
  @Test func theDefaultSplitsSevenHundredTwentySeconds() {
    let budgets = StageBudgets(total: nil, quick: false)
    #expect(budgets.total == 720)
    #expect(abs(budgets.gemm(left: 717) - 215.1) < 1e-9 && budgets.gemm(left: 1000) == 240, "30% of what is left, at most 240 s")
    #expect(budgets.attention(left: 501) == 150 && abs(budgets.attention(left: 300) - 90) < 1e-9)
    #expect(budgets.parallel(left: 483) == 483 && budgets.parallel(left: 5) == 20, "the rest, at least 20 s")
    let quick = StageBudgets(total: nil, quick: true)
    #expect(quick.total == 120 && quick.gemm(left: 119) == 30 && quick.attention(left: 80) == 20)
    // An explicit --budget gives the GEMM stage a quarter of it, whatever is left.
    let given = StageBudgets(total: 60, quick: true)
    #expect(given.total == 60 && given.gemm(left: 59) == 15)
    // The pick's own shapes after the search: what is left, within 10–20 s quick, 30–120 s otherwise.
    #expect(quick.pickShapes(left: 0) == 10 && quick.pickShapes(left: 15) == 15 && quick.pickShapes(left: 90) == 20)
    #expect(budgets.pickShapes(left: 300) == 120 && budgets.pickShapes(left: 0) == 30)
  }
}
