import Autotune
import Foundation
import Kernels
import NumberFormats
import Platform
import Profile

/// The GEMM tuner's candidates beside the native search: OpenBLAS (with its core types), the
/// bf16 kernels (amx backend) and the libraries (BLIS, oneDNN), each verified before it is timed.
extension GEMMTuner {
  /// OpenBLAS in this process, and each other core type in a child process on the reference shape.
  func openblasCandidates(_ shape: GEMMShape, evaluator: GEMMEvaluator, precision: Precision) -> ([GEMMCandidateRecord], String?) {
    let loaded = OpenBLASGEMM.coreName
    let candidate = GEMMChoice(backend: .openblas, precision: precision, threads: options.threads)
    var records: [GEMMCandidateRecord] = []
    guard !budget.exhausted else {
      return ([GEMMCandidateRecord(choice: candidate, extra: ["core": loaded], status: .timeout, reason: "budget exhausted")], nil)
    }
    progress("gemm \(precision) \(shape): openblas (core \(loaded))")
    var best: (core: String, gflops: Double)?
    do {
      let run = try evaluator.runner(for: candidate)
      let check = evaluator.verify(run)
      if check.passed {
        let gflops = evaluator.time(run, repeats: repeats(shape), maxRepeats: shape == referenceShape ? nil : repeats(shape), minimumSeconds: minimumSeconds)
        records.append(GEMMCandidateRecord(choice: candidate, extra: ["core": loaded], status: .ok, gflops: gflops, percentOfPeak: percent(gflops.median, precision)))
        best = (loaded, gflops.median)
      } else {
        records.append(GEMMCandidateRecord(choice: candidate, extra: ["core": loaded], status: .wrong, reason: "error \(check.error) above tolerance \(check.tolerance)"))
      }
    } catch {
      records.append(GEMMCandidateRecord(backend: .openblas, parameters: [:], status: .pruned, reason: "\(error)"))
    }
    if shape == referenceShape, let executable = options.executable {
      for core in options.coreTypes where core.lowercased() != loaded.lowercased() && !budget.exhausted {
        progress("gemm \(precision) \(shape): openblas with OPENBLAS_CORETYPE=\(core) (child process)")
        let measured = OpenBLASCoreTypes.measure(coreTypes: [core], executable: executable, shape: shape, precision: precision,
                                                 threads: options.threads, repeats: repeats)[0]
        let extra = ["core": measured.result?.openblasCore ?? core, "OPENBLAS_CORETYPE": core]
        if let result = measured.result, result.passed, let gflops = result.gflops {
          records.append(GEMMCandidateRecord(choice: candidate, extra: extra, status: .ok, gflops: gflops, percentOfPeak: percent(gflops.median, precision)))
          if gflops.median > best?.gflops ?? 0 { best = (core, gflops.median) }
        } else if let result = measured.result {
          records.append(GEMMCandidateRecord(choice: candidate, extra: extra, status: .wrong, reason: "error \(result.verificationError)"))
        } else {
          records.append(GEMMCandidateRecord(choice: candidate, extra: extra, status: .failed, reason: measured.failure))
        }
      }
    }
    return (records, best?.core)
  }

  /// The amx backend with its default blocking: verified, then timed, where the CPU and the
  /// precision allow it; otherwise a pruned record that says why.
  func amxCandidate(_ shape: GEMMShape, evaluator: GEMMEvaluator, precision: Precision) -> GEMMCandidateRecord {
    if let reason = GEMMBackend.amx.unavailability(precision: precision, features: features) {
      return GEMMCandidateRecord(backend: .amx, parameters: [:], status: .pruned, reason: reason)
    }
    guard let blocking = GEMMBackend.amxBlocking(features: features, threads: options.threads) else {
      return GEMMCandidateRecord(backend: .amx, parameters: [:], status: .pruned, reason: "no bf16 micro-kernel runs here")
    }
    let choice = GEMMChoice(backend: .amx, precision: precision, blocking: blocking)
    guard !budget.exhausted else { return GEMMCandidateRecord(choice: choice, status: .timeout, reason: "budget exhausted") }
    progress("gemm \(precision) \(shape): amx (\(blocking.microKernel))")
    let run: () -> Void
    do {
      run = try evaluator.runner(for: choice)
    } catch {
      return GEMMCandidateRecord(choice: choice, status: .failed, reason: "\(error)")
    }
    // Against the peak of the unit that ran it.
    let peak = options.peaks[ArithmeticUnit.of(choice, onednnISA: nil)]
    return verifiedRecord(choice, run: run, evaluator: evaluator, shape: shape) { gflops in peak.map { 100 * gflops / $0 } }
  }

  /// `run` verified, then (when right) timed: a `wrong` record with its error, or an `ok` one
  /// with its rate and `percentOfPeak` of it.
  func verifiedRecord(
    _ choice: GEMMChoice, extra: [String: String] = [:], run: () -> Void, evaluator: GEMMEvaluator, shape: GEMMShape,
    percentOfPeak: (Double) -> Double?
  ) -> GEMMCandidateRecord {
    let check = evaluator.verify(run)
    guard check.passed else {
      return GEMMCandidateRecord(choice: choice, extra: extra, status: .wrong, reason: "error \(check.error) above tolerance \(check.tolerance)")
    }
    let gflops = evaluator.time(run, repeats: repeats(shape), maxRepeats: repeats(shape), minimumSeconds: minimumSeconds)
    return GEMMCandidateRecord(choice: choice, extra: extra, status: .ok, gflops: gflops, percentOfPeak: percentOfPeak(gflops.median))
  }

  /// BLIS and oneDNN, each verified and then timed where it takes the precision; otherwise a
  /// pruned record with the library's own reason (not installed, no such precision, no
  /// implementation for this CPU), so that a library that cannot run never stops the tune.
  func libraryCandidates(_ shape: GEMMShape, evaluator: GEMMEvaluator, precision: Precision) -> [GEMMCandidateRecord] {
    [GEMMBackend.blis, .onednn].map { (backend: GEMMBackend) -> GEMMCandidateRecord in
      let choice = GEMMChoice(backend: backend, precision: precision, threads: options.threads)
      let status = backend == .blis ? BLISGEMM.status : OneDNNGEMM.status
      var extra = ["library": status.name + (status.version.map { " " + $0 } ?? "")]
      if let selected = status.selected { extra[backend == .blis ? "arch" : "isa"] = selected }
      if let reason = backend.unavailability(precision: precision, features: features) {
        return GEMMCandidateRecord(choice: choice, extra: extra, status: .pruned, reason: reason)
      }
      guard !budget.exhausted else { return GEMMCandidateRecord(choice: choice, extra: extra, status: .timeout, reason: "budget exhausted") }
      progress("gemm \(precision) \(shape): \(status.name)")
      let run: () -> Void
      do {
        run = try evaluator.runner(for: choice)
      } catch {
        return GEMMCandidateRecord(choice: choice, extra: extra, status: .pruned, reason: "\(error)")
      }
      // Recorded where it says more than the library's own selection (oneDNN's, per problem).
      let implementation = evaluator.implementation ?? ""
      if !implementation.isEmpty && implementation != status.selected { extra["implementation"] = implementation }
      // bf16 against the peak of the unit its implementation names.
      let unit = ArithmeticUnit.of(choice, onednnISA: implementation)
      let peak = precision == .bf16 && unit != .fp32 ? options.peaks[unit] : nil
      return verifiedRecord(choice, extra: extra, run: run, evaluator: evaluator, shape: shape) { gflops in
        peak.map { 100 * gflops / $0 } ?? self.percent(gflops, precision)
      }
    }
  }
}
