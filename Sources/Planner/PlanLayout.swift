import Foundation
import Profile

/// A cluster layout: the JSON names `tune plan --json` writes and `--layout` reads.
public struct PlanLayout: Codable, Sendable, Hashable, CustomStringConvertible {
  public enum Recompute: String, Codable, Sendable, CaseIterable {
    /// Every activation stored (the attention scores too: Korthikanti et al.'s 5as/h term).
    case none
    /// The attention core (scores, softmax, their dropout) recomputed in the backward,
    /// Korthikanti et al. 2022 §4.3: what flash attention does anyway.
    case selective
    /// Each layer's input alone stored, the layer's forward run again in the backward.
    case full
  }

  public var tp: Int
  public var pp: Int
  public var dp: Int
  /// Context parallelism: the sequence split over this many devices (ring attention).
  public var cp: Int
  /// Micro-batches per data-parallel rank and step (as `train --layout`'s micro).
  public var micro: Int
  /// Model chunks per pipeline stage (the interleaved 1F1B schedule when above 1).
  public var virtualStages: Int
  public var recompute: Recompute
  public var sequenceParallel: Bool
  /// 0: replicated optimizer; 1: optimizer state sharded over the data-parallel ranks (Megatron's
  /// distributed optimizer); 2: gradients too; 3: the weights too.
  public var zero: Int

  public init(
    tp: Int = 1, pp: Int = 1, dp: Int = 1, cp: Int = 1, micro: Int = 1, virtualStages: Int = 1, recompute: Recompute = .none,
    sequenceParallel: Bool = false, zero: Int = 0
  ) {
    self.tp = tp
    self.pp = pp
    self.dp = dp
    self.cp = cp
    self.micro = micro
    self.virtualStages = virtualStages
    self.recompute = recompute
    self.sequenceParallel = sequenceParallel
    self.zero = zero
  }

  public var devices: Int { tp * pp * dp * cp }

  public var description: String {
    var parts = ["tp=\(tp)", "pp=\(pp)", "dp=\(dp)"]
    if cp > 1 { parts.append("cp=\(cp)") }
    parts.append("micro=\(micro)")
    if virtualStages > 1 { parts.append("virtualStages=\(virtualStages)") }
    parts.append("recompute=\(recompute.rawValue)")
    if sequenceParallel { parts.append("sequenceParallel=true") }
    if zero > 0 { parts.append("zero=\(zero)") }
    return parts.joined(separator: ",")
  }

  /// `tp=8,pp=8,dp=24,micro=48,virtualStages=2,recompute=full` (any subset; the rest default:
  /// 1, none, false, 0). `dp` left out is what the cluster leaves (`devices`).
  public static func parse(_ text: String, devices: Int? = nil) throws -> PlanLayout {
    var layout = PlanLayout()
    var sawDP = false
    for part in text.split(separator: ",") {
      let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
      guard pair.count == 2 else { throw PlanError.layout(text, "`\(part)` is not key=value") }
      let key = pair[0], value = pair[1]
      func count() throws -> Int {
        guard let n = Int(value), n > 0 else { throw PlanError.layout(text, "\(key)=\(value) is not a positive whole number") }
        return n
      }
      switch key {
      case "tp": layout.tp = try count()
      case "pp": layout.pp = try count()
      case "dp":
        layout.dp = try count()
        sawDP = true
      case "cp": layout.cp = try count()
      case "micro": layout.micro = try count()
      case "virtualStages", "vp": layout.virtualStages = try count()
      case "recompute":
        guard let mode = Recompute(rawValue: value) else {
          throw PlanError.layout(text, "recompute=\(value): expected one of \(Recompute.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        layout.recompute = mode
      case "sequenceParallel", "sp":
        guard let flag = ["true": true, "false": false, "1": true, "0": false][value] else {
          throw PlanError.layout(text, "\(key)=\(value): expected true or false")
        }
        layout.sequenceParallel = flag
      case "zero":
        guard let stage = Int(value), (0...3).contains(stage) else { throw PlanError.layout(text, "zero=\(value): expected 0, 1, 2 or 3") }
        layout.zero = stage
      default:
        throw PlanError.layout(text, "unknown key `\(key)`; expected tp, pp, dp, cp, micro, virtualStages, recompute, sequenceParallel, zero")
      }
    }
    if !sawDP, let devices {
      let rest = layout.tp * layout.pp * layout.cp
      guard devices % rest == 0 else { throw PlanError.layout(text, "tp × pp × cp = \(rest) does not divide the cluster's \(devices) devices") }
      layout.dp = devices / rest
    }
    return layout
  }

  /// Why the layout cannot train `model` with `globalBatch` sequences on `devices` devices (nil: it can).
  public func problem(model: ModelConfig, globalBatch: Int, devices: Int) -> String? {
    if tp * pp * dp * cp != devices { return "tp × pp × dp × cp = \(tp * pp * dp * cp), not the cluster's \(devices) devices" }
    if model.heads % tp != 0 || model.kvHeads % tp != 0 {
      return "tp=\(tp) does not divide the \(model.heads) heads and \(model.kvHeads) key/value heads"
    }
    if model.mlpHidden % tp != 0 { return "tp=\(tp) does not divide the MLP's \(model.mlpHidden)" }
    if virtualStages > 1 && model.layers % (pp * virtualStages) != 0 {
      return "pp × virtualStages = \(pp * virtualStages) does not divide the \(model.layers) layers"
    }
    if stageLayers(model.layers) == nil {
      return "pp=\(pp) cannot split the \(model.layers) layers: equal stages, or equal middle stages of ⌈layers/pp⌉ with the rest shared by the first and last"
    }
    if virtualStages > 1 && pp == 1 { return "virtualStages=\(virtualStages) needs a pipeline (pp > 1)" }
    if virtualStages > 1 && micro % pp != 0 { return "the interleaved schedule needs micro (\(micro)) to be a multiple of pp (\(pp))" }
    if model.seq % (2 * cp) != 0 && cp > 1 { return "cp=\(cp): the sequence of \(model.seq) does not split into 2 × cp load-balanced chunks" }
    if sequenceParallel && tp == 1 { return "sequenceParallel needs tp > 1" }
    if globalBatch % (dp * micro) != 0 {
      return "the global batch of \(globalBatch) sequences is not dp × micro × micro-batch size (dp=\(dp), micro=\(micro))"
    }
    return nil
  }

  /// Layers on the first, each middle and the last pipeline stage. Equal when pp divides the
  /// layers; else, without virtual stages, the middle stages take ⌈layers/pp⌉ and the first and
  /// last share the rest equally (Megatron-LM's --decoder-first/last-pipeline-num-layers: how
  /// Llama 3 405B's 126 layers go on 16 stages); nil when neither fits.
  public func stageLayers(_ layers: Int) -> (first: Int, middle: Int, last: Int)? {
    if layers % pp == 0 { return (layers / pp, layers / pp, layers / pp) }
    guard virtualStages == 1, pp <= layers else { return nil }
    if pp == 2 { return ((layers + 1) / 2, (layers + 1) / 2, layers / 2) }
    let middle = (layers + pp - 1) / pp, rest = layers - middle * (pp - 2)
    guard rest >= 2, rest % 2 == 0, rest / 2 <= middle else { return nil }
    return (rest / 2, middle, rest / 2)
  }

  /// Sequences per micro-batch.
  public func microBatchSize(globalBatch: Int) -> Int { globalBatch / (dp * micro) }
}
