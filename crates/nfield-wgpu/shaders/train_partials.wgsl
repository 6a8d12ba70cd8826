// nfield WGSL, training: the per-split weight-gradient partial sums that train_weight_grad.wgsl
// and train_weight_grad_thin.wgsl write (src/train/plan.rs has the layout), and how a chunk's
// sum goes in: overwriting for the first chunk of a step, added after (the Chunk record).
@group(0) @binding(0) var<storage, read_write> partials: array<f32>;
@group(0) @binding(4) var<uniform> chunk: Chunk;

fn add_partial(at: u32, v: f32) {
    if (chunk.accumulate != 0u) {
        partials[at] = partials[at] + v;
    } else {
        partials[at] = v;
    }
}
