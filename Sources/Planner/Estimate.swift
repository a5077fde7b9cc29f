import Foundation
import Profile

/// The constants of the planner's step-time model that no spec sheet gives: how close a device
/// comes to its peak. Fitted to published runs (`PublishedRunsTests` shows on which rows, and
/// the error on each row left out of the fit).
public struct AchievableRates: Sendable, Hashable, Codable {
  /// A large GEMM's share of the dense peak of its precision; a GEMM of dimensions m, n, k runs at
  /// that share times m/(m+128) · n/(n+128) · k/(k+128) (small products do not fill the device).
  public var gemm: Double
  /// The same for fp8 GEMMs (their casts and scaling cost a share of the doubled peak).
  public var gemm8Bit: Double
  /// The attention core's share of the 16-bit dense peak (it runs in bf16 under every policy but
  /// fp32); the backward does twice the forward's work, and recomputing the scores (selective
  /// recomputation, or flash attention's backward) the forward's once more.
  public var attention: Double
  /// Bytes moved per token and layer by the elementwise layers (norms, residuals, activation,
  /// rotary, casts), in units of the hidden vector's 16-bit bytes, forward; the backward moves twice that.
  public var elementwisePasses: Double
  /// The share of the collectives a framework overlaps with the compute that stays exposed: the
  /// tensor-parallel ones behind the GEMMs, and ZeRO-2/3's per-micro-batch gradient and weight
  /// traffic behind the micro-batch.
  public var tensorParallelExposed: Double
  /// A ring collective's bus bandwidth as a share of the link's one-way rate (nccl-tests' busbw on
  /// NVLink and InfiniBand reaches about 0.8 of it).
  public var linkEfficiency: Double
  /// Bytes per activation and gradient element when the framework keeps one width whatever the
  /// GEMM precision (ScaleTune's trainer: 4); nil: 2 under mixed precision, 4 under fp32.
  public var activationBytes: Double? = nil
  /// A group that spans nodes runs one ring per member on a node, each on its own network link
  /// (NCCL's channels over a node's NICs); false: one ring between the nodes' leaders, at one link's rate
  /// (ScaleTune's hierarchical communicator).
  public var parallelRingsAcrossNodes = true
  /// Pipeline sends and receives run beside the next micro-batch's compute (Megatron-LM's
  /// overlapped p2p); false: on the step's path.
  public var overlapsPipelineTransfers = true
  /// Latency per ring step: within a node and across nodes (seconds).
  public var intraLatency: Double
  public var interLatency: Double

  public init(gemm: Double, gemm8Bit: Double, attention: Double, elementwisePasses: Double, tensorParallelExposed: Double, linkEfficiency: Double = 0.8,
    intraLatency: Double = 5e-6, interLatency: Double = 10e-6)
  {
    self.gemm = gemm
    self.gemm8Bit = gemm8Bit
    self.attention = attention
    self.elementwisePasses = elementwisePasses
    self.tensorParallelExposed = tensorParallelExposed
    self.linkEfficiency = linkEfficiency
    self.intraLatency = intraLatency
    self.interLatency = interLatency
  }

  /// Fitted on every row of PublishedRunsTests' fixture (`PublishedRuns.fit`): 14 fp8 runs on
  /// DGX H100 from NeMo 24.07's and Megatron-LM's performance tables and 4 bf16 runs on A100 from
  /// Megatron-LM's README; the test reports each row's error with that row left out of the fit.
  /// Read: 16-bit GEMMs at 76% of their dense peak, fp8 GEMMs at 52% of theirs (casts and scaling
  /// included), attention at 42% of the 16-bit peak, 40% of the tensor-parallel collectives
  /// exposed (the recipes overlap the rest with the GEMMs).
  public static let fitted = AchievableRates(gemm: 0.76, gemm8Bit: 0.52, attention: 0.42, elementwisePasses: 44, tensorParallelExposed: 0.4)
}

/// Memory per device, part by part (bytes): what `memoryParts` in the plan's JSON holds.
public struct MemoryParts: Codable, Sendable, Hashable {
  public var weights: Double
  public var gradients: Double
  public var optimizer: Double
  public var activations: Double
  /// Embedding and head activations on their stages (the logits in fp32).
  public var embeddingAndHead: Double
  /// The framework's own: CUDA context, NCCL and GEMM workspaces, allocator fragmentation.
  public var allowance: Double

