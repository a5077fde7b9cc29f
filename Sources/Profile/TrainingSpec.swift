import Foundation

/// fp8's scaling: per tensor from its own amax (`current`) or a 16-step amax history
/// (`delayed`), or a power-of-two scale per 32 values along the product's K (`mx`, OCP MX's rule).
public enum FP8Scaling: String, Sendable, CaseIterable, Codable {
  case current, delayed, mx
}

/// Loss scaling: PyTorch GradScaler's dynamic scaling, or a fixed scale (1: none). Written as
/// `train --loss-scale` takes it: "dynamic", "off", or the scale.
public enum LossScaling: Sendable, Equatable, Codable, CustomStringConvertible {
  case dynamic
  case fixed(Double)

  public struct ParseError: Error, Equatable, CustomStringConvertible {
    public let text: String
    public var description: String { "loss scale must be dynamic, off or a positive number; got \(text)" }
  }

  public static func parse(_ text: String) throws(ParseError) -> LossScaling {
    switch text {
    case "dynamic": return .dynamic
    case "off": return .fixed(1)
    default:
      guard let value = Double(text), value.isFinite, value > 0 else { throw ParseError(text: text) }
      return .fixed(value)
    }
  }

  public var description: String {
    switch self {
    case .dynamic: "dynamic"
    case .fixed(let scale): scale == 1 ? "off" : String(scale)
    }
  }

  public init(from decoder: Decoder) throws {
    let text = try decoder.singleValueContainer().decode(String.self)
    do {
      self = try Self.parse(text)
    } catch {
      throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath, debugDescription: error.description))
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(description)
  }
}

/// One training run as a value: what a parallel candidate is, what a trial runs, what the pick
/// is and what `train --spec` reads. Its flags (`train --layout …`) override it field by field.
public struct TrainingSpec: Codable, Equatable, Sendable {
  public var model: ModelConfig
  public var layout: ParallelLayout
  /// The precision policy: the GEMMs' format, fp8's scaling, loss scaling (nil: dynamic for
  /// fp16, none otherwise).
  public var precision: TrainingPrecision
  public var fp8Scaling: FP8Scaling
  public var lossScale: LossScaling?
  public var threadsPerRank: Int
  /// Sequences per step, over every data-parallel rank and micro-batch.
  public var globalBatch: Int
  /// The data, as `train --data` names it (`synthetic`, `text:PATH`, `features:outliers=…`).
  public var data: String
  public var shuffle: Bool
  public var schedule: Schedule
  public var seed: UInt64

  /// AdamW's learning-rate schedule: linear warm-up, then cosine to a tenth of the rate at the
  /// horizon.
  public struct Schedule: Codable, Equatable, Sendable {
    public var learningRate: Double
    /// nil: a tenth of the run's steps, at least 1, at most 100.
    public var warmupSteps: Int?
    /// Where the cosine ends; nil: the run's last step.
    public var horizonSteps: Int?

    public init(learningRate: Double = 3e-4, warmupSteps: Int? = nil, horizonSteps: Int? = nil) {
      self.learningRate = learningRate
      self.warmupSteps = warmupSteps
      self.horizonSteps = horizonSteps
    }
  }

  public init(
    model: ModelConfig, layout: ParallelLayout = ParallelLayout(), precision: TrainingPrecision = .fp32, fp8Scaling: FP8Scaling = .delayed,
    lossScale: LossScaling? = nil, threadsPerRank: Int = 1, globalBatch: Int, data: String = "synthetic", shuffle: Bool = true,
    schedule: Schedule = Schedule(), seed: UInt64 = 1
  ) {
    self.model = model
    self.layout = layout
    self.precision = precision
    self.fp8Scaling = fp8Scaling
    self.lossScale = lossScale
    self.threadsPerRank = threadsPerRank
    self.globalBatch = globalBatch
    self.data = data
    self.shuffle = shuffle
    self.schedule = schedule
    self.seed = seed
  }

  /// The smallest multiple of dp × micro that is at least 4: a layout's default batch.
  public static func defaultBatch(_ layout: ParallelLayout) -> Int {
    let unit = layout.dp * layout.micro
    return unit * max(1, (4 + unit - 1) / unit)
  }

  /// The policy in words: "fp8 (mx scaling)", "fp16 (loss scale dynamic)", "bf16".
  public var policy: String {
    var text = precision.rawValue
    if precision == .fp8 { text += " (\(fp8Scaling.rawValue) scaling)" }
    if let lossScale { text += " (loss scale \(lossScale))" }
    return text
  }
}

extension TrainingSpec {
  /// What the command line gives: each field nil where no flag set it.
  public struct Overrides: Equatable, Sendable {
    public var model: ModelConfig?
    public var layout: ParallelLayout?
    public var precision: TrainingPrecision?
    public var fp8Scaling: FP8Scaling?
    public var lossScale: LossScaling?
    public var threadsPerRank: Int?
    public var globalBatch: Int?
    public var data: String?
    public var shuffle: Bool?
    public var learningRate: Double?
    public var warmupSteps: Int?
    public var horizonSteps: Int?
    public var seed: UInt64?

    public init() {}
  }

  /// The spec a run trains with, and where each setting came from.
  public struct Resolution: Equatable, Sendable {
    public var spec: TrainingSpec
    /// What the base (a profile's pick, a spec file) set, as "layout dp=2,…": the settings that
    /// no flag overrode.
    public var applied: [String]
  }

