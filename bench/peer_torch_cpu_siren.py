#!/usr/bin/env python3
"""Peer baseline: PyTorch SIREN image fitting on the CPU.

The CPU twin of ../shared/bench/peer_torch_siren.py (which is CUDA-only): the same model
(2 -> width, `hidden` width->width sine layers, width -> 3 sigmoid; omega0 on the first layer),
the same loss (MSE on RGB in [0, 1]), Adam, pixel-centre coordinates in [-1, 1], random pixels
with replacement each step. Prints one JSON line in nfield's benchmark record format.

Usage: python3 peer_torch_cpu_siren.py IMAGE [--width 64] [--hidden 8] [--batch 16384]
           [--steps 20] [--lr 1e-3] [--compile] [--threads N] [--max-dim D] [--commit SHA]
"""
import argparse, json, math, os, sys, time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import common_fields  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("image")
p.add_argument("--width", type=int, default=64)
p.add_argument("--hidden", type=int, default=8)
p.add_argument("--omega0", type=float, default=30.0)
p.add_argument("--batch", type=int, default=1 << 14)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--compile", action="store_true", help="torch.compile (inductor, C++ codegen on the CPU)")
p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
p.add_argument("--max-dim", type=int, default=0, help="scale the image down (LANCZOS) so its longer side is at most this")
p.add_argument("--no-infer", action="store_true", help="skip the full-image inference case")
p.add_argument("--commit", default="")
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()

if a.threads:
    torch.set_num_threads(a.threads)
pil = Image.open(a.image).convert("RGB")
if a.max_dim and max(pil.size) > a.max_dim:
    s = a.max_dim / max(pil.size)
    pil = pil.resize((max(1, int(pil.size[0] * s)), max(1, int(pil.size[1] * s))), Image.LANCZOS)
img = np.asarray(pil, dtype=np.float32) / 255.0
H, W, _ = img.shape
ys, xs = np.meshgrid((np.arange(H) + 0.5) / H * 2 - 1, (np.arange(W) + 0.5) / W * 2 - 1, indexing="ij")
coords = torch.tensor(np.stack([xs, ys], -1).reshape(-1, 2), dtype=torch.float32)
colors = torch.tensor(img.reshape(-1, 3))
N = coords.shape[0]


class Siren(torch.nn.Module):
    def __init__(self):
        super().__init__()
        dims = [2] + [a.width] * (a.hidden + 1) + [3]
        self.layers = torch.nn.ModuleList(torch.nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:]))
        with torch.no_grad():
            for k, l in enumerate(self.layers):
                bound = 1.0 / l.in_features if k == 0 else math.sqrt(6.0 / l.in_features)
                l.weight.uniform_(-bound, bound)
                l.bias.uniform_(-bound, bound)

    def forward(self, x):
        x = torch.sin(a.omega0 * self.layers[0](x))
        for l in self.layers[1:-1]:
            x = torch.sin(l(x))
        return torch.sigmoid(self.layers[-1](x))


torch.manual_seed(a.seed)
model = Siren()
opt = torch.optim.Adam(model.parameters(), lr=a.lr)
fwd = torch.compile(model) if a.compile else model
gen = torch.Generator().manual_seed(a.seed)


def step():
    idx = torch.randint(0, N, (a.batch,), generator=gen)
    loss = ((fwd(coords[idx]) - colors[idx]) ** 2).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


engine = "pytorch-cpu-compile" if a.compile else "pytorch-cpu-eager"


def record(**fields):
    fields.update(common_fields(engine, a.commit, torch.get_num_threads()), torch=torch.__version__,
                  image=f"{os.path.basename(a.image)} ({W}×{H})")
    print(json.dumps(fields), flush=True)


for _ in range(3):  # warm-up (and compile)
    step()
t0 = time.perf_counter()
for _ in range(a.steps):
    loss = step()
dt = (time.perf_counter() - t0) / a.steps
depth = f"siren-{a.width}x{a.hidden}"
record(name=f"train/{depth}/b{a.batch}", batch=a.batch, samples_per_s=round(a.batch / dt), ms_per_step=round(dt * 1e3, 3),
       loss=float(loss.detach()))
if a.no_infer:
    sys.exit(0)
with torch.no_grad():
    fwd(coords[: 1 << 16])
    t1 = time.perf_counter()
    se = 0.0
    for s in range(0, N, 1 << 16):
        se += ((fwd(coords[s:s + (1 << 16)]) - colors[s:s + (1 << 16)]) ** 2).sum().item()
    inf = time.perf_counter() - t1
record(name=f"infer/{depth}/full-image", samples_per_s=round(N / inf), ms_per_image=round(inf * 1e3, 2),
       psnr_db=round(-10 * math.log10(se / (N * 3)), 2))