  public var total: Double { weights + gradients + optimizer + activations + embeddingAndHead + allowance }

  /// The stated allowance: 2 GiB plus 5% of the rest.
  public static func allowance(for rest: Double) -> Double { 2 * 1_073_741_824 + 0.05 * rest }
}

/// Where a step's time goes on the slowest device (seconds): `timeParts` in the plan's JSON.
public struct TimeParts: Codable, Sendable, Hashable {
  public var gemm: Double
  public var attention: Double
  public var elementwise: Double
  public var recompute: Double
  public var tensorParallel: Double
  public var contextParallel: Double
  public var pipelineTransfers: Double
  public var pipelineBubble: Double
  public var dataParallel: Double
  public var optimizer: Double

  public var named: [(String, Double)] {
    [("gemm", gemm), ("attention", attention), ("elementwise", elementwise), ("recompute", recompute), ("tensorParallel", tensorParallel),
     ("contextParallel", contextParallel), ("pipelineTransfers", pipelineTransfers), ("pipelineBubble", pipelineBubble),
     ("dataParallel", dataParallel), ("optimizer", optimizer)]
  }
}

/// One layout's predicted step: what `predicted` in the plan's JSON holds.
public struct Prediction: Codable, Sendable, Hashable {
  public var stepSeconds: Double
  public var tflopsPerDevice: Double
  public var mfu: Double
  public var memoryBytesPerDevice: Double
  public var memoryParts: MemoryParts
  public var timeParts: TimeParts
  public var tokensPerSecondPerDevice: Double
}

/// The planner's models: memory per device (Korthikanti et al. 2022's activation accounting,
/// mixed-precision state as ZeRO shards it) and step time (GEMMs and attention at the device's
/// achievable rates, ring collectives on the links they cross, the 1F1B bubble).
public struct Estimator: Sendable {
  public var model: PlanModel
  public var cluster: Cluster
  public var rates: AchievableRates
  /// Dropout layers store their masks (Korthikanti et al.'s accounting has them; Llama-style
  /// recipes and ScaleTune's trainer train without).
  public var dropout: Bool

  /// The device's rates; nil: the spec sheet's at `rates`' shares.
  public var measured: (any DeviceRates)?

  public init(model: PlanModel, cluster: Cluster, rates: AchievableRates = .fitted, dropout: Bool = false, measured: (any DeviceRates)? = nil) {
    self.model = model
    self.cluster = cluster
    self.rates = rates
    self.dropout = dropout
    self.measured = measured
  }

  var deviceRates: any DeviceRates { measured ?? SpecSheetRates(device: cluster.device, rates: rates) }

  // MARK: Memory

  /// Bytes of one layer's activations kept for the backward, per device, for `sequences`
  /// sequences of `seq` tokens (Korthikanti et al. 2022, §4, generalised to grouped-query
  /// attention, gated MLPs and optional dropout): with 16-bit activations and no parallelism a GPT
  /// layer keeps sbh(34 + 5as/h) bytes.
  public func layerActivationBytes(_ layout: PlanLayout, sequences: Int, precision: TrainingPrecision) -> Double {
    let c = model.config
    let s = Double(c.seq / layout.cp), b = Double(sequences), h = Double(c.hidden), a = Double(c.heads), t = Double(layout.tp)
    let f = Double(c.mlpHidden), kv = Double(c.kvHeads * c.headDim)
    let mask = dropout ? 1.0 : 0.0
    // Kept whole on every tensor-parallel rank unless sequence parallelism splits them: the two
    // norms' inputs, the inputs of QKV and of the MLP's first product, the dropout masks after
    // the attention and the MLP.
    let replicated = s * b * ((8 - 2 * (precision == .fp8 ? 1.0 : 0.0)) * h + 2 * mask * h)
    // Split over tensor-parallel ranks: Q, K, V, the attention output, the MLP's first product
    // (twice for a gate) and its activation. Under fp8 the inputs of the linear layers are kept
    // in fp8 for their weight gradients (the QKV and MLP inputs above, the attention output and
    // the activation here): one byte each instead of two.
    let fp8Inputs = precision == .fp8 ? 1.0 : 0.0
    let split = s * b * (2 * h + 4 * kv + (2 - fp8Inputs) * h + 2 * f * (c.mlp == .swiglu ? 2 : 1) + (2 - fp8Inputs) * f) / t
    // The scores, their softmax and its dropout mask: 5as²b, split over tensor-parallel ranks.
    let scores = (4 + mask) * a * s * Double(c.seq) * b / t
    let scale = precision == .fp32 ? 2.0 : 1.0
    let shardedReplicated = layout.sequenceParallel ? replicated / t : replicated
    switch layout.recompute {
    case .none: return scale * (shardedReplicated + split + scores)
    case .selective: return scale * (shardedReplicated + split)
    case .full: return scale * 2 * s * b * h / (layout.sequenceParallel ? t : 1)
    }
  }

