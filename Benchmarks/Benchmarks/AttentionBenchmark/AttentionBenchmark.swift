import Benchmark
import Foundation
import Kernels
import NumberFormats
import Platform
import Profile

/// Attention on the target problems — flash forward (fp32 and bf16 inputs), the
/// materialised-scores backend's forward, flash backward (fp32) — batch 1, 8 heads,
/// head dim 64, seq 2048 causal and seq 1024 non-causal, every core; GFLOP/s as a custom metric
/// (4·B·H·S²·D for the forward, half when causal; 2.5× that for the backward). Tile sizes come
/// from SCALETUNE_FLASH_PARAMS (br=…,bc=…, as `tune attention` picks them) or default to Br = 64, Bc = 256.
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .custom("GFLOP/s", polarity: .prefersLarger, useScalingFactor: false)],
    timeUnits: .milliseconds, warmupIterations: 1, maxDuration: .seconds(4), maxIterations: 20)
  guard let topology = try? Topology() else { return }
  var parameters = FlashParameters(br: 64, bc: 256, threads: max(1, topology.cores))
  if let text = ProcessInfo.processInfo.environment["SCALETUNE_FLASH_PARAMS"] {
    for item in text.split(separator: ",") {
      let pair = item.split(separator: "=", maxSplits: 1)
      guard pair.count == 2, let value = Int(pair[1]) else { continue }
      if pair[0] == "br" { parameters.br = value }
      if pair[0] == "bc" { parameters.bc = value }
    }
  }
  let context = KernelContext(threads: parameters.threads, placement: .perCore(topology))
  for shape in [AttentionShape(batch: 1, heads: 8, seq: 2048, headDim: 64, causal: true), AttentionShape(batch: 1, heads: 8, seq: 1024, headDim: 64, causal: false)] {
    Benchmark("flash forward \(shape)") { benchmark in
      let buffers = Operands.shared.buffers(shape)
      let start = ContinuousClock.now
      benchmark.startMeasurement()
      try? FlashAttention.forward(shape, buffers.operands(shape), o: buffers.o, lse: buffers.lse, parameters: parameters, in: context)
      benchmark.stopMeasurement()
      benchmark.measurement(.custom("GFLOP/s"), Int(shape.forwardFlops / seconds(since: start) / 1e9))
    }
    Benchmark("flash forward bf16 \(shape)") { benchmark in
      let buffers = Operands.shared.buffers(shape)
      guard let stored = Operands.shared.bf16(shape) else { return }
      let start = ContinuousClock.now
      benchmark.startMeasurement()
      try? FlashAttention.forward(shape, stored, o: buffers.o, lse: buffers.lse, parameters: parameters, in: context)
      benchmark.stopMeasurement()
      benchmark.measurement(.custom("GFLOP/s"), Int(shape.forwardFlops / seconds(since: start) / 1e9))
    }
    Benchmark("gemm-backend forward \(shape)") { benchmark in
      let buffers = Operands.shared.buffers(shape)
      let start = ContinuousClock.now
      benchmark.startMeasurement()
      try? MaterializedAttention.forward(
        shape, buffers.operands(shape), o: buffers.o, lse: buffers.lse,
        parameters: MaterializedParameters(threads: parameters.threads), in: context)
      benchmark.stopMeasurement()
      benchmark.measurement(.custom("GFLOP/s"), Int(shape.forwardFlops / seconds(since: start) / 1e9))
    }
    Benchmark("flash backward \(shape)") { benchmark in
      let buffers = Operands.shared.buffers(shape)
      try? FlashAttention.forward(shape, buffers.operands(shape), o: buffers.o, lse: buffers.lse, parameters: parameters, in: context)
      let start = ContinuousClock.now
      benchmark.startMeasurement()
      try? FlashAttention.backward(
        shape, buffers.operands(shape), o: buffers.o, lse: buffers.lse, dQ: buffers.dQ, dK: buffers.dK, dV: buffers.dV, parameters: parameters, in: context)
      benchmark.stopMeasurement()
      benchmark.measurement(.custom("GFLOP/s"), Int(2.5 * shape.forwardFlops / seconds(since: start) / 1e9))
    }
  }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
  let elapsed = (ContinuousClock.now - start).components
  return Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
}

/// Operand buffers made once per process and shape, outside the measurement.
final class Operands: @unchecked Sendable {
  struct Buffers {
    let q, k, v, dO: UnsafeMutablePointer<Float>
    let o, lse, dQ, dK, dV: UnsafeMutablePointer<Float>

    func operands(_ shape: AttentionShape) -> AttentionOperands { .fp32(shape, q: q, k: k, v: v, dO: dO) }
  }

  static let shared = Operands()
  private var cache: [AttentionShape: Buffers] = [:]
  private let lock = NSLock()

  func buffers(_ shape: AttentionShape) -> Buffers {
    lock.lock()
    defer { lock.unlock() }
    if let buffers = cache[shape] { return buffers }
    var random = SeededRandom(seed: 3)
    func filled(_ count: Int) -> UnsafeMutablePointer<Float> {
      let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
      pointer.initialize(from: random.tabulatedNormal(count), count: count)
      return pointer
    }
    func empty(_ count: Int) -> UnsafeMutablePointer<Float> {
      let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
      pointer.initialize(repeating: 0, count: count)
      return pointer
    }
    let buffers = Buffers(
      q: filled(shape.qCount), k: filled(shape.kvCount), v: filled(shape.kvCount), dO: filled(shape.qCount),
      o: empty(shape.qCount), lse: empty(shape.batch * shape.heads * shape.seq), dQ: empty(shape.qCount), dK: empty(shape.kvCount), dV: empty(shape.kvCount))
    cache[shape] = buffers
    return buffers
  }

  private var stored: [AttentionShape: AttentionOperands] = [:]

  /// The same operands stored as bf16.
  func bf16(_ shape: AttentionShape) -> AttentionOperands? {
    let buffers = self.buffers(shape)
    lock.lock()
    defer { lock.unlock() }
    if let tensors = stored[shape] { return tensors }
    func tensor(_ pointer: UnsafeMutablePointer<Float>, heads: Int) -> AttentionTensor? {
      try? AttentionTensor(Array(UnsafeBufferPointer(start: pointer, count: heads * shape.seq * shape.headDim)), heads: heads, seq: shape.seq,
                           headDim: shape.headDim, precision: .bf16)
    }
    guard let q = tensor(buffers.q, heads: shape.batch * shape.heads), let k = tensor(buffers.k, heads: shape.batch * shape.kvHeads),
      let v = tensor(buffers.v, heads: shape.batch * shape.kvHeads), let operands = try? AttentionOperands.stored(shape, q: q, k: k, v: v)
    else { return nil }
    stored[shape] = operands
    return operands
  }
}
