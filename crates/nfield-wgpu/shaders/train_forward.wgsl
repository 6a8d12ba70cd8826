// nfield WGSL, training: the forward pass of one MLP layer over the chunk in flight.
//
// acts:   the chunk's activations, sample-major: the layer-0 input E (C, ENC_DIM) at 0, then
//         each layer's output (C, outputs_l) at its offset
// derivs: act'(z) of every hidden layer at the same offsets (sine: ω cos(ω z), ReLU: 0 or 1)
// Layer:  M = C samples, N = outputs, K = inputs; a = acts[a_off] (C, K); b(k, n) = W[n][k];
//         out_off = this layer's output
// All three buffers are bound as vec4 arrays (16-byte loads and stores with VEC; scalars as
// components otherwise; element i is [i / 4][i % 4]).
// The activation and its derivative: `activate` of train_activation.wgsl (FORWARD_ACT).
// Dispatch: (⌈N/TILE_N⌉, ⌈M/TILE_M⌉, 1) workgroups of THREADS (train_gemm.wgsl).
@group(0) @binding(0) var<storage, read> params: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> acts: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> derivs: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> layer: Layer;

const A_K_CONTIGUOUS: bool = true;
const B_K_CONTIGUOUS: bool = true;
const ROW_SUMS: bool = false;
// a's scale in f16 (train_gemm_matrix.wgsl): activations need no scaling
const A_SCALE: f32 = 1.0;

fn param(i: u32) -> f32 {
    return params[i / 4u][i % 4u];
}

fn act_at(i: u32) -> f32 {
    return acts[i / 4u][i % 4u];
}

fn load_a(m: u32, k: u32) -> f32 {
    return act_at(layer.a_off + m * layer.dims_k + k);
}

// a(m, k..k+3)
fn load_a4(m: u32, k: u32) -> vec4<f32> {
    return acts[(layer.a_off + m * layer.dims_k + k) / 4u];
}

// b(k, n) = W[n][k]
fn load_b(k: u32, n: u32) -> f32 {
    return param(layer.w_off + n * layer.dims_k + k);
}

// b(k..k+3, n)
fn load_b4(k: u32, n: u32) -> vec4<f32> {
    return params[(layer.w_off + n * layer.dims_k + k) / 4u];
}

@compute @workgroup_size(THREADS)
fn train_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
//#if MATRIX
                 @builtin(subgroup_id) sg: u32,
//#endif
) {
//#if MATRIX
    g_sg = sg;
//#endif
    gemm_tile(wg.y * TILE_M, wg.x * TILE_N, 0u, layer.dims_k, layer.dims_m, layer.dims_n, lid);
    // One call per 4 columns of the block, unrolled by src/codegen.rs so that `acc` is indexed
    // by constants (a loop over it puts it in local memory).
//#unroll ACC
    forward_store(tile_row({o}u / COL_VECS), tile_col({o}u % COL_VECS), acc[{o}u]);
//#end
}

// The layer's outputs at sample m, units n..n+3 from their weighted sums: bias, activation
// and, for hidden layers, the activation's derivative.
fn forward_store(m: u32, n: u32, sum: vec4<f32>) {
    if (m >= layer.dims_m || n >= layer.dims_n) {
        return;
    }
    let at = layer.out_off + m * layer.dims_n + n;
    if (VEC) {
        // all four in bounds, 16-byte aligned
        let z = params[(layer.bias_off + n) / 4u] + sum;
        let r0 = activate(z.x);
        let r1 = activate(z.y);
        let r2 = activate(z.z);
        let r3 = activate(z.w);
        acts[at / 4u] = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
        if (FORWARD_ACT != 2u) {
            derivs[at / 4u] = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
        }
        return;
    }
    for (var c = 0u; c < 4u; c++) {
        if (n + c < layer.dims_n) {
            let r = activate(param(layer.bias_off + n + c) + sum[c]);
            acts[(at + c) / 4u][(at + c) % 4u] = r.x;
            if (FORWARD_ACT != 2u) {
                derivs[(at + c) / 4u][(at + c) % 4u] = r.y;
            }
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
    let w0 = param(w);
    let w1 = param(w + 1u);
    let b = param(layer.bias_off + n);
    for (var r = 0u; r < 16u; r++) {
        let m = wg.y * 64u + (lid / 64u) * 16u + r;
        if (m >= layer.dims_m) {
            break;
        }
        let x = act_at(layer.a_off + 2u * m);
        let y = act_at(layer.a_off + 2u * m + 1u);
        let z = siren_first(w0, w1, b, x, y, OMEGA0);
        let at = layer.out_off + m * layer.dims_n + n;
        acts[at / 4u][at % 4u] = z.x;
        derivs[at / 4u][at % 4u] = z.y;
    }
}
