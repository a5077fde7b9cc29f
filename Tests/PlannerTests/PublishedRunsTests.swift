import Foundation
import Planner
import Profile
import Testing

/// The planner against published training runs (Fixtures/published-runs.json, each row cited):
/// its step time for the published layout, with the achievable rates fitted on the other rows
/// (leave-one-out), and its own pick never predicted slower than the published layout.
@Suite struct PublishedRunsTests {
  static let fixture: PublishedRuns = {
    let url = Bundle.module.url(forResource: "Fixtures/published-runs", withExtension: "json")!
    return try! PublishedRuns.load(url.path)
  }()

  @Test func theFixtureHasTwelveRunsOrMoreEachCitedAndConsistent() throws {
    let fixture = Self.fixture
    #expect(fixture.runs.count >= 12)
    #expect(Set(fixture.runs.map(\.device)).count >= 2, "more than one device")
    for run in fixture.runs {
      #expect(fixture.sources[run.source] != nil, "\(run.id) cites a source")
      // The source's model TFLOP/s is its tokens/s times PaLM's FLOPs per token: the same count as the planner's.
      let (estimator, layout) = try fixture.setting(run)
      if let rate = run.tokensPerSecondPerGPU, let tflops = run.modelTFLOPSPerGPU {
        let flops = estimator.model.flopsPerToken * rate / 1e12
        #expect(abs(flops / tflops - 1) < 0.02, "\(run.id): \(flops) against the published \(tflops) model TFLOP/s")
      } else {
        #expect(run.mfu != nil, "\(run.id) gives its throughput")
      }
      #expect(layout.problem(model: estimator.model.config, globalBatch: run.globalBatch, devices: estimator.cluster.devices) == nil, "\(run.id)")
    }
  }

  @Test func stepTimeWithinTenPercentMedianAndTwentyFiveWorstLeftOut() throws {
    let fixture = Self.fixture
    var rows: [(String, Double, Double)] = []
    for run in fixture.runs {
      let others = fixture.runs.filter { $0.id != run.id }
      let rates = try fixture.fit(others)
      rows.append((run.id, try fixture.error(run, rates: AchievableRates.fitted), try fixture.error(run, rates: rates)))
    }
    for row in rows { print(String(format: "%-22@ all rows %+6.1f%%  left out %+6.1f%%", row.0, 100 * row.1, 100 * row.2)) }
    let left = rows.map { abs($0.2) }.sorted()
    let median = left[left.count / 2], worst = left.last!
    print(String(format: "left out: median %.1f%%, worst %.1f%%", 100 * median, 100 * worst))
    #expect(median <= 0.10 && worst <= 0.25, "median \(median), worst \(worst)")
  }

  /// For every run the published layout fits the device's memory as predicted, and the search's
  /// pick (same cluster, batch and precision) is never predicted slower than it; where the pick
  /// differs the plan says which part of the step it shortens.
  @Test func thePickIsNeverPredictedSlowerThanThePublishedLayout() throws {
    let fixture = Self.fixture
    for run in fixture.runs {
      let (estimator, layout) = try fixture.setting(run)
      let planner = try Planner(estimator: estimator, globalBatch: run.globalBatch, precisions: [run.precision])
      let published = estimator.predict(layout, globalBatch: run.globalBatch, precision: run.precision)
      #expect(published.memoryBytesPerDevice <= estimator.cluster.device.memoryBytes, "\(run.id): \(published.memoryBytesPerDevice / 1e9) GB \(published.memoryParts)")
      let started = Date()
      let plan = planner.search(top: 3)
      let pick = try #require(plan.pick)
      #expect(pick.predicted.stepSeconds <= published.stepSeconds * (1 + 1e-12), "\(run.id)")
      let compared = planner.evaluate(layout, compare: true)
      if let faster = compared.searchPick {
        #expect(faster.predicted.stepSeconds < published.stepSeconds && (compared.why ?? "").contains("shorter step, most of it in "), "\(run.id): \(compared.why ?? "no why")")
      }
      print(String(format: "%-22@ published %@ %.3f s; pick %@ %.3f s: %@ (%d layouts in %.1f s)", run.id, layout.description, published.stepSeconds,
        pick.layout.description, pick.predicted.stepSeconds, Planner.why(pick.predicted, against: published), plan.evaluated, Date().timeIntervalSince(started)))
    }
  }

  @Test func theShippedRatesAreTheFitOnEveryRow() throws {
    let fitted = try Self.fixture.fit(Self.fixture.runs)
    print(fitted)
    #expect(abs(fitted.gemm - AchievableRates.fitted.gemm) < 0.011)
    #expect(abs(fitted.attention - AchievableRates.fitted.attention) < 0.021)
  }
}
