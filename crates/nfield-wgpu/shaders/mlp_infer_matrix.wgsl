// nfield WGSL: the cooperative strategy on cooperative-matrix hardware (tensor cores through
// VK_KHR_cooperative_matrix): fp16 matrix inputs, f32 accumulation (Precision::Fp16).
//
//   weights_to_f16  writes the f16 weights (`w16_out`, bound again read-only as `w16`): every
//                   matrix layer's W, rows padded to a multiple of 16 outputs and columns to a
//                   multiple of 16 inputs (zeros), row-major, layer l at element layer_w16(l)
//                   with row stride layer_kp(l); one invocation per element.
//   infer_matrix    one workgroup (MATRIX_WG invocations, any number of subgroups) per tile of
//                   MT samples. The tile's layer inputs live in workgroup memory as f16, sample-
//                   major (`act`: MT rows of ASTRIDE); each subgroup takes 16-output row blocks
//                   in turn and accumulates C = W·act for all MT samples over the inputs 16 at
//                   a time with coopMultiplyAdd (A = W from w16 in global memory, B = act);
//                   C goes to `cst` (f32, sample-major, rows of CSTRIDE); then every invocation
//                   adds the bias and applies the activation, writing the next layer's f16 input
//                   (or the output RGB). Two barriers per layer.
//
// Matrix layers: l = 0 … N_LAYERS−1 are the MLP's layers in order; SIREN's first layer (2
// inputs, ω0) is computed in f32 per element instead (FIRST_MATRIX_LAYER = 1). Any width:
// WIDTH_P is WIDTH rounded up to 16, and the activations of the padding outputs are written as
// zeros (workgroup memory starts undefined, and 0 · NaN is NaN).
//
// coopLoad reads column-major (element (r, c) at ptr[c·stride + r]), coopLoadT row-major
// (ptr[r·stride + c]); strides count elements. Hence A = W tile by coopLoadT from w16, B = act
// (B(k, n) = act[n][k]) by coopLoad, C stored column-major into cst (C(o, n) → cst[n][o]).
//
// Bindings: 0–3 as infer_query.wgsl; 4 the f16 weights (infer_matrix reads them), 5 the same
// buffer (weights_to_f16 writes it).
// Extra constants (src/infer_matrix.rs): MATRIX_WG, MT, NB = MT / 16, ASTRIDE, CSTRIDE,
// N_LAYERS, FIRST_MATRIX_LAYER, KP0 (layer 0's inputs rounded up to 16), WIDTH_P, W16_LEN.

@group(0) @binding(4) var<storage, read> w16: array<f16>;
@group(0) @binding(5) var<storage, read_write> w16_out: array<f16>;

alias MatA = coop_mat16x16<f16, A>;
alias MatB = coop_mat16x16<f16, B>;
alias MatC = coop_mat16x16<f32, C>;

// ---------------------------------------------------------------- f16 weights
// The f16 layout in closed form (no arrays: a dynamically indexed constant array becomes a
// private copy, which drivers place in local memory): layer 0 is WIDTH_P × KP0, the hidden
// layers WIDTH_P × WIDTH_P, the output layer 16 × WIDTH_P.
const L0_LEN: u32 = WIDTH_P * KP0;

fn layer_kp(l: u32) -> u32 {
    return select(WIDTH_P, KP0, l == 0u);
}

fn layer_mp(l: u32) -> u32 {
    return select(WIDTH_P, 16u, l == N_LAYERS - 1u);
}

fn layer_w16(l: u32) -> u32 {
    return select(L0_LEN + (l - 1u) * WIDTH_P * WIDTH_P, 0u, l == 0u);
}

// Layer l's (weights offset, inputs, outputs) in params.
fn layer_shape(l: u32) -> vec3<u32> {
    if (l == 0u) {
        return vec3<u32>(L0_W, ENC_DIM, WIDTH);
    }
    if (l == N_LAYERS - 1u) {
        return vec3<u32>(OUT_W, WIDTH, 3u);
    }
    return vec3<u32>(hid_w(l - 1u), WIDTH, WIDTH);
}

@compute @workgroup_size(256)
fn weights_to_f16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let e = linear_index(wg, groups, lid, 256u);
    if (e >= W16_LEN) {
        return;
    }
    var l = 0u;
    if (e >= L0_LEN) {
        l = min(1u + (e - L0_LEN) / (WIDTH_P * WIDTH_P), N_LAYERS - 1u);
    }
    let r = e - layer_w16(l);
    let o = r / layer_kp(l);
    let i = r % layer_kp(l);
    let shape = layer_shape(l);
    var v = 0.0;
    if (o < shape.z && i < shape.y) {
        v = params[shape.x + o * shape.y + i];
    }
    w16_out[e] = f16(v);
}

// ---------------------------------------------------------------- inference
// LEVELS as a divisor (0 outside hash grids, whose branch is dead but still validated)
const LEVELS_NZ: u32 = max(LEVELS, 1u);
// layer 0's padding inputs, and that as a divisor
const PAD0: u32 = KP0 - ENC_DIM;
const PAD0_NZ: u32 = max(PAD0, 1u);
var<workgroup> act: array<f16, MT * ASTRIDE>;
var<workgroup> cst: array<f32, MT * CSTRIDE>;
var<workgroup> tile_pos: array<vec3<f32>, MT>;

