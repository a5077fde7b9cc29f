import Foundation
import Kernels
import NumberFormats
import Platform
import Profile

/// One layer's LayerNorm parameters (or their gradients, which share the layout).
struct NormTensors<T> {
  var ln1w, ln1b, ln2w, ln2b: UnsafeMutablePointer<T>
}

/// One local layer: its norms, and its four linear layers as units (each its shards, GEMMs and
/// collective).
struct LayerUnits<T: TrainScalar> {
  var norms: NormTensors<T>
  var normGrads: NormTensors<T>
  var qkv, out, up, down: ParallelLinear<T>
}

/// One rank's part of the model: its pipeline stage's layers (and the embedding or head where the
/// stage holds them), its tensor-parallel share of each, with parameters and gradients as one flat
/// buffer each, and the activations of the micro-batches in flight. Its linear layers are
/// `ParallelLinear` units (Megatron's split: QKV and MLP-up column-parallel, attention-output and
/// MLP-down row-parallel, the head and input projection replicated); the arithmetic reads the
/// same for tp = 1.
final class Stage<T: TrainScalar> {
  let layout: ParameterLayout
  let model: ModelConfig
  let context: KernelContext
  let runner: GEMMRunner<T>
  let tpGroup: Communicator
  let account: MemoryAccount
  let recompute: Bool
  /// Sequences per micro-batch and tokens (N) per micro-batch.
  let sequences: Int
  let tokens: Int
  let params: UnsafeMutablePointer<T>
  let grads: UnsafeMutablePointer<T>
  private var units: [LayerUnits<T>] = []
  /// The head (last stage, tied to the embedding) and the continuous-input projection (first stage).
  private var head: ParallelLinear<T>?
  private var inputProjection: ParallelLinear<T>?

  /// The activations one micro-batch in flight keeps: each local layer's input and (without
  /// recomputation) its saved intermediates, the stage's output, and on the last stage the
  /// gradient of that output (the head's backward runs with its forward).
  struct Slot {
    var xIn: [UnsafeMutablePointer<T>]
    var saved: [LayerActivations<T>]
    var out: UnsafeMutablePointer<T>
    var dOut: UnsafeMutablePointer<T>?
  }
  private var slots: [Slot] = []
  private let work: LayerActivations<T>?
  // Backward temporaries, shared by every micro-batch.
  let dX, dxn, dqkv, dO, dUp, dAct, proj: UnsafeMutablePointer<T>
  // The head's (last stage).
  private let logits, xf, meanF, rstdF: UnsafeMutablePointer<T>?
  /// The micro-batch's continuous inputs as T (first stage of a model with `features`).
  private let featureValues: UnsafeMutablePointer<T>?
  private let cosTable: [T], sinTable: [T]
  /// The choice attention runs with (the profile's, or flash's defaults once that failed here).
  var attentionChoice: AttentionChoice
  let attentionFallback: AttentionChoice
  /// Seconds this stage spent in tensor-parallel all-reduces.
  var tensorParallelSeconds = 0.0
  /// The last stage's loss over the micro-batches since `resetLoss`, and non-finite losses.
  private(set) var lossSum = 0.0
  private(set) var nonFiniteLosses = 0

