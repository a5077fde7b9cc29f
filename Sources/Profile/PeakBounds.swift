import Foundation
import NumberFormats

/// A kernel rate in a profile above the peak of every unit that can run its precision. A kernel
/// cannot beat its unit, so the peak was measured wrong (too low: the probe ran on a busy machine,
/// or its loop does not reach that unit's throughput).
public struct PeakExcess: Equatable, Sendable, CustomStringConvertible {
  /// "GEMM 2048x2048x2048 bf16 onednn, 2 threads".
  public var kernel: String
  public var precision: Precision
  public var gflops: Double
  /// The unit whose peak it exceeded: the fastest that can run the kernel's precision.
  public var peak: String
  public var peakGflops: Double

  public init(kernel: String, precision: Precision, gflops: Double, peak: String, peakGflops: Double) {
    self.kernel = kernel
    self.precision = precision
    self.gflops = gflops
    self.peak = peak
    self.peakGflops = peakGflops
  }

  /// How far above the peak, as a fraction (0.51: 51% above).
  public var excess: Double { gflops / peakGflops - 1 }

  public var description: String {
    String(
      format: "%@ ran at %.1f GFLOP/s, %.0f%% above the %@ peak of %.1f GFLOP/s: the peak was measured too low", kernel, gflops,
      max(1, (excess * 100).rounded()), peak, peakGflops)
  }
}

/// Every kernel rate a profile holds, set against the peak of the units that can run it.
public enum PeakBounds {
  /// The units whose products a kernel of `precision` may run on: fp64 and fp32 on their own FMA
  /// units; bf16 and fp16 on fp32 FMA (operands widened) or their own units; the narrower formats
  /// (fp8, MX, NVFP4) widened to any of them (the amx backend runs MX operands on bf16 tiles).
  public static func units(for precision: Precision) -> [String] {
    switch precision {
    case .fp64: return ["fp64"]
    case .fp32: return ["fp32"]
    case .bf16: return ["fp32", "bf16"]
    case .fp16: return ["fp32", "fp16"]
    default: return ["fp32", "fp16", "bf16"]
    }
  }

  /// The fastest unit that can run `precision` with `threads` threads, and its bound (GFLOP/s).
  public static func bound(_ machine: MachineSection, precision: Precision, threads: Int) -> (peak: Peak, gflops: Double)? {
    let units = units(for: precision)
    return machine.peaks.filter { units.contains($0.precision) }
      .map { ($0, $0.bound(threads: threads)) }
      .max { $0.1 < $1.1 }
  }

  /// The backends that run the CPU as it is, whatever `SCALETUNE_ISA` masks: under a mask the
  /// probe measures only the masked units, which do not bound them.
  public static let unmaskedBackends: Set<GEMMBackend> = [.openblas, .blis, .onednn]

  /// Every rate in `kernels` above its bound on `machine`: GEMM candidates, attention forward and
  /// backward, and the GEMM rates attention was set against. On a masked machine
  /// (`SCALETUNE_ISA`), the libraries' rates (and the reference rates attention took from them)
  /// are not held to the masked units' peaks.
  public static func excesses(machine: MachineSection, kernels: KernelsSection) -> [PeakExcess] {
    var rates: [(kernel: String, precision: Precision, threads: Int, gflops: Double)] = []
    let allCores = machine.peaks.map(\.threads).max() ?? 1
    let masked = machine.fingerprintFacts.contains { $0.hasPrefix("isaMask=") }
    for entry in kernels.gemm?.entries ?? [] {
      let records = entry.candidates + [entry.winner].compactMap { $0 }.filter { !entry.candidates.contains($0) }
      for record in records where record.status == .ok && !(masked && unmaskedBackends.contains(record.backend)) {
        guard let gflops = record.gflops?.median else { continue }
        let threads = record.choice?.threads ?? record.parameters["threads"].flatMap { Int($0) } ?? allCores
        rates.append(("GEMM \(entry.label) \(entry.precision) \(record.backend), \(threads) thread\(threads == 1 ? "" : "s")", entry.precision, threads, gflops))
      }
    }
    if let attention = kernels.attention {
      for entry in attention.entries {
        for record in entry.candidates where record.status == .ok {
          let threads = record.choice?.threads ?? record.parameters["threads"].flatMap { Int($0) } ?? allCores
          let name = "attention \(entry.shape) \(entry.precision) \(record.backend), \(threads) thread\(threads == 1 ? "" : "s")"
          if let forward = record.forwardGflops?.median { rates.append((name + " forward", entry.precision, threads, forward)) }
          if let backward = record.backwardGflops?.median { rates.append((name + " backward", entry.precision, threads, backward)) }
        }
      }
      for rate in attention.gemmRates ?? [] where rate.gflops > 0 && !masked {
        rates.append(("the \(rate.precision) GEMM attention was set against (\(rate.source))", rate.precision, allCores, rate.gflops))
      }
    }
    return rates.compactMap { rate in
      guard let (peak, bound) = bound(machine, precision: rate.precision, threads: rate.threads), bound > 0, rate.gflops > bound else { return nil }
      let at = rate.threads == 1 ? "1 core" : "\(min(rate.threads, peak.threads)) cores"
      return PeakExcess(kernel: rate.kernel, precision: rate.precision, gflops: rate.gflops, peak: "\(peak.unit) (\(at))", peakGflops: bound)
    }
  }

  /// The same for a whole profile; none without a machine section or kernels.
  public static func excesses(_ profile: Profile) -> [PeakExcess] {
    guard let machine = profile.machine, let kernels = profile.kernels else { return [] }
    return excesses(machine: machine, kernels: kernels)
  }

  /// A percentage of a peak as a person reads it: never above 100 ("above peak" instead, with the
  /// excess said elsewhere); "-" when unknown.
  public static func percentText(_ percent: Double?) -> String {
    guard let percent, percent.isFinite else { return "-" }
    return percent > 100 ? "above peak" : String(format: "%.0f%%", percent)
  }
}