// C = W_l · act into cst. Subgroup sg owns the 16-output row blocks mb ≡ sg (mod nsg); for
// each it keeps the NB = MT/16 sample blocks' accumulators c{o} (unrolled by src/codegen.rs),
// so each A fragment (from global memory) serves NB products, and the next A is loaded before
// the current one is used.
fn matrix_layer(l: u32, sg: u32, nsg: u32) {
    let k_in = layer_kp(l);
    let m_blocks = layer_mp(l) / 16u;
    for (var mb = sg; mb < m_blocks; mb += nsg) {
//#unroll NB
        var c{o} = MatC();
//#end
        let a_row = layer_w16(l) + mb * 16u * k_in;
        var a_next = coopLoadT<MatA>(&w16[a_row], k_in);
        for (var k = 0u; k < k_in; k += 16u) {
            let a = a_next;
            // (the last step reloads its own block: no branch around cooperative operations,
            // which must stay in uniform control flow)
            a_next = coopLoadT<MatA>(&w16[a_row + min(k + 16u, k_in - 16u)], k_in);
//#unroll NB
            c{o} = coopMultiplyAdd(a, coopLoad<MatB>(&act[{o}u * 16u * ASTRIDE + k], ASTRIDE), c{o});
//#end
        }
//#unroll NB
        coopStore(c{o}, &cst[{o}u * 16u * CSTRIDE + mb * 16u], CSTRIDE);
//#end
    }
}

@compute @workgroup_size(MATRIX_WG)
fn infer_matrix(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32,
                @builtin(num_subgroups) nsg: u32) {
    let first = (wg.y * groups.x + wg.x) * MT;
    for (var s = lid; s < MT; s += MATRIX_WG) {
        tile_pos[s] = tile_sample(first + s);
    }
    workgroupBarrier();
    // The first matrix layer's input, as f16: SIREN's first layer (in f32), Fourier features or
    // hash-grid features; padded columns are zero.
    if (MODEL == 0u) {
        for (var e = lid; e < MT * WIDTH_P; e += MATRIX_WG) {
            let s = e / WIDTH_P;
            let o = e % WIDTH_P;
            let p = tile_pos[s];
            let oc = min(o, WIDTH - 1u);
            let z = siren_first(params[L0_W + 2u * oc], params[L0_W + 2u * oc + 1u], params[L0_B + oc], p.x, p.y, OMEGA0);
            act[s * ASTRIDE + o] = f16(select(0.0, z.x, o < WIDTH));
        }
    } else {
        if (MODEL == 1u) {
            for (var e = lid; e < MT * ENC_DIM; e += MATRIX_WG) {
                let s = e / ENC_DIM;
                let p = tile_pos[s];
                act[s * ASTRIDE + e % ENC_DIM] = f16(fourier_feature(p.x, p.y, e % ENC_DIM));
            }
        } else {
            // one cell lookup per (sample, level), its FEATURES features
            for (var e = lid; e < MT * LEVELS; e += MATRIX_WG) {
                let s = e / LEVELS_NZ;
                let l = e % LEVELS_NZ;
                let p = tile_pos[s];
                let hc = hash_corners(l, p.x, p.y);
                for (var k = 0u; k < FEATURES; k++) {
                    act[s * ASTRIDE + l * FEATURES + k] = f16(hash_feature(l, hc, k));
                }
            }
        }
        // the padding columns up to a multiple of 16 inputs
        for (var e = lid; e < MT * PAD0; e += MATRIX_WG) {
            act[(e / PAD0_NZ) * ASTRIDE + ENC_DIM + e % PAD0_NZ] = f16(0.0);
        }
    }
    workgroupBarrier();
    for (var l = FIRST_MATRIX_LAYER; l < N_LAYERS; l++) {
        matrix_layer(l, sg, nsg);
        workgroupBarrier();
        let shape = layer_shape(l);
        let bias = shape.x + shape.y * shape.z;
        if (l + 1u < N_LAYERS) {
            // padded outputs (o ≥ WIDTH) become zero inputs of the next layer
            for (var e = lid; e < MT * WIDTH_P; e += MATRIX_WG) {
                let s = e / WIDTH_P;
                let o = e % WIDTH_P;
                let z = cst[s * CSTRIDE + o] + params[bias + min(o, WIDTH - 1u)];
                // ReLU on the first layer of Fourier and hash-grid MLPs, hidden_act after
                let a = select(hidden_act(z), max(z, 0.0), l == 0u);
                act[s * ASTRIDE + o] = f16(select(0.0, a, o < WIDTH));
            }
        } else {
            for (var e = lid; e < MT * 3u; e += MATRIX_WG) {
                let s = e / 3u;
                let c = e % 3u;
                if (first + s < query.n) {
                    let z = cst[s * CSTRIDE + c] + params[bias + c];
                    out[3u * (first + s) + c] = select(0.0, out_act(z), tile_pos[s].z > 0.5);
                }
            }
        }
        workgroupBarrier();
    }
}
