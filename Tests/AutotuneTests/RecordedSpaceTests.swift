import Foundation
import Testing

@testable import Autotune

/// Strategies replayed on a real recorded search space: `tune gemm --strategy exhaustive` on
/// 2048³ fp32, two threads, on this project's 2-vCPU AMD EPYC (Zen 3) machine (320 configurations,
/// the journal it wrote). No kernel runs here.
@Suite struct RecordedSpaceTests {
  static let records: [TuningRecord] = {
    let url = Bundle.module.url(forResource: "gemm-2048-fp32-epyc-zen3-2threads", withExtension: "jsonl", subdirectory: "Fixtures")!
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return try! String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { try! decoder.decode(TuningRecord.self, from: Data($0.utf8)) }
  }()

  static let table = Dictionary(uniqueKeysWithValues: records.map { ($0.configuration, $0.outcome) })

  /// The space the records came from: each parameter's recorded values, numbers in numeric order.
  static let space: SearchSpace = {
    let names = Set(records.flatMap { $0.configuration.values.keys }).sorted()
    return SearchSpace(parameters: names.map { name in
      let values = Set(records.compactMap { $0.configuration[name] })
      return Parameter(name, values.sorted { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) })
    })
  }()

  static let best = table.max { ($0.value.score ?? 0) < ($1.value.score ?? 0) }!

  @Test func theRecordingIsComplete() {
    #expect(Self.records.count == 320)
    #expect(Self.space.count == 320)
  }

  @Test func modelSeededSearchLandsWithinFivePercentOfExhaustiveOnAFifthOfTheSpace() {
    let objective = RecordedObjective(Self.table)
    let session = TuningSession(space: Self.space, objective: objective)
    // The analytic model's point for this machine: the 6x16 kernel, KC 256 (half of a 32 KiB L1),
    // MC 252 (half of a 512 KiB L2, 42 panels), NC 4096.
    let seed = Configuration(["kernel": "avx2-6x16", "mcPanels": "42", "kc": "256", "nc": "4096", "loop": "ic", "threads": "2"])
    ModelSeededLocalSearch(seed: seed, maxEvaluations: Self.space.count / 5).run(session)
    let picked = try! #require(session.best)
    #expect(objective.asked.count <= Self.space.count / 5)
    let ratio = picked.outcome.score! / Self.best.value.score!
    print("recorded-space replay: picked \(picked.configuration) = \(picked.outcome.score!) GFLOP/s after \(objective.asked.count) of \(Self.space.count); exhaustive best \(Self.best.key) = \(Self.best.value.score!); ratio \(ratio)")
    #expect(ratio >= 0.95, "picked \(picked.configuration) at \(picked.outcome.score!) GFLOP/s, best \(Self.best.key) at \(Self.best.value.score!)")
  }

  @Test func exhaustiveReplayFindsTheRecordedBest() {
    let session = TuningSession(space: Self.space, objective: RecordedObjective(Self.table))
    ExhaustiveSearch().run(session)
    #expect(session.best?.configuration == Self.best.key)
  }
}
