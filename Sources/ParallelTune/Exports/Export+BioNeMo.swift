import Profile
import Trainer

extension Export {
  /// NVIDIA BioNeMo's ESM-2 recipe (bionemo-framework `bionemo-recipes/recipes/esm2_native_te`:
  /// `train_ddp.py`, or `train_fsdp2.py` where the pick shards the optimizer state), launched by
  /// torchrun with Hydra overrides of its `hydra_config/defaults.yaml`. Written from that recipe's
  /// source (read at bionemo-framework 3a9d005, 2026-05-15): data parallelism only (plus context
  /// parallelism, `cp_size`), no gradient accumulation, bf16 with Transformer Engine's fp8 recipes,
  /// AdamW from `adamw_kwargs`, a linear warm-up and linear decay, gradient clipping at norm 1.
  /// The model's shape goes through `config_kwargs` onto the recipe's bundled ESM-2 config.
  static func bionemo(_ r: Recipe, target: Target, reason: String, shared: [String]) throws -> Rendered {
    let s = r.spec, m = s.model, l = s.layout, o = r.optimizer
    guard m.kind == .maskedLM else {
      throw ExportError.unsupported(format: .bionemo, reason: "\(m.name) is a causal LM and BioNeMo's ESM-2 recipe trains masked-LM protein models; use megatron or nemo")
    }
    guard l.tp == 1 && target.pp(l) == 1 else {
      throw ExportError.unsupported(
        format: .bionemo,
        reason: "the layout \(l) has tensor or pipeline parallelism, which the ESM-2 recipe does not run (data parallelism only, with cp_size for context parallelism); use megatron or nemo, or pick among dp-only layouts (tune parallel --ranks)")
    }
    var unexpressed = shared
    // No gradient accumulation in the recipe: each data-parallel rank takes its whole share at once.
    let share = s.globalBatch / l.dp
    if l.micro > 1 {
      unexpressed.append("gradient accumulation over \(l.micro) micro-batches: the recipe has none, so each rank takes its whole share (\(share) sequences) as one micro-batch: the same global batch, more activation memory")
    }
    let script = target.zero >= 1 ? "train_fsdp2.py" : "train_ddp.py"
    if target.zero == 1 || target.zero == 2 {
      unexpressed.append("ZeRO-\(target.zero) (optimizer state\(target.zero == 2 ? " and gradients" : "") sharded): train_fsdp2.py shards parameters and gradients too (FSDP2): the same arithmetic, less memory")
    }
    var overrides = [
      "--config-name defaults",
      "config_name_or_path=./model_configs/nvidia/esm2_t6_8M_UR50D", "dataset.tokenizer_name=./tokenizers/esm2",
      "+config_kwargs.hidden_size=\(m.hidden)", "+config_kwargs.num_hidden_layers=\(m.layers)", "+config_kwargs.num_attention_heads=\(m.heads)",
      "+config_kwargs.intermediate_size=\(m.mlpHidden)", "+config_kwargs.max_position_embeddings=\(m.seq)",
      "+config_kwargs.position_embedding_type=\(m.positions == .rotary ? "rotary" : "absolute")",
      "+config_kwargs.hidden_dropout_prob=0.0", "+config_kwargs.attention_probs_dropout_prob=0.0", "+config_kwargs.token_dropout=false",
      "+config_kwargs.initializer_range=\(number(Recipe.initStandardDeviation))", "+config_kwargs.layer_norm_eps=\(number(Recipe.layerNormEpsilon))",
      "num_train_steps=\(r.steps)", "cp_size=\(target.cp)",
      "dataset.micro_batch_size=\(share)", "dataset.max_seq_length=\(m.seq)", "dataset.mlm_probability=\(number(Recipe.maskingProbability))",
      "adamw_kwargs.lr=\(number(o.learningRate))", "'adamw_kwargs.betas=[\(number(o.beta1)),\(number(o.beta2))]'", "adamw_kwargs.eps=\(number(o.epsilon))",
      "adamw_kwargs.weight_decay=\(number(o.weightDecay))",
      "lr_scheduler_kwargs.num_warmup_steps=\(o.warmupSteps)", "lr_scheduler_kwargs.num_training_steps=\(r.steps)",
      "wandb_init_args.name=scaletune-\(m.name)", "+wandb_init_args.mode=disabled", "checkpoint.ckpt_dir=null",
    ]
    switch s.precision {
    case .bf16: break
    case .fp8:
      let recipe: String
      switch s.fp8Scaling {
      case .delayed: recipe = "DelayedScaling"
      case .current: recipe = "Float8CurrentScaling"
      case .mx: recipe = "MXFP8BlockScaling"
      }
      overrides += ["fp8_config.enabled=true", "fp8_config.fp8_format=HYBRID", "fp8_config.fp8_recipe=transformer_engine.common.recipe.\(recipe)"]
      if s.fp8Scaling == .delayed {
        overrides += [
          "+fp8_config.fp8_recipe_kwargs.amax_history_len=\(Recipe.fp8AmaxHistory)", "+fp8_config.fp8_recipe_kwargs.amax_compute_algo=max",
          "+fp8_config.fp8_recipe_kwargs.margin=0",
        ]
      }
    case .fp32, .fp16:
      unexpressed.append("\(s.precision.rawValue): the recipe builds its model in bf16 (its fp32 master weights, use_fp32_master_weights, are train_fsdp2.py's and still compute in bf16)")
    }
    if case .fixed(let scale) = r.lossScaling, scale != 1 { unexpressed.append("loss scale \(number(scale)): the recipe trains bf16 without loss scaling") }
    unexpressed += [
      "schedule: the recipe's scheduler decays linearly to a tenth of the rate over 90% of num_training_steps; the trainer's decays by a cosine to \(number(r.minimumLearningRate)) at step \(o.totalSteps)",
      "gradient clipping: the recipe clips at norm 1.0 in its code (the trainer: \(number(o.clipNorm)))",
      "seed \(s.seed): the recipe sets none",
      "weight decay on matrices only: the recipe's AdamW decays every parameter",
      "the head: ESM-2's LM head adds a dense layer, GELU and LayerNorm before the tied decoder; the trainer's head is the final LayerNorm and the tied embedding",
      "GELU: the trainer's is the tanh form; the recipe's is Transformer Engine's `gelu` (config encoder_activation)",
      "embedding initialisation N(0, \(number(Recipe.embeddingStandardDeviation))²): the recipe draws every weight with initializer_range",
    ]
    if m.kvHeads != m.heads { unexpressed.append("grouped-query attention (\(m.kvHeads) key/value heads): ESM-2 has none") }
    if m.mlp == .swiglu { unexpressed.append("SwiGLU: ESM-2's MLP is GELU") }
    if target.virtualStages > 1 || target.sequenceParallel { unexpressed.append("virtual stages, sequence parallelism: the recipe has no pipeline or tensor parallelism") }
    if target.selectiveRecompute { unexpressed.append("selective recomputation: Transformer Engine's flash attention recomputes the attention core in the backward anyway") }
    let launch =
      target.gpu
      ? "torchrun --nnodes=\(target.nodes) --nproc_per_node=\(target.devicesPerNode)\(target.nodes > 1 ? " --rdzv_backend=c10d --rdzv_endpoint=FIRST_NODE:29500" : "") \(script)"
      : "OMP_NUM_THREADS=\(s.threadsPerRank) torchrun --nproc_per_node=\(l.dp) \(script)"
    return shell(
      "BioNeMo ESM-2 recipe (bionemo-recipes/recipes/esm2_native_te) for \(m.name) on \(target.devices) ranks (\(l.dp) data-parallel\(target.cp > 1 ? " × \(target.cp) context-parallel" : "")); run in the recipe's directory",
      reason: reason, recipe: r, target: target, unexpressed: unexpressed, lines: [launch] + overrides)
  }
}
