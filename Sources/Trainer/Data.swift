import Foundation
import NumberFormats
import Profile

/// Where training sequences come from.
public enum DataSource: Sendable, Equatable, CustomStringConvertible {
  /// Sequences with learnable structure: each token follows its predecessor by
  /// next = (5·prev + 7 + r) mod V with r uniform in 0...3, so the best possible loss is ln 4
  /// (amino acids only, between <cls> and <eos>, for a masked LM).
  case synthetic
  /// A file's bytes, one token each (vocabulary ≥ 256).
  case text(String)
  /// Proteins from a FASTA file in the ESM-2 vocabulary, each record as <cls> residues <eos>.
  case fasta(String)
  /// The synthetic chain given as continuous inputs, for a model with `features` (a causal LM):
  /// position n carries token n's code, F values of ±1 fixed per token, and its token id is
  /// withheld (every input token is 0), so the model reads the features to predict the next
  /// token. With outliers, each value independently with probability `outlierRate` is multiplied
  /// by `outlierScale`, a sensor's glitch (`features:outliers=RATE,scale=S`).
  case features(outlierRate: Double, outlierScale: Double)

  public var description: String {
    switch self {
    case .synthetic: "synthetic"
    case .text(let path): "text:\(path)"
    case .fasta(let path): "fasta:\(path)"
    case .features(let rate, let scale): rate == 0 ? "features" : "features:outliers=\(rate),scale=\(scale)"
    }
  }

  public var isFeatures: Bool {
    if case .features = self { return true }
    return false
  }

  /// Parses `synthetic`, `text:PATH`, `fasta:PATH`, `features` or `features:outliers=RATE,scale=S`.
  public static func parse(_ text: String) throws -> DataSource {
    if text == "synthetic" { return .synthetic }
    if text == "features" { return .features(outlierRate: 0, outlierScale: 1) }
    if text.hasPrefix("features:") { return try parseFeatures(String(text.dropFirst(9)), text: text) }
    if text.hasPrefix("text:"), text.count > 5 { return .text(String(text.dropFirst(5))) }
    if text.hasPrefix("fasta:"), text.count > 6 { return .fasta(String(text.dropFirst(6))) }
    throw DataError.unknownSource(text)
  }

  static func parseFeatures(_ settings: String, text: String) throws -> DataSource {
    var rate: Double?, scale: Double?
    for item in settings.split(separator: ",", omittingEmptySubsequences: false) {
      let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
      guard pair.count == 2, let value = Double(pair[1]), value.isFinite else { throw DataError.unknownSource(text) }
      switch pair[0] {
      case "outliers" where value >= 0 && value <= 1: rate = value
      case "scale" where value > 0 && value <= 1e30: scale = value
      default: throw DataError.unknownSource(text)
      }
    }
    guard let rate, let scale else { throw DataError.unknownSource(text) }
    return .features(outlierRate: rate, outlierScale: scale)
  }
}

public enum DataError: Error, Equatable, CustomStringConvertible {
  case unknownSource(String)
  case unreadable(path: String, reason: String)
  case empty(path: String)
  case tooShort(path: String, tokens: Int, needed: Int)
  case badResidue(path: String, line: Int, character: String)
  case vocabulary(source: String, needed: Int, model: String, has: Int)
  case kind(source: String, reason: String)

  public var description: String {
    switch self {
    case .unknownSource(let text):
      return "unknown data source \"\(text)\"; expected synthetic, text:PATH, fasta:PATH, features, or features:outliers=RATE,scale=S (RATE in 0...1, S positive, e.g. features:outliers=0.001,scale=1e6)"
    case .unreadable(let path, let reason): return "\(path): \(reason)"
    case .empty(let path): return "\(path): the file is empty; it needs at least one sequence's worth of tokens"
    case .tooShort(let path, let tokens, let needed):
      return "\(path): holds \(tokens) tokens, fewer than one training sequence needs (\(needed)); use a longer file or a model with a shorter seq"
    case .badResidue(let path, let line, let character):
      return "\(path):\(line): \"\(character)\" is not in the ESM-2 vocabulary (the 20 amino acids, X B U Z O . -)"
    case .vocabulary(let source, let needed, let model, let has):
      return "\(source) needs a vocabulary of at least \(needed) tokens; \(model) has \(has)"
    case .kind(let source, let reason): return "\(source): \(reason)"
    }
  }
}

/// The ESM-2 vocabulary (33 tokens, fair-esm's order).
public enum ESMVocabulary {
  public static let tokens: [String] =
    ["<cls>", "<pad>", "<eos>", "<unk>"] + "LAGVSERTIDPKQNFYMHWCXBUZO.-".map(String.init) + ["<null_1>", "<mask>"]
  public static let cls: Int32 = 0, pad: Int32 = 1, eos: Int32 = 2, unk: Int32 = 3, mask: Int32 = 32
  /// The 20 standard amino acids are ids 4...23.
  public static let aminoAcids: ClosedRange<Int32> = 4...23
  static let ids: [Character: Int32] = Dictionary(uniqueKeysWithValues: "LAGVSERTIDPKQNFYMHWCXBUZO.-".enumerated().map { ($1, Int32($0 + 4)) })

