// nfield WGSL, training: the layer-0 input E (CHUNK_SIZE, ENC_DIM) of the chunk, written at
// the start of `acts`, from the positions in `batch` (CHUNK_SIZE, 2). One entry point per
// encoding; dispatch (⌈CHUNK_SIZE/64⌉, units) with units = FREQS (Fourier: the sin/cos pair of
// frequency j) or LEVELS (hash grid: the FEATURES features of level l). SIREN's identity
// encoding is written by train_sample.wgsl (POSITIONS_TO_ACTS).
@group(0) @binding(0) var<storage, read> params: array<f32>;
@group(0) @binding(1) var<storage, read> batch: array<f32>;
@group(0) @binding(2) var<storage, read_write> acts: array<f32>;

@compute @workgroup_size(64)
fn train_encode_fourier(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let j = gid.y;
    if (s < CHUNK_SIZE) {
        let sc = fourier_pair(batch[2u * s], batch[2u * s + 1u], j);
        acts[s * ENC_DIM + j] = sc.x;
        acts[s * ENC_DIM + FREQS + j] = sc.y;
    }
}

@compute @workgroup_size(64)
fn train_encode_hash(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let l = gid.y;
    if (s < CHUNK_SIZE) {
        let hc = hash_corners(l, batch[2u * s], batch[2u * s + 1u]);
        for (var f = 0u; f < FEATURES; f++) {
            acts[s * ENC_DIM + l * FEATURES + f] = hash_feature(l, hc, f);
        }
    }
}
