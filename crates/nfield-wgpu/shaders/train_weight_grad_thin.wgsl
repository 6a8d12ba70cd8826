// nfield WGSL, training: the weight and bias gradients of thin layers — at most 4 units on
// one side (SIREN's first layer, 2 → W; every output layer, W → 3) — split over the batch, as
// train_weight_grad.wgsl computes them for the others. Its 64 × 64 tiles would be 97 % idle
// here and its operands scalar (widths 2 and 3 are not multiples of 4): SIREN-64×8's two thin
// layers took 169 µs a step at 2^18 on an H100 that way, for 135 MB of reads; 66 µs here.
//
// partials: the layer's own buffer (src/train/thin.rs `Region`), GRAD_SPLITS × SPLIT_LEN floats:
//           split z's ∂W (M × N, row-major) from z·SPLIT_LEN, then its ∂b (M), with the record's
//           w_off = 0 and bias_off = M·N (overwritten for the first chunk of a step, added to
//           after). Not train_weight_grad's buffer: two passes that write one buffer are
//           ordered by a barrier, and with buffers of their own the thin layers' passes and the
//           GEMM's overlap (a SIREN-64×8 step at 2^18 on an H100: 2.393 → 2.343 ms, the mean
//           of three runs each, 2026-11-27)
// derivs:   Δ (C, M) at a_off (the layer's delta slot); acts: the layer's input (C, N) at
//           aux_off (both bound as vec4 arrays; element i is [i / 4][i % 4])
// layer:    the layer's record: M = outputs, N = inputs; a pipeline per thin layer, generated
//           (src/train/kernels.rs) with WIDE = max(M, N) (a multiple of 4 up to 4·THIN_THREADS,
//           its offset, a_off for M or aux_off for N, a multiple of 4), THIN_UNITS = min(M, N)
//           ≤ 4 and WIDE_OUT = (M ≥ N); split z takes samples [z·k_split, min((z+1)·k_split, C))
// For every sample s of the split, with w = the wide side's row (Δ[s] or input[s]) and t_j
// the thin side's (j < min(M, N)):
//   wide outputs (M = WIDE): ∂W[u][j] += w_u·t_j, ∂b[u] += w_u
//   thin outputs (N = WIDE): ∂W[j][u] += t_j·w_u, ∂b[j] += t_j
// Invocation lid takes the wide units 4·(lid % Q) + 0..3 (Q = WIDE / 4, 16-byte loads side by
// side) for the samples k_begin + lid / Q, + P, + 2P, … (P = THIN_THREADS / Q phases; the
// invocations beyond P·Q idle) in order; then the P phases' sums are added in phase order
// (deterministic) by invocations lid < Q.
// Dispatch: (GRAD_SPLITS, 1, 1) workgroups of THIN_THREADS.
// (partials: binding 0, chunk: binding 4, train_partials.wgsl)
@group(0) @binding(1) var<storage, read> derivs: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> acts: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> layer: Layer;

const THIN_THREADS: u32 = 256u;
const Q: u32 = WIDE / 4u;
const PHASES: u32 = THIN_THREADS / Q;

// every invocation's sums: sums[j·THIN_THREADS + lid] for the weights of thin unit j, then
// sums[THIN_UNITS·THIN_THREADS + lid] for the biases (wide outputs: of units 4·(lid % Q) + 0..3;
// thin outputs: of thin units 0..3)
var<workgroup> sums: array<vec4<f32>, (THIN_UNITS + 1u) * THIN_THREADS>;

var<private> acc: array<vec4<f32>, THIN_UNITS>;
var<private> bias: vec4<f32>;

// Adds sample s's products for the wide units at vec4 index q of its row.
fn add_sample(s: u32, q: u32) {
    var w: vec4<f32>;
    var t = vec4<f32>(0.0);
    if (WIDE_OUT) {
        w = derivs[(layer.a_off + s * WIDE) / 4u + q];
//#unroll THIN_UNITS
        t[{o}u] = thin_value(layer.aux_off + s * THIN_UNITS + {o}u, false);
//#end
        bias += w;
    } else {
        w = acts[(layer.aux_off + s * WIDE) / 4u + q];
//#unroll THIN_UNITS
        t[{o}u] = thin_value(layer.a_off + s * THIN_UNITS + {o}u, true);
//#end
        bias += t;
    }
//#unroll THIN_UNITS
    acc[{o}u] = fma(vec4<f32>(t[{o}u]), w, acc[{o}u]);
//#end
}

// Element i of derivs (`delta`) or acts.
fn thin_value(i: u32, delta: bool) -> f32 {
    if (delta) {
        return derivs[i / 4u][i % 4u];
    }
    return acts[i / 4u][i % 4u];
}

@compute @workgroup_size(THIN_THREADS)
fn train_weight_grad_thin(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let q = lid % Q;
    let p = lid / Q;
    let k_begin = wg.x * layer.k_split;
    let k_end = min(k_begin + layer.k_split, layer.dims_k);
    if (p < PHASES) {
        // four samples an iteration while all four are in the split: their loads issue together
        var s = k_begin + p;
        for (; s + 3u * PHASES < k_end; s += 4u * PHASES) {
            add_sample(s, q);
            add_sample(s + PHASES, q);
            add_sample(s + 2u * PHASES, q);
            add_sample(s + 3u * PHASES, q);
        }
        for (; s < k_end; s += PHASES) {
            add_sample(s, q);
        }
    }
//#unroll THIN_UNITS
    sums[{o}u * THIN_THREADS + lid] = acc[{o}u];
//#end
    sums[THIN_UNITS * THIN_THREADS + lid] = bias;
    workgroupBarrier();
    if (lid >= Q) {
        return;
    }
    let base = wg.x * SPLIT_LEN;
    for (var j = 0u; j <= THIN_UNITS; j++) {
        var total = vec4<f32>(0.0);
        for (var ph = 0u; ph < PHASES; ph++) {
            total += sums[j * THIN_THREADS + ph * Q + lid];
        }
        for (var c = 0u; c < 4u; c++) {
            let u = 4u * lid + c;
            if (j < THIN_UNITS) {
                // ∂W[u][j] (wide outputs) or ∂W[j][u] (thin outputs)
                let at = select(j * WIDE + u, u * THIN_UNITS + j, WIDE_OUT);
                add_partial(base + layer.w_off + at, total[c]);
            } else if (WIDE_OUT) {
                add_partial(base + layer.bias_off + u, total[c]);
            } else if (lid == 0u && c < THIN_UNITS) {
                add_partial(base + layer.bias_off + c, total[c]);
            }
        }
    }
}
