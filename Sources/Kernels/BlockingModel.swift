import Platform
import Profile

/// The analytic blocking model of Low et al. (2016), "Analytical modeling is enough for
/// high-performance BLIS": the micro-kernel hides FMA latency with enough independent
/// accumulators, KC keeps a B micro-panel in half of L1, MC an A block in half of L2, NC a B
/// panel in half of the L3 share. It gives the tuner's starting point.
public struct CacheSizes: Sendable, Equatable {
  public var l1: Int
  public var l2: Int
  /// The last-level cache available to one core (its share of a shared L3).
  public var l3PerCore: Int
  /// All of the last-level cache (every instance): what operands must exceed to be timed cold.
  public var lastLevel: Int

  public init(l1: Int, l2: Int, l3PerCore: Int, lastLevel: Int? = nil) {
    self.l1 = l1
    self.l2 = l2
    self.l3PerCore = l3PerCore
    self.lastLevel = lastLevel ?? l3PerCore
  }

  /// From hwloc: data L1, L2, and the L3 divided by the cores sharing it.
  public init(_ topology: Topology) {
    let caches = topology.caches.filter { $0.kind != .instruction }
    func size(_ level: Int) -> Int? { caches.first { $0.level == level }.map { Int($0.sizeBytes) } }
    l1 = size(1) ?? 32 << 10
    l2 = size(2) ?? 1 << 20
    if let l3 = caches.first(where: { $0.level == 3 }) {
      l3PerCore = Int(l3.sizeBytes) / max(1, l3.sharedByCores)
    } else {
      l3PerCore = 2 << 20
    }
    let deepest = caches.map(\.level).max() ?? 0
    lastLevel = caches.filter { $0.level == deepest }.reduce(0) { $0 + Int($1.sizeBytes) * $1.instances }
  }
}

public enum BlockingModel {
  /// FMA latency (cycles) and pipes of current x86 cores: 4 × 2 on Zen 2-4, Skylake and later.
  public static let fmaLatency = 4
  public static let fmaUnits = 2

  /// The micro-kernel the model prefers: enough accumulator vectors to cover latency × units,
  /// then the least memory traffic per FMA ((MR + NR) / (MR · NR)).
  public static func preferredKernel<T: GEMMScalar>(_ kernels: [MicroKernel<T>], lanes: Int) -> MicroKernel<T>? {
    let needed = fmaLatency * fmaUnits
    let enough = kernels.filter { $0.mr * $0.nr / lanes >= needed }
    let pool = enough.isEmpty ? kernels : enough
    return pool.min { traffic($0) < traffic($1) }
  }

  static func traffic<T>(_ k: MicroKernel<T>) -> Double { Double(k.mr + k.nr) / Double(k.mr * k.nr) }

  /// Blocking for a micro-kernel on these caches.
  public static func blocking<T: GEMMScalar>(for kernel: MicroKernel<T>, caches: CacheSizes, threads: Int) -> BlockingParameters {
    let size = MemoryLayout<T>.stride
    let kc = max(16, (caches.l1 / 2 / (kernel.nr * size)) / 8 * 8)
    let mc = max(kernel.mr, (caches.l2 / 2 / (kc * size)) / kernel.mr * kernel.mr)
    let nc = max(kernel.nr, min(4096, caches.l3PerCore / 2 / (kc * size)) / kernel.nr * kernel.nr)
    return BlockingParameters(microKernel: kernel.name, mc: mc, kc: kc, nc: nc, threads: threads, parallelLoop: .ic)
  }

  /// SIMD lanes of a micro-kernel from its ISA prefix.
  public static func lanes<T>(_ kernel: MicroKernel<T>) -> Int {
    let bytes = kernel.name.hasPrefix("avx512") ? 64 : kernel.name.hasPrefix("sse2") ? 16 : 32
    return bytes / MemoryLayout<T>.stride
  }
}
