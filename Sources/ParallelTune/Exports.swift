import Foundation
import Profile
import Trainer

/// The pick in other trainers' terms. Each export names only options those tools document
/// (Megatron-LM's arguments.py, DeepSpeed's config JSON, torchrun's flags, NeMo's Hydra keys);
/// what a tool has no option for is said on the export's comment lines (shell exports) or left out.
public enum Export {
  public enum Format: String, CaseIterable, Sendable {
    case megatron, deepspeed, torchrun, nemo
  }

  public enum ExportError: Error, CustomStringConvertible {
    case noPick(path: String)
    case unknownFormat(String)
    public var description: String {
      switch self {
      case .noPick(let path): return "\(path) has no parallel pick; run `tune parallel` (or the whole `tune`) first"
      case .unknownFormat(let text): return "unknown export format \"\(text)\"; expected one of \(Format.allCases.map(\.rawValue).joined(separator: ", "))"
      }
    }
  }

  public static func render(_ section: ParallelSection, format: Format) -> String {
    guard let pick = section.pick else { return "" }
    switch format {
    case .megatron: return megatron(section.model, pick)
    case .deepspeed: return deepspeed(section.model, pick)
    case .torchrun: return torchrun(pick)
    case .nemo: return nemo(section.model, pick)
    }
  }

  static func microBatchSize(_ pick: ParallelPick) -> Int { pick.globalBatch / (pick.layout.dp * pick.layout.micro) }
  static func ranks(_ pick: ParallelPick) -> Int { pick.layout.ranks }

  /// Megatron-LM `pretrain_gpt.py` arguments (data parallelism is what the world leaves: world / (tp · pp)).
  static func megatron(_ model: ModelConfig, _ pick: ParallelPick) -> String {
    let l = pick.layout
    var args: [String] = [
      "--tensor-model-parallel-size \(l.tp)", "--pipeline-model-parallel-size \(l.pp)",
      "--micro-batch-size \(microBatchSize(pick))", "--global-batch-size \(pick.globalBatch)",
      "--num-layers \(model.layers)", "--hidden-size \(model.hidden)", "--num-attention-heads \(model.heads)",
      "--ffn-hidden-size \(model.mlpHidden)", "--seq-length \(model.seq)", "--max-position-embeddings \(model.seq)",
      "--position-embedding-type \(model.positions == .rotary ? "rope" : "learned_absolute")",
    ]
    if model.kvHeads != model.heads { args += ["--group-query-attention", "--num-query-groups \(model.kvHeads)"] }
    if model.mlp == .swiglu { args.append("--swiglu") }
    if l.recompute { args += ["--recompute-granularity full", "--recompute-method uniform", "--recompute-num-layers 1"] }
    if l.zero == 1 { args.append("--use-distributed-optimizer") }
    switch pick.precision {
    case .fp32: break
    case .bf16: args.append("--bf16")
    case .fp16: args += ["--fp16", "--initial-loss-scale 65536", "--loss-scale-window 2000"]
    case .fp8: args += ["--bf16", "--fp8-format hybrid", "--fp8-amax-history-len 16", "--fp8-amax-compute-algo max"]
    }
    return "# Megatron-LM arguments for \(model.name) on \(ranks(pick)) ranks (data parallel \(l.dp) = world / (tp × pp)); picked by ScaleTune: \(pick.reason)\n"
      + args.joined(separator: " \\\n") + "\n"
  }

  /// A DeepSpeed config (JSON). DeepSpeed's config has no tensor or pipeline degree: those are the
  /// model engine's (Megatron-DeepSpeed's --tensor-model-parallel-size and --pipeline-model-parallel-size).
  static func deepspeed(_ model: ModelConfig, _ pick: ParallelPick) -> String {
    var config: [String: Any] = [
      "train_batch_size": pick.globalBatch,
      "train_micro_batch_size_per_gpu": microBatchSize(pick),
      "gradient_accumulation_steps": pick.layout.micro,
      "gradient_clipping": 1.0,
      "zero_optimization": ["stage": pick.layout.zero],
    ]
    switch pick.precision {
    case .fp32: break
    case .bf16, .fp8: config["bf16"] = ["enabled": true]
    case .fp16: config["fp16"] = ["enabled": true, "loss_scale": 0, "initial_scale_power": 16, "loss_scale_window": 2000, "hysteresis": 1, "min_loss_scale": 1]
    }
    if pick.layout.recompute { config["activation_checkpointing"] = ["partition_activations": false, "contiguous_memory_optimization": false] }
    let data = (try? JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    return String(decoding: data, as: UTF8.self) + "\n"
  }

  /// torchrun on one node: a process per rank, each with its threads.
  static func torchrun(_ pick: ParallelPick) -> String {
    "# \(pick.layout) \(pick.precision), \(pick.threadsPerRank) thread(s) per rank; picked by ScaleTune: \(pick.reason)\n"
      + "OMP_NUM_THREADS=\(pick.threadsPerRank) torchrun --standalone --nnodes=1 --nproc_per_node=\(ranks(pick)) YOUR_TRAINING_SCRIPT.py\n"
  }

  /// NeMo / BioNeMo Hydra overrides.
  static func nemo(_ model: ModelConfig, _ pick: ParallelPick) -> String {
    let l = pick.layout
    let precision: String
    switch pick.precision {
    case .fp32: precision = "32"
    case .bf16, .fp8: precision = "bf16-mixed"
    case .fp16: precision = "16-mixed"
    }
    var overrides = [
      "trainer.devices=\(ranks(pick))", "trainer.num_nodes=1", "trainer.accelerator=cpu", "trainer.precision=\(precision)",
      "trainer.accumulate_grad_batches=1",
      "model.tensor_model_parallel_size=\(l.tp)", "model.pipeline_model_parallel_size=\(l.pp)",
      "model.micro_batch_size=\(microBatchSize(pick))", "model.global_batch_size=\(pick.globalBatch)",
    ]
    if l.recompute { overrides += ["model.activations_checkpoint_granularity=full", "model.activations_checkpoint_method=uniform", "model.activations_checkpoint_num_layers=1"] }
    if l.zero == 1 { overrides.append("model.optim.name=distributed_fused_adam") }
    if pick.precision == .fp8 { overrides += ["model.fp8=True", "model.fp8_hybrid=True", "model.fp8_amax_history_len=16", "model.fp8_amax_compute_algo=max"] }
    return "# NeMo overrides (gradient accumulation follows from global_batch_size / (micro_batch_size × data parallel)); picked by ScaleTune: \(pick.reason)\n"
      + overrides.joined(separator: " \\\n") + "\n"
  }
}
