import Profile
import Trainer

extension Export {
  /// Megatron-LM `pretrain_gpt.py` arguments (data parallelism is what the world leaves: world /
  /// (tp · pp)). Megatron's defaults differ from the trainer's in dropout (0.1), the GELU (erf),
  /// weight decay (0.01), Adam's β2 (0.999), the schedule (linear), loss scaling (2^32, window
  /// 1000, hysteresis 2) and fp8's recipe (amax history 1, most recent): every one is set.
  static func megatron(_ r: Recipe, target: Target, reason: String, shared: [String]) -> Rendered {
    let s = r.spec, m = s.model, l = s.layout, o = r.optimizer
    var args = [
      "--tensor-model-parallel-size \(l.tp)", "--pipeline-model-parallel-size \(target.pp(l))",
      "--micro-batch-size \(r.microBatchSize)", "--global-batch-size \(s.globalBatch)",
      "--num-layers \(m.layers)", "--hidden-size \(m.hidden)", "--num-attention-heads \(m.heads)",
      "--ffn-hidden-size \(m.mlpHidden)", "--seq-length \(m.seq)", "--max-position-embeddings \(m.seq)",
      "--position-embedding-type \(m.positions == .rotary ? "rope" : "learned_absolute")",
      "--norm-epsilon \(number(Recipe.layerNormEpsilon))", "--hidden-dropout 0.0", "--attention-dropout 0.0",
      "--init-method-std \(number(Recipe.initStandardDeviation))", "--seed \(s.seed)",
      "--optimizer adam", "--weight-decay \(number(o.weightDecay))", "--adam-beta1 \(number(o.beta1))", "--adam-beta2 \(number(o.beta2))",
      "--adam-eps \(number(o.epsilon))", "--clip-grad \(number(o.clipNorm))",
      "--lr \(number(o.learningRate))", "--min-lr \(number(r.minimumLearningRate))", "--lr-decay-style cosine",
      "--lr-warmup-iters \(o.warmupSteps)", "--lr-decay-iters \(o.totalSteps)", "--train-iters \(r.steps)",
    ]
    var unexpressed = shared
    if m.kvHeads != m.heads { args += ["--group-query-attention", "--num-query-groups \(m.kvHeads)"] }
    // The trainer's GELU is the tanh form: Megatron's --openai-gelu (megatron/core/activations.py).
    args.append(m.mlp == .swiglu ? "--swiglu" : "--openai-gelu")
    if l.recompute { args += ["--recompute-granularity full", "--recompute-method uniform", "--recompute-num-layers 1"] }
    if target.selectiveRecompute && !l.recompute { args.append("--recompute-granularity selective") }
    if target.cp > 1 { args.append("--context-parallel-size \(target.cp)") }
    if target.virtualStages > 1 { args.append("--num-layers-per-virtual-pipeline-stage \(m.layers / (target.pp(l) * target.virtualStages))") }
    if let uneven = target.unevenPipeline {
      args += ["--decoder-first-pipeline-num-layers \(uneven.first)", "--decoder-last-pipeline-num-layers \(uneven.last)"]
    }
    if target.sequenceParallel { args.append("--sequence-parallel") }
    if !target.tiedEmbeddings { args.append("--untie-embeddings-and-output-weights") }
    switch target.zero {
    case 1: args.append("--use-distributed-optimizer")
    // ZeRO-2 and -3: Megatron's FSDP, sharding gradients, or gradients and weights, with the
    // optimizer state; it saves only in its own checkpoint format (validate_args says so).
    case 2: args += ["--use-megatron-fsdp", "--data-parallel-sharding-strategy optim_grads", "--ckpt-format fsdp_dtensor"]
    case 3: args += ["--use-megatron-fsdp", "--data-parallel-sharding-strategy optim_grads_params", "--ckpt-format fsdp_dtensor"]
    default: break
    }
    switch s.precision {
    case .fp32: break
    case .bf16: args.append("--bf16")
    case .fp16: args.append("--fp16")
    case .fp8:
      args += ["--bf16", "--fp8-format hybrid"]
      switch s.fp8Scaling {
      case .delayed:
        args += ["--fp8-recipe delayed", "--fp8-amax-history-len \(Recipe.fp8AmaxHistory)", "--fp8-amax-compute-algo max", "--fp8-margin 0"]
      case .current: args.append("--fp8-recipe tensorwise")
      case .mx: args.append("--fp8-recipe mxfp8")
      }
    }
    switch (s.precision, r.lossScaling) {
    case (.fp16, .dynamic):
      args += [
        "--initial-loss-scale \(number(Recipe.initialLossScale))", "--loss-scale-window \(Recipe.lossScaleGrowthInterval)", "--hysteresis 1",
        "--min-loss-scale 1",
      ]
    case (.fp16, .fixed(let scale)): args.append("--loss-scale \(number(scale))")
    case (_, .fixed(let scale)) where scale != 1:
      unexpressed.append("loss scale \(number(scale)): Megatron-LM scales the loss under --fp16 only")
    default: break
    }
    unexpressed.append(
      "embedding initialisation N(0, \(number(Recipe.embeddingStandardDeviation))²): Megatron-LM draws the embeddings with --init-method-std (\(number(Recipe.initStandardDeviation)))")
    if m.positions == .learned {
      unexpressed.append("the trainer does not decay the learned position embedding; Megatron-LM decays every matrix")
    }
    if m.kind == .maskedLM {
      unexpressed.append("a masked LM: pretrain_gpt.py trains a causal one (Megatron-LM's BERT has its own head and masking); --format bionemo writes an ESM-2 recipe")
    }
    unexpressed.append("vocabulary \(m.vocabulary): Megatron-LM takes it from the tokenizer (--tokenizer-type, --vocab-size for NullTokenizer)")
    return shell(
      "Megatron-LM pretrain_gpt.py arguments for \(m.name) on \(target.devices) ranks\(target.gpu ? " (\(target.nodes) node(s) of \(target.devicesPerNode) GPUs)" : "") (data parallel \(l.dp) = world / (tp × pp × cp))", reason: reason, recipe: r, target: target,
      unexpressed: unexpressed, lines: args)
  }
}
