// nfield WGSL, training: the deltas of the layer below, Δ_in = (Δ_out · W) ⊙ D, over the chunk.
//
// deltas: two halves of (C, DELTA_WIDTH) floats used alternately; Δ_out (C, outputs) at a_off,
//         Δ_in (C, inputs) written at out_off
// derivs: activation derivatives of the layer below, (C, inputs) at aux_off (train_forward)
// Layer:  M = C samples, N = inputs, K = outputs; act = 1 multiplies by the derivatives, 0
//         leaves ∂L/∂input (the encoding's gradient input)
// Dispatch: (⌈N/64⌉, ⌈M/64⌉, 1) workgroups of 256 (train_gemm.wgsl).
@group(0) @binding(0) var<storage, read> params: array<f32>;
@group(0) @binding(1) var<storage, read_write> deltas: array<f32>;
@group(0) @binding(2) var<storage, read> derivs: array<f32>;
@group(0) @binding(3) var<uniform> layer: Layer;

const A_K_CONTIGUOUS: bool = true;
const B_K_CONTIGUOUS: bool = false;
const ROW_SUMS: bool = false;

fn load_a(m: u32, k: u32) -> f32 {
    return deltas[layer.a_off + m * layer.dims_k + k];
}

// b(k, n) = W[k][n]
fn load_b(k: u32, n: u32) -> f32 {
    return params[layer.w_off + k * layer.dims_n + n];
}

@compute @workgroup_size(256)
fn train_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let m0 = wg.y * TILE_M;
    let n0 = wg.x * TILE_N;
    gemm_tile(m0, n0, 0u, layer.dims_k, layer.dims_m, layer.dims_n, lid);
    let row0 = m0 + 4u * (lid / 16u);
    let col0 = n0 + 4u * (lid % 16u);
    // unrolled by src/codegen.rs: `acc` indexed by constants
//#unroll ACC
    backward_store(row0 + {o}u / 4u, col0 + {o}u % 4u, acc[{o}u / 4u][{o}u % 4u]);
//#end
}

// Δ_in at sample m, input n: the product times the derivative below (act = 1).
fn backward_store(m: u32, n: u32, sum: f32) {
    if (m < layer.dims_m && n < layer.dims_n) {
        var d = sum;
        if (layer.act == 1u) {
            d *= derivs[layer.aux_off + m * layer.dims_n + n];
        }
        deltas[layer.out_off + m * layer.dims_n + n] = d;
    }
}
