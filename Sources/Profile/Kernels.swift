/// The `kernels` section: what the kernel autotuner chose, per kernel.
public struct KernelsSection: Codable, Equatable, Sendable {
  public var gemm: GEMMSection?
  /// Written by `tune attention` (a later stage); carried through untouched.
  public var attention: JSONValue?

  public init(gemm: GEMMSection? = nil, attention: JSONValue? = nil) {
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
  public var precision: String
  public var spaceSize: Int
  public var evaluated: Int
  public var fromJournal: Int

  public init(shape: String, precision: String, spaceSize: Int, evaluated: Int, fromJournal: Int) {
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
  public var precision: String
  /// The fastest `ok` candidate; absent when none passed.
  public var winner: GEMMCandidateRecord?
  public var candidates: [GEMMCandidateRecord]

  public init(shape: String, m: Int, n: Int, k: Int, precision: String, winner: GEMMCandidateRecord?, candidates: [GEMMCandidateRecord]) {
    self.shape = shape
    self.m = m
    self.n = n
    self.k = k
    self.precision = precision
    self.winner = winner
    self.candidates = candidates
  }
}

public struct GEMMCandidateRecord: Codable, Equatable, Sendable {
  public var backend: String
  /// Blocking and threads (native), threads and core type (openblas).
  public var parameters: [String: String]
  /// ok | wrong | failed | pruned | timeout
  public var status: String
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
    backend: String, parameters: [String: String], status: String, reason: String? = nil, gflops: Statistics? = nil,
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
}
