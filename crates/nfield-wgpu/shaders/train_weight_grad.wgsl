// nfield WGSL, training: the weight and bias gradients of several layers, split over the batch,
// in one dispatch (they run after the whole backward pass: every layer's delta stays in its
// slot until the next chunk, src/train/plan.rs).
//
// partials: GRAD_SPLITS × GRAD_LEN floats; split z holds Σ over its samples of ∂L/∂W (model
//           layout, at w_off) and ∂L/∂b (at bias_off) for the first GRAD_LEN parameters;
//           summed over the splits in a fixed order by adam.wgsl (deterministic)
// derivs:   Δ (C, outputs) at a_off (the layer's delta slot); acts: the layer's input
//           (C, inputs) at aux_off (both bound as vec4 arrays: 16-byte loads with VEC, element
//           i is [i / 4][i % 4])
// layers:   one Layer record per layer of the dispatch: M = outputs, N = inputs, K = samples
//           [z·k_split, min((z+1)·k_split, C)); a(o, s) = Δ[s][o], b(s, i) = input[s][i] (both
//           contiguous along m / n, not k)
// chunk:    accumulate = 0 for the first chunk of a step (overwrite), 1 after (add)
// Dispatch: (WG_TILES_M · WG_TILES_N, layers, GRAD_SPLITS) workgroups of THREADS
//           (train_gemm.wgsl): workgroup (t, l, z) takes tile (t / WG_TILES_N, t % WG_TILES_N)
//           of layer l's M × N, split z; tiles outside the layer leave at once (WG_TILES_*:
//           the most tiles of any layer, src/train/kernels.rs).
// (partials: binding 0, chunk: binding 4, train_partials.wgsl)
@group(0) @binding(1) var<storage, read> derivs: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> acts: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> layers: array<Layer>;

// the layer of this workgroup (set first by the entry point), for the operand loads
var<private> layer: Layer;

const A_K_CONTIGUOUS: bool = false;
const B_K_CONTIGUOUS: bool = false;
const ROW_SUMS: bool = true;
// a's scale in f16 (train_gemm_matrix.wgsl): the deltas, scaled into f16's normal range
const A_SCALE: f32 = DELTA_SCALE;

// a(o, s) = Δ[s][o]
fn load_a(m: u32, k: u32) -> f32 {
    let i = layer.a_off + k * layer.dims_m + m;
    return derivs[i / 4u][i % 4u];
}

// a(o..o+3, s)
fn load_a4(m: u32, k: u32) -> vec4<f32> {
    return derivs[(layer.a_off + k * layer.dims_m + m) / 4u];
}

// b(s, i) = input[s][i]
fn load_b(k: u32, n: u32) -> f32 {
    let i = layer.aux_off + k * layer.dims_n + n;
    return acts[i / 4u][i % 4u];
}

// b(s, i..i+3)
fn load_b4(k: u32, n: u32) -> vec4<f32> {
    return acts[(layer.aux_off + k * layer.dims_n + n) / 4u];
}

@compute @workgroup_size(THREADS)
fn train_weight_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
//#if MATRIX
                     @builtin(subgroup_id) sg: u32,
//#endif
) {
//#if MATRIX
    g_sg = sg;
//#endif
    let tile_m = wg.x / WG_TILES_N;
    let tile_n = wg.x % WG_TILES_N;
    layer = layers[wg.y];
    if (tile_m * TILE_M >= layer.dims_m || tile_n * TILE_N >= layer.dims_n) {
        return;
    }
    let k_begin = wg.z * layer.k_split;
    let k_end = min(k_begin + layer.k_split, layer.dims_k);
    gemm_tile(tile_m * TILE_M, tile_n * TILE_N, k_begin, k_end, layer.dims_m, layer.dims_n, lid);
    if (!in_group_zero()) {
        return;
    }
    let base = wg.z * GRAD_LEN;
    // unrolled by src/codegen.rs: `acc` and `row_sum` indexed by constants
//#unroll ACC
    weight_grad_store(base, tile_row({o}u / COL_VECS), tile_col({o}u % COL_VECS), acc[{o}u]);
//#end
    if (tile_n == 0u && lid % THREADS_N == 0u) {
//#unroll ROWS
        bias_grad_store(base, tile_row({o}u), row_sum[{o}u / 4u][{o}u % 4u]);
//#end
    }
}

// ∂L/∂W[m][n..n+3] of this split.
fn weight_grad_store(base: u32, m: u32, n: u32, sum: vec4<f32>) {
    if (m < layer.dims_m) {
        for (var c = 0u; c < 4u; c++) {
            if (n + c < layer.dims_n) {
                add_partial(base + layer.w_off + m * layer.dims_n + n + c, sum[c]);
            }
        }
    }
}

// ∂L/∂b[m] of this split.
fn bias_grad_store(base: u32, m: u32, sum: f32) {
    if (m < layer.dims_m) {
        add_partial(base + layer.bias_off + m, sum);
    }
}
