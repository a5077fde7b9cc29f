import Platform
import Profile

/// The machine rates the parallel tuner's cost model starts from: the fp32 all-core peak and the
/// STREAM triad bandwidth, from the machine section where its probe measured them, else measured
/// now (a `tune probe --no-measure` profile holds neither), never a made-up default.
public struct CostModelRates: Equatable, Sendable {
  public var fp32PeakGflops: Double
  public var triadGBPerSecond: Double
  /// What was measured now, and why ("" when the profile had both).
  public var note: String

  public static func resolve(_ machine: MachineSection, topology: Topology, quick: Bool) -> CostModelRates {
    var measured: [String] = []
    let plan: MeasurementPlan = quick ? .quick : .full
    var peak = machine.peaks.first { $0.precision == "fp32" }?.allCoresBest
    if peak == nil {
      peak = PeakProbe.measure(precisions: ["fp32"], topology: topology, plan: plan).first?.allCoresBest
      measured.append("the fp32 peak")
    }
    var triad = machine.memoryBandwidth?.triadGBPerSecond.median
    if triad == nil {
      let llc = machine.topology.lastLevelCache.map { $0.sizeBytes * UInt64($0.instances) } ?? (32 << 20)
      triad = TriadProbe.run(topology: topology, lastLevelCacheBytes: llc, usableBytes: machine.memory.usableBytes, plan: plan, quick: quick)?
        .triadGBPerSecond.median
      measured.append("the triad bandwidth")
    }
    let note = measured.isEmpty ? "" : "the profile's probe did not measure \(measured.joined(separator: " or ")): measured now"
    // A machine where neither loop can run (no cores to pin) still gets a model: the slowest
    // plausible figures, said so.
    return CostModelRates(fp32PeakGflops: peak ?? 1, triadGBPerSecond: triad ?? 1, note: note + (peak == nil || triad == nil ? "; could not be measured, 1 assumed" : ""))
  }
}
