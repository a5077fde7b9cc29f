import Foundation
import NumberFormats
import Platform
import Testing

@testable import Profile

/// Every kernel rate a profile holds is bounded by the peak of the units that can run it.
@Suite struct PeakBoundsTests {
  static func peak(_ precision: String, _ isa: String, one: Double, all: Double, threads: Int = 2) -> Peak {
    Peak(precision: precision, isa: isa, instruction: "x", perCoreGflops: Statistics(samples: [one * 0.9, one]),
         allCoresGflops: Statistics(samples: [all * 0.8, all * 0.95, all]), threads: threads)
  }

  static func machine(_ peaks: [Peak]) -> MachineSection {
    var machine = sampleMachine()
    machine.peaks = peaks
    return machine
  }

  static func gemm(_ precision: Precision, backend: GEMMBackend = .native, gflops: Double, threads: Int = 2) -> GEMMEntry {
    let record = GEMMCandidateRecord(backend: backend, parameters: ["threads": String(threads)], status: .ok, gflops: Statistics(samples: [gflops]))
    return GEMMEntry(shape: "512x512x512", m: 512, n: 512, k: 512, precision: precision, winner: record, candidates: [record])
  }

  static let zen4 = machine([peak("fp64", "avx512f", one: 58, all: 117), peak("fp32", "avx512f", one: 117, all: 234), peak("bf16", "avx512_bf16", one: 234, all: 469)])

  @Test func aRateWithinItsUnitsPeaksPasses() {
    // bf16 on the native backend widens to fp32 and may beat nothing; oneDNN's bf16 on the dot unit at 93%.
    let kernels = KernelsSection(gemm: GEMMSection(
      fingerprint: "0123456789abcdef", strategy: "t", budgetSeconds: 1, tuningSeconds: 1, environment: [:], search: nil,
      entries: [Self.gemm(.fp32, gflops: 220), Self.gemm(.bf16, backend: .onednn, gflops: 433), Self.gemm(.fp64, backend: .blis, gflops: 107),
                Self.gemm(.mxfp8e4m3, backend: .amx, gflops: 300), Self.gemm(.fp32, gflops: 116, threads: 1)]))
    #expect(PeakBounds.excesses(machine: Self.zen4, kernels: kernels) == [])
  }

  @Test func aRateAboveEveryUnitThatCanRunItIsAnExcessNamingThePeak() throws {
    // The case: fp32 peaks measured on a busy machine, 134 on one core and 143 on two,
    // then GEMM winners at 151% to 343% of them.
    let busy = Self.machine([Self.peak("fp32", "avx512f", one: 134, all: 143), Self.peak("bf16", "avx512_bf16", one: 150, all: 160)])
    let kernels = KernelsSection(gemm: GEMMSection(
      fingerprint: "0123456789abcdef", strategy: "t", budgetSeconds: 1, tuningSeconds: 1, environment: [:], search: nil,
      entries: [Self.gemm(.fp32, gflops: 490), Self.gemm(.bf16, gflops: 150), Self.gemm(.fp32, gflops: 140, threads: 1)]))
    let excesses = PeakBounds.excesses(machine: busy, kernels: kernels)
    #expect(excesses.count == 2)
    let first = try #require(excesses.first)
    #expect(first.precision == .fp32 && first.gflops == 490 && first.peakGflops == 143)
    #expect(first.description.contains("GEMM 512x512x512 fp32 native, 2 threads ran at 490.0 GFLOP/s, 243% above the fp32 avx512f (2 cores) peak of 143.0 GFLOP/s"), "\(first)")
    // One thread is held to one core's best (134), not half the all-core figure.
    #expect(excesses[1].peakGflops == 134 && excesses[1].peak == "fp32 avx512f (1 core)")
  }

  /// Under SCALETUNE_ISA=sse2 the probe measures the SSE2 loops; OpenBLAS, BLIS and oneDNN run
  /// the CPU's AVX-512 all the same, so their rates are not held to those peaks (the native ones are).
  @Test func aMaskedMachineHoldsOnlyTheMaskedKernelsToItsPeaks() {
    var masked = Self.machine([Self.peak("fp64", "sse2", one: 24, all: 48)])
    masked.fingerprintFacts.append("isaMask=avx,avx2,avx512f")
    let kernels = KernelsSection(gemm: GEMMSection(
      fingerprint: "0123456789abcdef", strategy: "t", budgetSeconds: 1, tuningSeconds: 1, environment: [:], search: nil,
      entries: [Self.gemm(.fp64, backend: .openblas, gflops: 50), Self.gemm(.fp64, backend: .native, gflops: 60)]))
    #expect(PeakBounds.excesses(machine: masked, kernels: kernels).map(\.kernel) == ["GEMM 512x512x512 fp64 native, 2 threads"])
    #expect(PeakBounds.excesses(machine: Self.machine(masked.peaks), kernels: kernels).count == 2)
  }

  @Test func attentionRatesAreCheckedToo() {
    var attention = sampleAttention()
    attention.entries[0].candidates[0].forwardGflops = Statistics(samples: [250])
    let kernels = KernelsSection(attention: attention)
    let excesses = PeakBounds.excesses(machine: sampleMachine(), kernels: kernels)
    #expect(excesses.map(\.kernel) == ["attention 1x8x2048x64 causal fp32 flash, 2 threads forward"])
  }

  @Test func unitsAndBounds() {
    #expect(PeakBounds.units(for: .fp64) == ["fp64"])
    #expect(PeakBounds.units(for: .bf16) == ["fp32", "bf16"])
    #expect(PeakBounds.units(for: .nvfp4) == ["fp32", "fp16", "bf16"])
    let bound = PeakBounds.bound(Self.zen4, precision: .bf16, threads: 2)
    #expect(bound?.peak.isa == "avx512_bf16" && bound?.gflops == 469)
    // Half the cores: half the all-core best; more threads than cores: every core.
    #expect(Self.zen4.peaks[1].bound(threads: 1) == 117 && Self.zen4.peaks[1].bound(threads: 8) == 234)
    #expect(PeakBounds.percentText(151) == "above peak" && PeakBounds.percentText(99.6) == "100%" && PeakBounds.percentText(nil) == "-")
  }

  @Test func oldProfilesAndTheirPeaksStillRead() throws {
    // A peak is its best run: the profile's max, whatever the median.
    let peak = Self.peak("fp32", "avx2+fma", one: 100, all: 195)
    #expect(peak.perCoreBest == 100 && peak.allCoresBest == 195)
    let load = MeasurementLoad(otherProcessesShare: 0.36, cpus: 2, seconds: 3)
    #expect(load.busy && load.sentence.hasPrefix("the machine was busy: other processes took 36% of the 2 CPUs while the peaks were measured"))
    #expect(!MeasurementLoad(otherProcessesShare: 0.02, cpus: 2, seconds: 3).busy)
  }
}