  init(
    layout: ParameterLayout, context: KernelContext, runner: GEMMRunner<T>, tpGroup: Communicator, account: MemoryAccount,
    recompute: Bool, sequences: Int, inFlight: Int, choices: KernelChoices, attentionPrecision: Precision
  ) {
    self.layout = layout
    model = layout.model
    self.context = context
    self.runner = runner
    self.tpGroup = tpGroup
    self.account = account
    self.recompute = recompute
    self.sequences = sequences
    let n = sequences * layout.model.seq
    tokens = n
    let h = model.hidden
    params = account.allocate(T.self, count: layout.count, part: .parameters)
    grads = account.allocate(T.self, count: layout.count, part: .gradients)
    let (params, grads) = (params, grads)
    func unit(_ linear: LinearLayer, _ name: String, prefix: String = "", bias: Bool) -> ParallelLinear<T> {
      let weight = prefix + linear.tensor + ".weight", bias = bias ? prefix + linear.tensor + ".bias" : nil
      return ParallelLinear(
        layer: linear, name: name, tp: layout.tp, weight: params + layout.view(weight).offset, weightGradient: grads + layout.view(weight).offset,
        bias: bias.map { params + layout.view($0).offset }, biasGradient: bias.map { grads + layout.view($0).offset })
    }
    let linears = model.layerLinears
    for layer in layout.layers {
      func linear(_ index: Int, _ name: String) -> ParallelLinear<T> { unit(linears[index], "layer\(layer).\(name)", prefix: "layers.\(layer).", bias: true) }
      units.append(LayerUnits(
        norms: Self.norms(layout, layer: layer, base: params), normGrads: Self.norms(layout, layer: layer, base: grads), qkv: linear(0, "qkv"),
        out: linear(1, "out"), up: linear(2, "up"), down: linear(3, "down")))
    }
    head = layout.isLast ? unit(model.headLinear, "head", bias: false) : nil
    inputProjection = layout.isFirst ? model.inputLinear.map { unit($0, "input", bias: false) } : nil
    let local = layout.layersPerStage
    for _ in 0..<inFlight {
      let xIn = (0..<local).map { _ in account.allocate(T.self, count: n * h, part: .activations) }
      let saved = recompute ? [] : (0..<local).map { _ in
        LayerActivations<T>.allocate(tokens: n, sequences: sequences, layout: layout, account: account, part: .activations)
      }
      slots.append(Slot(
        xIn: xIn, saved: saved, out: account.allocate(T.self, count: n * h, part: .activations),
        dOut: layout.isLast ? account.allocate(T.self, count: n * h, part: .activations) : nil))
    }
    work = recompute ? LayerActivations<T>.allocate(tokens: n, sequences: sequences, layout: layout, account: account, part: .recomputeBuffer) : nil
    let widest = max(h, layout.localQKVWidth, layout.localUpWidth)
    dX = account.allocate(T.self, count: n * h, part: .workBuffers)
    dxn = account.allocate(T.self, count: n * h, part: .workBuffers)
    dqkv = account.allocate(T.self, count: n * layout.localQKVWidth, part: .workBuffers)
    dO = account.allocate(T.self, count: n * layout.localQWidth, part: .workBuffers)
    dUp = account.allocate(T.self, count: n * layout.localUpWidth, part: .workBuffers)
    dAct = account.allocate(T.self, count: n * layout.localMLP, part: .workBuffers)
    proj = account.allocate(T.self, count: n * widest, part: .workBuffers)
    if layout.isLast {
      logits = account.allocate(T.self, count: n * model.vocabulary, part: .workBuffers)
      xf = account.allocate(T.self, count: n * h, part: .workBuffers)
      meanF = account.allocate(T.self, count: n, part: .workBuffers)
      rstdF = account.allocate(T.self, count: n, part: .workBuffers)
    } else {
      (logits, xf, meanF, rstdF) = (nil, nil, nil, nil)
    }
    featureValues = layout.isFirst ? model.features.map { account.allocate(T.self, count: n * $0, part: .workBuffers) } : nil
    if model.positions == .rotary {
      (cosTable, sinTable) = Layers.rotaryTable(seq: model.seq, headDim: model.headDim)
    } else {
      (cosTable, sinTable) = ([], [])
    }
    let shape = Self.attentionShape(model, layout: layout, sequences: sequences)
    attentionFallback = AttentionChoice(backend: .flash, precision: .fp32, threads: context.threads)
    var choice = choices.attention(shape, precision: attentionPrecision).choice ?? attentionFallback
    choice.threads = context.threads
    choice.flash?.threads = context.threads
    attentionChoice = choice
  }

  static func attentionShape(_ model: ModelConfig, layout: ParameterLayout, sequences: Int) -> AttentionShape {
    AttentionShape(
      batch: sequences, heads: layout.localHeads, kvHeads: layout.localKVHeads, seq: model.seq, headDim: model.headDim,
      causal: model.kind == .causalLM)
  }

