import Autotune
import Foundation
import Kernels
import NumberFormats
import Platform
import Profile

/// Operands of one attention problem and the fp64 reference for the rows every candidate is
/// checked on: the first query rows of the first (batch, head), against all keys.
final class AttentionWorkspace: @unchecked Sendable {
  let shape: AttentionShape
  let q: [Float], k: [Float], v: [Float]
  var o: [Float]
  var lse: [Float]
  let checkedRows: Int
  let reference: [Float]

  init(shape: AttentionShape, seed: UInt64 = 21) {
    self.shape = shape
    var random = SeededRandom(seed: seed)
    q = random.tabulatedNormal(shape.qCount)
    k = random.tabulatedNormal(shape.kvCount)
    v = random.tabulatedNormal(shape.kvCount)
    o = [Float](repeating: .nan, count: shape.qCount)
    lse = [Float](repeating: .nan, count: shape.batch * shape.heads * shape.seq)
    checkedRows = min(shape.seq, 64)
    reference = Self.referenceRows(shape, q: q, k: k, v: v, rows: checkedRows)
  }

  static func referenceRows(_ shape: AttentionShape, q: [Float], k: [Float], v: [Float], rows: Int) -> [Float] {
    (0..<rows).flatMap { ReferenceAttention.forwardRow(shape, q: q, k: k, v: v, b: 0, h: 0, i: $0).o.map(Float.init) }
  }

  func forward(_ parameters: FlashParameters, placement: ThreadPlacement?) throws {
    try q.withUnsafeBufferPointer { qp in try k.withUnsafeBufferPointer { kp in try v.withUnsafeBufferPointer { vp in
      try o.withUnsafeMutableBufferPointer { op in try lse.withUnsafeMutableBufferPointer { lp in
        try FlashAttention.forward(shape, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, o: op.baseAddress!, lse: lp.baseAddress!,
                                   parameters: parameters, placement: placement)
      } }
    } } }
  }

  private var dO: [Float] = []
  private var dQ: [Float] = []
  private var dK: [Float] = []
  private var dV: [Float] = []

  /// Allocates dO and the gradients (before a memory measurement starts, say).
  func prepareBackward() {
    guard dO.isEmpty else { return }
    var random = SeededRandom(seed: 31)
    dO = random.tabulatedNormal(shape.qCount)
    dQ = [Float](repeating: 0, count: shape.qCount)
    dK = [Float](repeating: 0, count: shape.kvCount)
    dV = dK
  }

  /// The backward from the last forward's O and log-sum-exp.
  func backward(_ parameters: FlashParameters, placement: ThreadPlacement?) throws {
    prepareBackward()
    try q.withUnsafeBufferPointer { qp in try k.withUnsafeBufferPointer { kp in try v.withUnsafeBufferPointer { vp in
      try o.withUnsafeBufferPointer { op in try lse.withUnsafeBufferPointer { lp in try dO.withUnsafeBufferPointer { gp in
        try dQ.withUnsafeMutableBufferPointer { a in try dK.withUnsafeMutableBufferPointer { b in try dV.withUnsafeMutableBufferPointer { c in
          try FlashAttention.backward(shape, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, o: op.baseAddress!, lse: lp.baseAddress!,
                                      dO: gp.baseAddress!, dQ: a.baseAddress!, dK: b.baseAddress!, dV: c.baseAddress!, parameters: parameters, placement: placement)
        } } }
      } } }
    } } }
  }

  /// Largest |O − O_ref| on the checked rows (NaN when an output is not finite).
  func checkedError() -> Double {
    var worst = 0.0
    for index in 0..<(checkedRows * shape.headDim) {
      let difference = abs(Double(o[index]) - Double(reference[index]))
      if !(difference <= worst) { worst = difference }
    }
    return worst
  }
}

/// Verify, then time, one flash configuration (br, bc) on one problem.
final class AttentionObjective: Objective {
  let workspace: AttentionWorkspace
  let threads: Int
  let placement: ThreadPlacement?
  let repeats: Int
  let minimumSeconds: Double
  static let tolerance = 1e-4

