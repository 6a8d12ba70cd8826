// nfield WGSL, training: one layer's weight and bias gradients, split over the batch.
//
// partials: GRAD_SPLITS × GRAD_LEN floats; split z holds Σ over its samples of ∂L/∂W (model
//           layout, at w_off) and ∂L/∂b (at bias_off) for the first GRAD_LEN parameters;
//           summed over the splits in a fixed order by adam.wgsl (deterministic)
// deltas:   Δ (C, outputs) at a_off; acts: the layer's input (C, inputs) at aux_off
// Layer:    M = outputs, N = inputs, K = samples [z·k_split, min((z+1)·k_split, C))
// chunk:    accumulate = 0 for the first chunk of a step (overwrite), 1 after (add)
// Dispatch: (⌈N/64⌉, ⌈M/64⌉, GRAD_SPLITS) workgroups of 256 (train_gemm.wgsl).
@group(0) @binding(0) var<storage, read_write> partials: array<f32>;
@group(0) @binding(1) var<storage, read> deltas: array<f32>;
@group(0) @binding(2) var<storage, read> acts: array<f32>;
@group(0) @binding(3) var<uniform> layer: Layer;
@group(0) @binding(4) var<uniform> chunk: Chunk;

const A_K_CONTIGUOUS: bool = false;
const B_K_CONTIGUOUS: bool = false;
const ROW_SUMS: bool = true;

// a(o, s) = Δ[s][o]
fn load_a(m: u32, k: u32) -> f32 {
    return deltas[layer.a_off + k * layer.dims_m + m];
}

// b(s, i) = input[s][i]
fn load_b(k: u32, n: u32) -> f32 {
    return acts[layer.aux_off + k * layer.dims_n + n];
}

fn add_partial(at: u32, v: f32) {
    if (chunk.accumulate != 0u) {
        partials[at] = partials[at] + v;
    } else {
        partials[at] = v;
    }
}

@compute @workgroup_size(256)
fn train_weight_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let m0 = wg.y * TILE_M;
    let n0 = wg.x * TILE_N;
    let k_begin = wg.z * layer.k_split;
    let k_end = min(k_begin + layer.k_split, layer.dims_k);
    gemm_tile(m0, n0, k_begin, k_end, layer.dims_m, layer.dims_n, lid);
    let row0 = m0 + 4u * (lid / 16u);
    let col0 = n0 + 4u * (lid % 16u);
    let base = wg.z * GRAD_LEN;
    // unrolled by src/codegen.rs: `acc` and `row_sum` indexed by constants
//#unroll ACC
    weight_grad_store(base, row0 + {o}u / 4u, col0 + {o}u % 4u, acc[{o}u / 4u][{o}u % 4u]);
//#end
    if (n0 == 0u && lid % 16u == 0u) {
//#unroll ROWS
        bias_grad_store(base, row0 + {o}u, row_sum[{o}u]);
//#end
    }
}

// ∂L/∂W[m][n] of this split.
fn weight_grad_store(base: u32, m: u32, n: u32, sum: f32) {
    if (m < layer.dims_m && n < layer.dims_n) {
        add_partial(base + layer.w_off + m * layer.dims_n + n, sum);
    }
}

// ∂L/∂b[m] of this split.
fn bias_grad_store(base: u32, m: u32, sum: f32) {
    if (m < layer.dims_m) {
        add_partial(base + layer.bias_off + m, sum);
    }
}
