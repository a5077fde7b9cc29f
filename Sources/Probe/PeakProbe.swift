import CKernels
import Platform
import Profile

/// A hand-written throughput loop for one unit at one precision, and what it needs to run.
struct PeakUnit: Sendable {
  var precision: String
  var isa: String
  var instruction: String
  /// Every one of these features must be usable.
  var requires: [String]
  var loop: @Sendable (UInt64) -> ck_loop_result

  /// Per precision, the units from widest to narrowest; fp64 and fp32 measure only the widest
  /// usable one, bf16 measures each unit it has (AVX512-BF16 and AMX are different units).
  static let catalogue: [PeakUnit] = [
    PeakUnit(precision: "fp64", isa: "avx512f", instruction: "vfmadd231pd zmm", requires: ["avx512f"]) { ck_fma_f64_avx512($0, 0.999_999, 1e-7) },
    PeakUnit(precision: "fp64", isa: "avx2+fma", instruction: "vfmadd231pd ymm", requires: ["avx2", "fma"]) { ck_fma_f64_avx2($0, 0.999_999, 1e-7) },
    PeakUnit(precision: "fp64", isa: "sse2", instruction: "mulpd+addpd xmm", requires: ["sse2"]) { ck_muladd_f64_sse2($0, 0.999_999, 1e-7) },
    PeakUnit(precision: "fp32", isa: "avx512f", instruction: "vfmadd231ps zmm", requires: ["avx512f"]) { ck_fma_f32_avx512($0, 0.999, 1e-4) },
    PeakUnit(precision: "fp32", isa: "avx2+fma", instruction: "vfmadd231ps ymm", requires: ["avx2", "fma"]) { ck_fma_f32_avx2($0, 0.999, 1e-4) },
    PeakUnit(precision: "fp32", isa: "sse2", instruction: "mulps+addps xmm", requires: ["sse2"]) { ck_muladd_f32_sse2($0, 0.999, 1e-4) },
    PeakUnit(precision: "fp16", isa: "avx512_fp16", instruction: "vfmadd231ph zmm", requires: ["avx512_fp16", "avx512bw", "avx512vl"]) { ck_fma_f16_avx512fp16($0, 0.99, 1e-3) },
    PeakUnit(precision: "bf16", isa: "avx512_bf16", instruction: "vdpbf16ps zmm", requires: ["avx512_bf16"]) { ck_dot_bf16_avx512bf16($0, 0.5, 0.5) },
    PeakUnit(precision: "bf16", isa: "amx-bf16", instruction: "tdpbf16ps", requires: ["amx_tile", "amx_bf16", "avx512_bf16"]) { ck_amx_bf16($0, 0.5, 0.5) },
  ]

  func missing(_ features: ISAFeatures) -> [String] { requires.filter { !features.usable($0) } }

  /// The units to measure on a CPU and, for the rest, why not.
  static func plan(for features: ISAFeatures) -> (run: [PeakUnit], skipped: [PeakNotMeasured]) {
    var run: [PeakUnit] = []
    var skipped: [PeakNotMeasured] = []
    for unit in catalogue {
      let lacking = unit.missing(features)
      let widestOnly = unit.precision == "fp64" || unit.precision == "fp32"
      if widestOnly && run.contains(where: { $0.precision == unit.precision }) { continue }
      if lacking.isEmpty {
        run.append(unit)
      } else {
        let states = lacking.map { name -> String in
          let feature = features[name]
          if feature?.present == true { return "\(name) present but not usable (\(feature?.reason ?? "disabled"))" }
          return "\(name) not present"
        }
        skipped.append(PeakNotMeasured(precision: unit.precision, isa: unit.isa, reason: states.joined(separator: "; ")))
      }
    }
    return (run, skipped)
  }
}

/// How long and how often to measure.
public struct MeasurementPlan: Sendable {
  public var secondsPerSample: Double
  public var repeats: Int

  public static let full = MeasurementPlan(secondsPerSample: 0.05, repeats: 7)
  public static let quick = MeasurementPlan(secondsPerSample: 0.01, repeats: 3)
}

public enum PeakProbe {
  /// Measures a unit on the given hardware threads at once (one thread each) and returns GFLOP/s
  /// per sample: the sum of each thread's FLOPs over the CPU time that thread ran. A thread the
  /// scheduler set aside for another process is not charged for the wait, so a busy machine
  /// does not lower the figure as long as some of each sample ran; the best sample is the peak.
  static func measure(_ unit: PeakUnit, on pus: [Int], topology: Topology, plan: MeasurementPlan) -> Statistics {
    let loop = unit.loop
    // Calibrate on the first PU (this also warms the unit up, which matters for AVX-512 and AMX
    // clocks): double the iterations until a run takes a quarter of the sample time.
    var iterations: UInt64 = 1 << 12
    while true {
      let trial = iterations
      let elapsed = ThreadTeam.run(threads: 1, pinnedTo: [pus[0]], topology: topology) { _ -> Double in
        let start = monotonicSeconds()
        _ = loop(trial)
        return monotonicSeconds() - start
      }[0]
      if elapsed >= plan.secondsPerSample / 4 || iterations > (1 << 40) {
        iterations = max(1, UInt64(Double(iterations) * plan.secondsPerSample / max(elapsed, 1e-9)))
        break
      }
      iterations *= 2
    }
    let count = iterations
    var samples: [Double] = []
    for _ in 0..<plan.repeats {
      let rates = ThreadTeam.run(threads: pus.count, pinnedTo: pus, topology: topology) { _ -> Double in
        let start = threadCPUSeconds()
        let result = loop(count)
        return result.flops / max(threadCPUSeconds() - start, 1e-9)
      }
      samples.append(rates.reduce(0, +) / 1e9)
    }
    return Statistics(samples: samples)
  }

  static func run(features: ISAFeatures, topology: Topology, plan: MeasurementPlan) -> ([Peak], [PeakNotMeasured]) {
    let (units, skipped) = PeakUnit.plan(for: features)
    return (measure(precisions: Set(units.map(\.precision)), features: features, topology: topology, plan: plan), skipped)
  }
}

extension PeakProbe {
  /// Measures the units of `precisions` anew on one core and on every core (their widest usable
  /// loop, and for bf16 each unit): the peaks `train` sets utilisation against when no trustworthy
  /// profile gives them, and what a profile's exceeded peaks are measured again with.
  public static func measure(
    precisions: Set<String>, features: ISAFeatures = .current, topology: Topology, plan: MeasurementPlan = .full
  ) -> [Peak] {
    let cores = topology.firstThreadOfEachCore
    guard !cores.isEmpty else { return [] }
    return PeakUnit.plan(for: features).run.filter { precisions.contains($0.precision) }.map { unit in
      Peak(
        precision: unit.precision, isa: unit.isa, instruction: unit.instruction,
        perCoreGflops: measure(unit, on: [cores[0]], topology: topology, plan: plan),
        allCoresGflops: measure(unit, on: cores, topology: topology, plan: plan), threads: cores.count)
    }
  }
}
