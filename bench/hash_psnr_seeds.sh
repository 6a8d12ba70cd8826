#!/bin/bash
# PSNR after 1000 steps of tiny-cuda-nn's image configuration: nfield (fp16, tf32; seeds 0-3,
# evaluated every 50 steps from 800) against the PyTorch peer (seeds 1, 2).
# Run in a folder holding the nfield binary, target.jpeg and peer_torch_hashgrid.py (the device
# machine's copy of devrun/).
cd "$(dirname "$0")"
for p in fp16 tf32; do for s in 0 1 2 3; do
./nfield train target.jpeg --model hash-grid --log2-table 19 --growth geometric --per-level-scale 1.5 --layers 2 \
  --output-activation linear --steps 1000 --batch 262144 --lr 1e-2 --beta2 0.99 --eps 1e-15 --eval-interval 50 \
  --engine cuda --precision $p --seed $s --json --no-image -o /tmp/h.json 2>/dev/null | python3 -c "
import sys, json
v=[]
for l in sys.stdin:
    try: r=json.loads(l)
    except ValueError: continue
    if r.get('eval_psnr_db') is not None and r['step']>=800: v.append(round(r['eval_psnr_db'],2))
print('nfield $p seed $s: PSNR at 800..1000 /50:', v)"
done; done
for s in 1 2; do python3 peer_torch_hashgrid.py target.jpeg --compile --seed $s | tail -1 | python3 -c "import sys,json; r=json.loads(sys.stdin.read()); print('peer seed $s: psnr after', r['steps'], r['psnr_after'])"; done
