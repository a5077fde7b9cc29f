import Foundation
import Platform
import Profile
import Trainer

/// One point of the parallel search: a layout, a precision policy and threads per rank, for a
/// model and a global batch.
public struct Candidate: Codable, Hashable, Sendable, CustomStringConvertible {
  public var layout: ParallelLayout
  public var precision: TrainingPrecision
  public var threadsPerRank: Int

  public init(layout: ParallelLayout, precision: TrainingPrecision, threadsPerRank: Int) {
    self.layout = layout
    self.precision = precision
    self.threadsPerRank = threadsPerRank
  }

  public var description: String { "\(layout) \(precision) t\(threadsPerRank)" }

  /// The run this candidate's trial trains: the candidate's layout, precision and threads on
  /// `template`'s model, batch, data, schedule and seed.
  public func spec(_ template: TrainingSpec) -> TrainingSpec {
    var spec = template
    spec.layout = layout
    spec.precision = precision
    spec.threadsPerRank = threadsPerRank
    return spec
  }

  /// The trainer's options for this candidate (what its trial runs, and what the memory model reads).
  public func options(model: ModelConfig, globalBatch: Int, steps: Int = 1) -> TrainingOptions {
    TrainingOptions(model: model, layout: layout, batch: globalBatch, steps: steps, precision: precision, threadsPerRank: threadsPerRank)
  }
}

/// Every candidate for a model on a world of hardware threads, and the ones that cannot run, with
/// the reason: data × tensor × pipeline degrees whose product is the rank count (every divisor of
/// the threads, each rank given threads / ranks, unless the rank count is fixed), micro-batch
/// sizes that divide each data-parallel rank's share of the global batch (the rest is gradient
/// accumulation), recomputation off and on, ZeRO-1 off and on (on only with dp > 1), and each
/// precision policy.
public enum CandidateSpace {
  public struct Enumeration: Sendable {
    public var valid: [Candidate]
    public var pruned: [(candidate: Candidate, reason: String)]
  }

  public static func enumerate(
    model: ModelConfig, worldThreads: Int, ranks fixedRanks: Int? = nil, globalBatch: Int, precisions: [TrainingPrecision],
    recompute: [Bool] = [false, true], processes: Int = 1
  ) -> Enumeration {
    var valid: [Candidate] = [], pruned: [(Candidate, String)] = []
    // Under a launcher of P processes, a world they share evenly.
    let rankCounts = (fixedRanks.map { [$0] } ?? (1...max(1, worldThreads)).filter { worldThreads % $0 == 0 }).filter { $0 % max(1, processes) == 0 }
    for ranks in rankCounts {
      let threads = max(1, worldThreads / ranks)
      for dp in 1...ranks where ranks % dp == 0 {
        for tp in 1...(ranks / dp) where (ranks / dp) % tp == 0 {
          let pp = ranks / dp / tp
          let base = ParallelLayout(dp: dp, tp: tp, pp: pp)
          // The degrees alone first: one pruned entry per impossible dp × tp × pp, with why.
          if let reason = base.problem(model: model, batch: globalBatch) {
            for precision in precisions { pruned.append((Candidate(layout: base, precision: precision, threadsPerRank: threads), reason)) }
            continue
          }
          let share = globalBatch / dp
          for microBatchSize in (1...share).filter({ share % $0 == 0 }) {
            for recomputation in recompute {
              for zero in dp > 1 ? [0, 1] : [0] {
                let layout = ParallelLayout(dp: dp, tp: tp, pp: pp, micro: share / microBatchSize, recompute: recomputation, zero: zero)
                for precision in precisions {
                  let candidate = Candidate(layout: layout, precision: precision, threadsPerRank: threads)
                  if let reason = layout.problem(model: model, batch: globalBatch) { pruned.append((candidate, reason)) } else { valid.append(candidate) }
                }
              }
            }
          }
        }
      }
    }
    return Enumeration(valid: valid, pruned: pruned)
  }
}
