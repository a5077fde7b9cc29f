import CKernels
import Foundation
import Platform
import Profile

/// STREAM triad over all cores: a[i] = b[i] + s·c[i], one pinned thread per core, each on its own
/// contiguous chunk that it touched first (so its pages sit on its NUMA node). Counted as STREAM
/// counts: 24 bytes per iteration, no write-allocate traffic.
enum TriadProbe {
  /// Bytes per array: four times the last-level cache, capped so the three arrays take at most a
  /// quarter of usable memory (and, with `quick`, at most 256 MiB each).
  static func arrayBytes(lastLevelCacheBytes: UInt64, usableBytes: UInt64, quick: Bool) -> (UInt64, String) {
    let wanted = max(4 * lastLevelCacheBytes, 64 << 20)
    let memoryCap = usableBytes / 12
    if quick && wanted > 256 << 20 && memoryCap > 256 << 20 {
      return (256 << 20, "quick: 256 MiB per array, below 4x last-level cache")
    }
    if wanted > memoryCap { return (memoryCap, "capped by usable memory (3 arrays within a quarter of it)") }
    return (wanted, "4x last-level cache (\(lastLevelCacheBytes >> 20) MiB in all)")
  }

  static func run(topology: Topology, lastLevelCacheBytes: UInt64, usableBytes: UInt64, plan: MeasurementPlan, quick: Bool) -> Bandwidth? {
    let cores = topology.firstThreadOfEachCore
    guard !cores.isEmpty else { return nil }
    let (bytes, sizing) = arrayBytes(lastLevelCacheBytes: lastLevelCacheBytes, usableBytes: usableBytes, quick: quick)
    let count = Int(bytes) / MemoryLayout<Double>.stride
    let threads = cores.count
    let buffers = TriadBuffers(count: count)
    defer { buffers.free() }
    let chunk = (count + threads - 1) / threads

    @Sendable func range(_ index: Int) -> Range<Int> { min(count, index * chunk)..<min(count, (index + 1) * chunk) }

    _ = ThreadTeam.run(threads: threads, pinnedTo: cores, topology: topology) { index in
      let r = range(index)
      for i in r {
        buffers.a[i] = 0
        buffers.b[i] = 1
        buffers.c[i] = 2
      }
      return 0
    }
    var samples: [Double] = []
    for _ in 0..<(plan.repeats + 1) {
      let times = ThreadTeam.run(threads: threads, pinnedTo: cores, topology: topology) { index -> Double in
        let r = range(index)
        let start = monotonicSeconds()
        ck_triad_f64(buffers.a + r.lowerBound, buffers.b + r.lowerBound, buffers.c + r.lowerBound, 3.0, r.count)
        return monotonicSeconds() - start
      }
      samples.append(24 * Double(count) / (times.max() ?? 1) / 1e9)
    }
    // The first pass is a warm-up (page-table and TLB state), not a sample.
    return Bandwidth(
      kernel: "triad", triadGBPerSecond: Statistics(samples: Array(samples.dropFirst())),
      arrayBytes: UInt64(count * MemoryLayout<Double>.stride), threads: threads, sizing: sizing)
  }
}

/// Three 64-byte-aligned arrays shared by the triad threads; each thread touches only its chunk.
final class TriadBuffers: @unchecked Sendable {
  let a: UnsafeMutablePointer<Double>
  let b: UnsafeMutablePointer<Double>
  let c: UnsafeMutablePointer<Double>

  init(count: Int) {
    func allocate() -> UnsafeMutablePointer<Double> {
      let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Double>.stride, alignment: 64)
      return raw.bindMemory(to: Double.self, capacity: count)
    }
    a = allocate()
    b = allocate()
    c = allocate()
  }

  func free() {
    a.deallocate()
    b.deallocate()
    c.deallocate()
  }
}
