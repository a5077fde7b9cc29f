import Kernels
import NumberFormats
import Profile
import Trainer

/// The GEMMs a pick runs that its profile has no choice tuned for exactly: rank 0 of every
/// pipeline stage, one micro-batch, in the precision its policy runs each in (fp8: E4M3 forward,
/// E5M2 backward). The whole `tune` tunes them after the layout search, so that the pick runs on
/// choices measured at its own shapes, not the nearest ones.
public enum PickShapes {
  public static func untuned(_ spec: TrainingSpec, choices: KernelChoices) throws -> [(problem: GEMMProblem, precision: Precision)] {
    let options = try TrainingOptions(spec: spec, steps: 1)
    let tokens = options.sequencesPerMicroBatch * spec.model.seq
    var seen = Set<String>()
    var list: [(problem: GEMMProblem, precision: Precision)] = []
    for stage in 0..<spec.layout.pp {
      let layout = ParameterLayout(model: spec.model, tp: spec.layout.tp, tpRank: 0, stage: stage, stages: spec.layout.pp)
      for product in GEMMShapes.rank(spec.model, layout: layout, tokens: tokens) {
        let precision = spec.precision.gemmPrecision(forward: product.kind == .forward)
        let problem = GEMMProblem(shape: GEMMShape(m: product.m, n: product.n, k: product.k), transA: product.transA, transB: product.transB, beta: product.beta)
        let lookup = choices.gemm(m: product.m, n: product.n, k: product.k, transA: product.transA, transB: product.transB, precision: precision)
        guard lookup.source != .exact else { continue }
        // Stored precisions run in the TN layout whatever the transposes: one entry a shape.
        let stored = precision != .fp32 && precision != .fp64
        let key = "\(product.m)x\(product.n)x\(product.k) \(stored ? "" : "\(product.transA)\(product.transB)") \(precision)"
        if seen.insert(key).inserted { list.append((problem, precision)) }
      }
    }
    return list
  }
}
