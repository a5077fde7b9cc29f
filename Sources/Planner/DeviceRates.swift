import Foundation
import NumberFormats
import Profile

/// What one device does per second, as the step model asks it: a spec sheet's peaks times the
/// achievable shares (`SpecSheetRates`), or the kernel rates measured on this node
/// (`MeasuredRates`). One step model runs on either.
public protocol DeviceRates: Sendable {
  /// Seconds for an m×k by k×n product of `kind` under `precision`'s policy.
  func gemmSeconds(m: Double, n: Double, k: Double, kind: GEMMRole, precision: TrainingPrecision) -> Double
  /// Seconds of the attention core of one layer, forward and backward (the backward as the
  /// device runs it: `selective` recomputation adds a forward on top).
  func attentionSeconds(_ shape: AttentionShape, queries: Int, precision: TrainingPrecision) -> (forward: Double, backward: Double)
  /// Bytes per second of the elementwise layers' traffic.
  var memoryBytesPerSecond: Double { get }
}

/// A GPU from its spec sheet: each product at the achievable share of the dense peak of its
/// precision, times m/(m+128) · n/(n+128) · k/(k+128); attention at its share of the 16-bit peak,
/// the backward twice the forward.
public struct SpecSheetRates: DeviceRates {
  public var device: Device
  public var rates: AchievableRates

  public init(device: Device, rates: AchievableRates) {
    self.device = device
    self.rates = rates
  }

  public func gemmSeconds(m: Double, n: Double, k: Double, kind: GEMMRole, precision: TrainingPrecision) -> Double {
    let peak = device.peak(precision) ?? device.peak(.bf16) ?? 1
    let share = precision == .fp8 ? rates.gemm8Bit : rates.gemm
    let shape = m / (m + 128) * n / (n + 128) * k / (k + 128)
    return 2 * m * n * k / (peak * 1e12 * share * shape)
  }

  public func attentionSeconds(_ shape: AttentionShape, queries: Int, precision: TrainingPrecision) -> (forward: Double, backward: Double) {
    let peak = precision == .fp32 ? (device.peak(.fp32) ?? 1) : (device.peak(.bf16) ?? device.peak(precision) ?? 1)
    // QKᵀ and the weighted sum: 4 · queries · keys · head dim per head and sequence; half under a causal mask.
    let flops = 4 * Double(shape.batch * shape.heads * queries * shape.seq * shape.headDim) * (shape.causal ? 0.5 : 1)
    let forward = flops / (peak * 1e12 * rates.attention)
    return (forward, 2 * forward)
  }

  public var memoryBytesPerSecond: Double { device.memoryGBPerSecond * 1e9 }
}

/// This node, from its profile: each product at the rate the GEMM tuner recorded for the nearest
/// tuned shape in the policy's precision (as the trainer stores a linear layer: forward NN, dX NT,
/// dW TN), scaled from the threads it was measured on to the rank's, rolled off below 64 in any dimension,
/// plus the policy's rounding pass over both operands at the triad bandwidth; attention at the
/// profile's flash rates for the nearest tuned problem (the backward 2.5× the forward's FLOPs,
/// its recomputation included); the elementwise layers at the triad bandwidth.
public struct MeasuredRates: DeviceRates {
  public struct Attention: Sendable {
    public var shape: AttentionShape
    public var precision: Precision
    public var forwardGflops: Double
    public var backwardGflops: Double?
  }

  public var choices: KernelChoices
  public var attention: [Attention]
  /// The all-core fp32 FMA peak: the rate for shapes the profile has none for (80% of it).
  public var peakGflops: Double
  public var triadGBPerSecond: Double
  /// Threads the profile's rates were measured on, and the rank's.
  public var tunedThreads: Int
  public var threads: Int

  public init(profile: Profile?, choices: KernelChoices, peakGflops: Double, triadGBPerSecond: Double, tunedThreads: Int, threads: Int) {
    self.choices = choices
    self.peakGflops = peakGflops
    self.triadGBPerSecond = triadGBPerSecond
    self.tunedThreads = max(1, tunedThreads)
    self.threads = max(1, threads)
    attention = (profile?.kernels?.attention?.entries ?? []).compactMap { entry in
      guard let forward = entry.winner?.forwardGflops?.median else { return nil }
      let shape = AttentionShape(batch: entry.batch, heads: entry.heads, kvHeads: entry.kvHeads, seq: entry.seq, headDim: entry.headDim, causal: entry.causal)
      return Attention(shape: shape, precision: entry.precision, forwardGflops: forward, backwardGflops: entry.winner?.backwardGflops?.median)
    }
  }

