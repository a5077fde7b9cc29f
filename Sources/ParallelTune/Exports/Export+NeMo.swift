import Profile
import Trainer

extension Export {
  /// torchrun on one node: a process per rank, each with its threads. torchrun launches; the
  /// recipe is the script's, so every line of it is a comment the script must follow.
  static func torchrun(_ r: Recipe, target: Target, reason: String, shared: [String]) -> Rendered {
    let l = r.spec.layout
    let unexpressed = shared + ["the recipe (every line above): the training script's; torchrun only launches it"]
    let command =
      target.gpu
      ? "torchrun --nnodes=\(target.nodes) --nproc_per_node=\(target.devicesPerNode)"
        + (target.nodes > 1 ? " --rdzv_backend=c10d --rdzv_endpoint=FIRST_NODE:29500 --rdzv_id=scaletune" : " --standalone") + " YOUR_TRAINING_SCRIPT.py\n"
      : "OMP_NUM_THREADS=\(r.spec.threadsPerRank) torchrun --standalone --nnodes=1 --nproc_per_node=\(l.ranks) YOUR_TRAINING_SCRIPT.py\n"
    let what = target.gpu ? "\(target.nodes) node(s) of \(target.devicesPerNode) GPUs" : "\(r.spec.threadsPerRank) thread(s) per rank"
    return Rendered(
      text: header("torchrun for \(target.layout ?? l.description) \(r.spec.policy), \(what)", reason: reason, recipe: r, target: target, unexpressed: unexpressed)
        + command,
      unexpressed: unexpressed)
  }

