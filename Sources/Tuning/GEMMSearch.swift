import Autotune
import Kernels
import NumberFormats
import Platform
import Profile

/// The native GEMM's search space: micro-kernel, MC (in MR panels, so always a multiple of MR),
/// KC, NC (rounded down to a multiple of NR), the parallel loop; threads fixed per search.
public enum GEMMSearchSpace {
  public static let mcPanels = [8, 16, 24, 40]
  public static let kcValues = [128, 256, 384, 512]
  public static let ncValues = [1024, 4096]

  public static func native<T: GEMMScalar>(_ type: T.Type, features: ISAFeatures, threads: Int, quick: Bool) -> SearchSpace {
    // Ordered by shape, so that a local search steps between similar kernels.
    let kernels = T.searchableMicroKernels(features).sorted { ($0.mr, $0.nr) < ($1.mr, $1.nr) }.map(\.name)
    return SearchSpace(parameters: [
      Parameter("kernel", quick ? Array(kernels.prefix(2)) : kernels),
      Parameter("mcPanels", quick ? [8, 16] : mcPanels),
      Parameter("kc", quick ? [128, 256] : kcValues),
      Parameter("nc", quick ? [1024] : ncValues),
      Parameter("loop", threads > 1 ? ["ic", "jc"] : ["ic"]),
      Parameter("threads", [threads]),
    ])
  }

  /// The configuration's blocking for a micro-kernel of this shape.
  public static func blocking<T: GEMMScalar>(_ configuration: Configuration, _ type: T.Type) throws -> BlockingParameters {
    guard let name = configuration["kernel"], let kernel = T.microKernel(named: name) else {
      throw KernelError.unknownMicroKernel(name: configuration["kernel"] ?? "", known: T.microKernels.map(\.name))
    }
    let nc = max(kernel.nr, (configuration.int("nc") ?? 4096) / kernel.nr * kernel.nr)
    return BlockingParameters(
      microKernel: name, mc: (configuration.int("mcPanels") ?? 16) * kernel.mr, kc: configuration.int("kc") ?? 256, nc: nc,
      threads: configuration.int("threads") ?? 1,
      parallelLoop: BlockingParameters.ParallelLoop(rawValue: configuration["loop"] ?? "ic") ?? .ic)
  }

  /// The analytic model's point in this space.
  public static func modelSeed<T: GEMMScalar>(_ type: T.Type, features: ISAFeatures, caches: CacheSizes, threads: Int) -> Configuration? {
    let kernels = T.searchableMicroKernels(features)
    guard let kernel = BlockingModel.preferredKernel(kernels, lanes: kernels.first.map(BlockingModel.lanes) ?? 8) else { return nil }
    let model = BlockingModel.blocking(for: kernel, caches: caches, threads: threads)
    return Configuration([
      "kernel": kernel.name, "mcPanels": String(model.mc / kernel.mr), "kc": String(model.kc), "nc": String(model.nc),
      "loop": "ic", "threads": String(threads),
    ])
  }

  public static func configuration(_ blocking: BlockingParameters, mr: Int) -> Configuration {
    Configuration([
      "kernel": blocking.microKernel, "mcPanels": String(blocking.mc / mr), "kc": String(blocking.kc), "nc": String(blocking.nc),
      "loop": blocking.parallelLoop.rawValue, "threads": String(blocking.threads),
    ])
  }
}

/// Verify, then time, one native configuration on one workspace.
public final class GEMMObjective: Objective {
  let evaluator: GEMMEvaluator
  let baseRepeats: Int
  let minimumSeconds: Double
  /// Whether to take extra samples while the spread is wide (worth it where candidates are compared).
  let settle: Bool
  /// Verification errors by configuration, for the record.
  public private(set) var verificationErrors: [Configuration: Double] = [:]

  public init(evaluator: GEMMEvaluator, baseRepeats: Int = 3, minimumSeconds: Double = 0.05, settle: Bool = true) {
    self.evaluator = evaluator
    self.baseRepeats = baseRepeats
    self.minimumSeconds = minimumSeconds
    self.settle = settle
  }

  public func candidate(for configuration: Configuration) throws -> GEMMChoice {
    let precision = evaluator.workspace.precision
    let blocking = precision == .fp64
      ? try GEMMSearchSpace.blocking(configuration, Double.self) : try GEMMSearchSpace.blocking(configuration, Float.self)
    return GEMMChoice(backend: .native, precision: precision, blocking: blocking)
  }

  public func evaluate(_ configuration: Configuration, effort: Int) -> Outcome {
    let run: () -> Void
    do {
      run = try evaluator.runner(for: try candidate(for: configuration))
    } catch let error as KernelError {
      if case .unsupported = error { return .pruned(reason: error.description) }
      return .failed(reason: error.description)
    } catch {
      return .failed(reason: "\(error)")
    }
    let check = evaluator.verify(run)
    verificationErrors[configuration] = check.error
    guard check.passed else { return .wrong(error: check.error.isFinite ? check.error : nil, tolerance: check.tolerance) }
    let repeats = baseRepeats * effort
    return .ok(evaluator.time(run, repeats: repeats, maxRepeats: settle ? 2 * repeats : repeats, minimumSeconds: minimumSeconds))
  }
}
