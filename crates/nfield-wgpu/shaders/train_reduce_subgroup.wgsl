// nfield WGSL, training: train_loss's entry point with subgroupAdd (Features::SUBGROUP). Each
// subgroup's first invocation stores its sum in its own slot (others store 0), and invocation 0
// adds the 256 slots in index order: correct for any subgroup size and any mapping of
// invocations to subgroups. 256 invocations, one sample each (train_loss.wgsl).
var<workgroup> partial_sums: array<f32, 256>;

@compute @workgroup_size(256)
fn train_loss(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(subgroup_invocation_id) lane: u32) {
    let total = subgroupAdd(loss_sample(wg.x * 256u + lid));
    partial_sums[lid] = select(0.0, total, lane == 0u);
    workgroupBarrier();
    if (lid == 0u) {
        var sum = 0.0;
        for (var i = 0u; i < 256u; i++) {
            sum += partial_sums[i];
        }
        loss_partials[chunk.base / 256u + wg.x] = sum;
    }
}
