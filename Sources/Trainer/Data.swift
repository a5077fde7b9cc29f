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

  public var description: String {
    switch self {
    case .synthetic: "synthetic"
    case .text(let path): "text:\(path)"
    case .fasta(let path): "fasta:\(path)"
    }
  }

  /// Parses `synthetic`, `text:PATH` or `fasta:PATH`.
  public static func parse(_ text: String) throws -> DataSource {
    if text == "synthetic" { return .synthetic }
    if text.hasPrefix("text:"), text.count > 5 { return .text(String(text.dropFirst(5))) }
    if text.hasPrefix("fasta:"), text.count > 6 { return .fasta(String(text.dropFirst(6))) }
    throw DataError.unknownSource(text)
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
    case .unknownSource(let text): return "unknown data source \"\(text)\"; expected synthetic, text:PATH or fasta:PATH"
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

  public init(model: ModelConfig, source: DataSource, seed: UInt64, shuffle: Bool) throws {
    self.model = model
    self.source = source
    self.seed = seed
    self.shuffle = shuffle
    let window = model.kind == .causalLM ? model.seq + 1 : model.seq
    switch source {
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
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw DataError.unreadable(path: path, reason: "no such file") }
    guard !isDirectory.boolValue else { throw DataError.unreadable(path: path, reason: "is a directory; expected a file") }
    guard let data = FileManager.default.contents(atPath: path) else { throw DataError.unreadable(path: path, reason: "cannot be read") }
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
    return MicroBatch(sequences: batch, inputs: inputs, targets: targets, counted: counted)
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
      guard u < 0.15 else { continue }
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
