import Kernels
import NumberFormats
import Platform
import Profile

/// `tune bench gemm`: one candidate, verified then timed.
public struct GEMMBenchmarkResult: Codable, Sendable {
  public var shape: String
  public var precision: String
  public var candidate: GEMMChoice
  public var verificationError: Double
  public var tolerance: Double
  /// ‖C − C_fp64‖/(‖A‖·‖B‖) against the fp64 product of the unquantised inputs: what this
  /// precision costs (the verification error is the kernel's own, on the operands it multiplied).
  public var precisionError: Double?
  public var passed: Bool
  public var gflops: Statistics?
  /// Set when compared with one other candidate in the same run: this one's median GFLOP/s over
  /// the other's, measured interleaved.
  public var ratioToVersus: Double?
  /// Set on each candidate after the first when three or more ran interleaved: its median GFLOP/s
  /// over the first's.
  public var ratioToFirst: Double?
  public var versus: GEMMChoice?
  /// The kernel family OpenBLAS loaded (for the openblas backend).
  public var openblasCore: String?
  /// What BLIS selected or oneDNN implemented (for those backends).
  public var implementation: String?
  /// Set when more threads ran than the machine gives the process: what ran on what.
  public var oversubscribed: String?
  /// B was packed once, before the timing, and read in place by every call.
  public var prepackedB: Bool?
  /// Where the candidate came from when a profile chose it, and the rate the profile recorded.
  public var fromProfile: String?
  public var recordedGflops: Double?

  public var text: String {
    let core = openblasCore.map { " (core \($0))" } ?? implementation.map { " (\($0))" } ?? ""
    var line = "\(precision) \(shape) \(candidate)\(core)\(prepackedB == true ? " (B pre-packed)" : ""): verification error \(String(format: "%.2e", verificationError)) (tolerance \(String(format: "%.2e", tolerance))) \(passed ? "ok" : "WRONG")"
    if let precisionError { line += String(format: "; error against fp64 on the unquantised inputs %.2e", precisionError) }
    if let g = gflops { line += String(format: "; %.1f GFLOP/s [%.1f-%.1f] over %d runs", g.median, g.min, g.max, g.runs) }
    if let ratio = ratioToVersus, let versus { line += String(format: "; %.3fx %@", ratio, versus.description) }
    if let ratioToFirst { line += String(format: "; %.3fx the first", ratioToFirst) }
    if let oversubscribed { line += "\n  OVERSUBSCRIBED: \(oversubscribed); the rate is the contended machine's, not the kernel's" }
    if let fromProfile {
      line += "\n  chosen by \(fromProfile)"
      if let recordedGflops, let now = gflops?.median {
        line += String(format: "; recorded %.1f GFLOP/s there, %.2fx of it now", recordedGflops, now / recordedGflops)
      }
    }
    return line
  }
}

public enum GEMMBenchmark {
  /// Builds a choice from `k=v` parameters (`BlockingParameters.applying`, the one parser of that
  /// form), filling what is missing from the analytic model (native) or the amx default.
  public static func candidate(
    backend: GEMMBackend, precision: Precision, params: [String: String], threads: Int, features: ISAFeatures, caches: CacheSizes
  ) throws -> GEMMChoice {
    guard backend == .native || backend == .amx else {
      if let key = params.keys.sorted().first { throw ChoiceError.unknownParameter(key, known: []) }
      return GEMMChoice(backend: backend, precision: precision, threads: threads)
    }
    if params["threads"] != nil { throw ChoiceError.unknownParameter("threads", known: BlockingParameters.keys.filter { $0 != "threads" }) }
    var blocking: BlockingParameters
    if backend == .amx {
      if let reason = backend.unavailability(precision: precision, features: features) { throw KernelError.unsupported(backend: "amx", reason: reason) }
      guard let chosen = GEMMBackend.amxBlocking(features: features, threads: threads) else {
        throw KernelError.unsupported(backend: "amx", reason: "no bf16 micro-kernel runs here")
      }
      if let name = params["kernel"], BF16MicroKernel.named(name) == nil {
        throw KernelError.unknownMicroKernel(name: name, known: BF16MicroKernel.usable(features).map(\.name))
      }
      blocking = chosen
    } else if precision == .fp64 {
      let kernels = Double.searchableMicroKernels(features)
      guard let chosen = try params["kernel"].map({ try GEMMPlan.microKernel(Double.self, named: $0, features: features) })
        ?? BlockingModel.preferredKernel(kernels, lanes: kernels.first.map(BlockingModel.lanes) ?? 4)
      else { throw KernelError.unsupported(backend: "native", reason: "no fp64 micro-kernel runs here") }
      blocking = BlockingModel.blocking(for: chosen, caches: caches, threads: threads)
    } else {
      let kernels = Float.searchableMicroKernels(features)
      guard let chosen = try params["kernel"].map({ try GEMMPlan.microKernel(Float.self, named: $0, features: features) })
        ?? BlockingModel.preferredKernel(kernels, lanes: kernels.first.map(BlockingModel.lanes) ?? 8)
      else { throw KernelError.unsupported(backend: "native", reason: "no fp32 micro-kernel runs here") }
      blocking = BlockingModel.blocking(for: chosen, caches: caches, threads: threads)
    }
    return GEMMChoice(backend: backend, precision: precision, blocking: try blocking.applying(params))
  }

