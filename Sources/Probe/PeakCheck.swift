import Platform
import Profile

/// The check every profile the tool writes passes: no kernel rate above the peak of every unit
/// that can run it (`PeakBounds`). A rate above it means the peak was measured wrong, so on the
/// machine the profile describes those units are measured again and each keeps its better best;
/// whatever still exceeds is recorded as a `peak-exceeded` warning and returned.
public enum PeakCheck {
  /// - Parameters:
  ///   - fingerprint: this machine's; the peaks of another machine's profile are not measured here.
  ///   - topology: where to measure again (nil: never measure); loaded only when a rate exceeds.
  /// - Returns: the excesses left after measuring again; the profile's warnings name each one.
  @discardableResult
  public static func enforce(
    _ profile: inout Profile, fingerprint: String, topology: @autoclosure () -> Topology?, features: ISAFeatures = .current, plan: MeasurementPlan = .full,
    progress: (String) -> Void = { _ in }
  ) -> [PeakExcess] {
    guard var machine = profile.machine, let kernels = profile.kernels else { return [] }
    var excesses = PeakBounds.excesses(machine: machine, kernels: kernels)
    if !excesses.isEmpty, machine.fingerprint == fingerprint, let topology = topology() {
      let precisions = Set(excesses.flatMap { PeakBounds.units(for: $0.precision) })
      progress("peak check: \(excesses.count) kernel rate(s) above their peak (\(excesses[0])); measuring \(precisions.sorted().joined(separator: ", ")) again")
      for fresh in PeakProbe.measure(precisions: precisions, features: features, topology: topology, plan: plan) {
        guard let index = machine.peaks.firstIndex(where: { $0.precision == fresh.precision && $0.isa == fresh.isa }) else {
          machine.peaks.append(fresh)
          continue
        }
        if fresh.perCoreBest > machine.peaks[index].perCoreBest { machine.peaks[index].perCoreGflops = fresh.perCoreGflops }
        if fresh.allCoresBest > machine.peaks[index].allCoresBest { machine.peaks[index].allCoresGflops = fresh.allCoresGflops }
      }
      excesses = PeakBounds.excesses(machine: machine, kernels: kernels)
    }
    machine.warnings.removeAll { $0.code == "peak-exceeded" }
    machine.warnings += excesses.map { ProbeWarning(code: "peak-exceeded", message: $0.description) }
    profile.machine = machine
    return excesses
  }
}
