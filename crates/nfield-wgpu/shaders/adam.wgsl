// nfield WGSL, training: one Adam step over every parameter (nfield::cpu::adam, the same f32
// formula): g = Σ_z partials[z·GRAD_LEN + i] (z in order) for i < GRAD_LEN, the hash table's
// gradient (64-bit fixed point of the gradient × TABLE_GRAD_SCALE, common.wgsl, at
// table_grad[2(i − ENC_OFFSET)…+1], then cleared)
// for i ≥ GRAD_LEN when HASH_TABLE, and
//   m ← fma(β1, m, (1−β1)·g),  v ← fma(β2, v, (1−β2)·g·g),  p ← p − step_size·m / (√(v·c2) + ε)
// with step_size = lr_t/(1 − β1^t), c2 = 1/(1 − β2^t) from StepInfo. Parameters in
// [FROZEN_START, FROZEN_END) (a frozen Fourier B) are left untouched.
// params: N_PARAMS (model layout); moments: [m (N_PARAMS) | v (N_PARAMS)].
// Dispatch: any number of workgroups of 256 (grid-stride loop). Each invocation takes BATCH
// elements a stride apart per iteration (unrolled by src/codegen.rs into named scalars) and
// issues all their loads before any store: with one element at a time the stores of one
// iteration ordered the loads of the next behind them (the buffers may alias, as far as the
// compiler knows), and a hash grid's 16.7 M-parameter step took 1.3 ms on an H100, latency-bound.
@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> table_grad: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> moments: array<f32>;
@group(0) @binding(4) var<uniform> step_info: StepInfo;

@compute @workgroup_size(256)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let stride = groups.x * 256u;
    for (var base = gid.x; base < N_PARAMS; base += BATCH * stride) {
        // every load of the batch first (elements out of range or frozen load nothing: a
        // small model's invocations have one live element, and an MLP parameter's gradient is
        // GRAD_SPLITS loads)
//#unroll BATCH
        let i{o} = base + {o}u * stride;
        let live{o} = i{o} < N_PARAMS && !(i{o} >= FROZEN_START && i{o} < FROZEN_END);
        var g{o} = 0.0;
        var m{o} = 0.0;
        var v{o} = 0.0;
        var p{o} = 0.0;
        if (live{o}) {
            g{o} = gradient(i{o});
            m{o} = moments[i{o}];
            v{o} = moments[N_PARAMS + i{o}];
            p{o} = params[i{o}];
        }
//#end
//#unroll BATCH
        if (live{o}) {
            update(i{o}, g{o}, m{o}, v{o}, p{o});
        }
//#end
    }
}

// The gradient of parameter i: its split partials summed in order, or the hash table's entry.
fn gradient(i: u32) -> f32 {
    var g = 0.0;
    if (i < GRAD_LEN) {
        g = partials[i];
        for (var z = 1u; z < GRAD_SPLITS; z++) {
            g += partials[z * GRAD_LEN + i];
        }
    } else if (HASH_TABLE) {
        g = from_fixed64(table_grad[i - ENC_OFFSET]) / TABLE_GRAD_SCALE;
    }
    return g;
}

// Adam's update of parameter i from its gradient g, moments m0 and v0 and value p (and the
// table entry's gradient cleared).
fn update(i: u32, g: f32, m0: f32, v0: f32, p: f32) {
    if (HASH_TABLE && i >= GRAD_LEN) {
        table_grad[i - ENC_OFFSET] = vec2<u32>(0u);
    }
    let m = fma(BETA1, m0, ONE_MINUS_BETA1 * g);
    let v = fma(BETA2, v0, ONE_MINUS_BETA2 * g * g);
    moments[i] = m;
    moments[N_PARAMS + i] = v;
    params[i] = p - step_info.step_size * m / (sqrt(v * step_info.c2) + EPS);
}
