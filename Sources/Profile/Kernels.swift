import Autotune
import NumberFormats
import Platform

/// The `kernels` section: what the kernel autotuner chose, per kernel.
public struct KernelsSection: Codable, Equatable, Sendable {
  public var gemm: GEMMSection?
  public var attention: AttentionSection?

  public init(gemm: GEMMSection? = nil, attention: AttentionSection? = nil) {
    self.gemm = gemm
    self.attention = attention
  }
}

/// `kernels.gemm`: per shape and precision, the winner and every candidate with its status.
public struct GEMMSection: Codable, Equatable, Sendable {
  /// The machine these were measured on; choices from another fingerprint are not applied.
  public var fingerprint: String
  public var strategy: String
  public var budgetSeconds: Double
  public var tuningSeconds: Double
  /// Settings `train` applies before its first BLAS call (OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS).
  public var environment: [String: String]
  /// The search over native blocking on the reference shape: its size and how much was measured.
  public var search: SearchSummary?
  public var entries: [GEMMEntry]

  public init(
    fingerprint: String, strategy: String, budgetSeconds: Double, tuningSeconds: Double, environment: [String: String],
    search: SearchSummary?, entries: [GEMMEntry]
  ) {
    self.fingerprint = fingerprint
    self.strategy = strategy
    self.budgetSeconds = budgetSeconds
    self.tuningSeconds = tuningSeconds
    self.environment = environment
    self.search = search
    self.entries = entries
  }
}

public struct SearchSummary: Codable, Equatable, Sendable {
  public var shape: String
  public var precision: Precision
  public var spaceSize: Int
  public var evaluated: Int
  public var fromJournal: Int

  public init(shape: String, precision: Precision, spaceSize: Int, evaluated: Int, fromJournal: Int) {
    self.shape = shape
    self.precision = precision
    self.spaceSize = spaceSize
    self.evaluated = evaluated
    self.fromJournal = fromJournal
  }
}

public struct GEMMEntry: Codable, Equatable, Sendable {
  public var shape: String
  public var m: Int
  public var n: Int
  public var k: Int
  public var precision: Precision
  /// The problem's transposes (absent: neither, as in profiles written before they were recorded).
  public var transA: Bool?
  public var transB: Bool?

  /// The shape with its transposes when either is set: "4096x512x1536 NT".
  public var label: String {
    let (a, b) = (transA ?? false, transB ?? false)
    return a || b ? "\(shape) \(a ? "T" : "N")\(b ? "T" : "N")" : shape
  }
  /// The fastest `ok` candidate; absent when none passed.
  public var winner: GEMMCandidateRecord?
  public var candidates: [GEMMCandidateRecord]

  /// The best verified rate of `backend`'s candidates here (a library's figure beside the winner's).
  public func bestRate(of backend: GEMMBackend) -> Statistics? {
    candidates.filter { $0.backend == backend && $0.status == .ok }.compactMap(\.gflops).max { $0.median < $1.median }
  }

  public init(
    shape: String, m: Int, n: Int, k: Int, precision: Precision, transA: Bool? = nil, transB: Bool? = nil, winner: GEMMCandidateRecord?,
    candidates: [GEMMCandidateRecord]
  ) {
    self.shape = shape
    self.m = m
    self.n = n
    self.k = k
    self.precision = precision
    self.transA = transA
    self.transB = transB
    self.winner = winner
    self.candidates = candidates
  }
}

public struct GEMMCandidateRecord: Codable, Equatable, Sendable {
  public var backend: GEMMBackend
  /// What the kernels run; absent for a candidate that never got one (pruned before it was built),
  /// and in profiles written before it existed (then `parameters` says it: see `runnableChoice`).
  public var choice: GEMMChoice?
  /// The choice's `key=value` form, for reading (plus `core` for OpenBLAS: the core type it ran).
  public var parameters: [String: String]
  /// Measured by an earlier run and reused from the journal.
  public var fromJournal: Bool?
  public var status: TrialStatus
  public var reason: String?
  /// Effective GFLOP/s: 2·M·N·K over the time, conversions included.
  public var gflops: Statistics?
  /// Of the probed all-core peak of the unit that ran it (fp64 FMA for fp64, fp32 FMA otherwise).
  public var percentOfPeak: Double?
  /// Normwise error ‖C − C_fp64‖/(‖A‖·‖B‖) against the FP64 product of the unquantized inputs:
  /// standard-normal inputs, and the same with a few outliers a thousand times larger.
  public var errorNormal: Double?
  public var errorOutliers: Double?

  public init(
    backend: GEMMBackend, parameters: [String: String], status: TrialStatus, reason: String? = nil, gflops: Statistics? = nil,
    percentOfPeak: Double? = nil, errorNormal: Double? = nil, errorOutliers: Double? = nil
  ) {
    self.backend = backend
    self.parameters = parameters
    self.status = status
    self.reason = reason
    self.gflops = gflops
    self.percentOfPeak = percentOfPeak
    self.errorNormal = errorNormal
    self.errorOutliers = errorOutliers
  }

  /// A record of `choice`: its backend and its `key=value` form (with `extra`, e.g. OpenBLAS's core).
  public init(
    choice: GEMMChoice, extra: [String: String] = [:], status: TrialStatus, reason: String? = nil, gflops: Statistics? = nil,
    percentOfPeak: Double? = nil, fromJournal: Bool = false
  ) {
    self.init(
      backend: choice.backend, parameters: choice.parameters.merging(extra) { a, _ in a }, status: status, reason: reason,
      gflops: gflops, percentOfPeak: percentOfPeak)
    self.choice = choice
    self.fromJournal = fromJournal ? true : nil
  }