  var scale: Double { Double(threads) / Double(tunedThreads) }

  public func gemmSeconds(m: Double, n: Double, k: Double, kind: GEMMRole, precision: TrainingPrecision) -> Double {
    let format = precision.gemmPrecision(forward: kind == .forward)
    let (transA, transB) = kind == .forward ? (false, false) : (kind == .inputGradient ? (false, true) : (true, false))
    let (mi, ni, ki) = (Int(m.rounded()), Int(n.rounded()), Int(k.rounded()))
    let recorded = choices.recordedGEMMRate(m: mi, n: ni, k: ki, transA: transA, transB: transB, precision: format)
      ?? choices.recordedGEMMRate(m: mi, n: ni, k: ki, transA: transA, transB: transB, precision: .fp32)
    // A recorded rate scales from the threads it was measured on to the rank's.
    var rate = recorded.map { $0.gflops * Double(threads) / Double($0.threads) } ?? 0.8 * peakGflops * scale
    // Small products do not reach the tuned rate: a crude roll-off below 64 in any dimension.
    let smallest = min(m, n, k)
    if smallest < 64 { rate *= max(0.1, smallest / 64) }
    var seconds = 2 * m * n * k / (max(rate, 1) * 1e9)
    // The policy's rounding pass over both operands (fp32 runs none).
    if precision != .fp32 { seconds += (m * k + k * n) * 8 / (triadGBPerSecond * 1e9 * scale) }
    return seconds
  }

  public func attentionSeconds(_ shape: AttentionShape, queries: Int, precision: TrainingPrecision) -> (forward: Double, backward: Double) {
    let wanted: Precision = precision == .bf16 ? .bf16 : .fp32
    func distance(_ s: AttentionShape) -> Double {
      abs(log(Double(s.seq) / Double(shape.seq))) + abs(log(Double(s.headDim) / Double(shape.headDim))) + (s.causal == shape.causal ? 0 : 1)
    }
    let match = attention.filter { $0.precision == wanted }.min { distance($0.shape) < distance($1.shape) }
      ?? attention.filter { $0.precision == .fp32 }.min { distance($0.shape) < distance($1.shape) }
    let forwardRate = (match?.forwardGflops ?? 0.5 * peakGflops) * scale
    let backwardRate = (match?.backwardGflops ?? 0.4 * (match?.forwardGflops ?? peakGflops)) * scale
    let flops = shape.forwardFlops * Double(queries) / Double(shape.seq)
    return (flops / (forwardRate * 1e9), 2.5 * flops / (backwardRate * 1e9))
  }

  public var memoryBytesPerSecond: Double { triadGBPerSecond * 1e9 * scale }
}

/// Several nodes in one job, each with its own rates: every product and attention as slow as on
/// the slowest of them, the memory traffic as on the slowest memory (a step waits for its slowest
/// rank).
public struct SlowestRates: DeviceRates {
  public var members: [any DeviceRates]

  public init(_ members: [any DeviceRates]) {
    precondition(!members.isEmpty, "SlowestRates needs a member")
    self.members = members
  }

  public func gemmSeconds(m: Double, n: Double, k: Double, kind: GEMMRole, precision: TrainingPrecision) -> Double {
    members.map { $0.gemmSeconds(m: m, n: n, k: k, kind: kind, precision: precision) }.max()!
  }

  public func attentionSeconds(_ shape: AttentionShape, queries: Int, precision: TrainingPrecision) -> (forward: Double, backward: Double) {
    let each = members.map { $0.attentionSeconds(shape, queries: queries, precision: precision) }
    return (each.map(\.forward).max()!, each.map(\.backward).max()!)
  }

  public var memoryBytesPerSecond: Double { members.map(\.memoryBytesPerSecond).min()! }
}
