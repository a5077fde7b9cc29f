import Foundation
import Planner
import Profile
import Trainer

/// The pick in other trainers' terms, with its whole recipe: layout, precision with its scaling
/// recipe, loss scaling, AdamW, the schedule, no dropout, the activation, the initialisation and
/// the seed. Each export names only options its tool documents (the tests hold every name and
/// value type against the tool's own source, cited there); what a tool cannot express is listed
/// in `Rendered.unexpressed`, which the export's comment lines repeat where its format has them
/// (`tune export` also prints it on stderr), never left out silently.
public enum Export {
  public enum Format: String, CaseIterable, Sendable {
    case megatron, deepspeed, torchrun, nemo, bionemo
  }

  /// An export's text and what its tool cannot express of the recipe.
  public struct Rendered: Sendable, Equatable {
    public var text: String
    public var unexpressed: [String]
  }

  public enum ExportError: Error, CustomStringConvertible {
    case noPick(path: String)
    case noPlanPick
    case unknownFormat(String)
    case unsupported(format: Format, reason: String)
    case invalidSteps(Int)
    public var description: String {
      switch self {
      case .noPick(let path): return "\(path) has no parallel pick; run `tune parallel` (or the whole `tune`) first"
      case .noPlanPick: return "the plan has no pick: no layout fitted the devices' memory (its pruned list says why); try more devices, a smaller batch or --layout"
      case .unknownFormat(let text): return "unknown export format \"\(text)\"; expected one of \(Format.allCases.map(\.rawValue).joined(separator: ", "))"
      case .unsupported(let format, let reason): return "the pick cannot be exported as \(format.rawValue): \(reason)"
      case .invalidSteps(let steps): return "--steps must be at least 1 (got \(steps)): it sets the run's length, which the schedule decays over"
      }
    }
  }

  /// Where the pick runs and what of its layout the trainer's `ParallelLayout` does not hold: a
  /// GPU cluster's nodes and devices (the cluster planner's picks), context parallelism, virtual
  /// pipeline stages, selective recomputation, sequence parallelism and ZeRO stages 2 and 3. The
  /// node tuner's picks run on this machine's CPU threads, on one node.
  public struct Target: Sendable, Equatable {
    public var nodes: Int
    public var devicesPerNode: Int
    public var gpu: Bool
    public var cp = 1
    public var virtualStages = 1
    public var selectiveRecompute = false
    public var sequenceParallel = false
    public var zero: Int
    /// The head shares the embedding's weights (the trainer's always does).
    public var tiedEmbeddings = true
    /// The whole layout in words, where the trainer's `ParallelLayout` holds only part of it.
    public var layout: String?
    /// Pipeline stages when they split the layers unevenly (the trainer's layout then holds 1).
    public var unevenPipeline: UnevenPipeline?

    /// Pipeline stages with the first and last stages' layers (the middle ones share the rest).
    public struct UnevenPipeline: Sendable, Equatable {
      public var stages: Int
      public var first: Int
      public var last: Int
    }

    /// Pipeline stages in `layout`'s place.
    func pp(_ layout: ParallelLayout) -> Int { unevenPipeline?.stages ?? layout.pp }

    public init(nodes: Int = 1, devicesPerNode: Int, gpu: Bool = false, zero: Int = 0) {
      self.nodes = nodes
      self.devicesPerNode = devicesPerNode
      self.gpu = gpu
      self.zero = zero
    }

    public var devices: Int { nodes * devicesPerNode }
  }

  /// The run length an export's schedule decays over unless `--steps` says otherwise.
  public static let defaultSteps = 10_000

  public static func render(_ section: ParallelSection, format: Format, steps: Int = defaultSteps) throws -> Rendered {
    guard let pick = section.pick else { throw ExportError.noPick(path: "the profile") }
    let spec = spec(section.model, pick)
    return try render(spec, target: Target(devicesPerNode: spec.layout.ranks, zero: spec.layout.zero), reason: pick.reason, format: format, steps: steps)
  }

  /// The cluster planner's pick on its cluster: the layout the trainer's terms hold (full
  /// recomputation, ZeRO-1 as its `zero`), the rest in the target.
  public static func render(_ plan: Plan, format: Format, steps: Int = defaultSteps) throws -> Rendered {
    guard let pick = plan.pick else { throw ExportError.noPlanPick }
    let l = pick.layout
    // Stages that split the layers unevenly are the target's: the trainer's layout (which the
    // recipe's arithmetic needs) holds one.
    let split = l.stageLayers(plan.modelConfig.layers)
    let uneven = plan.modelConfig.layers % l.pp != 0
    let layout = ParallelLayout(dp: l.dp, tp: l.tp, pp: uneven ? 1 : l.pp, micro: l.micro, recompute: l.recompute == .full, zero: min(l.zero, 1))
    let spec = TrainingSpec(model: plan.modelConfig, layout: layout, precision: pick.precision, threadsPerRank: 1, globalBatch: plan.globalBatch)
    var target = Target(nodes: plan.nodes, devicesPerNode: plan.devicesPerNode, gpu: true, zero: l.zero)
    target.cp = l.cp
    target.virtualStages = l.virtualStages
    target.selectiveRecompute = l.recompute == .selective
    target.sequenceParallel = l.sequenceParallel
    target.tiedEmbeddings = plan.tiedEmbeddings
    target.layout = "\(l)"
    if uneven, let split { target.unevenPipeline = Target.UnevenPipeline(stages: l.pp, first: split.first, last: split.last) }
    let p = pick.predicted
    let reason = String(
      format: "the cluster planner's pick for %d × %@: predicted %.3g s per step, %.0f TFLOP/s per device, MFU %.1f%%, %.1f GB per device", plan.devices, plan.device,
      p.stepSeconds, p.tflopsPerDevice, 100 * p.mfu, p.memoryBytesPerDevice / 1e9)
    return try render(spec, target: target, reason: reason, format: format, steps: steps)
  }