  init(workspace: AttentionWorkspace, threads: Int, placement: ThreadPlacement?, repeats: Int, minimumSeconds: Double) {
    self.workspace = workspace
    self.threads = threads
    self.placement = placement
    self.repeats = repeats
    self.minimumSeconds = minimumSeconds
  }

  func parameters(_ configuration: Configuration) -> FlashParameters {
    FlashParameters(br: configuration.int("br") ?? 128, bc: configuration.int("bc") ?? 128, threads: threads)
  }

  func evaluate(_ configuration: Configuration, effort: Int) -> Outcome {
    let parameters = parameters(configuration)
    do {
      workspace.o = [Float](repeating: .nan, count: workspace.shape.qCount)
      try workspace.forward(parameters, placement: placement)
    } catch {
      return .failed(reason: "\(error)")
    }
    let error = workspace.checkedError()
    guard error <= Self.tolerance else { return .wrong(error: error.isFinite ? error : nil, tolerance: Self.tolerance) }
    let flops = workspace.shape.forwardFlops
    let seconds = Stopwatch.secondsPerCall(repeats: repeats * effort, minimumSeconds: minimumSeconds, warmedUp: true) {
      try? self.workspace.forward(parameters, placement: self.placement)
    }
    return .ok(Statistics(samples: seconds.map { flops / $0 / 1e9 }))
  }
}

public struct AttentionTuningOptions: Sendable {
  public var problems: [AttentionShape]
  public var budgetSeconds: Double
  public var quick: Bool
  public var threads: Int
  public var fingerprint: String
  public var build: String
  /// The fp32 GEMM rate to compare with, and where it came from; nil: measure OpenBLAS 2048³ now.
  public var gemm: (gflops: Double, source: String)?

  public init(problems: [AttentionShape], budgetSeconds: Double, quick: Bool, threads: Int, fingerprint: String, build: String, gemm: (gflops: Double, source: String)?) {
    self.problems = problems
    self.budgetSeconds = budgetSeconds
    self.quick = quick
    self.threads = threads
    self.fingerprint = fingerprint
    self.build = build
    self.gemm = gemm
  }

  /// Batch 1, 8 heads; head dim 64 and 128; sequence 512 to 4096; causal and not.
  public static let defaultProblems: [AttentionShape] = [64, 128].flatMap { d in
    [512, 1024, 2048, 4096].flatMap { s in [false, true].map { AttentionShape(batch: 1, heads: 8, seq: s, headDim: d, causal: $0) } }
  }

  public static let quickProblems = [
    AttentionShape(batch: 1, heads: 2, seq: 96, headDim: 32, causal: false), AttentionShape(batch: 1, heads: 2, kvHeads: 1, seq: 77, headDim: 32, causal: true),
  ]
}

/// `tune attention`: a model-seeded local search over (Br, Bc) per problem, each candidate
/// verified against the fp64 reference before it is timed; the winner's backward is timed too.
public final class AttentionTuner {
  let options: AttentionTuningOptions
  let placement: ThreadPlacement?
  let journal: Journal?
  let progress: (String) -> Void

  public init(options: AttentionTuningOptions, placement: ThreadPlacement?, journal: Journal?, progress: @escaping (String) -> Void) {
    self.options = options
    self.placement = placement
    self.journal = journal
    self.progress = progress
  }

  static let blockSizes = [32, 64, 96, 128, 192, 256]

