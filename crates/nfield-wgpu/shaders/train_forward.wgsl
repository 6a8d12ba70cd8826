// nfield WGSL, training: the forward pass of one MLP layer over the chunk in flight.
//
// acts:   the chunk's activations, sample-major: the layer-0 input E (C, ENC_DIM) at 0, then
//         each layer's output (C, outputs_l) at its offset
// derivs: act'(z) of every hidden layer at the same offsets (sine: ω cos(ω z), ReLU: 0 or 1)
// Layer:  M = C samples, N = outputs, K = inputs; a = acts[a_off] (C, K); out_off = this
//         layer's output
// Dispatch: (⌈N/64⌉, ⌈M/64⌉, 1) workgroups of 256 (train_gemm.wgsl).
@group(0) @binding(0) var<storage, read> params: array<f32>;
@group(0) @binding(1) var<storage, read_write> acts: array<f32>;
@group(0) @binding(2) var<storage, read_write> derivs: array<f32>;
@group(0) @binding(3) var<uniform> layer: Layer;

const A_K_CONTIGUOUS: bool = true;
const B_K_CONTIGUOUS: bool = true;
const ROW_SUMS: bool = false;

fn load_a(m: u32, k: u32) -> f32 {
    return acts[layer.a_off + m * layer.dims_k + k];
}

// b(k, n) = W[n][k]
fn load_b(k: u32, n: u32) -> f32 {
    return params[layer.w_off + n * layer.dims_k + k];
}

@compute @workgroup_size(256)
fn train_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let m0 = wg.y * TILE_M;
    let n0 = wg.x * TILE_N;
    gemm_tile(m0, n0, 0u, layer.dims_k, layer.dims_m, layer.dims_n, lid);
    let row0 = m0 + 4u * (lid / 16u);
    let col0 = n0 + 4u * (lid % 16u);
    // One call per element of the 4 × 4 block, unrolled by src/codegen.rs so that `acc` is
    // indexed by constants (a loop over it puts it in local memory).
//#unroll ACC
    forward_store(row0 + {o}u / 4u, col0 + {o}u % 4u, acc[{o}u / 4u][{o}u % 4u]);
//#end
}

// The layer's output at sample m, unit n from its weighted sum: bias, activation and, for
// hidden layers, the activation's derivative.
fn forward_store(m: u32, n: u32, sum: f32) {
    if (m < layer.dims_m && n < layer.dims_n) {
        let z = params[layer.bias_off + n] + sum;
        let at = layer.out_off + m * layer.dims_n + n;
        if (layer.act == 0u) {
            let sc = sincos(OMEGA * z);
            acts[at] = sc.x;
            derivs[at] = OMEGA * sc.y;
        } else if (layer.act == 1u) {
            acts[at] = max(z, 0.0);
            derivs[at] = select(0.0, 1.0, z > 0.0);
        } else {
            acts[at] = out_act(z);
        }
    }
}

// SIREN's first layer (2 inputs, ω0), the argument compensated (common.wgsl siren_first):
// a workgroup covers 64 samples × 64 outputs, invocation lid the output lid % 64 of 16 samples.
// Dispatch (⌈N/64⌉, ⌈M/64⌉) workgroups of 256.
@compute @workgroup_size(256)
fn train_siren_first(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n = wg.x * 64u + lid % 64u;
    if (n >= layer.dims_n) {
        return;
    }
    let w = layer.w_off + 2u * n;
    let w0 = params[w];
    let w1 = params[w + 1u];
    let b = params[layer.bias_off + n];
    for (var r = 0u; r < 16u; r++) {
        let m = wg.y * 64u + (lid / 64u) * 16u + r;
        if (m >= layer.dims_m) {
            break;
        }
        let x = acts[layer.a_off + 2u * m];
        let y = acts[layer.a_off + 2u * m + 1u];
        let z = siren_first(w0, w1, b, x, y, OMEGA0);
        let at = layer.out_off + m * layer.dims_n + n;
        acts[at] = z.x;
        derivs[at] = z.y;
    }
}
