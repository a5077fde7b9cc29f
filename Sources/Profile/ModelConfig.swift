import Foundation

/// A transformer's shape: what the trainer builds, the GEMM tuner tunes the shapes of, and the
/// parallel tuner lays out. Named configurations (`ModelConfig.named`) or a JSON file with the same
/// fields (`ModelConfig.load`).
public struct ModelConfig: Codable, Hashable, Sendable {
  public enum Kind: String, Codable, Sendable, CaseIterable {
    /// Decoder-only, causal attention, next-token loss (GPT).
    case causalLM = "causal-lm"
    /// Encoder, bidirectional attention, masked-token loss (ESM-2, BERT).
    case maskedLM = "masked-lm"
  }

  public enum MLP: String, Codable, Sendable, CaseIterable {
    /// W2·GELU(W1·x) (tanh approximation).
    case gelu
    /// W2·(SiLU(Wg·x) ∘ W1·x).
    case swiglu
  }

  public enum Positions: String, Codable, Sendable, CaseIterable {
    case learned, rotary
  }

  public var name: String
  public var kind: Kind
  public var vocabulary: Int
  public var hidden: Int
  public var heads: Int
  /// Key/value heads (grouped-query attention when fewer than `heads`).
  public var kvHeads: Int
  public var layers: Int
  public var seq: Int
  /// The MLP's inner width.
  public var mlpHidden: Int
  public var mlp: MLP
  public var positions: Positions
  /// Continuous inputs: each position also carries this many real values from the data (a
  /// sensor's readings, say), projected into the hidden size by `input.weight` (features ×
  /// hidden, a GEMM like any other) and added to its token and position embeddings. nil: tokens
  /// only.
  public var features: Int?

  public init(
    name: String, kind: Kind = .causalLM, vocabulary: Int, hidden: Int, heads: Int, kvHeads: Int? = nil, layers: Int, seq: Int,
    mlpHidden: Int? = nil, mlp: MLP = .gelu, positions: Positions = .learned, features: Int? = nil
  ) {
    self.name = name
    self.kind = kind
    self.vocabulary = vocabulary
    self.hidden = hidden
    self.heads = heads
    self.kvHeads = kvHeads ?? heads
    self.layers = layers
    self.seq = seq
    self.mlpHidden = mlpHidden ?? 4 * hidden
    self.mlp = mlp
    self.positions = positions
    self.features = features
  }

  public var headDim: Int { hidden / heads }
  /// Columns of the fused QKV projection: Q, then K and V for each key/value head.
  public var qkvWidth: Int { hidden + 2 * kvHeads * headDim }

  /// The named configurations: `tiny` (tests), `small` (trials), `esm2-8m` (ESM-2 8M's shape),
  /// `gpt2-124m` (GPT-2 small).
  public static let named: [ModelConfig] = [
    ModelConfig(name: "tiny", vocabulary: 64, hidden: 32, heads: 4, kvHeads: 2, layers: 2, seq: 16, mlpHidden: 64),
    ModelConfig(name: "small", vocabulary: 256, hidden: 512, heads: 8, layers: 6, seq: 512),
    ModelConfig(name: "esm2-8m", kind: .maskedLM, vocabulary: 33, hidden: 320, heads: 20, layers: 6, seq: 1024, mlpHidden: 1280, positions: .rotary),
    ModelConfig(name: "gpt2-124m", vocabulary: 50257, hidden: 768, heads: 12, layers: 12, seq: 1024),
  ]

  public static func named(_ name: String) throws -> ModelConfig {
    guard let config = named.first(where: { $0.name == name.lowercased() }) else {
      throw ModelConfigError.unknownName(name, known: named.map(\.name))
    }
    return config
  }

  /// Why this configuration cannot be built; nil when it can.
  public var problem: (field: String, expected: String)? {
    for (field, value) in [("vocabulary", vocabulary), ("hidden", hidden), ("heads", heads), ("kvHeads", kvHeads), ("layers", layers), ("seq", seq), ("mlpHidden", mlpHidden)]
    where value < 1 {
      return (field, "a positive integer (got \(value))")
    }
    if let features, features < 1 || features > 65536 { return ("features", "a positive integer up to 65536, or the field left out for tokens only (got \(features))") }
    if hidden % heads != 0 { return ("heads", "a divisor of hidden \(hidden) (got \(heads))") }
    if heads % kvHeads != 0 { return ("kvHeads", "a divisor of heads \(heads) (got \(kvHeads))") }
    if positions == .rotary && headDim % 2 != 0 { return ("positions", "learned, or an even head dimension for rotary (hidden/heads = \(headDim))") }
    let parameters = Double(vocabulary) * Double(hidden) + Double(layers) * Double(hidden) * Double(qkvWidth + hidden + 3 * mlpHidden)
    if parameters > 1e12 { return ("hidden", "a model below 10^12 parameters (this one has \(String(format: "%.2g", parameters)))") }
    return nil
  }

