#!/usr/bin/env python3
"""Peer baseline: the seed's own MLX trainer (../shared/seed/train.py, unchanged) on the CPU.

train.py prints no timings, so this runs it twice with different step counts on the same
image and takes the difference of the wall times: the per-step cost without start-up, data
loading and export. train.py trains full-batch (every pixel each step) by default.

Prints one JSON line in nfield's benchmark record format.

Usage: python3 peer_seed_train.py IMAGE [--train-py PATH] [--max-dim 256] [--hidden 3]
           [--width 64] [--steps 3,8] [--commit SHA]
"""
import argparse, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import common_fields  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("image")
p.add_argument("--train-py", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "seed", "train.py"))
p.add_argument("--max-dim", type=int, default=256)
p.add_argument("--hidden", type=int, default=3, help="train.py --num-layers (SIREN hidden layers)")
p.add_argument("--width", type=int, default=64)
p.add_argument("--steps", default="3,8", help="two step counts; the difference of their wall times is timed")
p.add_argument("--commit", default="")
a = p.parse_args()

s1, s2 = (int(x) for x in a.steps.split(","))
image = os.path.abspath(a.image)
times = []
with tempfile.TemporaryDirectory() as tmp:
    for steps in (s1, s2):
        cmd = [sys.executable, os.path.abspath(a.train_py), "--model", "siren", "--image", image, "--max_dim", str(a.max_dim),
               "--steps", str(steps), "--num-layers", str(a.hidden), "--hidden-width", str(a.width), "--weights", "w.json"]
        t = time.perf_counter()
        subprocess.run(cmd, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    with open(os.path.join(tmp, "w.json")) as f:
        meta = json.load(f)["metadata"]["image"]
n = meta["width"] * meta["height"]
dt = (times[1] - times[0]) / (s2 - s1)


import mlx.core as mx  # noqa: E402  (only for the version)

print(json.dumps(dict(
    name=f"train/siren-{a.width}x{a.hidden}/b{n}", **common_fields("seed-train.py", a.commit, os.cpu_count()),
    batch=n, samples_per_s=round(n / dt),
    ms_per_step=round(dt * 1e3, 2), mlx=mx.__version__, image=f"{os.path.basename(image)} ({meta['width']}×{meta['height']})",
)), flush=True)
