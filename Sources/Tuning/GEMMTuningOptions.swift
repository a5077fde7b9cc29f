import Profile
import Kernels
import NumberFormats

/// Which strategy searches the native blocking on the reference shape.
public enum StrategyChoice: String, CaseIterable, Sendable {
  case model, exhaustive, random, halving
}

public struct GEMMTuningOptions: Sendable {
  public var shapes: [GEMMShape]
  public var precisions: [Precision]
  public var budgetSeconds: Double
  public var quick: Bool
  public var threads: Int
  public var fingerprint: String
  /// Identifies the build whose kernels are measured (journal entries of other builds are stale).
  public var build: String
  /// Peaks by arithmetic unit at the tuning's threads, GFLOP/s, for percent of peak.
  public var peaks: [ArithmeticUnit: Double]
  /// OpenBLAS core types to measure in child processes (empty: only the loaded one).
  public var coreTypes: [String]
  /// This program, for those child processes.
  public var executable: String?
  public var strategy: StrategyChoice
  /// Precisions are swept on every shape when true, else on the reference shape only.
  public var sweepAllShapes: Bool
  /// A model's training GEMMs (forward NN, backward NT and TN with β = 1), each checked in every
  /// precision: what the trainer looks up.
  public var modelProblems: [GEMMProblem] = []

  public init(
    shapes: [GEMMShape], precisions: [Precision], budgetSeconds: Double, quick: Bool, threads: Int, fingerprint: String,
    build: String, peaks: [ArithmeticUnit: Double], coreTypes: [String], executable: String?, strategy: StrategyChoice, sweepAllShapes: Bool
  ) {
    self.shapes = shapes
    self.precisions = precisions
    self.budgetSeconds = budgetSeconds
    self.quick = quick
    self.threads = threads
    self.fingerprint = fingerprint
    self.build = build
    self.peaks = peaks
    self.coreTypes = coreTypes
    self.executable = executable
    self.strategy = strategy
    self.sweepAllShapes = sweepAllShapes
  }

  /// Squares 512–4096, a tall-skinny 4096×128×4096, and a transformer's QKV, output, MLP-up and
  /// MLP-down GEMMs at hidden 1024, 2048 and 4096 for 2048 tokens.
  public static let defaultShapes: [GEMMShape] = {
    var shapes = [512, 1024, 2048, 4096].map { GEMMShape(m: $0, n: $0, k: $0) }
    shapes.append(GEMMShape(m: 4096, n: 128, k: 4096))
    for hidden in [1024, 2048, 4096] {
      shapes.append(GEMMShape(m: 2048, n: 3 * hidden, k: hidden))
      shapes.append(GEMMShape(m: 2048, n: hidden, k: hidden))
      shapes.append(GEMMShape(m: 2048, n: 4 * hidden, k: hidden))
      shapes.append(GEMMShape(m: 2048, n: hidden, k: 4 * hidden))
    }
    return Array(Set(shapes)).sorted()
  }()

  public static let quickShapes = [GEMMShape(m: 256, n: 256, k: 256), GEMMShape(m: 97, n: 131, k: 61)]
}
