// nfield WGSL, training: the output layer's pieces that the loss pass (train_loss.wgsl) and the
// fused forward pass computing the loss (train_fused.wgsl with FUSE_LOSS) share, so that both
// do the same operations in the same order. The including file declares `batch` (the target colours at BATCH_COLORS,
// CHUNK_SIZE × 3) and `chunk` (the Chunk record: samples ≥ chunk.valid are padding).

// (δ, (y − t)²) of colour c of chunk sample s with network output y: δ = LOSS_SCALE·(y − t)·
// out_act'(z), with out_act' = y (1 − y) for the sigmoid; both zero for padding.
fn output_delta(y: f32, s: u32, c: u32) -> vec2<f32> {
    var diff = 0.0;
    if (s < chunk.valid) {
        diff = y - batch[BATCH_COLORS + 3u * s + c];
    }
    let dy = LOSS_SCALE * diff;
    var delta = dy;
    if (!OUT_LINEAR) {
        delta = dy * y * (1.0 - y);
    }
    return vec2<f32>(delta, diff * diff);
}

// z + Σ_j h[j]·(W[0][i+j], W[1][i+j], W[2][i+j]) for j = 0..3 (w_c = W[c][i..i+3]): four of an
// output's weighted sums' fmas, in increasing input order.
fn output_fma4(z: vec3<f32>, h: vec4<f32>, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>) -> vec3<f32> {
    var acc = fma(vec3<f32>(h.x), vec3<f32>(w0.x, w1.x, w2.x), z);
    acc = fma(vec3<f32>(h.y), vec3<f32>(w0.y, w1.y, w2.y), acc);
    acc = fma(vec3<f32>(h.z), vec3<f32>(w0.z, w1.z, w2.z), acc);
    return fma(vec3<f32>(h.w), vec3<f32>(w0.w, w1.w, w2.w), acc);
}
