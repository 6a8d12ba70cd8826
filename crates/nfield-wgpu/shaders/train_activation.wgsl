// nfield WGSL, training: a forward unit's activation and its derivative, shared by the
// layer-by-layer forward pass (train_forward.wgsl) and the fused one (train_fused.wgsl). The
// including pipeline defines FORWARD_ACT: 0 sine (ω = OMEGA), 1 ReLU, 2 the output activation
// (src/train/gemm.rs and src/train/fused.rs generate it; a branch on the layer record, a
// uniform, cost 7.5 %).

// (activation, derivative) of one weighted sum z (the output activation's derivative is not
// needed: the loss takes it).
fn activate(z: f32) -> vec2<f32> {
    if (FORWARD_ACT == 0u) {
        let sc = sincos(OMEGA * z);
        return vec2<f32>(sc.x, OMEGA * sc.y);
    } else if (FORWARD_ACT == 1u) {
        return vec2<f32>(max(z, 0.0), select(0.0, 1.0, z > 0.0));
    }
    return vec2<f32>(out_act(z), 0.0);
}
