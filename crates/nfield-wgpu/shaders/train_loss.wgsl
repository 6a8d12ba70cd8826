// nfield WGSL, training: the loss of the chunk and ∂L/∂z of the output layer.
//
// acts:   the network output y (CHUNK_SIZE, 3) at OUTPUT_OFFSET
// batch:  the target colours t (CHUNK_SIZE, 3) at BATCH_COLORS
// derivs: δ = LOSS_SCALE·(y − t)·out_act'(z) (CHUNK_SIZE, 3) written at OUTPUT_DELTA (the output
//         layer's slot, src/train/plan.rs), with
//         LOSS_SCALE = 2/(3B) in f32 as the CPU engine rounds it; zero for padding samples
// loss_partials: one Σ(y − t)² per 256 samples of the step, at (base + 256·workgroup)/256; the
//         host sums the last step's in index order. The entry point (train_loss) and the
//         within-workgroup sum live in train_reduce_subgroup.wgsl or train_reduce_tree.wgsl.
@group(0) @binding(0) var<storage, read> acts: array<f32>;
@group(0) @binding(1) var<storage, read> batch: array<f32>;
@group(0) @binding(2) var<storage, read_write> derivs: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss_partials: array<f32>;
@group(0) @binding(4) var<uniform> chunk: Chunk;

// Writes sample s's output delta and returns its squared error (0 for padding).
fn loss_sample(s: u32) -> f32 {
    if (s >= CHUNK_SIZE) {
        return 0.0;
    }
    var sq = 0.0;
    for (var c = 0u; c < 3u; c++) {
        var diff = 0.0;
        let y = acts[OUTPUT_OFFSET + 3u * s + c];
        if (s < chunk.valid) {
            diff = y - batch[BATCH_COLORS + 3u * s + c];
        }
        sq += diff * diff;
        let dy = LOSS_SCALE * diff;
        var delta = dy;
        if (!OUT_LINEAR) {
            delta = dy * y * (1.0 - y);
        }
        derivs[OUTPUT_DELTA + 3u * s + c] = delta;
    }
    return sq;
}
