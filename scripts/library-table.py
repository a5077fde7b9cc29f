#!/usr/bin/env python3
"""Runs `tune bench gemm` with every GEMM library interleaved in one run per shape, precision and
thread count, and prints a Markdown table: GFLOP/s (median of the interleaved samples) for
native, OpenBLAS (the core it loaded), BLIS and oneDNN, and each one's ratio to the fastest.

Native runs the blocking `tune gemm` chose (read from --profile: its fp32 winner on the reference
shape), not the untuned model seed. Precisions a library cannot run say so.

  scripts/library-table.py [--binary .build/release/tune] [--profile results/<host>.json]
                           [--shapes 1024x1024x1024,…] [--model-shapes small] [--precisions fp32,bf16]
                           [--threads 1,2] [--repeats 5]
"""
import argparse, json, subprocess, sys

parser = argparse.ArgumentParser()
parser.add_argument("--binary", default=".build/release/tune")
parser.add_argument("--profile")
parser.add_argument("--shapes", default="1024x1024x1024,2048x2048x2048,4096x4096x4096")
# The small model's training GEMMs at 2048 tokens, hidden 512 (forward NN; the backward NT and TN
# of the MLP): QKV, attention output, MLP up, MLP down, dX of MLP up, dW of MLP up.
parser.add_argument("--model-shapes", default="2048x1536x512,2048x512x512,2048x2048x512,2048x512x2048,2048x512x2048:NT,512x2048x2048:TN")
parser.add_argument("--precisions", default="fp32,bf16")
parser.add_argument("--threads", default="1,2")
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()

native_params = None
if args.profile:
    gemm = json.load(open(args.profile))["kernels"]["gemm"]
    for entry in gemm["entries"]:
        winner = entry.get("winner") or {}
        natives = [c for c in entry["candidates"] if c["backend"] == "native" and c["status"] == "ok"]
        if entry["precision"] == "fp32" and natives and entry.get("transA") is None and entry.get("transB") is None:
            best = max(natives, key=lambda c: c["gflops"]["median"])
            native_params = {k: v for k, v in best["parameters"].items() if k in ("kernel", "mc", "kc", "nc", "loop")}
            break

# What runs each precision: (label, backend); bf16's native is the fp32 kernels on decoded bf16, its
# amx the bf16 kernels (AMX tiles or AVX512-BF16).
backends = {"fp32": ["native", "openblas", "blis", "onednn"], "bf16": ["native", "amx", "onednn"]}

print("| precision | shape | threads | " + " | ".join(sorted({b for p in backends.values() for b in p}, key=["native", "openblas", "blis", "amx", "onednn"].index)) + " | fastest |")
columns = ["native", "openblas", "blis", "amx", "onednn"]
print("|---|---|---|" + "---|" * len(columns) + "---|")
for precision in args.precisions.split(","):
    for spec in args.shapes.split(",") + args.model_shapes.split(","):
        shape, _, trans = spec.partition(":")
        for threads in args.threads.split(","):
            names = backends[precision]
            command = [args.binary, "bench", "gemm", "--backend", names[0], "--versus", ",".join(names[1:]), "--precision", precision,
                       "--shape", shape, "--threads", threads, "--repeats", str(args.repeats), "--json"]
            if native_params:
                command += ["--params", ",".join(f"{k}={v}" for k, v in native_params.items())]
            if trans in ("TN", "TT"): command.append("--trans-a")
            if trans in ("NT", "TT"): command.append("--trans-b")
            run = subprocess.run(command, capture_output=True, text=True)
            if run.returncode not in (0, 3):
                print(f"| {precision} | {spec} | {threads} | failed: {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else run.returncode} |")
                continue
            rows = {r["candidate"]["backend"]: r for r in json.loads(run.stdout)}
            rates = {b: r["gflops"]["median"] for b, r in rows.items() if r.get("gflops") and r["passed"]}
            best = max(rates, key=rates.get) if rates else None
            cells = []
            for b in columns:
                if b not in names: cells.append("—")
                elif b not in rates: cells.append("wrong" if b in rows else "n/a")
                else:
                    extra = f" ({rows[b]['openblasCore']})" if rows[b].get("openblasCore") else ""
                    cells.append(f"{rates[b]:.0f}{extra} ({rates[b] / rates[best]:.2f})")
            print(f"| {precision} | {spec} | {threads} | " + " | ".join(cells) + f" | {best} |")
            sys.stdout.flush()
