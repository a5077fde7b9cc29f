import Platform
import Profile

/// The peak model FLOPs utilisation is set against: the all-core best of the unit that runs most
/// of a step's GEMM FLOPs (fp32 FMA, bf16 dot products, AMX tiles), taken from a profile of this
/// machine whose probe ran on an idle machine, else measured now.
public struct UtilisationPeak: Equatable, Sendable {
  public var unit: ArithmeticUnit
  public var gflops: Double
  /// The unit's share of the step's GEMM FLOPs, 0…1.
  public var share: Double
  /// Where the figure comes from: "from PATH", or "measured now" with the reason.
  public var source: String

  /// - Parameters:
  ///   - units: a step's GEMM FLOPs by unit, most first (`TrainingOptions.gemmFlopsByUnit`).
  ///   - machine: the profile's machine section, with the profile's path, when one was given.
  ///   - fingerprint: this machine's (read only with a machine section).
  public static func resolve(
    units: [(unit: ArithmeticUnit, flops: Double)], machine: (section: MachineSection, path: String)?, fingerprint: String,
    features: ISAFeatures = .current, topology: Topology
  ) -> UtilisationPeak? {
    let total = units.reduce(0) { $0 + $1.flops }
    let unit = units.first?.unit ?? .fp32
    let share = total > 0 ? (units.first?.flops ?? 0) / total : 1
    var why = "no profile given"
    if let (section, path) = machine {
      if section.fingerprint != fingerprint {
        why = "\(path) is another machine's"
      } else if let load = section.measurementLoad, load.busy {
        why = "\(path) was probed on a busy machine (other processes took \(Int((load.otherProcessesShare * 100).rounded()))% of the CPUs)"
      } else if let peak = unit.peak(in: section.peaks) {
        return UtilisationPeak(unit: unit, gflops: peak.allCoresBest, share: share, source: "from \(path)")
      } else {
        why = "\(path) has no \(unit) peak"
      }
    }
    if let peak = unit.peak(in: PeakProbe.measure(precisions: [unit.precision], features: features, topology: topology)) {
      return UtilisationPeak(unit: unit, gflops: peak.allCoresBest, share: share, source: "measured now: \(why)")
    }
    guard let fp32 = ArithmeticUnit.fp32.peak(in: PeakProbe.measure(precisions: ["fp32"], features: features, topology: topology)) else { return nil }
    return UtilisationPeak(unit: .fp32, gflops: fp32.allCoresBest, share: share, source: "measured now: \(why); \(unit) cannot be measured here")
  }
}