  public static func id(_ residue: Character) -> Int32? { ids[Character(residue.uppercased())] }
}

/// Global batches for each step, the same on every rank (each takes its share): windows of a token
/// stream (text, FASTA) or generated sequences (synthetic), masked for a masked LM.
///
/// Window placement. A causal LM reads windows of seq + 1 tokens (inputs are the first seq,
/// targets the last seq); a masked LM windows of seq. Sequence j of the run (j = step · batch + i
/// for the i-th sequence of a step) starts at token (j · seq) mod (T − W + 1), T the stream's
/// length and W the window, with `--shuffle off`; with shuffle on, at a position drawn from a
/// generator seeded by (seed, j). So `--shuffle off` reads the file from its start in
/// consecutive windows that overlap by one token (causal), wrapping around at the end.
public struct BatchSource: Sendable {
  public let model: ModelConfig
  public let source: DataSource
  public let seed: UInt64
  public let shuffle: Bool
  /// The token stream (empty for synthetic).
  let stream: [Int32]
  /// Each token's code (vocabulary × features values of ±1) for `features` data.
  let codes: [Float]

  public init(model: ModelConfig, source: DataSource, seed: UInt64, shuffle: Bool) throws {
    self.model = model
    self.source = source
    self.seed = seed
    self.shuffle = shuffle
    let window = model.kind == .causalLM ? model.seq + 1 : model.seq
    codes = source.isFeatures ? Self.codes(model) : []
    if let f = model.features, !source.isFeatures {
      throw DataError.kind(source: source.description, reason: "model \(model.name) takes \(f) continuous values per position; train it on --data features (or features:outliers=RATE,scale=S)")
    }
    switch source {
    case .features:
      guard model.features != nil else {
        throw DataError.kind(source: source.description, reason: "features data needs a model with continuous inputs (a model file with \"features\": F); \(model.name) has none")
      }
      guard model.kind == .causalLM else { throw DataError.kind(source: source.description, reason: "features data trains a causal LM") }
      stream = []
    case .synthetic:
      if model.kind == .maskedLM && model.vocabulary < 33 {
        throw DataError.vocabulary(source: "synthetic masked-LM data (ESM-2 tokens)", needed: 33, model: model.name, has: model.vocabulary)
      }
      stream = []
    case .text(let path):
      guard model.kind == .causalLM else { throw DataError.kind(source: source.description, reason: "text trains a causal LM; a masked LM takes fasta:PATH or synthetic") }
      guard model.vocabulary >= 256 else { throw DataError.vocabulary(source: "text (bytes)", needed: 256, model: model.name, has: model.vocabulary) }
      let data = try Self.read(path)
      stream = data.map { Int32($0) }
      if stream.count < window { throw DataError.tooShort(path: path, tokens: stream.count, needed: window) }
    case .fasta(let path):
      guard model.vocabulary >= 33 else { throw DataError.vocabulary(source: "fasta (ESM-2 tokens)", needed: 33, model: model.name, has: model.vocabulary) }
      stream = try Self.parseFASTA(path, data: try Self.read(path))
      if stream.count < window { throw DataError.tooShort(path: path, tokens: stream.count, needed: window) }
    }
  }

  static func read(_ path: String) throws -> Data {
    let data: Data
    do {
      data = try BoundedFile.read(path, limit: 16 << 30)
    } catch {
      throw DataError.unreadable(path: path, reason: BoundedFile.reason(error, expected: "a text or FASTA file"))
    }
    if data.isEmpty { throw DataError.empty(path: path) }
    return data
  }

