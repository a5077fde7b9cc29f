import Foundation
import Planner
import Profile
import Testing

@testable import ParallelTune
@testable import Trainer

/// What a tool's option takes.
enum OptionType: Equatable {
  case flag, int, float, string
  case choice([String])
  /// A bracketed list of floats (Hydra's `[0.9,0.95]`).
  case floats
  case bool

  func accepts(_ value: String?) -> Bool {
    switch self {
    case .flag: return value == nil
    case .int: return value.flatMap { Int($0) } != nil
    case .float: return value.flatMap { Double($0) } != nil
    case .string: return value.map { !$0.isEmpty } ?? false
    case .choice(let options): return value.map(options.contains) ?? false
    case .bool: return value.map { ["true", "false", "True", "False"].contains($0) } ?? false
    case .floats:
      guard let value, value.hasPrefix("["), value.hasSuffix("]") else { return false }
      return value.dropFirst().dropLast().split(separator: ",").allSatisfy { Double($0) != nil }
    }
  }
}

/// Every export against the option names and value types its tool documents, read from the
/// tool's own source (files and versions cited by each table), its batch arithmetic, and the
/// recipe it must carry. The same exports were run through the real tools by hand
/// (scripts/export-checks): Megatron-LM's parse_args and validate_args, DeepSpeed 0.19's
/// DeepSpeedConfig and WarmupCosineLR, Hydra composing NeMo's and BioNeMo's configurations, and
/// torch 2.5.1's torchrun parser.
@Suite struct ExportTests {
  /// Megatron-LM at d98e8a64dd (2026): megatron/training/arguments.py (argparse), and the
  /// dataclass fields it turns into flags (`ArgumentGroupFactory`, megatron/training/argument_utils.py:
  /// `--` + the field name with dashes, or the field's `arg_names`) in
  /// megatron/core/transformer/transformer_config.py and megatron/training/config/*.py.
  static let megatron: [String: OptionType] = [
    "--tensor-model-parallel-size": .int, "--pipeline-model-parallel-size": .int, "--micro-batch-size": .int, "--global-batch-size": .int,
    "--num-layers": .int, "--hidden-size": .int, "--num-attention-heads": .int, "--ffn-hidden-size": .int, "--seq-length": .int,
    "--max-position-embeddings": .int, "--position-embedding-type": .choice(["learned_absolute", "rope", "yarn", "mrope", "relative", "none"]),
    "--group-query-attention": .flag, "--num-query-groups": .int, "--swiglu": .flag, "--openai-gelu": .flag,
    "--recompute-granularity": .choice(["full", "selective"]), "--recompute-method": .choice(["uniform", "block"]), "--recompute-num-layers": .int,
    "--use-distributed-optimizer": .flag, "--bf16": .flag, "--fp16": .flag, "--initial-loss-scale": .float, "--loss-scale-window": .float,
    "--hysteresis": .int, "--min-loss-scale": .float, "--loss-scale": .float, "--fp8-format": .choice(["e4m3", "hybrid"]),
    "--fp8-recipe": .choice(["tensorwise", "delayed", "mxfp8", "blockwise", "custom"]), "--fp8-amax-history-len": .int,
    "--fp8-amax-compute-algo": .choice(["most_recent", "max"]), "--fp8-margin": .int, "--norm-epsilon": .float, "--hidden-dropout": .float,
    "--attention-dropout": .float, "--init-method-std": .float, "--seed": .int,
    "--optimizer": .choice(["adam", "sgd", "muon", "dist_muon", "lion", "soap", "adaptive_muon"]), "--weight-decay": .float, "--adam-beta1": .float,
    "--adam-beta2": .float, "--adam-eps": .float, "--clip-grad": .float, "--lr": .float, "--min-lr": .float,
    "--lr-decay-style": .choice(["constant", "linear", "cosine", "inverse-square-root", "WSD"]), "--lr-warmup-iters": .int, "--lr-decay-iters": .int,
    "--train-iters": .int,
    // The cluster planner's dimensions: TransformerConfig's (ModelParallelConfig) context_parallel_size and
    // sequence_parallel; arguments.py's --num-layers-per-virtual-pipeline-stage,
    // --untie-embeddings-and-output-weights and --data-parallel-sharding-strategy;
    // DistributedInitConfig's use_megatron_fsdp.
    "--context-parallel-size": .int, "--num-layers-per-virtual-pipeline-stage": .int, "--sequence-parallel": .flag,
    "--untie-embeddings-and-output-weights": .flag, "--use-megatron-fsdp": .flag,
    "--data-parallel-sharding-strategy": .choice(["no_shard", "optim", "optim_grads", "optim_grads_params"]),
    // CheckpointConfig's ckpt_format (megatron/training/config/training_config.py); arguments.py's
    // uneven first and last pipeline stages.
    "--ckpt-format": .choice(["torch", "torch_dist", "torch_dcp", "fsdp_dtensor"]),
    "--decoder-first-pipeline-num-layers": .int, "--decoder-last-pipeline-num-layers": .int,
  ]

