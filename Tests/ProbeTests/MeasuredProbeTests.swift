import Foundation
import Testing

import CKernels

@testable import Platform
@testable import Probe
@testable import Profile
@testable import Report

/// One quick probe with its micro-benchmarks: checks that every usable unit was measured, that the
/// figures are sane, and that the whole section validates. No speed is asserted here; speed is
/// what `tune probe` reports.
@Suite struct MeasuredProbeTests {
  @Test func quickProbeMeasuresEveryUsableUnitAndTheTriad() throws {
    let machine = try MachineProbe.run(ProbeOptions(quick: true))
    let usable = Set(machine.cpu.features.filter(\.usable).map(\.name))
    let measured = Set(machine.peaks.map(\.precision))
    #expect(measured.isSuperset(of: ["fp64", "fp32"]))
    if usable.contains("avx512_bf16") { #expect(machine.peaks.contains { $0.isa == "avx512_bf16" }) }
    if usable.contains("amx_bf16") { #expect(machine.peaks.contains { $0.isa == "amx-bf16" }) }
    for peak in machine.peaks {
      #expect(peak.perCoreGflops.min > 0 && peak.perCoreGflops.min <= peak.perCoreGflops.median)
      #expect(peak.perCoreGflops.median <= peak.perCoreGflops.max)
      #expect(peak.threads == machine.topology.cores)
    }
    let bandwidth = try #require(machine.memoryBandwidth)
    #expect(bandwidth.triadGBPerSecond.median > 0)
    #expect(bandwidth.arrayBytes >= 64 << 20)
    #expect(machine.quick)
    let data = try ProfileStore.encode(Profile(machine: machine, provenance: Provenance(runs: [
      Provenance.Run(commandLine: ["test"], gitCommit: nil, startedAt: Date(), finishedAt: Date(), stages: ["probe"]),
    ])))
    #expect(try SchemaValidator.profileSchema().validate(try JSONValue.parse(data)) == [])
    #expect(MachineSummary.text(machine).contains("STREAM triad"))
  }

  /// Each loop counts its FLOPs from its accumulators and lanes; a wrong count would misstate every peak.
  @Test func loopsCountTheirFlops() {
    #expect(ck_fma_f64_avx2(10, 0.5, 0.5).flops == 10 * 12 * 4 * 2)
    #expect(ck_fma_f32_avx2(10, 0.5, 0.5).flops == 10 * 12 * 8 * 2)
    #expect(ck_muladd_f32_sse2(10, 0.5, 0.5).flops == 10 * 12 * 4 * 2)
    #expect(ck_muladd_f64_sse2(3, 0.5, 0.5).flops == 3 * 12 * 2 * 2)
  }

  @Test func loopsComputeWhatTheySay() {
    // acc <- acc * a + b with a = 0.5, b = 1 converges to 2 from any start: 12 accumulators of
    // 4 lanes (the sink adds acc0 twice) give 13 * 4 * 2 = 104.
    let features = ISAFeatures.current
    if features.usable("avx2") && features.usable("fma") {
      #expect(abs(ck_fma_f64_avx2(200, 0.5, 1).sink - 104) < 1e-9)
    }
    #expect(abs(ck_muladd_f64_sse2(200, 0.5, 1).sink - 13 * 2 * 2) < 1e-9)
  }
}