  /// `base` (a spec file's, or a profile's pick for the same model: the caller drops a pick for
  /// another) under the flags; without a base, the defaults under the flags. Threads and batch belong to a layout: where a flag sets
  /// the layout, the base's are not kept. `usableThreads` sizes the default threads per rank.
  public static func resolve(base: TrainingSpec?, overrides o: Overrides, defaultModel: ModelConfig, usableThreads: Int) -> Resolution {
    let model = o.model ?? base?.model ?? defaultModel
    var applied: [String] = []
    // What the base set is said when it shapes the run: the layout and its threads and batch,
    // the precision, always; the rest where it differs from the default.
    func take<T: Equatable>(_ flag: T?, _ inherited: T?, _ fallback: T, always: Bool = false, _ words: (T) -> String) -> T {
      if let flag { return flag }
      guard let inherited else { return fallback }
      if always || inherited != fallback { applied.append(words(inherited)) }
      return inherited
    }
    let layout = take(o.layout, base?.layout, ParallelLayout(), always: true) { "layout \($0)" }
    let sameLayout = o.layout == nil
    let precision = take(o.precision, base?.precision, .fp32, always: true) { "precision \($0)" }
    // fp8's scaling is kept whatever the precision (field by field), and said where it applies.
    let fp8Scaling = o.fp8Scaling ?? base?.fp8Scaling ?? .delayed
    if o.fp8Scaling == nil, precision == .fp8, let scaling = base?.fp8Scaling { applied.append("fp8 scaling \(scaling.rawValue)") }
    // Optional settings: the flag's, else the base's (said), else none.
    func inherit<T>(_ inherited: T?, _ words: (T) -> String) -> T? {
      if let inherited { applied.append(words(inherited)) }
      return inherited
    }
    let lossScale = o.lossScale ?? inherit(base?.lossScale) { "loss scale \($0)" }
    let threads = take(o.threadsPerRank, sameLayout ? base?.threadsPerRank : nil, max(1, usableThreads / layout.ranks), always: true) { "\($0) thread(s) per rank" }
    let batch = take(o.globalBatch, sameLayout ? base?.globalBatch : nil, defaultBatch(layout), always: true) { "batch \($0)" }
    let data = take(o.data, base?.data, "synthetic") { "data \($0)" }
    let shuffle = take(o.shuffle, base?.shuffle, true) { "shuffle \($0 ? "on" : "off")" }
    let rate = take(o.learningRate, base?.schedule.learningRate, 3e-4) { "learning rate \($0)" }
    let warmup = o.warmupSteps ?? inherit(base?.schedule.warmupSteps) { "warm-up \($0) steps" }
    let horizon = o.horizonSteps ?? inherit(base?.schedule.horizonSteps) { "schedule horizon \($0) steps" }
    let seed = take(o.seed, base?.seed, 1) { "seed \($0)" }
    let spec = TrainingSpec(
      model: model, layout: layout, precision: precision, fp8Scaling: fp8Scaling, lossScale: lossScale, threadsPerRank: threads,
      globalBatch: batch, data: data, shuffle: shuffle, schedule: Schedule(learningRate: rate, warmupSteps: warmup, horizonSteps: horizon), seed: seed)
    return Resolution(spec: spec, applied: applied)
  }

  /// The spec a run trains with, and what it took from where: a spec file (`train --spec`) when
  /// given, else the profile's parallel pick when it is for the same model (and, unless `force`,
  /// this machine), under the flags. `notes` says what was applied from where, and a pick left out
  /// for another model.
  /// - Throws: `ProfileError.foreignMachine` for a pick measured on another machine.
  public static func forRun(
    specFile: (path: String, spec: TrainingSpec)?, profile: (path: String, profile: Profile)?, machineFingerprint: String, force: Bool,
    overrides: Overrides, defaultModel: ModelConfig, usableThreads: Int
  ) throws -> (resolution: Resolution, notes: [String]) {
    var base: TrainingSpec?
    var notes: [String] = []
    if let specFile {
      base = specFile.spec
    } else if let (path, profile) = profile, let section = profile.parallel, let pick = section.pick {
      if section.fingerprint != machineFingerprint && !force {
        throw ProfileError.foreignMachine(path: path, profileFingerprint: section.fingerprint, machineFingerprint: machineFingerprint)
      }
      if overrides.model == nil || overrides.model == section.model {
        base = pick.spec ?? TrainingSpec(
          model: section.model, layout: pick.layout, precision: pick.precision, threadsPerRank: pick.threadsPerRank, globalBatch: pick.globalBatch)
      } else {
        notes.append("profile \(path): its parallel pick is for \(section.model.name), not \(overrides.model?.name ?? ""); not applied")
      }
    }
    let resolution = resolve(base: base, overrides: overrides, defaultModel: defaultModel, usableThreads: usableThreads)
    if !resolution.applied.isEmpty {
      let source = specFile.map { "spec \($0.path)" } ?? profile.map { "profile \($0.path)" } ?? ""
      notes.append("\(source): applied " + resolution.applied.joined(separator: ", "))
    }
    return (resolution, notes)
  }

  /// Reads a spec file (`train --spec`).
  /// - Throws: `ProfileError` naming the file and what was wrong.
  public static func load(_ path: String) throws -> TrainingSpec {
    let data: Data
    do {
      data = try BoundedFile.read(path, limit: 1 << 20)
    } catch {
      throw ProfileError.unreadable(path: path, reason: BoundedFile.reason(error, expected: "a JSON training spec"))
    }
    do {
      return try JSONDecoder().decode(TrainingSpec.self, from: data)
    } catch let DecodingError.keyNotFound(key, context) {
      throw ProfileError.missingField(path: path, field: (context.codingPath + [key]).map(\.stringValue).joined(separator: "."), expected: "a training spec field")
    } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context), let DecodingError.valueNotFound(_, context) {
      throw ProfileError.invalidValue(path: path, field: context.codingPath.map(\.stringValue).joined(separator: "."), problem: context.debugDescription)
    } catch {
      throw ProfileError.malformedJSON(path: path, detail: "\(error)")
    }
  }
}