  /// DeepSpeed 0.19.0: deepspeed/runtime/constants.py (batch, clipping, fp16 and bf16 keys),
  /// runtime/zero/config.py (`stage`), runtime/activation_checkpointing/config.py, and
  /// runtime/lr_schedules.py (WarmupCosineLR's parameters; WARMUP_TYPE's "log"/"linear").
  static let deepspeed: [String: [String: OptionType]] = [
    "": [
      "train_batch_size": .int, "train_micro_batch_size_per_gpu": .int, "gradient_accumulation_steps": .int, "gradient_clipping": .float,
    ],
    "zero_optimization": ["stage": .int],
    "bf16": ["enabled": .bool],
    "fp16": ["enabled": .bool, "loss_scale": .float, "initial_scale_power": .int, "loss_scale_window": .int, "hysteresis": .int, "min_loss_scale": .float],
    "activation_checkpointing": ["partition_activations": .bool, "contiguous_memory_optimization": .bool],
    "optimizer": ["type": .choice(["Adam", "AdamW"])],
    "optimizer.params": ["lr": .float, "betas": .floats, "eps": .float, "weight_decay": .float],
    "scheduler": ["type": .choice(["WarmupCosineLR"])],
    "scheduler.params": [
      "total_num_steps": .int, "warmup_num_steps": .int, "warmup_min_ratio": .float, "warmup_type": .choice(["log", "linear"]), "cos_min_ratio": .float,
    ],
  ]

