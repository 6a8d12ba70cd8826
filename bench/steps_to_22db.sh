#!/bin/bash
# Steps to 22 dB full-image PSNR for SIREN-64×8 on target.jpeg with the PyTorch peer's recipe
# (batch 2^18, lr 3e-3, evaluation every 100 steps), nfield's CUDA engine against the peer
# (peer_torch_siren.py, unchanged), over initialisation seeds: how much of a gap in steps is
# the seed. Run in a folder holding the nfield binary, target.jpeg and peer_torch_siren.py
# (the device machine's copy of devrun/).
#   usage: steps_to_22db.sh [SEEDS...]   (default 0 1 2 3)
set -euo pipefail
cd "$(dirname "$0")"
seeds=("${@:-0 1 2 3}")
for s in ${seeds[@]}; do
  ./nfield train target.jpeg --engine cuda --steps 4000 --batch 262144 --lr 3e-3 --eval-interval 100 \
      --seed "$s" --json -o "/tmp/steps_to_22db_$s.json" 2>/dev/null | python3 -c "
import sys, json
hit = None
for line in sys.stdin:
    try: r = json.loads(line)
    except ValueError: continue
    if r.get('eval_psnr_db') is not None and hit is None and r['eval_psnr_db'] >= 22: hit = r['step']
print('nfield seed $s: steps to 22 dB', hit)"
  python3 peer_torch_siren.py target.jpeg --lr 3e-3 --target-psnr 22 --eval-every 100 --max-steps 5000 --seed "$s" \
    | tail -1 | python3 -c "import sys, json; r = json.loads(sys.stdin.read()); print('peer seed $s: steps to 22 dB', r['steps_to_target'], '(', r['seconds_to_target'], 's )')"
done
