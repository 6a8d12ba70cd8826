#!/usr/bin/env bash
# nfield's test command (the README's, and what CI runs): installs what the tests need, then
# checks formatting, lints with warnings as errors, and runs every test of the workspace.
#
# Needs: cargo (stable) and python3 with pip. Installs with pip: mlx, mlx-cpu, numpy, pillow
# (the seed's own trainer, train.py, runs in a compatibility test).
# The seed's data is read from $NFIELD_SEED_DATA or ../shared/seed/data; without it the
# golden tests print "skipped: ..." (under CI=true they fail instead).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing the Python packages the tests use (mlx, mlx-cpu, numpy, pillow)"
python3 -m pip install --quiet --disable-pip-version-check mlx mlx-cpu numpy pillow

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace
