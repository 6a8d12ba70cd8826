// nfield WGSL, training: the deltas of the layer below, Δ_in = (Δ_out · W) ⊙ D, over the chunk.
//
// derivs: the derivative and delta slots of src/train/plan.rs: Δ_out (C, outputs) at a_off (the
//         layer's own slot); Δ_in (C, inputs) written at out_off, the slot of the layer below,
//         over that layer's activation derivatives (at aux_off = out_off), each read by the
//         invocation that overwrites it; ∂L/∂E (act = 0) in E's slot
// Layer:  M = C samples, N = inputs, K = outputs; a = Δ_out (C, K); b(k, n) = W[k][n]; act = 1
//         multiplies by the derivatives, 0 leaves ∂L/∂input (the encoding's gradient input)
// Both buffers are bound as vec4 arrays (16-byte loads and stores with VEC; scalars as
// components otherwise; element i is [i / 4][i % 4]).
// Dispatch: (⌈N/TILE_N⌉, ⌈M/TILE_M⌉, 1) workgroups of THREADS (train_gemm.wgsl).
@group(0) @binding(0) var<storage, read> params: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> derivs: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> layer: Layer;

const A_K_CONTIGUOUS: bool = true;
const B_K_CONTIGUOUS: bool = false;
const ROW_SUMS: bool = false;
// a's scale in f16 (train_gemm_matrix.wgsl): the deltas, scaled into f16's normal range
const A_SCALE: f32 = DELTA_SCALE;

fn load_a(m: u32, k: u32) -> f32 {
    let i = layer.a_off + m * layer.dims_k + k;
    return derivs[i / 4u][i % 4u];
}

// a(m, k..k+3)
fn load_a4(m: u32, k: u32) -> vec4<f32> {
    return derivs[(layer.a_off + m * layer.dims_k + k) / 4u];
}

// b(k, n) = W[k][n]
fn load_b(k: u32, n: u32) -> f32 {
    let i = layer.w_off + k * layer.dims_n + n;
    return params[i / 4u][i % 4u];
}

// b(k, n..n+3)
fn load_b4(k: u32, n: u32) -> vec4<f32> {
    return params[(layer.w_off + k * layer.dims_n + n) / 4u];
}

@compute @workgroup_size(THREADS)
fn train_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
//#if MATRIX
                  @builtin(subgroup_id) sg: u32,
//#endif
) {
//#if MATRIX
    g_sg = sg;
//#endif
    gemm_tile(wg.y * TILE_M, wg.x * TILE_N, 0u, layer.dims_k, layer.dims_m, layer.dims_n, lid);
    // unrolled by src/codegen.rs: `acc` indexed by constants
//#unroll ACC
    backward_store(tile_row({o}u / COL_VECS), tile_col({o}u % COL_VECS), acc[{o}u]);
//#end
}

// Δ_in at sample m, inputs n..n+3: the product times the derivatives below (act = 1).
fn backward_store(m: u32, n: u32, sum: vec4<f32>) {
    if (m >= layer.dims_m || n >= layer.dims_n) {
        return;
    }
    let at = layer.out_off + m * layer.dims_n + n;
    let d_at = layer.aux_off + m * layer.dims_n + n;
    if (VEC) {
        // all four in bounds, 16-byte aligned
        var d = sum;
        if (layer.act == 1u) {
            d *= derivs[d_at / 4u];
        }
        derivs[at / 4u] = d;
        return;
    }
    for (var c = 0u; c < 4u; c++) {
        if (n + c < layer.dims_n) {
            var d = sum[c];
            if (layer.act == 1u) {
                d *= derivs[(d_at + c) / 4u][(d_at + c) % 4u];
            }
            derivs[(at + c) / 4u][(at + c) % 4u] = d;
        }
    }
}