  /// `spec` on `target`, as `format` writes it.
  public static func render(_ spec: TrainingSpec, target: Target, reason: String, format: Format, steps: Int = defaultSteps) throws -> Rendered {
    guard steps >= 1 else { throw ExportError.invalidSteps(steps) }
    let recipe = try Recipe(spec: spec, steps: steps)
    let shared = common(recipe, target: target)
    switch format {
    case .megatron: return megatron(recipe, target: target, reason: reason, shared: shared)
    case .deepspeed: return deepspeed(recipe, target: target, shared: shared)
    case .torchrun: return torchrun(recipe, target: target, reason: reason, shared: shared)
    case .nemo: return nemo(recipe, target: target, reason: reason, shared: shared)
    case .bionemo: return try bionemo(recipe, target: target, reason: reason, shared: shared)
    }
  }

  /// The run the pick trains: its spec, or for a profile written before picks kept one, the
  /// defaults under the pick's layout, precision, threads and batch.
  static func spec(_ model: ModelConfig, _ pick: ParallelPick) -> TrainingSpec {
    pick.spec ?? TrainingSpec(model: model, layout: pick.layout, precision: pick.precision, threadsPerRank: pick.threadsPerRank, globalBatch: pick.globalBatch)
  }

  /// What no export expresses: the data the pick was measured on, and the CPU threads per rank
  /// (a node pick's; a cluster plan was measured on nothing: it is predicted).
  static func common(_ recipe: Recipe, target: Target) -> [String] {
    if target.gpu { return ["data: point the tool at your dataset"] }
    return ["data: the pick was measured on `\(recipe.spec.data)` data; point the tool at your dataset",
     "threads: \(recipe.spec.threadsPerRank) CPU thread(s) per rank; an accelerator rank has no such setting"]
  }

  /// The recipe in words, for the comment lines of formats that have them.
  static func summary(_ r: Recipe, target: Target? = nil) -> [String] {
    let o = r.optimizer, s = r.spec
    var lines = [
      "model \(s.model.name): \(s.model.layers) layers, hidden \(s.model.hidden), \(s.model.heads) heads (\(s.model.kvHeads) key/value), MLP \(s.model.mlpHidden) (\(s.model.mlp == .swiglu ? "SwiGLU" : "GELU, tanh form")), seq \(s.model.seq), vocabulary \(s.model.vocabulary), \(s.model.positions.rawValue) positions, LayerNorm ε \(number(Recipe.layerNormEpsilon)), no dropout, head \(target?.tiedEmbeddings == false ? "its own matrix" : "tied to the embedding")",
      "layout \(target?.layout ?? s.layout.description), global batch \(s.globalBatch) = micro-batch \(r.microBatchSize) × \(s.layout.micro) micro-batch(es) × data parallel \(s.layout.dp); precision \(s.policy)",
      "AdamW β1 \(number(o.beta1)), β2 \(number(o.beta2)), ε \(number(o.epsilon)), weight decay \(number(o.weightDecay)) (matrices only), gradient clipping at norm \(number(o.clipNorm))",
      "schedule: \(number(o.learningRate)) after \(o.warmupSteps) linear warm-up step(s), cosine to \(number(r.minimumLearningRate)) at step \(o.totalSteps) of \(r.steps)",
      "initialisation N(0, \(number(Recipe.initStandardDeviation))²), residual projections / √(2·layers), embeddings N(0, \(number(Recipe.embeddingStandardDeviation))²); seed \(s.seed)",
    ]
    if case .dynamic = r.lossScaling {
      lines.append("loss scaling dynamic: from \(number(Recipe.initialLossScale)), halved on an overflowing step (skipped), doubled after \(Recipe.lossScaleGrowthInterval) clean steps")
    }
    return lines
  }

  /// A number as the tools read it: integers without a fraction, others to 10 significant digits
  /// (0.1 × 3e-4 is written 3e-05, not 2.9999999999999997e-05).
  static func number(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.10g", value)
  }

  static func comments(_ lines: [String]) -> String { lines.map { "# " + $0 + "\n" }.joined() }

  /// The header of a shell-like export: what it is, the recipe, what the tool cannot express.
  static func header(_ title: String, reason: String, recipe: Recipe, target: Target? = nil, unexpressed: [String]) -> String {
    comments(["\(title); picked by ScaleTune: \(reason)"] + summary(recipe, target: target).map { "recipe: " + $0 } + unexpressed.map { "not expressible here: " + $0 })
  }

  /// A shell export: the header, then the arguments one per line.
  static func shell(_ title: String, reason: String, recipe: Recipe, target: Target? = nil, unexpressed: [String], lines: [String]) -> Rendered {
    Rendered(
      text: header(title, reason: reason, recipe: recipe, target: target, unexpressed: unexpressed) + lines.joined(separator: " \\\n") + "\n", unexpressed: unexpressed)
  }
}
