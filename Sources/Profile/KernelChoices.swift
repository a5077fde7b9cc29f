import Foundation
import NumberFormats

/// The kernel choices a profile holds, looked up per problem: the winner tuned for exactly that
/// GEMM shape, transposes and precision (or attention problem and precision), else the nearest
/// tuned one, else none (the caller's documented default then applies; `GEMMChoice.fallback` in
/// Kernels).
///
/// Nearness, for GEMM: the Euclidean distance between (log m, log n, log k) of the two shapes,
/// plus 1 when the transposes differ (fp32 and fp64 only: stored precisions always run in the TN
/// layout), among winners of the same precision; for attention: the
/// distance between (log seq, log headDim, log heads, log batch), plus 1 when causality or
/// grouping differ. A distance of 0.7 is about a factor of two in one dimension.
public struct KernelChoices: Sendable {
  /// Where a choice came from.
  public enum Source: Equatable, Sendable, CustomStringConvertible {
    case exact
    case nearest(tuned: String, distance: Double)
    case none

    public var description: String {
      switch self {
      case .exact: "tuned for this shape"
      case .nearest(let tuned, let distance): String(format: "nearest tuned shape %@ (distance %.2f)", tuned, distance)
      case .none: "no tuned choice"
      }
    }
  }

  public struct Lookup<Choice: Sendable>: Sendable {
    public var choice: Choice?
    public var source: Source
  }

  struct GEMMWinner: Sendable {
    var m: Int, n: Int, k: Int, transA: Bool, transB: Bool, precision: Precision, shape: String, choice: GEMMChoice
    var gflops: Double?
  }

  struct AttentionWinner: Sendable {
    var problem: AttentionShape, precision: Precision, shape: String, choice: AttentionChoice
  }

  let gemm: [GEMMWinner]
  let attention: [AttentionWinner]
  /// The profile's settings to apply before the first BLAS call (OPENBLAS_CORETYPE …).
  public let environment: [String: String]

  /// No profile: every lookup answers `.none`.
  public static let none = KernelChoices(gemm: [], attention: [], environment: [:])

  init(gemm: [GEMMWinner], attention: [AttentionWinner], environment: [String: String]) {
    self.gemm = gemm
    self.attention = attention
    self.environment = environment
  }

  /// The winners of `profile` (read from `path`).
  /// - Parameters:
  ///   - machineFingerprint: this machine's; choices measured under another are refused unless `force`.
  /// - Throws: `ProfileError.foreignMachine`, or `.invalidValue` naming the entry whose winner
  ///   says no runnable choice.
  public init(profile: Profile, path: String, machineFingerprint: String, force: Bool = false) throws {
    var gemm: [GEMMWinner] = []
    var attention: [AttentionWinner] = []
    if let section = profile.kernels?.gemm {
      if section.fingerprint != machineFingerprint && !force {
        throw ProfileError.foreignMachine(path: path, profileFingerprint: section.fingerprint, machineFingerprint: machineFingerprint)
      }
      for (index, entry) in section.entries.enumerated() {
        guard let winner = entry.winner else { continue }
        let field = "kernels.gemm.entries[\(index)].winner"
        let precision = entry.precision
        do {
          let choice = try winner.runnableChoice(precision: precision)
          gemm.append(GEMMWinner(
            m: entry.m, n: entry.n, k: entry.k, transA: entry.transA ?? false, transB: entry.transB ?? false, precision: precision,
            shape: entry.label, choice: choice, gflops: winner.gflops?.median))
        } catch {
          throw ProfileError.invalidValue(path: path, field: field, problem: "\(error)")
        }
      }
    }
    if let section = profile.kernels?.attention {
      if section.fingerprint != machineFingerprint && !force {
        throw ProfileError.foreignMachine(path: path, profileFingerprint: section.fingerprint, machineFingerprint: machineFingerprint)
      }
      for (index, entry) in section.entries.enumerated() {
        guard let winner = entry.winner else { continue }
        let precision = entry.precision
        do {
          let problem = AttentionShape(batch: entry.batch, heads: entry.heads, kvHeads: entry.kvHeads, seq: entry.seq, headDim: entry.headDim, causal: entry.causal)
          attention.append(AttentionWinner(problem: problem, precision: precision, shape: entry.shape, choice: try winner.runnableChoice(precision: precision)))
        } catch {
          throw ProfileError.invalidValue(path: path, field: "kernels.attention.entries[\(index)].winner", problem: "\(error)")
        }
      }
    }
    self.init(gemm: gemm, attention: attention, environment: profile.kernels?.gemm?.environment ?? [:])
  }

