// nfield WGSL, training: SIREN's layer-0 input E (CHUNK_SIZE, 2) = the positions: copies
// batch[0 .. 2·CHUNK_SIZE) to the start of `acts`. Dispatch ⌈CHUNK_SIZE/64⌉.
@group(0) @binding(1) var<storage, read> batch: array<f32>;
@group(0) @binding(2) var<storage, read_write> acts: array<f32>;

@compute @workgroup_size(64)
fn train_encode_identity(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    if (s < CHUNK_SIZE) {
        acts[2u * s] = batch[2u * s];
        acts[2u * s + 1u] = batch[2u * s + 1u];
    }
}