  /// NeMo's `megatron_gpt_pretraining.py` Hydra overrides (its `megatron_gpt_config.yaml`). NeMo's
  /// defaults differ in dropout (0.1 hidden and attention), the GELU (erf unless openai_gelu),
  /// weight decay (0.01), β2 (0.98), loss scaling (2^32, growth interval 1000, hysteresis 2) and
  /// fp8's amax history (1024): every one is set. Gradient accumulation follows from
  /// global_batch_size / (micro_batch_size × data parallel).
  static func nemo(_ r: Recipe, target: Target, reason: String, shared: [String]) -> Rendered {
    let s = r.spec, m = s.model, l = s.layout, o = r.optimizer
    let precision: String
    switch s.precision {
    case .fp32: precision = "32"
    case .bf16, .fp8: precision = "bf16-mixed"
    case .fp16: precision = "16-mixed"
    }
    var overrides = [
      "trainer.devices=\(target.devicesPerNode)", "trainer.num_nodes=\(target.nodes)", "trainer.accelerator=\(target.gpu ? "gpu" : "cpu")", "trainer.precision=\(precision)",
      "trainer.accumulate_grad_batches=1", "trainer.max_steps=\(r.steps)", "trainer.gradient_clip_val=\(number(o.clipNorm))",
      "model.tensor_model_parallel_size=\(l.tp)", "model.pipeline_model_parallel_size=\(target.pp(l))",
      "model.micro_batch_size=\(r.microBatchSize)", "model.global_batch_size=\(s.globalBatch)",
      "model.encoder_seq_length=\(m.seq)", "model.max_position_embeddings=\(m.seq)", "model.num_layers=\(m.layers)", "model.hidden_size=\(m.hidden)",
      "model.ffn_hidden_size=\(m.mlpHidden)", "model.num_attention_heads=\(m.heads)",
      "model.init_method_std=\(number(Recipe.initStandardDeviation))", "model.hidden_dropout=0.0", "model.attention_dropout=0.0", "model.ffn_dropout=0.0",
      "model.normalization=layernorm", "model.layernorm_epsilon=\(number(Recipe.layerNormEpsilon))", "model.bias=True",
      "model.activation=\(m.mlp == .swiglu ? "swiglu" : "gelu")", "model.openai_gelu=\(m.mlp == .swiglu ? "False" : "True")",
      "model.position_embedding_type=\(m.positions == .rotary ? "rope" : "learned_absolute")", "model.share_embeddings_and_output_weights=\(target.tiedEmbeddings ? "True" : "False")",
      "model.seed=\(s.seed)",
      "model.optim.name=\(target.zero >= 1 ? "distributed_fused_adam" : "fused_adam")", "model.optim.lr=\(number(o.learningRate))",
      "model.optim.weight_decay=\(number(o.weightDecay))", "'model.optim.betas=[\(number(o.beta1)),\(number(o.beta2))]'", "+model.optim.eps=\(number(o.epsilon))",
      "model.optim.sched.name=CosineAnnealing", "model.optim.sched.warmup_steps=\(o.warmupSteps)", "model.optim.sched.constant_steps=0",
      "model.optim.sched.min_lr=\(number(r.minimumLearningRate))",
    ]
    var unexpressed = shared
    if m.kvHeads != m.heads { overrides.append("model.num_query_groups=\(m.kvHeads)") }
    if l.recompute {
      overrides += ["model.activations_checkpoint_granularity=full", "model.activations_checkpoint_method=uniform", "model.activations_checkpoint_num_layers=1"]
    } else if target.selectiveRecompute {
      overrides.append("model.activations_checkpoint_granularity=selective")
    }
    // Context parallelism is read by NeMo's base model (cfg.get('context_parallel_size', 1)) but
    // is not a key of megatron_gpt_config.yaml: added with +.
    if target.cp > 1 { overrides.append("+model.context_parallel_size=\(target.cp)") }
    if target.virtualStages > 1 { overrides.append("model.virtual_pipeline_model_parallel_size=\(target.virtualStages)") }
    if target.sequenceParallel { overrides.append("model.sequence_parallel=True") }
    if let uneven = target.unevenPipeline {
      unexpressed.append("uneven pipeline stages (\(uneven.first) layers on the first and last of \(uneven.stages), the rest equal): megatron_gpt_config.yaml splits the layers evenly; Megatron-LM's --decoder-first/last-pipeline-num-layers (--format megatron) take it")
    }
    if target.zero >= 2 {
      unexpressed.append("ZeRO-\(target.zero): NeMo's distributed_fused_adam shards the optimizer state (ZeRO-1); sharding gradients\(target.zero == 3 ? " and weights" : "") is Megatron's FSDP (--format megatron)")
    }
    if s.precision == .fp16 {
      switch r.lossScaling {
      case .dynamic:
        overrides += [
          "model.native_amp_init_scale=\(number(Recipe.initialLossScale))", "model.native_amp_growth_interval=\(Recipe.lossScaleGrowthInterval)", "model.hysteresis=1",
        ]
      case .fixed(let scale): unexpressed.append("a fixed loss scale of \(number(scale)): NeMo's mixed precision scales dynamically")
      }
    }
    if s.precision == .fp8 {
      overrides += ["model.fp8=True", "model.fp8_e4m3=False", "model.fp8_hybrid=True"]
      switch s.fp8Scaling {
      case .delayed: overrides += ["model.fp8_margin=0", "model.fp8_amax_history_len=\(Recipe.fp8AmaxHistory)", "model.fp8_amax_compute_algo=max"]
      case .current, .mx:
        unexpressed.append("fp8 \(s.fp8Scaling.rawValue) scaling: this configuration's fp8 keys describe delayed scaling only (amax history, margin)")
      }
    }
    unexpressed.append(
      "embedding initialisation N(0, \(number(Recipe.embeddingStandardDeviation))²): NeMo draws the embeddings with init_method_std (\(number(Recipe.initStandardDeviation)))")
    if m.kind == .maskedLM {
      unexpressed.append("a masked LM: megatron_gpt_config trains a causal one; --format bionemo writes an ESM-2 recipe")
    }
    return shell(
      "NeMo megatron_gpt_pretraining.py overrides (megatron_gpt_config.yaml) for \(m.name) on \(target.devices) ranks", reason: reason, recipe: r, target: target,
      unexpressed: unexpressed, lines: overrides)
  }
}
