// nfield WGSL, training: one Adam step over every parameter (nfield::cpu::adam, the same f32
// formula): g = Σ_z partials[z·GRAD_LEN + i] (z in order) for i < GRAD_LEN, the hash table's
// gradient (64-bit fixed point of the gradient × TABLE_GRAD_SCALE, common.wgsl, at
// table_grad[2(i − ENC_OFFSET)…+1], then cleared)
// for i ≥ GRAD_LEN when HASH_TABLE, and
//   m ← fma(β1, m, (1−β1)·g),  v ← fma(β2, v, (1−β2)·g·g),  p ← p − step_size·m / (√(v·c2) + ε)
// with step_size = lr_t/(1 − β1^t), c2 = 1/(1 − β2^t) from StepInfo. Parameters in
// [FROZEN_START, FROZEN_END) (a frozen Fourier B) are left untouched.
// params: N_PARAMS (model layout); moments: [m (N_PARAMS) | v (N_PARAMS)].
// Dispatch: any number of workgroups of 256 (grid-stride loop).
@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> table_grad: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> moments: array<f32>;
@group(0) @binding(4) var<uniform> step_info: StepInfo;

@compute @workgroup_size(256)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let stride = groups.x * 256u;
    for (var i = gid.x; i < N_PARAMS; i += stride) {
        if (i >= FROZEN_START && i < FROZEN_END) {
            continue;
        }
        var g = 0.0;
        if (i < GRAD_LEN) {
            g = partials[i];
            for (var z = 1u; z < GRAD_SPLITS; z++) {
                g += partials[z * GRAD_LEN + i];
            }
        } else if (HASH_TABLE) {
            g = from_fixed64(table_grad[i - ENC_OFFSET]) / TABLE_GRAD_SCALE;
            table_grad[i - ENC_OFFSET] = vec2<u32>(0u);
        }
        let m = fma(BETA1, moments[i], ONE_MINUS_BETA1 * g);
        let v = fma(BETA2, moments[N_PARAMS + i], ONE_MINUS_BETA2 * g * g);
        moments[i] = m;
        moments[N_PARAMS + i] = v;
        params[i] = params[i] - step_info.step_size * m / (sqrt(v * step_info.c2) + EPS);
    }
}
