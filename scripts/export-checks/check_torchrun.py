# Hand check: torch 2.5.1's own torchrun parser (torch.distributed.run) on an export's command.
# Usage: python check_torchrun.py EXPORT
import sys, shlex
from torch.distributed.run import get_args_parser
line = " ".join(l.rstrip("\\") for l in open(sys.argv[1]).read().splitlines() if not l.startswith("#"))
words = shlex.split(line)
words = words[words.index("torchrun") + 1:]
script = next(i for i, w in enumerate(words) if w.endswith(".py")); words = words[:script + 1]
a = get_args_parser().parse_args(words)
print("nnodes", a.nnodes, "nproc_per_node", a.nproc_per_node, "standalone", a.standalone, "script", a.training_script)