  /// The in-flight micro-batches' activations on a pipeline's first stage, in layer-equivalents
  /// of one micro-batch: 1F1B keeps min(pp, micro) micro-batches of the stage's layers; the
  /// interleaved schedule (1 + (pp − 1)/(pp · v)) times that (Korthikanti et al. 2022, §4.2.3).
  public func inFlightLayers(_ layout: PlanLayout) -> Double {
    let split = stages(layout)
    let interleave = layout.virtualStages > 1 ? 1 + Double(layout.pp - 1) / Double(layout.pp * layout.virtualStages) : 1
    // Stage i keeps min(pp − i, micro) micro-batches: the first the most, unless a smaller first
    // stage makes the second the fuller one.
    let first = Double(split.first * min(layout.pp, layout.micro))
    let second = layout.pp > 2 ? Double(split.middle * min(layout.pp - 1, layout.micro)) : 0
    return max(first, second) * interleave
  }

  /// Layers on the first, a middle and the last stage (`PlanLayout.stageLayers`; a layout the
  /// planner prunes as unsplittable gets equal shares rounded down).
  func stages(_ layout: PlanLayout) -> (first: Int, middle: Int, last: Int) {
    let layers = model.config.layers
    return layout.stageLayers(layers) ?? (layers / layout.pp, layers / layout.pp, layers / layout.pp)
  }

  /// Weights on the first, a middle and the last stage, per tensor-parallel rank.
  func stageParameters(_ layout: PlanLayout) -> (first: Double, middle: Double, last: Double) {
    let c = model.config
    let split = stages(layout)
    let t = Double(layout.tp), embedding = model.embeddingParameters, layer = model.layerParameters
    if layout.pp == 1 { return ((Double(c.layers) * layer + embedding * (model.tiedEmbeddings ? 1 : 2)) / t, 0, 0) }
    // With a pipeline the head sits on the last stage: its own matrix, or a copy of the tied one.
    return ((Double(split.first) * layer + embedding) / t, Double(split.middle) * layer / t, (Double(split.last) * layer + embedding) / t)
  }

  /// The most weights any stage holds, per tensor-parallel rank.
  func largestStage(_ layout: PlanLayout) -> Double {
    let stage = stageParameters(layout)
    return max(stage.first, stage.middle, stage.last)
  }

