# Hand check: Megatron-LM's own argument parser (parse_args, validate_args) on an export's arguments.
# Usage: WORLD_SIZE=<ranks> PYTHONPATH=<Megatron-LM checkout> python check_megatron.py EXPORT
import sys, shlex, torch, typing, typing_extensions
typing.override = getattr(typing, "override", typing_extensions.override)  # Python 3.11 shim for the hand check
if not hasattr(torch, "float8_e8m0fnu"):
    torch.float8_e8m0fnu = torch.float8_e4m3fn  # this torch predates the dtype; the parser never uses it
text = open(sys.argv[1]).read()
lines = [l for l in text.splitlines() if not l.startswith("#")]
args = shlex.split(" ".join(l.rstrip("\\") for l in lines))
sys.argv = ["pretrain_gpt.py"] + args + ["--mock-data", "--tokenizer-type", "NullTokenizer", "--vocab-size", "256"]
from megatron.training.arguments import parse_args, validate_args
a = parse_args()
import os
a.world_size = int(os.environ.get("WORLD_SIZE", "1")); a.rank = 0  # the export's rank count
try:
    validate_args(a)
except Exception as e:
    print("validate_args:", type(e).__name__, e)
keys = ["tensor_model_parallel_size","pipeline_model_parallel_size","data_parallel_size","micro_batch_size","global_batch_size","num_layers","hidden_size","ffn_hidden_size","hidden_dropout","attention_dropout","openai_gelu","swiglu","weight_decay","adam_beta1","adam_beta2","adam_eps","clip_grad","lr","min_lr","lr_decay_style","lr_warmup_iters","lr_decay_iters","train_iters","init_method_std","seed","fp16","bf16","initial_loss_scale","loss_scale","loss_scale_window","hysteresis","min_loss_scale","fp8","fp8_recipe","fp8_amax_history_len","fp8_amax_compute_algo","fp8_margin","norm_epsilon","recompute_granularity","use_distributed_optimizer","position_embedding_type","group_query_attention","num_query_groups"]
for k in keys:
    print(k, getattr(a, k, "<missing>"))