  /// A configuration from a JSON file with these fields (`kvHeads`, `mlpHidden`, `mlp`,
  /// `positions`, `kind` and `features` may be left out).
  /// - Throws: `ModelConfigError` naming the file and the field.
  public static func load(_ path: String) throws -> ModelConfig {
    let data: Data
    do {
      data = try BoundedFile.read(path, limit: 1 << 20)
    } catch {
      throw ModelConfigError.unreadable(path: path, reason: BoundedFile.reason(error, expected: "a JSON model file"))
    }
    guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
      throw ModelConfigError.invalid(path: path, field: "(file)", expected: "a JSON object with the fields name, vocabulary, hidden, heads, layers, seq")
    }
    let known = Set(File.CodingKeys.allCases.map(\.rawValue))
    if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
      throw ModelConfigError.invalid(path: path, field: unknown, expected: "no such field; the fields are \(known.sorted().joined(separator: ", "))")
    }
    let file: File
    do {
      file = try JSONDecoder().decode(File.self, from: data)
    } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context) {
      let field = context.codingPath.first?.stringValue ?? "(file)"
      throw ModelConfigError.invalid(path: path, field: field, expected: File.expected(field))
    } catch {
      throw ModelConfigError.invalid(path: path, field: "(file)", expected: "a JSON model config (\(error))")
    }
    func integer(_ field: String, _ value: Double?, required: Bool = true) throws -> Int? {
      guard let value else {
        if required { throw ModelConfigError.invalid(path: path, field: field, expected: "a positive integer (the field is missing)") }
        return nil
      }
      guard let whole = Int(exactly: value) else { throw ModelConfigError.invalid(path: path, field: field, expected: "a positive integer (got \(value))") }
      return whole
    }
    let config = ModelConfig(
      name: file.name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, kind: file.kind ?? .causalLM,
      vocabulary: try integer("vocabulary", file.vocabulary)!, hidden: try integer("hidden", file.hidden)!, heads: try integer("heads", file.heads)!,
      kvHeads: try integer("kvHeads", file.kvHeads, required: false), layers: try integer("layers", file.layers)!, seq: try integer("seq", file.seq)!,
      mlpHidden: try integer("mlpHidden", file.mlpHidden, required: false), mlp: file.mlp ?? .gelu, positions: file.positions ?? .learned,
      features: try integer("features", file.features, required: false))
    if let problem = config.problem { throw ModelConfigError.invalid(path: path, field: problem.field, expected: problem.expected) }
    return config
  }

  /// The JSON form, every field optional so that a missing one is named.
  struct File: Decodable {
    var name: String?
    var kind: Kind?
    // Numbers as JSON has them; `integer` says which field is not a whole number.
    var vocabulary: Double?, hidden: Double?, heads: Double?, kvHeads: Double?, layers: Double?, seq: Double?, mlpHidden: Double?, features: Double?
    var mlp: MLP?
    var positions: Positions?

    enum CodingKeys: String, CodingKey, CaseIterable {
      case name, kind, vocabulary, hidden, heads, kvHeads, layers, seq, mlpHidden, mlp, positions, features
    }

    static func expected(_ field: String) -> String {
      switch field {
      case "name": "a string"
      case "kind": "one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))"
      case "mlp": "one of \(MLP.allCases.map(\.rawValue).joined(separator: ", "))"
      case "positions": "one of \(Positions.allCases.map(\.rawValue).joined(separator: ", "))"
      default: "a positive integer"
      }
    }
  }
}

public enum ModelConfigError: Error, Equatable, CustomStringConvertible {
  case unknownName(String, known: [String])
  case unreadable(path: String, reason: String)
  case invalid(path: String, field: String, expected: String)

  public var description: String {
    switch self {
    case .unknownName(let name, let known): return "unknown model \"\(name)\"; expected one of \(known.joined(separator: ", ")), or --model-file with a JSON config"
    case .unreadable(let path, let reason): return "\(path): \(reason)"
    case .invalid(let path, let field, let expected): return "\(path): field `\(field)`: expected \(expected)"
    }
  }
}
