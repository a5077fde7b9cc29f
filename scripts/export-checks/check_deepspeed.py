# Hand check: DeepSpeed 0.19's own config class (DeepSpeedConfig) and scheduler on an export.
# Usage: python check_deepspeed.py EXPORT <data-parallel ranks>
import json, sys, torch
from deepspeed.runtime.config import DeepSpeedConfig
from deepspeed.runtime import lr_schedules
path, dp = sys.argv[1], int(sys.argv[2])
class MPU:
    def get_data_parallel_world_size(self): return dp
    def get_data_parallel_rank(self): return 0
    def get_model_parallel_world_size(self): return 1
    def get_model_parallel_rank(self): return 0
    def get_tensor_model_parallel_world_size(self): return 1
    def get_pipeline_model_parallel_world_size(self): return 1
    def get_sequence_parallel_world_size(self): return 1
import deepspeed.comm as dist
dist.is_initialized = lambda: True  # a data-parallel world of dp without processes: the config reads its size from the mpu
dist.get_rank = lambda *a, **k: 0
c = DeepSpeedConfig(json.load(open(path)), mpu=MPU())
print("batch", c.train_batch_size, c.train_micro_batch_size_per_gpu, c.gradient_accumulation_steps, "zero", c.zero_optimization_stage,
      "fp16", c.float16_config, "bf16", c.bfloat16_config.enabled, "opt", c.optimizer_name, c.optimizer_params, "sched", c.scheduler_name, "clip", c.gradient_clipping,
      "loss", getattr(c, "initial_dynamic_scale", None), getattr(c, "dynamic_loss_scale_args", None))
p = torch.nn.Parameter(torch.zeros(2))
opt = torch.optim.AdamW([p], **{k: v for k, v in c.optimizer_params.items()})
s = getattr(lr_schedules, c.scheduler_name)(opt, **c.scheduler_params)
lrs = []
for i in range(c.scheduler_params["total_num_steps"]):
    lrs.append(opt.param_groups[0]["lr"]); opt.step(); s.step()
print("lr at 0, warmup end, end:", lrs[0], lrs[c.scheduler_params["warmup_num_steps"]], lrs[-1])