  /// The choice to run: `choice`, or for records of older profiles the one their `parameters` say.
  /// - Throws: `ChoiceError` when neither says one.
  public func runnableChoice(precision: Precision) throws -> GEMMChoice {
    if let choice { return choice }
    return try GEMMChoice(backend: backend, precision: precision, parameters: parameters)
  }
}

/// `kernels.attention`: per problem (shape, causal, precision), the winner and every candidate.
public struct AttentionSection: Codable, Equatable, Sendable {
  public var fingerprint: String
  public var strategy: String
  public var budgetSeconds: Double
  public var tuningSeconds: Double
  /// The fp32 GEMM rate the attention figures are set against (GFLOP/s) and where it came from.
  public var gemmGflops: Double
  public var gemmSource: String
  /// Per storage precision, the GEMM rate that precision's entries are set against (fp32 repeats
  /// gemmGflops).
  public var gemmRates: [GEMMRate]?
  public var entries: [AttentionEntry]

  public init(
    fingerprint: String, strategy: String, budgetSeconds: Double, tuningSeconds: Double, gemmGflops: Double, gemmSource: String,
    gemmRates: [GEMMRate]? = nil, entries: [AttentionEntry]
  ) {
    self.fingerprint = fingerprint
    self.strategy = strategy
    self.budgetSeconds = budgetSeconds
    self.tuningSeconds = tuningSeconds
    self.gemmGflops = gemmGflops
    self.gemmSource = gemmSource
    self.gemmRates = gemmRates
    self.entries = entries
  }
}

/// A GEMM rate at one precision and where it came from.
public struct GEMMRate: Codable, Equatable, Sendable {
  public var precision: Precision
  public var gflops: Double
  public var source: String

  public init(precision: Precision, gflops: Double, source: String) {
    self.precision = precision
    self.gflops = gflops
    self.source = source
  }
}

public struct AttentionEntry: Codable, Equatable, Sendable {
  public var shape: String
  public var batch: Int
  public var heads: Int
  public var kvHeads: Int
  public var seq: Int
  public var headDim: Int
  public var causal: Bool
  public var precision: Precision
  public var winner: AttentionCandidateRecord?
  public var candidates: [AttentionCandidateRecord]

  public init(
    shape: String, batch: Int, heads: Int, kvHeads: Int, seq: Int, headDim: Int, causal: Bool, precision: Precision,
    winner: AttentionCandidateRecord?, candidates: [AttentionCandidateRecord]
  ) {
    self.shape = shape
    self.batch = batch
    self.heads = heads
    self.kvHeads = kvHeads
    self.seq = seq
    self.headDim = headDim
    self.causal = causal
    self.precision = precision
    self.winner = winner
    self.candidates = candidates
  }
}

public struct AttentionCandidateRecord: Codable, Equatable, Sendable {
  public var backend: AttentionBackend
  /// What the kernels run (absent in profiles written before it existed: see `runnableChoice`).
  public var choice: AttentionChoice?
  /// The choice's `key=value` form, for reading.
  public var parameters: [String: String]
  /// Measured by an earlier run and reused from the journal.
  public var fromJournal: Bool?
  public var status: TrialStatus
  public var reason: String?
  /// 4·B·H·S²·D (half when causal) over the forward's time.
  public var forwardGflops: Statistics?
  /// 2.5× the forward's FLOPs over the backward's time (the winner only).
  public var backwardGflops: Statistics?
  /// Forward GFLOP/s as a percentage of the section's fp32 GEMM rate.
  public var percentOfGEMM: Double?
  /// Largest |O − O_ref| on the rows checked against the fp64 reference on the same (decoded)
  /// inputs: the kernel's own error.
  public var maxError: Double?
  /// Largest |O − O_ref| on those rows against the fp64 reference on the unquantised inputs: what
  /// the storage precision costs.
  public var precisionError: Double?
  /// Largest error of dQ, dK, dV against the fp64 reference, on a reduced problem with the same
  /// tiles, head dim, masking and grouping (flash only).
  public var backwardError: Double?

  public init(
    backend: AttentionBackend, parameters: [String: String], status: TrialStatus, reason: String? = nil, forwardGflops: Statistics? = nil,
    backwardGflops: Statistics? = nil, percentOfGEMM: Double? = nil, maxError: Double? = nil, precisionError: Double? = nil,
    backwardError: Double? = nil
  ) {
    self.precisionError = precisionError
    self.backwardError = backwardError
    self.backend = backend
    self.parameters = parameters
    self.status = status
    self.reason = reason
    self.forwardGflops = forwardGflops
    self.backwardGflops = backwardGflops
    self.percentOfGEMM = percentOfGEMM
    self.maxError = maxError
  }

  /// A record of `choice`: its backend and `key=value` form.
  public init(
    choice: AttentionChoice, status: TrialStatus, reason: String? = nil, forwardGflops: Statistics? = nil, percentOfGEMM: Double? = nil,
    fromJournal: Bool = false
  ) {
    self.init(
      backend: choice.backend, parameters: choice.parameters, status: status, reason: reason, forwardGflops: forwardGflops,
      percentOfGEMM: percentOfGEMM)
    self.choice = choice
    self.fromJournal = fromJournal ? true : nil
  }

  /// The choice to run: `choice`, or for records of older profiles the one their `parameters` say.
  public func runnableChoice(precision: Precision) throws -> AttentionChoice {
    if let choice { return choice }
    return try AttentionChoice(backend: backend, precision: precision, parameters: parameters, ignoring: ["journal"])
  }
}
