import Foundation
import Profile
import Trainer

extension Export {
  /// A DeepSpeed config (JSON, which has no comments: what it cannot express goes to stderr).
  /// DeepSpeed's config has no tensor or pipeline degree, no model and no seed: those are the
  /// model engine's and the script's (Megatron-DeepSpeed's --tensor-model-parallel-size …).
  static func deepspeed(_ r: Recipe, target: Target, shared: [String]) -> Rendered {
    let s = r.spec, l = s.layout, o = r.optimizer
    var config: [String: Any] = [
      "train_batch_size": s.globalBatch,
      "train_micro_batch_size_per_gpu": r.microBatchSize,
      "gradient_accumulation_steps": l.micro,
      "gradient_clipping": o.clipNorm,
      "zero_optimization": ["stage": target.zero],
      "optimizer": [
        "type": "AdamW", "params": ["lr": o.learningRate, "betas": [o.beta1, o.beta2], "eps": o.epsilon, "weight_decay": o.weightDecay] as [String: Any],
      ] as [String: Any],
      "scheduler": [
        "type": "WarmupCosineLR",
        "params": [
          "total_num_steps": o.totalSteps, "warmup_num_steps": o.warmupSteps, "warmup_min_ratio": 0.0, "warmup_type": "linear",
          "cos_min_ratio": o.minimumRatio,
        ] as [String: Any],
      ] as [String: Any],
    ]
    var unexpressed = shared
    switch s.precision {
    case .fp32: break
    case .bf16: config["bf16"] = ["enabled": true]
    case .fp8:
      config["bf16"] = ["enabled": true]
      unexpressed.append("fp8 (\(s.fp8Scaling.rawValue) scaling, E4M3 forward, E5M2 gradients): DeepSpeed's config has no fp8; the model's Transformer Engine layers set it")
    case .fp16:
      switch r.lossScaling {
      case .dynamic:
        config["fp16"] = [
          "enabled": true, "loss_scale": 0, "initial_scale_power": Int(log2(Recipe.initialLossScale)), "loss_scale_window": Recipe.lossScaleGrowthInterval,
          "hysteresis": 1, "min_loss_scale": 1,
        ]
      case .fixed(let scale): config["fp16"] = ["enabled": true, "loss_scale": scale]
      }
    }
    if s.precision != .fp16, case .fixed(let scale) = r.lossScaling, scale != 1 {
      unexpressed.append("loss scale \(number(scale)): DeepSpeed scales the loss under fp16 only")
    }
    if l.recompute { config["activation_checkpointing"] = ["partition_activations": false, "contiguous_memory_optimization": false] }
    if l.tp > 1 || target.pp(l) > 1 {
      unexpressed.append("tensor parallel \(l.tp), pipeline parallel \(target.pp(l)): the model engine's (Megatron-DeepSpeed --tensor-model-parallel-size, --pipeline-model-parallel-size)")
    }
    if target.cp > 1 || target.virtualStages > 1 || target.sequenceParallel {
      unexpressed.append(
        "context parallel \(target.cp), \(target.virtualStages) virtual stage(s) per pipeline rank, sequence parallelism \(target.sequenceParallel ? "on" : "off"): the model engine's, not the config's")
    }
    if target.selectiveRecompute {
      unexpressed.append("selective recomputation (the attention core): the model's (flash attention, or checkpointing that block); DeepSpeed's activation checkpointing is per call the script makes")
    }
    unexpressed += [
      "the model (no dropout, \(s.model.mlp == .swiglu ? "SwiGLU" : "tanh GELU"), LayerNorm ε \(number(Recipe.layerNormEpsilon)), initialisation N(0, \(number(Recipe.initStandardDeviation))²) with residual projections / √(2·layers), embeddings N(0, \(number(Recipe.embeddingStandardDeviation))²)): the training script's",
      "seed \(s.seed): the training script's (deepspeed.runtime.utils.set_random_seed)",
      "weight decay on matrices only: DeepSpeed's AdamW decays every parameter it is given; pass biases and norms in a group with weight_decay 0",
      "the warm-up's first step: WarmupCosineLR starts from 0 (warmup_min_ratio), the trainer from \(number(o.learningRate))/\(o.warmupSteps); the two meet after the warm-up",
    ]
    let data = (try? JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    return Rendered(text: String(decoding: data, as: UTF8.self) + "\n", unexpressed: unexpressed)
  }
}
