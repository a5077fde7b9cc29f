import NumberFormats
import Platform
import Profile

extension GEMMChoice {
  /// This choice on `threads` threads (a rank's context may have fewer than the tuner had).
  public func with(threads: Int) -> GEMMChoice {
    var copy = self
    copy.threads = threads
    copy.blocking?.threads = threads
    return copy
  }

  /// The documented default where no profile says otherwise: fp32 and fp64 on OpenBLAS as loaded
  /// (what a trainer gets without ScaleTune), every lower precision on the native GEMM with the
  /// analytic model's blocking for the preferred micro-kernel (operands decoded to fp32 while
  /// packing; bf16 products need a profile that chose them).
  public static func fallback(precision: Precision, threads: Int, caches: CacheSizes, features: ISAFeatures = .current) -> GEMMChoice {
    if precision == .fp32 || precision == .fp64 { return GEMMChoice(backend: .openblas, precision: precision, threads: threads) }
    let kernels = Float.searchableMicroKernels(features)
    guard let kernel = BlockingModel.preferredKernel(kernels, lanes: kernels.first.map(BlockingModel.lanes) ?? 8) else {
      return GEMMChoice(backend: .naive, precision: precision, threads: threads)
    }
    return GEMMChoice(backend: .native, precision: precision, blocking: BlockingModel.blocking(for: kernel, caches: caches, threads: threads))
  }
}

extension KernelChoices {
  /// The choice for one GEMM of a rank with `threads` threads: the profile's (exact or nearest),
  /// else `GEMMChoice.fallback`; with where it came from.
  public func gemmChoice(
    _ problem: GEMMProblem, precision: Precision, threads: Int, caches: CacheSizes, features: ISAFeatures = .current
  ) -> (choice: GEMMChoice, source: Source) {
    let lookup = gemm(m: problem.shape.m, n: problem.shape.n, k: problem.shape.k, transA: problem.transA, transB: problem.transB, precision: precision)
    // A choice this CPU cannot run (a profile of the same machine under a wider SCALETUNE_ISA,
    // forced) gives way to the fallback: the plan is what decides.
    guard let choice = lookup.choice?.with(threads: threads), (try? GEMMPlan(problem, choice: choice, features: features)) != nil else {
      return (GEMMChoice.fallback(precision: precision, threads: threads, caches: caches, features: features), .none)
    }
    return (choice, lookup.source)
  }
}

extension KernelChoices {
  /// The rate the profile recorded for the winner `gemmChoice` takes for this problem.
  public func recordedGflops(_ problem: GEMMProblem, precision: Precision) -> Double? {
    recordedGEMMGflops(m: problem.shape.m, n: problem.shape.n, k: problem.shape.k, transA: problem.transA, transB: problem.transB, precision: precision)
  }
}
