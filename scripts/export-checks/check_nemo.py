# Hand check: NeMo's megatron_gpt_config.yaml (NeMo 8cfedd7) composed by Hydra with an export's overrides.
# Usage: python check_nemo.py EXPORT <NeMo>/examples/nlp/language_modeling/conf
import sys, shlex
from hydra import initialize_config_dir, compose
from omegaconf import OmegaConf
OmegaConf.register_new_resolver("multiply", lambda x, y: x * y, replace=True)
text = open(sys.argv[1]).read()
lines = [l for l in text.splitlines() if not l.startswith("#")]
overrides = shlex.split(" ".join(l.rstrip("\\") for l in lines))
with initialize_config_dir(config_dir=sys.argv[2], version_base=None):
    cfg = compose(config_name="megatron_gpt_config", overrides=overrides)
m, t = cfg.model, cfg.trainer
cp = m.get("context_parallel_size", 1)
dp = t.devices * t.num_nodes // (m.tensor_model_parallel_size * m.pipeline_model_parallel_size * cp)
print("nodes", t.num_nodes, "devices", t.devices, t.accelerator, "tp", m.tensor_model_parallel_size, "pp", m.pipeline_model_parallel_size, "cp", cp,
      "virtual", m.virtual_pipeline_model_parallel_size, "sequence parallel", m.sequence_parallel, "recompute", m.activations_checkpoint_granularity,
      "tied", m.share_embeddings_and_output_weights)
print("dp", dp, "micro", m.micro_batch_size, "global", m.global_batch_size, "accumulation", m.global_batch_size / (m.micro_batch_size * dp))
print({k: OmegaConf.to_container(m.optim, resolve=True)[k] for k in ["name", "lr", "weight_decay", "betas", "eps", "sched"]})
print("dropout", m.hidden_dropout, m.attention_dropout, m.ffn_dropout, "act", m.activation, m.openai_gelu, "amp", m.native_amp_init_scale, m.native_amp_growth_interval, m.hysteresis,
      "fp8", m.fp8, m.fp8_hybrid, m.fp8_amax_history_len, m.fp8_amax_compute_algo, "seed", m.seed, "prec", t.precision, "max_steps", t.max_steps)