  /// The winner for C = op(A)·op(B) of shape m×n×k at `precision`, exact or nearest.
  public func gemm(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false, precision: Precision) -> Lookup<GEMMChoice> {
    let (winner, source) = nearestGEMM(m: m, n: n, k: k, transA: transA, transB: transB, precision: precision)
    return Lookup(choice: winner?.choice, source: source)
  }

  /// The rate the profile recorded for the winner `gemm` answers with.
  public func recordedGEMMGflops(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false, precision: Precision) -> Double? {
    nearestGEMM(m: m, n: n, k: k, transA: transA, transB: transB, precision: precision).winner?.gflops
  }

  /// The same rate with the threads it was measured on (the kernel stages tune on every usable
  /// thread, the pick's shapes on the pick's threads per rank).
  public func recordedGEMMRate(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false, precision: Precision) -> (gflops: Double, threads: Int)? {
    guard let winner = nearestGEMM(m: m, n: n, k: k, transA: transA, transB: transB, precision: precision).winner, let gflops = winner.gflops else { return nil }
    return (gflops, max(1, winner.choice.threads))
  }

  func nearestGEMM(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, precision: Precision) -> (winner: GEMMWinner?, source: Source) {
    func distance(_ w: GEMMWinner) -> Double {
      let d = Self.logDistance([(m, w.m), (n, w.n), (k, w.k)])
      // Stored precisions run in the TN layout whatever the problem's transposes.
      let stored = precision != .fp32 && precision != .fp64
      return d + (stored || (w.transA == transA && w.transB == transB) ? 0 : 1)
    }
    let candidates = gemm.filter { $0.precision == precision }
    guard let best = candidates.min(by: { distance($0) < distance($1) }) else { return (nil, .none) }
    let d = distance(best)
    return (best, d == 0 ? .exact : .nearest(tuned: best.shape, distance: d))
  }

  /// The winner for an attention problem at `precision` (storage of Q, K, V), exact or nearest.
  public func attention(_ problem: AttentionShape, precision: Precision) -> Lookup<AttentionChoice> {
    func distance(_ w: AttentionWinner) -> Double {
      let q = w.problem
      let d = Self.logDistance([(problem.seq, q.seq), (problem.headDim, q.headDim), (problem.heads, q.heads), (problem.batch, q.batch)])
      let grouped: Bool = q.kvHeads != q.heads, wanted: Bool = problem.kvHeads != problem.heads
      let sameKind: Bool = q.causal == problem.causal && grouped == wanted
      return d + (sameKind ? 0 : 1)
    }
    let candidates = attention.filter { $0.precision == precision }
    guard let best = candidates.min(by: { distance($0) < distance($1) }) else { return Lookup(choice: nil, source: .none) }
    let d = distance(best)
    return Lookup(choice: best.choice, source: d == 0 ? .exact : .nearest(tuned: best.shape, distance: d))
  }

  /// √Σ (log a − log b)² over pairs of dimensions: 0.7 is about a factor of two in one of them.
  static func logDistance(_ pairs: [(Int, Int)]) -> Double {
    pairs.reduce(0.0) { sum, pair in
      let step = log(Double(max(pair.0, 1))) - log(Double(max(pair.1, 1)))
      return sum + step * step
    }.squareRoot()
  }

  /// How many winners it holds (GEMM, attention).
  public var counts: (gemm: Int, attention: Int) { (gemm.count, attention.count) }
}
