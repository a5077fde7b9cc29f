#!/usr/bin/env python3
"""Runs `train --json` once per layout and precision and prints a Markdown table of the medians
over the timed steps (the first two are warm-up): tokens/s, MFU, step time, the shares of
communication and pipeline bubble, and peak memory per rank.

  scripts/train-table.py [--binary .build/release/train] [--model small] [--steps 6] [--batch 8]
                         [--layouts "dp=1;dp=2;tp=2;pp=2,micro=4"] [--precisions fp32,bf16] [-- extra train flags]
"""
import argparse, json, statistics, subprocess, sys

parser = argparse.ArgumentParser()
parser.add_argument("--binary", default=".build/release/train")
parser.add_argument("--model", default="small")
parser.add_argument("--steps", type=int, default=6)
parser.add_argument("--batch", type=int, default=8)
parser.add_argument("--layouts", default="dp=1;dp=2;dp=2,zero=1;tp=2;pp=2,micro=4;pp=2,micro=8;micro=4,recompute=on")
parser.add_argument("--precisions", default="fp32")
parser.add_argument("extra", nargs="*")
args = parser.parse_args()

print("| precision | layout | tokens/s | MFU | step s | comm | bubble | peak MiB/rank | RSS peak MiB |")
print("|---|---|---|---|---|---|---|---|---|")
for precision in args.precisions.split(","):
    for layout in args.layouts.split(";"):
        command = [args.binary, "--model", args.model, "--steps", str(args.steps), "--batch", str(args.batch),
                   "--layout", layout, "--precision", precision, "--json"] + args.extra
        run = subprocess.run(command, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"| {precision} | {layout} | failed: {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else run.returncode} |||||||")
            continue
        steps = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")][2:]
        median = lambda key: statistics.median(step[key] for step in steps)
        seconds = median("seconds")
        mfu = statistics.median(step["mfu"] for step in steps) if steps[0].get("mfu") is not None else float("nan")
        peak = max(steps[-1]["peakBytesPerRank"]) / 2**20
        print(f"| {precision} | {layout} | {median('tokensPerSecond'):.0f} | {100 * mfu:.1f}% | {seconds:.2f} | "
              f"{100 * median('communicationSeconds') / seconds:.1f}% | {100 * median('bubbleSeconds') / seconds:.1f}% | "
              f"{'/'.join(str(b >> 20) for b in steps[-1]['peakBytesPerRank'])} | {steps[-1]['rssPeakBytes'] / 2**20:.0f} |")
        sys.stdout.flush()