  /// NeMo at 8cfedd7203 (2025-09-20): examples/nlp/language_modeling/conf/megatron_gpt_config.yaml
  /// (types from its values and comments); `+model.optim.eps` adds AdamW's ε, which that file
  /// leaves to the optimizer's default.
  static let nemo: [String: OptionType] = [
    "trainer.devices": .int, "trainer.num_nodes": .int, "trainer.accelerator": .choice(["gpu", "cpu"]),
    "trainer.precision": .choice(["32", "16-mixed", "bf16-mixed"]), "trainer.accumulate_grad_batches": .int, "trainer.max_steps": .int,
    "trainer.gradient_clip_val": .float, "model.tensor_model_parallel_size": .int, "model.pipeline_model_parallel_size": .int,
    "model.micro_batch_size": .int, "model.global_batch_size": .int, "model.encoder_seq_length": .int, "model.max_position_embeddings": .int,
    "model.num_layers": .int, "model.hidden_size": .int, "model.ffn_hidden_size": .int, "model.num_attention_heads": .int, "model.num_query_groups": .int,
    "model.init_method_std": .float, "model.hidden_dropout": .float, "model.attention_dropout": .float, "model.ffn_dropout": .float,
    "model.normalization": .choice(["layernorm", "rmsnorm"]), "model.layernorm_epsilon": .float, "model.bias": .bool,
    "model.activation": .choice(["gelu", "geglu", "swiglu", "reglu", "squared-relu", "fast-geglu", "fast-swiglu", "fast-reglu"]),
    "model.openai_gelu": .bool, "model.position_embedding_type": .choice(["learned_absolute", "rope", "alibi", "kerple", "xpos", "sandwich"]),
    "model.share_embeddings_and_output_weights": .bool, "model.seed": .int,
    "model.activations_checkpoint_granularity": .choice(["selective", "full"]), "model.activations_checkpoint_method": .choice(["uniform", "block"]),
    "model.activations_checkpoint_num_layers": .int, "model.native_amp_init_scale": .float, "model.native_amp_growth_interval": .int,
    "model.hysteresis": .int, "model.fp8": .bool, "model.fp8_e4m3": .bool, "model.fp8_hybrid": .bool, "model.fp8_margin": .int,
    "model.fp8_amax_history_len": .int, "model.fp8_amax_compute_algo": .choice(["most_recent", "max"]),
    "model.optim.name": .choice(["fused_adam", "distributed_fused_adam"]), "model.optim.lr": .float, "model.optim.weight_decay": .float,
    "model.optim.betas": .floats, "+model.optim.eps": .float, "model.optim.sched.name": .choice(["CosineAnnealing"]),
    "model.optim.sched.warmup_steps": .int, "model.optim.sched.constant_steps": .int, "model.optim.sched.min_lr": .float,
    // The yaml's virtual_pipeline_model_parallel_size and sequence_parallel; context_parallel_size is
    // read by NeMo's megatron_base_model.py (cfg.get('context_parallel_size', 1)), not a key of the yaml.
    "model.virtual_pipeline_model_parallel_size": .int, "model.sequence_parallel": .bool, "+model.context_parallel_size": .int,
  ]

  /// bionemo-framework at 3a9d005 (2026-05-15), bionemo-recipes/recipes/esm2_native_te:
  /// hydra_config/defaults.yaml (keys and types), train_ddp.py and train_fsdp2.py (what they read),
  /// and for `+config_kwargs.*` the ESM-2 model config the recipe ships
  /// (model_configs/nvidia/esm2_t6_8M_UR50D/config.json); fp8 recipe classes and keyword arguments
  /// from Transformer Engine's transformer_engine.common.recipe (DelayedScaling(margin,
  /// fp8_format, amax_history_len, amax_compute_algo), Float8CurrentScaling, MXFP8BlockScaling).
  static let bionemo: [String: OptionType] = [
    "config_name_or_path": .string, "dataset.tokenizer_name": .string, "+config_kwargs.hidden_size": .int, "+config_kwargs.num_hidden_layers": .int,
    "+config_kwargs.num_attention_heads": .int, "+config_kwargs.intermediate_size": .int, "+config_kwargs.max_position_embeddings": .int,
    "+config_kwargs.position_embedding_type": .choice(["rotary", "absolute"]), "+config_kwargs.hidden_dropout_prob": .float,
    "+config_kwargs.attention_probs_dropout_prob": .float, "+config_kwargs.token_dropout": .bool, "+config_kwargs.initializer_range": .float,
    "+config_kwargs.layer_norm_eps": .float, "num_train_steps": .int, "cp_size": .int, "dataset.micro_batch_size": .int,
    "dataset.max_seq_length": .int, "dataset.mlm_probability": .float, "adamw_kwargs.lr": .float, "adamw_kwargs.betas": .floats,
    "adamw_kwargs.eps": .float, "adamw_kwargs.weight_decay": .float, "lr_scheduler_kwargs.num_warmup_steps": .int,
    "lr_scheduler_kwargs.num_training_steps": .int, "wandb_init_args.name": .string, "+wandb_init_args.mode": .choice(["online", "offline", "disabled"]),
    "checkpoint.ckpt_dir": .choice(["null"]), "fp8_config.enabled": .bool, "fp8_config.fp8_format": .choice(["E4M3", "HYBRID"]),
    "fp8_config.fp8_recipe": .choice([
      "transformer_engine.common.recipe.DelayedScaling", "transformer_engine.common.recipe.Float8CurrentScaling",
      "transformer_engine.common.recipe.MXFP8BlockScaling",
    ]),
    "+fp8_config.fp8_recipe_kwargs.amax_history_len": .int, "+fp8_config.fp8_recipe_kwargs.amax_compute_algo": .choice(["max", "most_recent"]),
    "+fp8_config.fp8_recipe_kwargs.margin": .int,
  ]

