// nfield WGSL, training: the output layer's pieces that the loss pass (train_loss.wgsl) and the
// fused forward pass computing the loss (train_fused.wgsl with FUSE_LOSS) share, so that both
// do the same operations in the same order. The including file declares `batch` (the target
// colours at BATCH_COLORS, CHUNK_SIZE × 3), `chunk` (the Chunk record: samples ≥ chunk.valid
// are padding), `derivs` (vec4 array) and, where the pass computes the output layer
// (FUSE_OUTPUT), `param(i)` (parameter i).

//#if FUSE_OUTPUT
// The output y = out_act(b + z) of the weighted sums z (b at OUT_B).
fn output_activations(z: vec3<f32>) -> vec3<f32> {
    return vec3<f32>(out_act(param(OUT_B) + z.x), out_act(param(OUT_B + 1u) + z.y), out_act(param(OUT_B + 2u) + z.z));
}
//#endif

// Stores chunk sample s's output deltas δ_c = LOSS_SCALE·(y_c − t_c)·out_act' (out_act' =
// y (1 − y) for the sigmoid; zero for padding) at OUTPUT_DELTA; returns (δ_0, δ_1, δ_2, Σ_c
// (y_c − t_c)²), the squares added in colour order.
fn store_output_deltas(y3: vec3<f32>, s: u32) -> vec4<f32> {
    var sq = 0.0;
    var d = vec3<f32>(0.0);
    for (var c = 0u; c < 3u; c++) {
        var diff = 0.0;
        let y = y3[c];
        if (s < chunk.valid) {
            diff = y - batch[BATCH_COLORS + 3u * s + c];
        }
        sq += diff * diff;
        let dy = LOSS_SCALE * diff;
        var delta = dy;
        if (!OUT_LINEAR) {
            delta = dy * y * (1.0 - y);
        }
        let at = OUTPUT_DELTA + 3u * s + c;
        derivs[at / 4u][at % 4u] = delta;
        d[c] = delta;
    }
    return vec4<f32>(d, sq);
}

// z + Σ_j h[j]·(W[0][i+j], W[1][i+j], W[2][i+j]) for j = 0..3 (w_c = W[c][i..i+3]): four of an
// output's weighted sums' fmas, in increasing input order.
fn output_fma4(z: vec3<f32>, h: vec4<f32>, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>) -> vec3<f32> {
    var acc = fma(vec3<f32>(h.x), vec3<f32>(w0.x, w1.x, w2.x), z);
    acc = fma(vec3<f32>(h.y), vec3<f32>(w0.y, w1.y, w2.y), acc);
    acc = fma(vec3<f32>(h.z), vec3<f32>(w0.z, w1.z, w2.z), acc);
    return fma(vec3<f32>(h.w), vec3<f32>(w0.w, w1.w, w2.w), acc);
}

// Σ_c δ_c·W[c][i..i+3] (w_c = W[c][i..i+3]): four inputs' share of the output deltas d.
fn output_back4(d: vec3<f32>, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>) -> vec4<f32> {
    return fma(vec4<f32>(d.z), w2, fma(vec4<f32>(d.y), w1, d.x * w0));
}
