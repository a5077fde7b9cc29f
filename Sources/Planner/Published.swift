import Foundation
import Profile

/// Published training runs: a fixture of runs with their layouts and measured throughput, read to
/// check the planner against them (`tune plan --published FILE`, PublishedRunsTests).
public struct PublishedRuns: Codable, Sendable {
  public struct Shape: Codable, Sendable {
    var name: String
    var kind: ModelConfig.Kind
    var vocabulary, hidden, heads, kvHeads, layers, seq, mlpHidden: Int
    var mlp: ModelConfig.MLP
    var positions: ModelConfig.Positions
    var tied: Bool

    var model: PlanModel {
      PlanModel(
        ModelConfig(name: name, kind: kind, vocabulary: vocabulary, hidden: hidden, heads: heads, kvHeads: kvHeads, layers: layers, seq: seq,
          mlpHidden: mlpHidden, mlp: mlp, positions: positions), tiedEmbeddings: tied, source: "the fixture's source")
    }
  }

  public struct Run: Codable, Sendable {
    public var id: String
    public var source: String
    public var model: String
    public var device: String
    public var gpus: Int
    public var globalBatch: Int
    public var microBatchSize: Int
    public var precision: TrainingPrecision
    public var tp, pp, cp, vp: Int
    /// What the source prints: tokens/s and model TFLOP/s per GPU, or the model FLOPs utilization.
    public var tokensPerSecondPerGPU: Double?
    public var modelTFLOPSPerGPU: Double?
    public var mfu: Double?
  }

  public var sources: [String: String]
  public var models: [String: Shape]
  public var runs: [Run]

  public static func load(_ path: String) throws -> PublishedRuns {
    try JSONDecoder().decode(PublishedRuns.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
  }

  /// A run as the planner sees it: its model, cluster and layout. What the sources do not print is
  /// taken as those recipes set it: sequence parallelism wherever tp > 1, the distributed
  /// optimizer (ZeRO-1), and no recomputation beyond flash attention's (selective).
  public func setting(_ run: Run) throws -> (estimator: Estimator, layout: PlanLayout) {
    let model = try models[run.model].map(\.model) ?? PlanModel.named(run.model)
    guard let device = Device.catalogue[run.device] else { throw PlanError.cluster(run.device, "unknown device in the fixture") }
    let cluster = Cluster(nodes: max(1, run.gpus / device.devicesPerNode), devicesPerNode: min(run.gpus, device.devicesPerNode), device: device)
    let dp = run.gpus / (run.tp * run.pp * run.cp)
    let layout = PlanLayout(
      tp: run.tp, pp: run.pp, dp: dp, cp: run.cp, micro: run.globalBatch / (dp * run.microBatchSize), virtualStages: run.vp, recompute: .selective,
      sequenceParallel: run.tp > 1, zero: 1)
    return (Estimator(model: model, cluster: cluster), layout)
  }

  /// The published step time: the step's tokens over the whole cluster's rate; or, where the
  /// source gives the model FLOPs utilization, the step's model FLOPs (PaLM's count) over that
  /// share of the cluster's dense peak.
  public func stepSeconds(_ run: Run) throws -> Double {
    try stepSeconds(run, estimator: try setting(run).estimator)
  }

  func stepSeconds(_ run: Run, estimator: Estimator) throws -> Double {
    let tokens = Double(run.globalBatch * estimator.model.config.seq)
    if let rate = run.tokensPerSecondPerGPU { return tokens / (rate * Double(run.gpus)) }
    guard let mfu = run.mfu, let peak = estimator.cluster.device.peak(run.precision) else {
      throw PlanError.batch("\(run.id): the fixture gives neither tokensPerSecondPerGPU nor mfu")
    }
    return estimator.model.flopsPerToken * tokens / (mfu * peak * 1e12 * Double(run.gpus))
  }

  /// One run's prediction under `rates`: predicted over published step time, minus one.
  public func error(_ run: Run, rates: AchievableRates) throws -> Double {
    var (estimator, layout) = try setting(run)
    estimator.rates = rates
    let predicted = estimator.predict(layout, globalBatch: run.globalBatch, precision: run.precision)
    return predicted.stepSeconds / (try stepSeconds(run, estimator: estimator)) - 1
  }

  /// The rates that best predict `runs` (least mean absolute log error of the step time), by
  /// coordinate descent over a grid of each free constant from `start`.
  public func fit(_ runs: [Run], from start: AchievableRates = .fitted) throws -> AchievableRates {
    var best = start
    func cost(_ rates: AchievableRates) throws -> Double {
      try runs.map { abs(log(1 + (try error($0, rates: rates)))) }.reduce(0, +)
    }
    var bestCost = try cost(best)
    let grids: [(WritableKeyPath<AchievableRates, Double>, [Double])] = [
      (\.gemm, stride(from: 0.4, through: 0.95, by: 0.01).map { $0 }),
      (\.gemm8Bit, stride(from: 0.3, through: 0.95, by: 0.01).map { $0 }),
      (\.attention, stride(from: 0.2, through: 0.9, by: 0.02).map { $0 }),
      (\.elementwisePasses, stride(from: 0.0, through: 64.0, by: 2.0).map { $0 }),
      (\.tensorParallelExposed, stride(from: 0.0, through: 1.0, by: 0.05).map { $0 }),
    ]
    for _ in 0..<4 {
      for (path, values) in grids {
        for value in values {
          var trial = best
          trial[keyPath: path] = value
          let c = try cost(trial)
          if c < bestCost {
            bestCost = c
            best = trial
          }
        }
      }
    }
    return best
  }
}
