// nfield WGSL: the squared error of an evaluation, reduced per workgroup on the GPU.
//
// out: (n, 3) model outputs; target: (n, 3) colours in the same order; partials: one sum per
// workgroup of Σ_c (clamp(out, 0, 1) − target)² over its EVAL_WG samples (the host adds the
// partials in f64, in order). With SUBGROUPS the workgroup's sum goes through subgroupAdd, else
// through a tree in workgroup memory.

@group(0) @binding(0) var<storage, read> out: array<f32>;
@group(0) @binding(1) var<storage, read> target_rgb: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<uniform> eval_n: vec4<u32>;

var<workgroup> scratch: array<f32, EVAL_WG>;

@compute @workgroup_size(EVAL_WG)
fn squared_error(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32
//#if SUBGROUPS
                 , @builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_id) sg_id: u32,
                 @builtin(num_subgroups) sg_count: u32
//#endif
) {
    let group = wg.y * groups.x + wg.x;
    let p = group * EVAL_WG + lid;
    var e = 0.0;
    if (p < eval_n.x) {
        for (var c = 0u; c < 3u; c++) {
            let d = clamp(out[3u * p + c], 0.0, 1.0) - target_rgb[3u * p + c];
            e = fma(d, d, e);
        }
    }
//#if SUBGROUPS
    let s = subgroupAdd(e);
    if (sg_lane == 0u) {
        scratch[sg_id] = s;
    }
    workgroupBarrier();
    if (lid == 0u) {
        var total = 0.0;
        for (var k = 0u; k < sg_count; k++) {
            total += scratch[k];
        }
        partials[group] = total;
    }
//#else
    scratch[lid] = e;
    workgroupBarrier();
    for (var stride = EVAL_WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            scratch[lid] += scratch[lid + stride];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partials[group] = scratch[0];
    }
//#endif
}
