#!/usr/bin/env bash
# CPU benchmarks: nfield's CPU engine, PyTorch on the CPU (eager and torch.compile) and the
# seed's own MLX trainer, on the same image and machine in one run. Results are appended to
# bench/results/cpu-<date>.jsonl and summarised as a Markdown table.
#
# The peers are installed here (not by CI) into bench/work/venv: torch (from PyPI, several
# GB with its CUDA libraries), numpy, pillow, mlx, mlx-cpu. The first run takes minutes.
#
# Usage: bash bench/run_cpu.sh [IMAGE] [MAX_DIM]
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${1:-examples/astronaut.png}
MAX_DIM=${2:-256}
SEED_DIR=${NFIELD_SEED_DIR:-../shared/seed}
VENV=bench/work/venv
OUT=bench/results/cpu-$(date -u +%Y-%m-%d).jsonl
COMMIT=$(git rev-parse --short=12 HEAD)$( [ -z "$(git status --porcelain --untracked-files=no)" ] || echo -dirty)
export NFIELD_COMMIT=$COMMIT

cargo build --release -q -p nfield-cli
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q torch numpy pillow mlx mlx-cpu
fi
PY=$VENV/bin/python
mkdir -p bench/results

# The seed's train.py trains full-batch: every pixel each step (65536 at 256×256).
N=$("$PY" -c "from PIL import Image; im=Image.open('$IMAGE'); s=min(1.0,$MAX_DIM/max(im.size)); print(int(im.size[0]*s)*int(im.size[1]*s))")
echo "image $IMAGE at max-dim $MAX_DIM: $N pixels; commit $COMMIT; results -> $OUT"

./target/release/nfield bench --engine cpu --image "$IMAGE" --max-dim "$MAX_DIM" \
  --cases siren-64x8,siren-64x3 --batch 16384,"$N" --steps 20 --renders 5 --out "$OUT"
for hidden in 8 3; do
  for compile in "" --compile; do
    "$PY" bench/peer_torch_cpu_siren.py "$IMAGE" --max-dim "$MAX_DIM" --hidden $hidden --batch 16384 --steps 10 $compile --commit "$COMMIT" | tee -a "$OUT"
    "$PY" bench/peer_torch_cpu_siren.py "$IMAGE" --max-dim "$MAX_DIM" --hidden $hidden --batch "$N" --steps 5 $compile --no-infer --commit "$COMMIT" | tee -a "$OUT"
  done
done
for hidden in 3 8; do
  "$PY" bench/peer_seed_train.py "$IMAGE" --train-py "$SEED_DIR/train.py" --max-dim "$MAX_DIM" --hidden $hidden --commit "$COMMIT" | tee -a "$OUT"
done
"$PY" bench/report.py "$OUT"