  public func memory(_ layout: PlanLayout, globalBatch: Int, precision: TrainingPrecision) -> MemoryParts {
    let parameters = largestStage(layout)
    let shards = Double(layout.dp * layout.cp)
    // Mixed precision keeps 16-bit weights and gradients (Megatron-core's default: gradients
    // reduced in the weights' type) and an fp32 master copy with Adam's two moments (12 bytes);
    // fp8 keeps its weights in fp8 (Transformer Engine's fp8 parameters: the master copy is the
    // fp32 one); fp32 training keeps 4 + 4 + 8.
    let weightBytes: Double = precision == .fp32 ? 4 : (precision == .fp8 ? 1 : 2)
    let gradientBytes: Double = precision == .fp32 ? 4 : 2
    let optimizerBytes: Double = precision == .fp32 ? 8 : 12
    var weights = parameters * weightBytes
    var gradients = parameters * gradientBytes
    var optimizer = parameters * optimizerBytes
    if layout.zero >= 1 { optimizer /= shards }
    if layout.zero >= 2 { gradients /= shards }
    if layout.zero >= 3 {
      // Sharded weights, and two layers gathered whole at a time (the one running, the next prefetched).
      weights = weights / shards + 2 * model.layerParameters / Double(layout.tp) * weightBytes
    }
    let sequences = layout.microBatchSize(globalBatch: globalBatch)
    let perLayer = layerActivationBytes(layout, sequences: sequences, precision: precision)
    var activations = perLayer * inFlightLayers(layout)
    if layout.recompute == .full {
      var whole = layout
      whole.recompute = .selective
      activations += layerActivationBytes(whole, sequences: sequences, precision: precision)
    }
    // The head's input, its logits in fp32 and their gradient (Korthikanti et al.'s 4sbh/t · (1 + v/h)).
    let c = model.config
    let tokens = Double(c.seq / layout.cp * sequences)
    let head = 4 * tokens * Double(c.hidden) / Double(layout.tp) * (1 + Double(c.vocabulary) / Double(c.hidden))
    let rest = weights + gradients + optimizer + activations + head
    return MemoryParts(
      weights: weights, gradients: gradients, optimizer: optimizer, activations: activations, embeddingAndHead: head,
      allowance: MemoryParts.allowance(for: rest))
  }

  // MARK: Time

  /// Seconds of a ring collective over a group of `members` devices `stride` ranks apart, moving
  /// `bytes` per device: all-reduce 2(n−1)/n of it, all-gather and reduce-scatter (n−1)/n, at the
  /// group's bus bandwidth. Within a node that is the device's link; a group that spans nodes runs
  /// one ring per member on a node in parallel (NCCL's channels, one NIC each), so its bus bandwidth
  /// is that many devices' network links, up to the link within the node (nccl-tests across DGX
  /// nodes: about 8 NICs' worth).
  func ringSeconds(bytes: Double, members: Int, stride: Int, allReduce: Bool) -> Double {
    guard members > 1 else { return 0 }
    let n = Double(members), steps = allReduce ? 2 * (n - 1) : n - 1
    let perNode = cluster.devicesPerNode
    let across = spansNodes(stride: stride, size: members)
    let onOneNode = stride >= perNode || !rates.parallelRingsAcrossNodes ? 1 : min(members, perNode / stride)
    let link = across ? min(cluster.intraGBPerSecond, Double(onOneNode) * cluster.interGBPerSecond) : cluster.intraGBPerSecond
    return steps / n * bytes / (link * 1e9 * rates.linkEfficiency) + steps * (across ? rates.interLatency : rates.intraLatency)
  }

  /// Whether a group of `size` members `stride` ranks apart spans nodes (ranks are numbered tp
  /// fastest, then cp, dp, pp, as Megatron-LM does).
  func spansNodes(stride: Int, size: Int) -> Bool { size > 1 && stride * size > cluster.devicesPerNode }

  public func predict(_ layout: PlanLayout, globalBatch: Int, precision: TrainingPrecision) -> Prediction {
    let c = model.config, d = cluster.device, device = deviceRates
    let peak = d.peak(precision) ?? d.peak(.bf16) ?? 1
    let t = Double(layout.tp), sequences = layout.microBatchSize(globalBatch: globalBatch)
    let queries = c.seq / layout.cp
    let tokens = Double(queries * sequences)
    let h = Double(c.hidden), f = Double(c.mlpHidden), gate = c.mlp == .swiglu ? 2.0 : 1.0
    let activationBytes = rates.activationBytes ?? (precision == .fp32 ? 4.0 : 2.0)
    // A linear layer of `inputs` → `outputs` on `tokens` rows: its forward, and the backward's two products.
    func linear(_ inputs: Double, _ outputs: Double) -> (forward: Double, backward: Double) {
      (device.gemmSeconds(m: tokens, n: outputs, k: inputs, kind: .forward, precision: precision),
       device.gemmSeconds(m: tokens, n: inputs, k: outputs, kind: .inputGradient, precision: precision)
         + device.gemmSeconds(m: inputs, n: outputs, k: tokens, kind: .weightGradient, precision: precision))
    }
    // One layer, one micro-batch: QKV and the attention's output projection, the MLP's two.
    let products = [linear(h, Double(c.qkvWidth) / t), linear(h / t, h), linear(h, gate * f / t), linear(f / t, h)]
    let layerForward = products.map(\.forward).reduce(0, +), layerBackward = products.map(\.backward).reduce(0, +)
    let shape = AttentionShape(
      batch: sequences, heads: c.heads / layout.tp, kvHeads: max(1, c.kvHeads / layout.tp), seq: c.seq, headDim: c.headDim, causal: c.kind == .causalLM)
    let attention = device.attentionSeconds(shape, queries: queries, precision: precision)
    let split = layout.sequenceParallel ? t : 1
    let elementwiseForward = rates.elementwisePasses * tokens * h * activationBytes / split / device.memoryBytesPerSecond
    // The slowest stage: the last runs the head besides its layers; with an uneven split the
    // middle stages carry one layer more than the first and last.
    let perStage = stages(layout)
    let layerSeconds = layerForward + layerBackward + attention.forward + attention.backward + 3 * elementwiseForward
    let headSeconds = linear(h, Double(c.vocabulary) / t)
    let lastSeconds = Double(perStage.last) * layerSeconds + headSeconds.forward + headSeconds.backward
    let onLast = layout.pp == 1 || lastSeconds >= Double(perStage.middle) * layerSeconds
    let layers = Double(onLast ? perStage.last : perStage.middle)
    var parts = TimeParts(
      gemm: 0, attention: 0, elementwise: 0, recompute: 0, tensorParallel: 0, contextParallel: 0, pipelineTransfers: 0, pipelineBubble: 0,
      dataParallel: 0, optimizer: 0)
    // Per micro-batch on the slowest stage.
    parts.gemm = layers * (layerForward + layerBackward) + (onLast ? headSeconds.forward + headSeconds.backward : 0)
    parts.attention = layers * (attention.forward + attention.backward)
    parts.elementwise = layers * 3 * elementwiseForward
    switch layout.recompute {
    case .none: break
    case .selective: parts.recompute = layers * attention.forward
    case .full: parts.recompute = layers * (layerForward + attention.forward + elementwiseForward)
    }
    // Tensor parallelism: two all-reduces (or all-gather + reduce-scatter) of the micro-batch's
    // activations per layer forward, two backward, two more when the forward runs again.
    let tpTraffic = tokens * h * activationBytes
    let tpCollectives = 4.0 + (layout.recompute == .full ? 2 : 0)
    // Overlapped with the layer's GEMMs (the recipes' userbuffer overlap): a share stays exposed,
    // and whatever the GEMMs cannot cover (a slow link, tensor parallelism across nodes).
    let tpRing = tpCollectives * ringSeconds(bytes: tpTraffic, members: layout.tp, stride: 1, allReduce: true)
    let tpCover = layerForward + layerBackward
    parts.tensorParallel = layers * (rates.tensorParallelExposed * tpRing + max(0, (1 - rates.tensorParallelExposed) * tpRing - tpCover))
    // Context parallelism: each layer passes its K and V around the ring, forward once and
    // backward twice (with their gradients), behind the attention where it can.
    if layout.cp > 1 {
      let kvBytes = 2 * tokens * Double(c.kvHeads * c.headDim) / t * activationBytes
      let ring = ringSeconds(bytes: kvBytes * Double(layout.cp), members: layout.cp, stride: layout.tp, allReduce: false)
      parts.contextParallel = layers * max(0, 3 * ring - 0.5 * (attention.forward + attention.backward))
    }
    // Pipeline: each boundary sends the micro-batch's activations forward and their gradient back,
    // once per model chunk.
    let v = Double(layout.virtualStages), m = Double(layout.micro)
    if layout.pp > 1 {
      let bytes = tokens * h * activationBytes / split
      let across = spansNodes(stride: layout.tp * layout.cp * layout.dp, size: layout.pp)
      let bandwidth = (across ? cluster.interGBPerSecond : cluster.intraGBPerSecond) * 1e9 * rates.linkEfficiency
      // Sent and received beside the next micro-batch's compute: what the compute cannot cover,
      // and the latency of each exchange.
      let compute = parts.gemm + parts.attention + parts.elementwise + parts.recompute
      let transfers = 2 * v * bytes / bandwidth
      parts.pipelineTransfers =
        (rates.overlapsPipelineTransfers ? max(0, transfers - compute) : transfers) + 2 * v * (across ? rates.interLatency : rates.intraLatency)
    }
    let perMicro = parts.gemm + parts.attention + parts.elementwise + parts.recompute + parts.tensorParallel + parts.contextParallel + parts.pipelineTransfers
    // The step's micro-batches, and the 1F1B bubble: (pp − 1)/v micro-batch slots.
    parts.gemm *= m
    parts.attention *= m
    parts.elementwise *= m
    parts.recompute *= m
    parts.tensorParallel *= m
    parts.contextParallel *= m
    parts.pipelineTransfers *= m
    parts.pipelineBubble = Double(layout.pp - 1) / v * perMicro
    // Data parallelism (over dp × cp, whose ranks hold the same weights): the gradients reduced in
    // 16 bits (fp32 under fp32) behind the last micro-batch's backward, and with a sharded
    // optimizer the updated weights gathered behind the next step's first forward.
    let local = largestStage(layout)
    let groupSize = layout.dp * layout.cp
    let gradientBytes = local * activationBytes
    let backward = perMicro * 2 / 3, forward = perMicro / 3
    if layout.zero == 0 {
      parts.dataParallel = max(0, ringSeconds(bytes: gradientBytes, members: groupSize, stride: layout.tp, allReduce: true) - backward)
    } else {
      let scatter = ringSeconds(bytes: gradientBytes, members: groupSize, stride: layout.tp, allReduce: false)
      parts.dataParallel = max(0, scatter - backward) + max(0, scatter - forward)
      // Sharded gradients are reduce-scattered after every micro-batch's backward (ZeRO-2), and
      // sharded weights gathered for every forward and backward (ZeRO-3), overlapped with the
      // compute as the tensor-parallel collectives are (the same share stays exposed); each
      // collective pays its latency.
      let perMicroTraffic = (layout.zero >= 2 ? scatter : 0) + (layout.zero == 3 ? 2 * scatter : 0)
      let exposed = rates.tensorParallelExposed
      if layout.zero >= 2 {
        parts.dataParallel += (m - 1) * (exposed * perMicroTraffic + max(0, (1 - exposed) * perMicroTraffic - perMicro)) + m * rates.interLatency * Double(layout.zero)
      }
    }
    // The optimizer: fp32 master weights, gradients and two moments read and written for the
    // local shard, plus the 16-bit copy written.
    let shard = layout.zero >= 1 ? local / Double(groupSize) : local
    parts.optimizer = shard * 34 / device.memoryBytesPerSecond
    let step = parts.named.map(\.1).reduce(0, +)
    let memory = memory(layout, globalBatch: globalBatch, precision: precision)
    let devices = Double(layout.devices)
    let stepTokens = Double(globalBatch * c.seq)
    let modelFlops = model.flopsPerToken * stepTokens
    let executed = modelFlops + recomputedFlopsPerToken(layout) * stepTokens
    return Prediction(
      stepSeconds: step, tflopsPerDevice: executed / step / devices / 1e12, mfu: modelFlops / step / devices / (peak * 1e12),
      memoryBytesPerDevice: memory.total, memoryParts: memory, timeParts: parts, tokensPerSecondPerDevice: stepTokens / step / devices)
  }

  /// FLOPs per token that recomputation adds: full reruns each layer's forward (a third of its
  /// training FLOPs), selective the attention scores and weighted sum forward (Narayanan et al.
  /// 2021 count executed FLOPs so: 96 B s l h² (1 + s/6h + V/16lh) with full recomputation).
  public func recomputedFlopsPerToken(_ layout: PlanLayout) -> Double {
    let c = model.config
    let attention = 4 * Double(c.layers) * Double(c.hidden) * Double(c.seq)
    switch layout.recompute {
    case .none: return 0
    case .selective: return attention
    case .full: return 2 * Double(c.layers) * model.layerParameters + attention
    }
  }
}