  /// Verifies the candidate (and `versus`, when given), then times them interleaved.
  public static func run(
    problem: GEMMProblem, precision: Precision, candidate: GEMMChoice, versus: [GEMMChoice] = [], prepacked: Bool = false, features: ISAFeatures,
    context: KernelContext, repeats: Int, minimumSeconds: Double = 0.2, lastLevelCacheBytes: Int = 0
  ) throws -> [GEMMBenchmarkResult] {
    let workspace = GEMMWorkspace(problem: problem, precision: precision, lastLevelCacheBytes: lastLevelCacheBytes)
    let evaluator = GEMMEvaluator(workspace: workspace, features: features, context: context)
    // With `prepacked`: the candidate with B packed once, against itself packing B every call.
    let candidates = prepacked ? [candidate, candidate] : [candidate] + versus
    var implementations: [String?] = []
    let runs = prepacked
      ? [try evaluator.packedRunner(for: candidate), try evaluator.runner(for: candidate)]
      : try candidates.map { choice in
        let run = try evaluator.runner(for: choice)
        implementations.append(evaluator.implementation)
        return run
      }
    // Each run verified, and (for a plain product) its result set against fp64 on the inputs
    // before they were stored in the precision.
    let plain = problem.alpha == 1 && problem.beta == 0
    let checks = runs.map { run in (evaluator.verify(run), plain ? workspace.errorAgainstFP64() : nil) }
    let passing = checks.allSatisfy(\.0.passed)
    let timings: [Statistics?] = passing
      ? Stopwatch.interleaved(repeats: repeats, minimumSeconds: minimumSeconds, runs).map { seconds in
        Statistics(samples: seconds.map { problem.shape.flops / $0 / 1e9 })
      }
      : candidates.map { _ in nil }
    var results = zip(candidates, zip(checks, timings)).map { candidate, outcome in
      GEMMBenchmarkResult(
        shape: problem.shape.description, precision: precision.rawValue, candidate: candidate,
        verificationError: outcome.0.0.error, tolerance: outcome.0.0.tolerance, precisionError: outcome.0.1, passed: outcome.0.0.passed, gflops: outcome.1,
        openblasCore: candidate.backend == .openblas ? OpenBLASGEMM.coreName : nil)
    }
    for index in results.indices where index < implementations.count { results[index].implementation = implementations[index] }
    if prepacked { results[0].prepackedB = true }
    if results.count == 2, let mine = results[0].gflops?.median, let theirs = results[1].gflops?.median, theirs > 0 {
      results[0].ratioToVersus = mine / theirs
      results[0].versus = results[1].candidate
    }
    // With several: each other candidate's rate over the first's, from the same interleaved run.
    if results.count > 2, let first = results[0].gflops?.median, first > 0 {
      for index in results.indices.dropFirst() {
        results[index].ratioToFirst = results[index].gflops.map { $0.median / first }
      }
    }
    return results
  }
}
