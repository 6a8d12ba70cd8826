#!/usr/bin/env python3
"""Writes the numpy oracle's predictions on the seed files' embedded samples.

Uses the forward passes of ../shared/seed/verify_seed_samples.py (unchanged) and stores, per
model, the f64 predictions at the 256 embedded sample positions and the PSNR against the
embedded values, so that nfield's golden test compares against the Python oracle itself.

Usage: python3 scripts/seed_predictions.py [SEED_DIR] > crates/nfield/tests/data/seed_predictions.json
"""
import json, math, os, sys

seed_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "seed")
sys.path.insert(0, seed_dir)
import numpy as np  # noqa: E402
import verify_seed_samples as v  # noqa: E402

data = os.path.join(seed_dir, "data")
out = {}
for name in ("siren", "fourier", "instant_ngp"):
    d = v.load(os.path.join(data, f"{name}.json"))
    P, V = v.samples_of(d)
    if name == "siren":
        pred = v.siren_forward(v.layers_of(d), P)
    elif name == "fourier":
        pred = v.fourier_forward(v.layers_of(d), np.asarray(d["fourier"]["B"], np.float64), P)
    else:
        pred = v.ngp_forward(d, P)
    mse = float(np.mean((pred - V) ** 2))
    out[name] = {"psnr_db": round(-10 * math.log10(mse), 6), "predictions": [[float(x) for x in row] for row in pred]}
json.dump(out, sys.stdout, indent=1)
print()
