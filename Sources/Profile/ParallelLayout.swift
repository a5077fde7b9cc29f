import Foundation
import NumberFormats

/// How a training step is laid out over ranks: data × tensor × pipeline parallel degrees, the
/// micro-batches each data-parallel rank splits its share of the batch into (gradient
/// accumulation, and the pipeline's 1F1B schedule), activation recomputation and ZeRO stage.
/// The one typed value the trainer runs, the parallel tuner searches and the profile records;
/// written `dp=2,tp=1,pp=1,micro=4,recompute=off,zero=1`.
public struct ParallelLayout: Codable, Hashable, Sendable, CustomStringConvertible {
  public var dp: Int
  public var tp: Int
  public var pp: Int
  /// Micro-batches per step per data-parallel rank.
  public var micro: Int
  public var recompute: Bool
  /// 0: every data-parallel rank keeps the whole optimizer state; 1: it is sharded over them.
  public var zero: Int

  public init(dp: Int = 1, tp: Int = 1, pp: Int = 1, micro: Int = 1, recompute: Bool = false, zero: Int = 0) {
    self.dp = dp
    self.tp = tp
    self.pp = pp
    self.micro = micro
    self.recompute = recompute
    self.zero = zero
  }

  public var ranks: Int { dp * tp * pp }

  public var description: String {
    "dp=\(dp),tp=\(tp),pp=\(pp),micro=\(micro),recompute=\(recompute ? "on" : "off"),zero=\(zero)"
  }

  public static let keys = ["dp", "tp", "pp", "micro", "recompute", "zero"]

  /// Parses `key=value` items separated by commas; keys left out keep their defaults.
  /// - Throws: `LayoutError.malformed` naming the item and what is expected.
  public static func parse(_ text: String) throws -> ParallelLayout {
    var layout = ParallelLayout()
    var seen = Set<String>()
    for item in text.split(separator: ",", omittingEmptySubsequences: false) {
      let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
      guard parts.count == 2, !parts[0].isEmpty else {
        throw LayoutError.malformed(item: String(item), expected: "key=value with a key among \(keys.joined(separator: ", "))")
      }
      let (key, value) = (parts[0].lowercased(), parts[1].lowercased())
      guard keys.contains(key) else { throw LayoutError.malformed(item: String(item), expected: "a key among \(keys.joined(separator: ", "))") }
      guard seen.insert(key).inserted else { throw LayoutError.malformed(item: String(item), expected: "each key once") }
      switch key {
      case "recompute":
        switch value {
        case "on", "true", "1", "yes": layout.recompute = true
        case "off", "false", "0", "no": layout.recompute = false
        default: throw LayoutError.malformed(item: String(item), expected: "recompute=on or recompute=off")
        }
      case "zero":
        guard let stage = Int(value), stage == 0 || stage == 1 else {
          throw LayoutError.malformed(item: String(item), expected: "zero=0 (no sharding) or zero=1 (optimizer state sharded over dp)")
        }
        layout.zero = stage
      default:
        guard let number = Int(value), number >= 1, number <= 4096 else {
          throw LayoutError.malformed(item: String(item), expected: "\(key)= a whole number from 1 to 4096")
        }
        switch key {
        case "dp": layout.dp = number
        case "tp": layout.tp = number
        case "pp": layout.pp = number
        default: layout.micro = number
        }
      }
    }
    return layout
  }

  /// Why this layout cannot train `model` with a global batch of `batch` sequences; nil when it
  /// can. Each reason says what would fit.
  public func problem(model: ModelConfig, batch: Int) -> String? {
    func divisors(_ n: Int) -> String { (1...n).filter { n % $0 == 0 }.map(String.init).joined(separator: ", ") }
    if model.heads % tp != 0 || model.kvHeads % tp != 0 {
      return "tp=\(tp) does not divide the \(model.heads) attention heads and \(model.kvHeads) key/value heads of \(model.name); tp may be \(divisors(gcd(model.heads, model.kvHeads)))"
    }
    if model.mlpHidden % tp != 0 {
      return "tp=\(tp) does not divide the MLP width \(model.mlpHidden) of \(model.name); tp may be \(divisors(gcd(gcd(model.heads, model.kvHeads), model.mlpHidden)))"
    }
    if model.layers % pp != 0 {
      return "pp=\(pp) does not divide the \(model.layers) layers of \(model.name); pp may be \(divisors(model.layers))"
    }
    if batch % (dp * micro) != 0 {
      let fits = (1...max(1, batch)).filter { batch % (dp * $0) == 0 }.map(String.init)
      let advice = fits.isEmpty
        ? "use a batch that is a multiple of dp=\(dp) (e.g. --batch \(dp * micro))"
        : "micro may be \(fits.joined(separator: ", ")) with dp=\(dp), or use --batch \(dp * micro)"
      return "the batch of \(batch) sequences does not split into dp=\(dp) × micro=\(micro) equal micro-batches; \(advice)"
    }
    return nil
  }

  private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}

public enum LayoutError: Error, Equatable, CustomStringConvertible {
  case malformed(item: String, expected: String)
  case impossible(layout: String, reason: String)

  public var description: String {
    switch self {
    case .malformed(let item, let expected): return "layout item \"\(item)\": expected \(expected) (e.g. dp=2,tp=1,pp=1,micro=4,recompute=off,zero=1)"
    case .impossible(let layout, let reason): return "layout \(layout): \(reason)"
    }
  }
}

/// How a step's arithmetic is rounded: fp32; bf16 mixed (bf16 GEMM operands, fp32 master weights
/// and statistics); fp16 with dynamic loss scaling; fp8 (E4M3 forward, E5M2 gradients, per-tensor
/// scaling).
public enum TrainingPrecision: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
  case fp32, bf16, fp16, fp8
  public var description: String { rawValue }

  /// The precision the policy runs a GEMM in: one format for every product, but fp8's E4M3
  /// forward and E5M2 for the products that carry gradients. The one map the trainer, the cost
  /// model and the tuner share.
  public func gemmPrecision(forward: Bool) -> Precision {
    switch self {
    case .fp32: .fp32
    case .bf16: .bf16
    case .fp16: .fp16
    case .fp8: forward ? .fp8e4m3 : .fp8e5m2
    }
  }

  public static func parse(_ text: String) throws -> TrainingPrecision {
    guard let value = TrainingPrecision(rawValue: text.lowercased()) else { throw ParseError.unknown(text) }
    return value
  }

  public enum ParseError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    public var description: String {
      guard case .unknown(let text) = self else { return "" }
      return "unknown precision policy \"\(text)\"; expected one of \(TrainingPrecision.allCases.map(\.rawValue).joined(separator: ", "))"
    }
  }
}