  public func run() -> AttentionSection {
    let budget = Budget(seconds: options.budgetSeconds)
    let gemm: (gflops: Double, source: String)
    if let given = options.gemm {
      gemm = given
    } else {
      progress("attention: measuring the fp32 GEMM rate (openblas 2048³)")
      let result = try? GEMMBenchmark.run(
        problem: GEMMProblem(shape: GEMMShape(m: 2048, n: 2048, k: 2048)), precision: .fp32,
        candidate: GEMMCandidate(backend: .openblas, threads: options.threads), features: ISAFeatures(CPUIDReadings.current()),
        placement: placement, repeats: 3)
      gemm = (result?.first?.gflops?.median ?? 0, "openblas 2048x2048x2048 fp32, measured by tune attention")
    }
    let sizes = options.quick ? [16, 32, 64] : Self.blockSizes
    let space = SearchSpace(parameters: [Parameter("br", sizes), Parameter("bc", sizes)])
    var entries: [AttentionEntry] = []
    for shape in options.problems {
      var records: [AttentionCandidateRecord] = []
      var winner: AttentionCandidateRecord?
      if budget.exhausted {
        records.append(AttentionCandidateRecord(backend: "flash", parameters: [:], status: "timeout", reason: "the budget ran out before this problem"))
      } else {
        let workspace = AttentionWorkspace(shape: shape)
        let objective = AttentionObjective(
          workspace: workspace, threads: options.threads, placement: placement, repeats: options.quick ? 2 : 3, minimumSeconds: options.quick ? 0.005 : 0.05)
        let (fingerprint, build) = (options.fingerprint, options.build)
        let session = TuningSession(
          // A share of what is left, with room kept for this problem's backward and the ones after it.
          space: space, objective: objective, budget: budget.share(0.8 / Double(max(1, options.problems.count - entries.count))), journal: journal,
          journalRecord: { configuration, outcome, effort in
            Journal.Record(fingerprint: fingerprint, build: build, kernel: "attention-flash", shape: shape.description, precision: "fp32",
                           configuration: configuration, outcome: outcome, effort: effort)
          }, progress: { [progress] in progress("attention \(shape): \($0)") })
        ModelSeededLocalSearch(seed: Configuration(["br": "128", "bc": "128"]), maxEvaluations: options.quick ? 3 : 8).run(session)
        for trial in session.trials {
          var parameters = trial.configuration.values
          parameters["threads"] = String(options.threads)
          if trial.fromJournal { parameters["journal"] = "reused" }
          let g: Statistics? = if case .ok(let statistics) = trial.outcome { statistics } else { nil }
          records.append(AttentionCandidateRecord(
            backend: "flash", parameters: parameters, status: trial.outcome.status, reason: trial.outcome.reason, forwardGflops: g,
            percentOfGEMM: g.map { gemm.gflops > 0 ? 100 * $0.median / gemm.gflops : 0 }))
        }
        if let best = session.best, let index = records.firstIndex(where: { $0.parameters["br"] == best.configuration["br"] && $0.parameters["bc"] == best.configuration["bc"] }) {
          let parameters = objective.parameters(best.configuration)
          try? workspace.forward(parameters, placement: placement)
          records[index].maxError = workspace.checkedError()
          if !budget.exhausted { records[index].backwardGflops = backwardRate(workspace, parameters) }
          winner = records[index]
        }
      }
      records.append(AttentionCandidateRecord(backend: "gemm", parameters: [:], status: "pruned",
                                              reason: "the materialised-scores backend (two GEMM calls) is not built yet"))
      entries.append(AttentionEntry(
        shape: shape.description, batch: shape.batch, heads: shape.heads, kvHeads: shape.kvHeads, seq: shape.seq, headDim: shape.headDim,
        causal: shape.causal, precision: "fp32", winner: winner, candidates: records))
    }
    return AttentionSection(
      fingerprint: options.fingerprint, strategy: "model-seeded local search", budgetSeconds: options.budgetSeconds, tuningSeconds: budget.elapsed,
      gemmGflops: gemm.gflops, gemmSource: gemm.source, entries: entries)
  }

  /// The backward's rate (2.5× the forward's FLOPs), from the forward's outputs.
  func backwardRate(_ w: AttentionWorkspace, _ parameters: FlashParameters) -> Statistics {
    let seconds = Stopwatch.secondsPerCall(repeats: options.quick ? 1 : 2, minimumSeconds: options.quick ? 0.005 : 0.05) {
      try? w.backward(parameters, placement: placement)
    }
    return Statistics(samples: seconds.map { 2.5 * w.shape.forwardFlops / $0 / 1e9 })
  }
}
