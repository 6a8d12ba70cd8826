// nfield WGSL, training: the loss of the chunk and ∂L/∂z of the output layer; with
// FUSE_OUTPUT also the output layer itself, forward and backward, one sample per invocation
// (its 3 × OUT_IN weights are broadcast loads, and a dispatch of the 64-wide matrix-product
// tiles would compute 3 useful columns of 64).
//
// acts:   the network output y (CHUNK_SIZE, 3) at OUTPUT_OFFSET; with FUSE_OUTPUT, the output
//         layer's input h (CHUNK_SIZE, OUT_IN) at OUT_IN_OFF instead (y is not stored)
// batch:  the target colours t (CHUNK_SIZE, 3) at BATCH_COLORS
// derivs: δ = LOSS_SCALE·(y − t)·out_act'(z) (CHUNK_SIZE, 3) written at OUTPUT_DELTA (the output
//         layer's slot, src/train/plan.rs), with LOSS_SCALE = 2/(3B) in f32 as the CPU engine
//         rounds it; zero for padding samples. With FUSE_OUTPUT and OUT_BACK, the delta of the
//         layer below too, Σ_c δ_c W[c][i] (times the derivative there with OUT_BACK_MUL,
//         overwriting it), at OUT_BACK_OFF (CHUNK_SIZE, OUT_IN); the sums in train_forward's
//         and train_backward's order (k increasing, one fma each, bias added last).
// params: the model (FUSE_OUTPUT): W at OUT_W (3 × OUT_IN), b at OUT_B.
// loss_partials: one Σ(y − t)² per 256 samples of the step, at (base + 256·workgroup)/256; the
//         host sums the last step's in index order. The entry point (train_loss) and the
//         within-workgroup sum live in train_reduce_subgroup.wgsl or train_reduce_tree.wgsl.
// All of acts, derivs and params are bound as vec4 arrays (element i is [i / 4][i % 4]);
// OUT_VEC: OUT_IN and both offsets are multiples of 4 (16-byte accesses).
@group(0) @binding(0) var<storage, read> acts: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> batch: array<f32>;
@group(0) @binding(2) var<storage, read_write> derivs: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> loss_partials: array<f32>;
@group(0) @binding(4) var<uniform> chunk: Chunk;
//#if FUSE_OUTPUT
@group(0) @binding(5) var<storage, read> params: array<vec4<f32>>;

fn param(i: u32) -> f32 {
    return params[i / 4u][i % 4u];
}

// W[c][i..i+3] (OUT_VEC)
fn weights4(c: u32, i: u32) -> vec4<f32> {
    return params[(OUT_W + c * OUT_IN + i) / 4u];
}

// The output layer's weighted sums at sample s (without the bias).
fn output_sums(s: u32) -> vec3<f32> {
    var z = vec3<f32>(0.0);
    let row = OUT_IN_OFF + s * OUT_IN;
    if (OUT_VEC) {
        for (var i = 0u; i < OUT_IN; i += 4u) {
            z = output_fma4(z, acts[(row + i) / 4u], weights4(0u, i), weights4(1u, i), weights4(2u, i));
        }
        return z;
    }
    for (var i = 0u; i < OUT_IN; i++) {
        let h = acts[(row + i) / 4u][(row + i) % 4u];
        z = fma(vec3<f32>(h), vec3<f32>(param(OUT_W + i), param(OUT_W + OUT_IN + i), param(OUT_W + 2u * OUT_IN + i)), z);
    }
    return z;
}

// The delta of the layer below at sample s from the output deltas d.
fn output_backward(s: u32, d: vec3<f32>) {
    let row = OUT_BACK_OFF + s * OUT_IN;
    if (OUT_VEC) {
        for (var i = 0u; i < OUT_IN; i += 4u) {
            var v = output_back4(d, weights4(0u, i), weights4(1u, i), weights4(2u, i));
            if (OUT_BACK_MUL) {
                v *= derivs[(row + i) / 4u];
            }
            derivs[(row + i) / 4u] = v;
        }
        return;
    }
    for (var i = 0u; i < OUT_IN; i++) {
        var v = fma(d.z, param(OUT_W + 2u * OUT_IN + i), fma(d.y, param(OUT_W + OUT_IN + i), d.x * param(OUT_W + i)));
        if (OUT_BACK_MUL) {
            v *= derivs[(row + i) / 4u][(row + i) % 4u];
        }
        derivs[(row + i) / 4u][(row + i) % 4u] = v;
    }
}
//#endif

// Writes sample s's output delta and returns its squared error (0 for padding).
fn loss_sample(s: u32) -> f32 {
    if (s >= CHUNK_SIZE) {
        return 0.0;
    }
    var y3 = vec3<f32>(0.0);
//#if FUSE_OUTPUT
    y3 = output_activations(output_sums(s));
//#else
    for (var c = 0u; c < 3u; c++) {
        let i = OUTPUT_OFFSET + 3u * s + c;
        y3[c] = acts[i / 4u][i % 4u];
    }
//#endif
    let r = store_output_deltas(y3, s);
//#if FUSE_OUTPUT
    if (OUT_BACK) {
        output_backward(s, r.xyz);
    }
//#endif
    return r.w;
}