  private static func norms(_ layout: ParameterLayout, layer: Int, base: UnsafeMutablePointer<T>) -> NormTensors<T> {
    func at(_ name: String) -> UnsafeMutablePointer<T> { base + layout.view("layers.\(layer).\(name)").offset }
    return NormTensors(ln1w: at("ln1.weight"), ln1b: at("ln1.bias"), ln2w: at("ln2.weight"), ln2b: at("ln2.bias"))
  }

  func pointer(_ name: String, in base: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T> { base + layout.view(name).offset }

  func resetLoss() {
    lossSum = 0
    nonFiniteLosses = 0
  }

  private func tpAllReduce(_ buffer: UnsafeMutablePointer<T>, _ count: Int) {
    guard tpGroup.size > 1 else { return }
    let start = DispatchTime.now().uptimeNanoseconds
    tpGroup.allReduce(buffer, count: count)
    tensorParallelSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
  }

  // MARK: Forward

  /// The stage's input for a micro-batch in slot `slot`: where the embedding writes it (first
  /// stage) or a received activation goes (others).
  func input(slot: Int) -> UnsafeMutablePointer<T> { slots[slot].xIn[0] }
  /// The stage's output (what the next stage receives).
  func output(slot: Int) -> UnsafeMutablePointer<T> { slots[slot].out }

  /// x[n] = E[token n] + P[position n] (first stage), + F[n]·W_in for continuous inputs.
  @_specialize(where T == Float)
  func embed(_ batch: MicroBatch, slot: Int) {
    let h = model.hidden, x = input(slot: slot)
    let e = pointer("embedding.weight", in: params)
    let positions = model.positions == .learned ? pointer("position.weight", in: params) : nil
    let seq = model.seq
    batch.inputs.withUnsafeBufferPointer { tokens in
      Layers.split(tokens.count, context) { range in
        for n in range {
          let row = x + n * h, source = e + Int(tokens[n]) * h
          if let positions {
            let p = positions + (n % seq) * h
            for c in 0..<h { row[c] = source[c] + p[c] }
          } else {
            row.update(from: source, count: h)
          }
        }
      }
    }
    projectFeatures(batch, into: x)
  }

  /// Every local layer's forward for the micro-batch in `slot` (its input in place).
  @_specialize(where T == Float)
  func forwardLayers(slot: Int) {
    let s = slots[slot]
    for i in 0..<layout.layersPerStage {
      let output = i + 1 < s.xIn.count ? s.xIn[i + 1] : s.out
      forwardLayer(i, x: s.xIn[i], acts: recompute ? work! : s.saved[i], out: output)
    }
  }

  private func forwardLayer(_ i: Int, x: UnsafePointer<T>, acts a: LayerActivations<T>, out: UnsafeMutablePointer<T>) {
    let u = units[i], n = tokens, h = model.hidden, mlp = layout.localMLP
    Layers.layerNormForward(y: a.xn1, mean: a.mean1, rstd: a.rstd1, x: x, g: u.norms.ln1w, b: u.norms.ln1b, rows: n, columns: h, context: context)
    u.qkv.forward(a.xn1, into: a.qkv, tokens: n, runner: runner, context: context, allReduce: tpAllReduce)
    if model.positions == .rotary {
      rotate(a.qkv, inverse: false)
    }
    attentionForward(a)
    u.out.forward(a.o, into: proj, tokens: n, runner: runner, context: context, allReduce: tpAllReduce)
    Layers.add(a.r1, x, proj, count: n * h, context: context)
    Layers.layerNormForward(y: a.xn2, mean: a.mean2, rstd: a.rstd2, x: a.r1, g: u.norms.ln2w, b: u.norms.ln2b, rows: n, columns: h, context: context)
    u.up.forward(a.xn2, into: a.up, tokens: n, runner: runner, context: context, allReduce: tpAllReduce)
    switch model.mlp {
    case .gelu: Layers.geluForward(a.act, a.up, count: n * mlp, context: context)
    case .swiglu: Layers.swigluForward(a.act, a.up, rows: n, width: mlp, context: context)
    }
    u.down.forward(a.act, into: proj, tokens: n, runner: runner, context: context, allReduce: tpAllReduce)
    Layers.add(out, a.r1, proj, count: n * h, context: context)
  }

  private func rotate(_ qkv: UnsafeMutablePointer<T>, inverse: Bool) {
    let d = model.headDim, width = layout.localQKVWidth
    cosTable.withUnsafeBufferPointer { c in
      sinTable.withUnsafeBufferPointer { s in
        Layers.rotary(
          qkv, rows: tokens, width: width, start: 0, heads: layout.localHeads + layout.localKVHeads, headDim: d, seq: model.seq,
          cos: c.baseAddress!, sin: s.baseAddress!, inverse: inverse, context: context)
      }
    }
  }

  /// The head and loss (last stage), run with the forward: final LayerNorm, logits = x·Eᵀ,
  /// cross-entropy; then at once its backward down to the gradient of the stage's output
  /// (kept in the slot), with dE accumulated. `weight` is each counted token's share of the
  /// loss (1/tokens counted in the global batch, times the loss scale).
  @_specialize(where T == Float)
  func headForwardBackward(_ batch: MicroBatch, slot: Int, weight: Double) {
    guard let head, let logits, let xf, let meanF, let rstdF, let dOut = slots[slot].dOut else { preconditionFailure("the head lives on the last stage") }
    let n = tokens, h = model.hidden, v = model.vocabulary
    let x = slots[slot].out
    let gw = pointer("final_ln.weight", in: params), gb = pointer("final_ln.bias", in: params)
    Layers.layerNormForward(y: xf, mean: meanF, rstd: rstdF, x: x, g: gw, b: gb, rows: n, columns: h, context: context)
    head.forward(xf, into: logits, tokens: n, runner: runner, context: context, allReduce: tpAllReduce)
    let (loss, bad) = batch.targets.withUnsafeBufferPointer { targets in
      batch.counted.withUnsafeBufferPointer { counted in
        Layers.crossEntropy(
          logits: logits, targets: targets.baseAddress!, counted: counted.baseAddress!, rows: n, vocabulary: v, weight: T(weight), context: context)
      }
    }
    lossSum += loss
    nonFiniteLosses += bad
    // dxf = dlogits·E, dE += dlogitsᵀ·xf
    head.backward(logits, input: xf, inputGradient: dxn, tokens: n, runner: runner, context: context, allReduce: tpAllReduce)
    dOut.update(repeating: 0, count: n * h)
    Layers.layerNormBackward(
      dx: dOut, dg: pointer("final_ln.weight", in: grads), db: pointer("final_ln.bias", in: grads), dy: dxn, x: x, g: gw, mean: meanF,
      rstd: rstdF, rows: n, columns: h, context: context)
  }

  // MARK: Backward

  /// The gradient flowing into the stage's output for `slot`: what the last stage's head left, or
  /// where a gradient from the next stage is received.
  func outputGradient(slot: Int) -> UnsafeMutablePointer<T> { layout.isLast ? slots[slot].dOut! : dX }
  /// The gradient of the stage's input after `backwardLayers` (what the previous stage receives).
  var inputGradient: UnsafeMutablePointer<T> { dX }

  /// Every local layer's backward for `slot`, last first, accumulating parameter gradients;
  /// `bucketDone(layer)` is called as each layer's gradients are complete for this micro-batch.
  @_specialize(where T == Float)
  func backwardLayers(slot: Int, bucketDone: (Int) -> Void) {
    let s = slots[slot]
    if layout.isLast { dX.update(from: s.dOut!, count: tokens * model.hidden) }
    for i in (0..<layout.layersPerStage).reversed() {
      let acts: LayerActivations<T>
      if recompute {
        // Rerun the layer's forward from its saved input; its output goes to a scratch buffer.
        forwardLayer(i, x: s.xIn[i], acts: work!, out: proj)
        acts = work!
      } else {
        acts = s.saved[i]
      }
      backwardLayer(i, x: s.xIn[i], acts: acts)
      bucketDone(layout.layers.lowerBound + i)
    }
  }

  /// x += F·W_in: the continuous inputs' projection, a GEMM under the precision policy like the
  /// layers' (its A is the data itself: outliers in it set fp8's per-tensor scale).
  private func projectFeatures(_ batch: MicroBatch, into x: UnsafeMutablePointer<T>) {
    guard let inputProjection, let (_, values) = features(of: batch) else { return }
    inputProjection.forward(values, into: x, tokens: batch.inputs.count, runner: runner, context: context, allReduce: tpAllReduce)
  }

  /// The micro-batch's continuous inputs as T (converted on every call: another micro-batch may
  /// have been embedded between a forward and its backward).
  private func features(of batch: MicroBatch) -> (Int, UnsafeMutablePointer<T>)? {
    guard let f = model.features, let values = featureValues else { return nil }
    let n = batch.inputs.count
    precondition(batch.features.count == n * f, "a model with \(f) features per position was given a batch of \(batch.features.count) values for \(n) positions")
    batch.features.withUnsafeBufferPointer { source in
      for i in 0..<n * f { values[i] = T(source[i]) }
    }
    return (f, values)
  }

  /// dE[token] += dx, dP[position] += dx (first stage), from the input gradient; dW_in += Fᵀ·dx.
  @_specialize(where T == Float)
  func embedBackward(_ batch: MicroBatch) {
    if let inputProjection, let (_, values) = features(of: batch) {
      inputProjection.backward(dX, input: values, inputGradient: nil, tokens: batch.inputs.count, runner: runner, context: context, allReduce: tpAllReduce)
    }
    let h = model.hidden, seq = model.seq
    let dE = pointer("embedding.weight", in: grads)
    let dP = model.positions == .learned ? pointer("position.weight", in: grads) : nil
    // Columns split over threads: a token can repeat, so rows would collide.
    batch.inputs.withUnsafeBufferPointer { tokens in
      Layers.split(h, context, minimum: 8) { columns in
        for n in 0..<tokens.count {
          let g = dX + n * h, row = dE + Int(tokens[n]) * h
          for c in columns { row[c] += g[c] }
          if let dP {
            let p = dP + (n % seq) * h
            for c in columns { p[c] += g[c] }
          }
        }
      }
    }
  }

  private func backwardLayer(_ i: Int, x: UnsafePointer<T>, acts a: LayerActivations<T>) {
    let u = units[i], n = tokens, h = model.hidden, mlp = layout.localMLP
    // MLP down (row-parallel): dY = dX.
    u.down.backward(dX, input: a.act, inputGradient: dAct, tokens: n, runner: runner, context: context, allReduce: tpAllReduce)
    switch model.mlp {
    case .gelu: Layers.geluBackward(dUp, dAct, a.up, count: n * mlp, context: context)
    case .swiglu: Layers.swigluBackward(dUp, dAct, a.up, rows: n, width: mlp, context: context)
    }
    // MLP up (column-parallel): its input gradient is summed over the group.
    u.up.backward(dUp, input: a.xn2, inputGradient: dxn, tokens: n, runner: runner, context: context, allReduce: tpAllReduce)
    Layers.layerNormBackward(
      dx: dX, dg: u.normGrads.ln2w, db: u.normGrads.ln2b, dy: dxn, x: a.r1, g: u.norms.ln2w, mean: a.mean2, rstd: a.rstd2, rows: n, columns: h,
      context: context)
    // Attention output (row-parallel).
    u.out.backward(dX, input: a.o, inputGradient: dO, tokens: n, runner: runner, context: context, allReduce: tpAllReduce)
    attentionBackward(a)
    if model.positions == .rotary { rotate(dqkv, inverse: true) }
    // QKV (column-parallel).
    u.qkv.backward(dqkv, input: a.xn1, inputGradient: dxn, tokens: n, runner: runner, context: context, allReduce: tpAllReduce)
    Layers.layerNormBackward(
      dx: dX, dg: u.normGrads.ln1w, db: u.normGrads.ln1b, dy: dxn, x: x, g: u.norms.ln1w, mean: a.mean1, rstd: a.rstd1, rows: n, columns: h,
      context: context)
  }
}