  /// Records (a `>` header line, then sequence lines) as <cls> residues <eos>, one after another.
  static func parseFASTA(_ path: String, data: Data) throws -> [Int32] {
    guard let text = String(data: data, encoding: .utf8) else { throw DataError.unreadable(path: path, reason: "is not UTF-8 text") }
    var tokens: [Int32] = []
    var inRecord = false
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = line.trimmingCharacters(in: .whitespacesAndNewlines)
      if line.isEmpty || line.hasPrefix(";") { continue }
      if line.hasPrefix(">") {
        if inRecord { tokens.append(ESMVocabulary.eos) }
        tokens.append(ESMVocabulary.cls)
        inRecord = true
        continue
      }
      if !inRecord {
        tokens.append(ESMVocabulary.cls)
        inRecord = true
      }
      for character in line {
        if character == "*" { continue }  // a stop codon's mark ends some records
        guard let id = ESMVocabulary.id(character) else { throw DataError.badResidue(path: path, line: index + 1, character: String(character)) }
        tokens.append(id)
      }
    }
    if inRecord { tokens.append(ESMVocabulary.eos) }
    if tokens.isEmpty { throw DataError.empty(path: path) }
    return tokens
  }

  /// The global batch of step `step`: `batch` sequences.
  public func batch(step: Int, sequences batch: Int) -> MicroBatch {
    let s = model.seq
    var inputs: [Int32] = [], targets: [Int32] = [], counted: [Bool] = []
    inputs.reserveCapacity(batch * s)
    for i in 0..<batch {
      let j = step * batch + i
      let window = self.window(j)
      switch model.kind {
      case .causalLM:
        inputs += window[0..<s]
        targets += window[1...s]
        counted += [Bool](repeating: true, count: s)
      case .maskedLM:
        let masked = mask(window, sequence: j)
        inputs += masked.inputs
        targets += window
        counted += masked.chosen
      }
    }
    guard case .features(let rate, let scale) = source, let f = model.features else {
      return MicroBatch(sequences: batch, inputs: inputs, targets: targets, counted: counted)
    }
    var features = [Float](repeating: 0, count: inputs.count * f)
    for (n, token) in inputs.enumerated() {
      for c in 0..<f { features[n * f + c] = codes[Int(token) * f + c] }
    }
    if rate > 0 {
      for i in 0..<batch {
        // Glitches drawn per sequence of the run, so that every layout sees the same ones.
        var random = SeededRandom(seed: seed &* 0x94D0_49BB_1331_11EB &+ UInt64(step * batch + i) &+ 11)
        let values = i * s * f..<(i + 1) * s * f
        for v in values where Double(random.next() >> 11) / Double(1 << 53) < rate { features[v] *= Float(scale) }
      }
    }
    return MicroBatch(sequences: batch, inputs: [Int32](repeating: 0, count: inputs.count), targets: targets, counted: counted, features: features)
  }

  /// ±1 per (token, feature), fixed by a generator of the token alone (not the run's seed).
  static func codes(_ model: ModelConfig) -> [Float] {
    guard let f = model.features else { return [] }
    var codes = [Float](repeating: 0, count: model.vocabulary * f)
    for token in 0..<model.vocabulary {
      var random = SeededRandom(seed: 0xC0DE_5EED &+ UInt64(token) &* 0x9E37_79B9_7F4A_7C15)
      for c in 0..<f { codes[token * f + c] = random.next() & 1 == 0 ? -1 : 1 }
    }
    return codes
  }

  private func window(_ j: Int) -> [Int32] {
    let length = model.kind == .causalLM ? model.seq + 1 : model.seq
    if stream.isEmpty { return synthetic(j, length: length) }
    let positions = stream.count - length + 1
    let start: Int
    if shuffle {
      var random = SeededRandom(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(j) &+ 1)
      start = Int(random.next() % UInt64(positions))
    } else {
      start = (j * model.seq) % positions
    }
    return Array(stream[start..<start + length])
  }

  private func synthetic(_ j: Int, length: Int) -> [Int32] {
    var random = SeededRandom(seed: seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(j) &+ 7)
    if model.kind == .maskedLM {
      // <cls> amino acids <eos>, the chain over the 20 amino acids.
      var tokens: [Int32] = [ESMVocabulary.cls]
      var previous = Int(random.next() % 20)
      while tokens.count < length - 1 {
        tokens.append(Int32(previous) + ESMVocabulary.aminoAcids.lowerBound)
        previous = (5 * previous + 7 + Int(random.next() % 4)) % 20
      }
      tokens.append(ESMVocabulary.eos)
      return Array(tokens.prefix(length))
    }
    let v = model.vocabulary
    var previous = Int(random.next() % UInt64(v))
    var tokens: [Int32] = []
    tokens.reserveCapacity(length)
    for _ in 0..<length {
      tokens.append(Int32(previous))
      previous = (5 * previous + 7 + Int(random.next() % 4)) % v
    }
    return tokens
  }

  /// BERT's masking (as ESM-2 trains): each residue (not <cls>, <eos>, <pad>) is chosen with
  /// probability 0.15; a chosen one becomes <mask> (80%), a random amino acid (10%) or stays
  /// (10%). The loss counts the chosen positions.
  func mask(_ window: [Int32], sequence j: Int) -> (inputs: [Int32], chosen: [Bool]) {
    var random = SeededRandom(seed: seed &* 0xD6E8_FEB8_6659_FD93 &+ UInt64(j) &+ 3)
    var inputs = window, chosen = [Bool](repeating: false, count: window.count)
    for (n, token) in window.enumerated() where token != ESMVocabulary.cls && token != ESMVocabulary.eos && token != ESMVocabulary.pad {
      let u = Double(random.next() >> 11) / Double(1 << 53)
      guard u < Recipe.maskingProbability else { continue }
      chosen[n] = true
      let w = Double(random.next() >> 11) / Double(1 << 53)
      if w < 0.8 {
        inputs[n] = ESMVocabulary.mask
      } else if w < 0.9 {
        inputs[n] = ESMVocabulary.aminoAcids.lowerBound + Int32(random.next() % 20)
      }
    }
    return (inputs, chosen)
  }
}
