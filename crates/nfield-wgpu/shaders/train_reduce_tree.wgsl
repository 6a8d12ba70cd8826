// nfield WGSL, training: train_loss's entry point with a workgroup-memory tree sum (devices
// without subgroup operations). 256 invocations, one sample each (train_loss.wgsl).
var<workgroup> partial_sums: array<f32, 256>;

@compute @workgroup_size(256)
fn train_loss(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    partial_sums[lid] = loss_sample(wg.x * 256u + lid);
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if (lid < half) {
            partial_sums[lid] += partial_sums[lid + half];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        loss_partials[chunk.base / 256u + wg.x] = partial_sums[0];
    }
}