  /// torch 2.5.1's torch/distributed/run.py parser (the options an export uses).
  static let torchrun: [String: OptionType] = ["--standalone": .flag, "--nnodes": .int, "--nproc_per_node": .int]

  static func section(_ model: String, _ layout: String, _ precision: TrainingPrecision, scaling: FP8Scaling = .delayed, lossScale: LossScaling? = nil) throws
    -> ParallelSection
  {
    let model = try ModelConfig.named(model)
    let parsed = try ParallelLayout.parse(layout)
    let spec = TrainingSpec(
      model: model, layout: parsed, precision: precision, fp8Scaling: scaling, lossScale: lossScale, threadsPerRank: 2, globalBatch: 16,
      schedule: TrainingSpec.Schedule(learningRate: 6e-4), seed: 7)
    let pick = ParallelPick(layout: parsed, precision: precision, threadsPerRank: 2, globalBatch: 16, tokensPerSecond: 1000, reason: "test", spec: spec)
    return ParallelSection(
      fingerprint: "0123456789abcdef", model: model, worldThreads: 8, globalBatch: 16, pick: pick, trials: [], referenceLosses: [],
      collectiveGBPerSecond: 5, budgetSeconds: 1, spentSeconds: 1, tolerances: [:])
  }

  /// A shell export's options: `--name value`, `--flag`, or `key=value`, after the comment lines
  /// (and, where it launches with torchrun, the launcher and script).
  static func options(_ text: String) -> [(name: String, value: String?)] {
    let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
    var words: [String] = []
    for line in lines {
      for word in line.split(separator: " ") where word != "\\" {
        let quoted = word.hasPrefix("'") && word.hasSuffix("'")
        words.append(quoted ? String(word.dropFirst().dropLast()) : String(word))
      }
    }
    var result: [(String, String?)] = []
    var index = 0
    while index < words.count {
      let word = words[index]
      if word.hasPrefix("--"), let equals = word.firstIndex(of: "=") {
        result.append((String(word[..<equals]), String(word[word.index(after: equals)...])))
      } else if word.hasPrefix("--") {
        let next = index + 1 < words.count ? words[index + 1] : nil
        if let next, !next.hasPrefix("--"), !next.contains("=") || word == "--config-name" {
          result.append((word, next))
          index += 1
        } else {
          result.append((word, nil))
        }
      } else if let equals = word.firstIndex(of: "=") {
        result.append((String(word[..<equals]), String(word[word.index(after: equals)...])))
      }
      index += 1
    }
    return result
  }

  static func check(_ text: String, against table: [String: OptionType], _ tool: String, skip: Set<String> = []) -> [String: String?] {
    var seen: [String: String?] = [:]
    for (name, value) in options(text) where !skip.contains(name) {
      #expect(seen[name] == nil, "\(tool): \(name) given twice")
      seen[name] = value
      guard let type = table[name] else {
        Issue.record("\(tool): \(name) is not an option the tool documents")
        continue
      }
      #expect(type.accepts(value), "\(tool): \(name) \(value ?? "(flag)") is not \(type)")
    }
    return seen
  }

  static let layouts = ["dp=2,tp=2,pp=2,micro=2,recompute=on,zero=1", "dp=4,micro=4", "dp=2,micro=1,zero=1"]

