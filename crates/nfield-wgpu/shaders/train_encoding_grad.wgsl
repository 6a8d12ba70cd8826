// nfield WGSL, training: the encoding's parameter gradients from ∂L/∂E (CHUNK_SIZE, ENC_DIM)
// at D_ENCODED in `derivs` (E's slot, written by train_backward with act = 0 on layer 0).
//
// train_fourier_grad: ∂L/∂B (2 × FREQS) of a trained Fourier B, split over the batch like the
//   weight gradients: invocation (j, z) sums samples [z·K_SPLIT, (z+1)·K_SPLIT) into
//   partials[z·GRAD_LEN + ENC_OFFSET + j] and [… + FREQS + j] (nfield::cpu::fourier
//   backward_chunk: dp = cos p · ∂sin − sin p · ∂cos, ∂B[r][j] += dp · 2π x_r, with sin p and
//   cos p taken from E). Dispatch (⌈FREQS/64⌉, GRAD_SPLITS).
// train_hash_scatter: ∂L/∂table (LEVELS × TABLE_SIZE × FEATURES) += corner weight · ∂L/∂E,
//   one invocation per (sample, level), scaled by TABLE_GRAD_SCALE (src/train/kernels.rs) and
//   added as 64-bit fixed point in units of 2⁻³²
//   (common.wgsl: (lo, hi) u32 pairs at 2·entry, integer atomics, so the result does not
//   depend on the order of the additions: deterministic). Dispatch (⌈CHUNK_SIZE/64⌉, LEVELS).
@group(0) @binding(0) var<storage, read> params: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read> batch: array<f32>;
@group(0) @binding(3) var<storage, read> acts: array<f32>;
@group(0) @binding(4) var<storage, read> derivs: array<f32>;
@group(0) @binding(5) var<uniform> chunk: Chunk;
@group(0) @binding(6) var<storage, read_write> table_grad: array<atomic<u32>>;

const TAU: f32 = 6.28318530717958647;

@compute @workgroup_size(64)
fn train_fourier_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let z = gid.y;
    if (j >= FREQS) {
        return;
    }
    let begin = z * K_SPLIT;
    let end = min(begin + K_SPLIT, CHUNK_SIZE);
    var db0 = 0.0;
    var db1 = 0.0;
    for (var s = begin; s < end; s++) {
        let x = TAU * batch[2u * s];
        let y = TAU * batch[2u * s + 1u];
        let e = s * ENC_DIM;
        let d = D_ENCODED + s * ENC_DIM;
        let dp = acts[e + FREQS + j] * derivs[d + j] - acts[e + j] * derivs[d + FREQS + j];
        db0 += dp * x;
        db1 += dp * y;
    }
    let at = z * GRAD_LEN + ENC_OFFSET + j;
    if (chunk.accumulate != 0u) {
        partials[at] = partials[at] + db0;
        partials[at + FREQS] = partials[at + FREQS] + db1;
    } else {
        partials[at] = db0;
        partials[at + FREQS] = db1;
    }
}

// table_grad[i] += v as 64-bit fixed point (the carry of the low word into the high one).
fn atomic_add_fixed64(i: u32, v: f32) {
    let w = to_fixed64(v);
    let old_lo = atomicAdd(&table_grad[2u * i], w.x);
    let carry = select(0u, 1u, old_lo + w.x < old_lo);
    atomicAdd(&table_grad[2u * i + 1u], w.y + carry);
}

@compute @workgroup_size(64)
fn train_hash_scatter(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let l = gid.y;
    if (s >= chunk.valid) {
        return;
    }
    let hc = hash_corners(l, batch[2u * s], batch[2u * s + 1u]);
    for (var f = 0u; f < FEATURES; f++) {
        let d = derivs[D_ENCODED + s * ENC_DIM + l * FEATURES + f];
        if (d == 0.0) {
            continue;
        }
        for (var corner = 0u; corner < 4u; corner++) {
            let at = (l * TABLE_SIZE + hc.idx[corner]) * FEATURES + f;
            atomic_add_fixed64(at, hc.w[corner] * d * TABLE_GRAD_SCALE);
        }
    }
}
