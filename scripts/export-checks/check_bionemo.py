# Hand check: bionemo-framework esm2_native_te (3a9d005) hydra_config/defaults.yaml composed by Hydra with an
# export's overrides; then the recipe's own AdamW and scheduler call and transformers' EsmConfig on them.
# Usage: python check_bionemo.py EXPORT <bionemo-framework>/bionemo-recipes/recipes/esm2_native_te
import sys, shlex, json, torch
from hydra import initialize_config_dir, compose
from omegaconf import OmegaConf
recipe = sys.argv[2]
sys.path.insert(0, recipe)
from scheduler import get_linear_schedule_with_warmup
text = open(sys.argv[1]).read()
lines = [l for l in text.splitlines() if not l.startswith("#")]
words = shlex.split(" ".join(l.rstrip("\\") for l in lines))
script = next(w for w in words if w.endswith(".py"))
nproc = int(next(w for w in words if w.startswith("--nproc_per_node=")).split("=")[1])
rest = words[words.index(script) + 1:]
name = rest[rest.index("--config-name") + 1]
overrides = [w for i, w in enumerate(rest) if w != "--config-name" and (i == 0 or rest[i - 1] != "--config-name")]
with initialize_config_dir(config_dir=recipe + "/hydra_config", version_base="1.2"):
    cfg = compose(config_name=name, overrides=overrides)
missing = OmegaConf.missing_keys(cfg)
print("script", script, "world", nproc, "missing", sorted(missing))
print("global batch", cfg.dataset.micro_batch_size * nproc * cfg.cp_size, "steps", cfg.num_train_steps)
p = torch.nn.Parameter(torch.zeros(2))
opt = torch.optim.AdamW([p], **OmegaConf.to_container(cfg.adamw_kwargs))
s = get_linear_schedule_with_warmup(opt, **OmegaConf.to_container(cfg.lr_scheduler_kwargs))
print("adamw", opt.defaults["lr"], opt.defaults["betas"], opt.defaults["eps"], opt.defaults["weight_decay"])
print("fp8", OmegaConf.to_container(cfg.fp8_config))
try:
    from transformers import EsmConfig
    base = json.load(open(recipe + "/model_configs/nvidia/esm2_t6_8M_UR50D/config.json"))
    kwargs = OmegaConf.to_container(cfg.config_kwargs)
    c = EsmConfig(**{**base, **kwargs})
    unknown = [k for k in kwargs if k not in EsmConfig().to_dict()]
    print("EsmConfig", c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size, c.hidden_dropout_prob, c.token_dropout, c.position_embedding_type, "unknown keys", unknown)
except ImportError as e:
    print("transformers:", e)
