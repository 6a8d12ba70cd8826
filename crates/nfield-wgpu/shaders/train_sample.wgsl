// nfield WGSL, training: draws the chunk's samples (one invocation per sample).
//
// target_data: [xs (TARGET_WIDTH) | ys (TARGET_HEIGHT) | colours (N, 3)] f32, the positions of the
//         columns and rows in the model's coordinates (nfield::model::Coords::axis, on the host)
// subset: pixel indices to sample from (HAS_SUBSET), else unused
// batch:  positions (CHUNK_SIZE, 2) at 0, colours (CHUNK_SIZE, 3) at BATCH_COLORS
// acts:   with POSITIONS_TO_ACTS (SIREN, whose encoding is the identity), the positions again
//         at the start of `acts`: the layer-0 input E (CHUNK_SIZE, 2), without an encoding pass
//         (a dispatch of its own cost ~17 µs a step of SIREN-64×8 at 2^18 on an H100, 7.5 of
//         them its own run time, the rest the barrier after it)
// Sample s of the chunk is sample base + s of the step: pixel k = train_pixel(seed, step,
// base + s, N_PIXELS) (nfield::rng), mapped through the subset. Dispatch ⌈CHUNK_SIZE/256⌉.
@group(0) @binding(0) var<storage, read> target_data: array<f32>;
@group(0) @binding(1) var<storage, read> subset: array<u32>;
@group(0) @binding(2) var<storage, read_write> batch: array<f32>;
@group(0) @binding(3) var<uniform> step_info: StepInfo;
@group(0) @binding(4) var<uniform> chunk: Chunk;
//#if POSITIONS_TO_ACTS
@group(0) @binding(5) var<storage, read_write> acts: array<vec2<f32>>;
//#endif

@compute @workgroup_size(256)
fn train_sample(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    if (s >= CHUNK_SIZE) {
        return;
    }
    var x = 0.0;
    var y = 0.0;
    var rgb = vec3<f32>(0.0);
    if (s < chunk.valid) {
        let k = train_pixel(vec2<u32>(SEED_LO, SEED_HI), vec2<u32>(step_info.step_lo, step_info.step_hi),
                            chunk.base + s, N_PIXELS);
        var pixel = k;
        if (HAS_SUBSET) {
            pixel = subset[k];
        }
        x = target_data[pixel % TARGET_WIDTH];
        y = target_data[TARGET_WIDTH + pixel / TARGET_WIDTH];
        let c = TARGET_WIDTH + TARGET_HEIGHT + 3u * pixel;
        rgb = vec3<f32>(target_data[c], target_data[c + 1u], target_data[c + 2u]);
    }
    batch[2u * s] = x;
    batch[2u * s + 1u] = y;
//#if POSITIONS_TO_ACTS
    acts[s] = vec2<f32>(x, y);
//#endif
    batch[BATCH_COLORS + 3u * s] = rgb.x;
    batch[BATCH_COLORS + 3u * s + 1u] = rgb.y;
    batch[BATCH_COLORS + 3u * s + 2u] = rgb.z;
}