  @Test(arguments: layouts, TrainingPrecision.allCases)
  func everyExportUsesOnlyDocumentedNamesAndCarriesTheRecipe(layout: String, precision: TrainingPrecision) throws {
    let section = try Self.section("small", layout, precision)
    let l = section.pick!.layout, micro = 16 / (l.dp * l.micro)
    let recipe = try Recipe(spec: section.pick!.spec!, steps: 500)
    #expect(recipe.optimizer.warmupSteps == 50 && recipe.optimizer.totalSteps == 500)

    let megatron = try Export.render(section, format: .megatron, steps: 500)
    let m = Self.check(megatron.text, against: Self.megatron, "megatron")
    #expect(m["--tensor-model-parallel-size"] == "\(l.tp)" && m["--pipeline-model-parallel-size"] == "\(l.pp)")
    #expect(m["--micro-batch-size"] == "\(micro)" && m["--global-batch-size"] == "16", "Megatron's accumulation is global / (micro × world/(tp·pp))")
    #expect(m["--hidden-dropout"] == "0.0" && m["--attention-dropout"] == "0.0" && m.keys.contains("--openai-gelu"))
    #expect(m["--weight-decay"] == "0.1" && m["--adam-beta2"] == "0.95" && m["--adam-eps"] == "1e-08" && m["--clip-grad"] == "1")
    #expect(m["--lr"] == "0.0006" && m["--min-lr"] == "6e-05" && m["--lr-decay-style"] == "cosine" && m["--lr-warmup-iters"] == "50")
    #expect(m["--train-iters"] == "500" && m["--lr-decay-iters"] == "500" && m["--seed"] == "7" && m["--init-method-std"] == "0.02")
    #expect(m.keys.contains("--use-distributed-optimizer") == (l.zero == 1) && m.keys.contains("--recompute-granularity") == l.recompute)
    #expect(m.keys.contains("--fp16") == (precision == .fp16) && m.keys.contains("--bf16") == (precision == .bf16 || precision == .fp8))
    if precision == .fp16 { #expect(m["--hysteresis"] == "1" && m["--initial-loss-scale"] == "65536" && m["--loss-scale-window"] == "2000") }
    if precision == .fp8 {
      #expect(m["--fp8-format"] == "hybrid" && m["--fp8-recipe"] == "delayed" && m["--fp8-amax-history-len"] == "16" && m["--fp8-amax-compute-algo"] == "max")
    }
    #expect(megatron.unexpressed.contains { $0.hasPrefix("embedding initialisation") })
    for item in megatron.unexpressed { #expect(megatron.text.contains("# not expressible here: " + item), "the comment lines repeat \(item)") }

    let deepspeed = try Export.render(section, format: .deepspeed, steps: 500)
    let json = try #require(try JSONSerialization.jsonObject(with: Data(deepspeed.text.utf8)) as? [String: Any])
    func walk(_ object: [String: Any], _ path: String) {
      for (key, value) in object {
        let child = path.isEmpty ? key : path + "." + key
        if let nested = value as? [String: Any], Self.deepspeed[child] != nil {
          walk(nested, child)
          continue
        }
        guard let type = Self.deepspeed[path]?[key] else {
          Issue.record("deepspeed: \(child) is not a key DeepSpeed documents")
          continue
        }
        let accepted: Bool
        switch type {
        case .bool: accepted = value is Bool
        case .int: accepted = (value as? NSNumber).map { $0.doubleValue == Double($0.intValue) } ?? false
        case .float: accepted = value is NSNumber
        case .floats: accepted = (value as? [Double]) != nil
        default: accepted = type.accepts(value as? String)
        }
        #expect(accepted, "deepspeed: \(child) \(value) is not \(type)")
      }
    }
    walk(json, "")
    #expect(json["train_batch_size"] as? Int == 16 && json["gradient_accumulation_steps"] as? Int == l.micro)
    #expect((json["train_micro_batch_size_per_gpu"] as! Int) * l.micro * l.dp == 16, "DeepSpeed's batch identity over the data-parallel world")
    let optimizer = try #require(json["optimizer"] as? [String: Any]), params = try #require(optimizer["params"] as? [String: Any])
    #expect(optimizer["type"] as? String == "AdamW" && params["betas"] as? [Double] == [0.9, 0.95] && params["weight_decay"] as? Double == 0.1)
    let scheduler = try #require((json["scheduler"] as? [String: Any])?["params"] as? [String: Any])
    #expect(scheduler["total_num_steps"] as? Int == 500 && scheduler["warmup_num_steps"] as? Int == 50 && scheduler["cos_min_ratio"] as? Double == 0.1)
    #expect(deepspeed.unexpressed.contains { $0.hasPrefix("seed 7") }, "JSON has no comments: the seed is said on stderr")

    let nemo = try Export.render(section, format: .nemo, steps: 500)
    let n = Self.check(nemo.text, against: Self.nemo, "nemo")
    #expect(n["model.micro_batch_size"] == "\(micro)" && n["model.global_batch_size"] == "16" && n["trainer.devices"] == "\(l.ranks)")
    #expect(n["model.hidden_dropout"] == "0.0" && n["model.attention_dropout"] == "0.0" && n["model.openai_gelu"] == "True")
    #expect(n["model.optim.betas"] == "[0.9,0.95]" && n["model.optim.weight_decay"] == "0.1" && n["model.optim.sched.min_lr"] == "6e-05")
    #expect(n["trainer.max_steps"] == "500" && n["model.seed"] == "7")
    if precision == .fp16 { #expect(n["model.native_amp_init_scale"] == "65536" && n["model.native_amp_growth_interval"] == "2000" && n["model.hysteresis"] == "1") }
    if precision == .fp8 { #expect(n["model.fp8_amax_history_len"] == "16" && n["model.fp8_hybrid"] == "True") }

    let torchrun = try Export.render(section, format: .torchrun, steps: 500)
    let t = Self.check(torchrun.text, against: Self.torchrun, "torchrun", skip: ["OMP_NUM_THREADS"])
    #expect(t["--nproc_per_node"] == "\(l.ranks)" && torchrun.text.contains("OMP_NUM_THREADS=2"))
    #expect(torchrun.text.contains("# recipe: AdamW β1 0.9, β2 0.95"), "the recipe is on the comment lines for the script to follow")
  }

  @Test(arguments: ["dp=2,micro=2", "dp=4", "dp=2,zero=1"], [(TrainingPrecision.bf16, FP8Scaling.delayed), (.fp8, .delayed), (.fp8, .current), (.fp8, .mx), (.fp16, .delayed)])
  func theBioNeMoExportIsTheESM2RecipesKeys(layout: String, policy: (TrainingPrecision, FP8Scaling)) throws {
    let section = try Self.section("esm2-8m", layout, policy.0, scaling: policy.1)
    let l = section.pick!.layout
    let rendered = try Export.render(section, format: .bionemo, steps: 500)
    let b = Self.check(rendered.text, against: Self.bionemo, "bionemo", skip: ["--nproc_per_node", "--config-name", "OMP_NUM_THREADS"])
    #expect(rendered.text.contains("torchrun --nproc_per_node=\(l.dp) \(l.zero == 1 ? "train_fsdp2.py" : "train_ddp.py")"))
    // No accumulation in the recipe: micro-batch × data parallel is the global batch.
    #expect(b["dataset.micro_batch_size"] == "\(16 / l.dp)" && b["cp_size"] == "1")
    #expect(rendered.unexpressed.contains { $0.hasPrefix("gradient accumulation") } == (l.micro > 1))
    #expect(b["+config_kwargs.hidden_size"] == "320" && b["+config_kwargs.num_hidden_layers"] == "6" && b["+config_kwargs.intermediate_size"] == "1280")
    #expect(b["+config_kwargs.hidden_dropout_prob"] == "0.0" && b["+config_kwargs.token_dropout"] == "false")
    #expect(b["adamw_kwargs.betas"] == "[0.9,0.95]" && b["adamw_kwargs.weight_decay"] == "0.1" && b["adamw_kwargs.lr"] == "0.0006")
    #expect(b["lr_scheduler_kwargs.num_warmup_steps"] == "50" && b["num_train_steps"] == "500" && b["dataset.mlm_probability"] == "0.15")
    #expect(rendered.unexpressed.contains { $0.hasPrefix("schedule:") } && rendered.unexpressed.contains { $0.hasPrefix("seed 7") })
    switch policy {
    case (.fp8, let scaling):
      let recipe = ["delayed": "DelayedScaling", "current": "Float8CurrentScaling", "mx": "MXFP8BlockScaling"][scaling.rawValue]!
      #expect(b["fp8_config.enabled"] == "true" && b["fp8_config.fp8_recipe"] == "transformer_engine.common.recipe.\(recipe)")
      #expect((b["+fp8_config.fp8_recipe_kwargs.amax_history_len"] == "16") == (scaling == .delayed))
    case (.fp16, _):
      #expect(b["fp8_config.enabled"] == nil && rendered.unexpressed.contains { $0.hasPrefix("fp16") })
    default:
      #expect(b["fp8_config.enabled"] == nil)
    }
  }

  @Test func whatATargetCannotRunIsRefusedSayingWhatWould() throws {
    for (model, layout, expected) in [("small", "dp=2", "causal LM"), ("esm2-8m", "dp=2,tp=2", "tensor or pipeline"), ("esm2-8m", "pp=2,micro=2", "tensor or pipeline")] {
      #expect {
        try Export.render(try Self.section(model, layout, .bf16), format: .bionemo)
      } throws: { error in
        guard let error = error as? Export.ExportError, case .unsupported = error else { return false }
        return error.description.contains(expected) && error.description.contains("use megatron or nemo")
      }
    }
    #expect(throws: Export.ExportError.self) { try Export.render(try Self.section("small", "dp=2", .bf16), format: .megatron, steps: 0) }
    // A masked LM to Megatron's GPT script and NeMo's GPT config says so.
    let esm = try Self.section("esm2-8m", "dp=2", .bf16)
    #expect(try Export.render(esm, format: .megatron).unexpressed.contains { $0.contains("masked LM") })
    #expect(try Export.render(esm, format: .nemo).unexpressed.contains { $0.contains("masked LM") })
    // fp8 scalings NeMo's keys cannot describe are said, not dropped.
    #expect(try Export.render(try Self.section("small", "dp=2", .fp8, scaling: .mx), format: .nemo).unexpressed.contains { $0.contains("fp8 mx scaling") })
  }

  @Test func aPickWithoutASpecExportsTheDefaultsUnderItsLayout() throws {
    var section = try Self.section("small", "dp=2,micro=2", .bf16)
    section.pick!.spec = nil
    let m = Self.check(try Export.render(section, format: .megatron, steps: 100).text, against: Self.megatron, "megatron")
    #expect(m["--lr"] == "0.0003" && m["--seed"] == "1" && m["--micro-batch-size"] == "4" && m["--lr-warmup-iters"] == "10")
  }
}

/// The cluster planner's pick in the other trainers' terms: every dimension the node tuner's
/// layouts lack (context parallelism, virtual stages, selective recomputation, sequence
/// parallelism, ZeRO 2 and 3, an untied head, nodes of GPUs) under the names the tools read.
@Suite struct PlanExportTests {
  static func plan(_ model: String, _ cluster: String, batch: Int, layout: String, precision: TrainingPrecision) throws -> Plan {
    let c = try Cluster.parse(cluster)
    let planner = try Planner(estimator: Estimator(model: try PlanModel.named(model), cluster: c), globalBatch: batch, precisions: [precision])
    return planner.evaluate(try PlanLayout.parse(layout, devices: c.devices))
  }

  @Test func megatronAndNeMoTakeEveryDimension() throws {
    let plan = try Self.plan("llama3-70b", "nodes=8,devices=8,device=h100-sxm", batch: 128,
      layout: "tp=4,pp=4,cp=2,micro=64,virtualStages=5,recompute=selective,sequenceParallel=true,zero=2", precision: .fp8)
    #expect(plan.pick != nil, "the layout fits")
    let m = ExportTests.check(try Export.render(plan, format: .megatron).text, against: ExportTests.megatron, "megatron")
    #expect(m["--tensor-model-parallel-size"] == "4" && m["--pipeline-model-parallel-size"] == "4" && m["--context-parallel-size"] == "2")
    #expect(m["--num-layers-per-virtual-pipeline-stage"] == "4", "80 layers / (4 stages × 5 chunks)")
    #expect(m["--recompute-granularity"] == "selective" && m.keys.contains("--sequence-parallel") && m.keys.contains("--untie-embeddings-and-output-weights"))
    #expect(m.keys.contains("--use-megatron-fsdp") && m["--data-parallel-sharding-strategy"] == "optim_grads" && !m.keys.contains("--use-distributed-optimizer"))
    #expect(m["--ckpt-format"] == "fsdp_dtensor", "Megatron-FSDP saves in its own format only")
    #expect(m["--micro-batch-size"] == "1" && m["--global-batch-size"] == "128")
    let nemo = try Export.render(plan, format: .nemo)
    let n = ExportTests.check(nemo.text, against: ExportTests.nemo, "nemo")
    #expect(n["trainer.devices"] == "8" && n["trainer.num_nodes"] == "8" && n["trainer.accelerator"] == "gpu")
    #expect(n["+model.context_parallel_size"] == "2" && n["model.virtual_pipeline_model_parallel_size"] == "5" && n["model.sequence_parallel"] == "True")
    #expect(n["model.activations_checkpoint_granularity"] == "selective" && n["model.share_embeddings_and_output_weights"] == "False")
    #expect(nemo.unexpressed.contains { $0.hasPrefix("ZeRO-2") }, "NeMo's distributed optimizer is ZeRO-1: said")
  }

  /// Llama 3 405B's 126 layers on 16 stages: 8 on each middle stage, 7 on the first and last.
  @Test func unevenPipelineStagesGoToMegatronAndAreSaidElsewhere() throws {
    let plan = try Self.plan("llama3-405b", "nodes=256,devices=8,device=h200", batch: 512,
      layout: "tp=8,pp=16,micro=32,recompute=selective,sequenceParallel=true,zero=1", precision: .bf16)
    #expect(plan.pick != nil, "\(plan.pruned.map(\.reason))")
    let m = ExportTests.check(try Export.render(plan, format: .megatron).text, against: ExportTests.megatron, "megatron")
    #expect(m["--pipeline-model-parallel-size"] == "16" && m["--decoder-first-pipeline-num-layers"] == "7" && m["--decoder-last-pipeline-num-layers"] == "7")
    let nemo = try Export.render(plan, format: .nemo)
    #expect(ExportTests.check(nemo.text, against: ExportTests.nemo, "nemo")["model.pipeline_model_parallel_size"] == "16")
    #expect(nemo.unexpressed.contains { $0.hasPrefix("uneven pipeline stages (7 layers") })
  }

  @Test func deepSpeedTorchrunAndBioNeMoOnNodesOfGPUs() throws {
    let plan = try Self.plan("llama3-8b", "nodes=2,devices=8,device=h100-sxm", batch: 64, layout: "tp=2,micro=8,recompute=selective,sequenceParallel=true,zero=3", precision: .bf16)
    let json = try #require(try JSONSerialization.jsonObject(with: Data(try Export.render(plan, format: .deepspeed).text.utf8)) as? [String: Any])
    #expect((json["zero_optimization"] as? [String: Any])?["stage"] as? Int == 3)
    #expect(json["train_batch_size"] as? Int == 64 && json["train_micro_batch_size_per_gpu"] as? Int == 1)
    let torchrun = try Export.render(plan, format: .torchrun).text
    #expect(torchrun.contains("torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d") && !torchrun.contains("OMP_NUM_THREADS"))
    let esm = try Self.plan("esm2-3b", "nodes=1,devices=8,device=a100-80gb", batch: 64, layout: "dp=4,cp=2,micro=2,zero=1", precision: .bf16)
    let bionemo = try Export.render(esm, format: .bionemo).text
    #expect(bionemo.contains("torchrun --nnodes=1 --nproc_per_node=8 train_fsdp2.py") && bionemo.contains("cp_size=2"))
  }
}
