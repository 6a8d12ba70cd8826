// nfield CUDA kernels: the optimizer end of a training step.
//
//   adam_step     one thread per MLP parameter: sums the blocks' gradient partials in block order
//                 (deterministic), scales by 2/(3B), updates Adam's moments and the fp32 master
//                 parameter (nfield::reference::adam); block 0 also reduces the loss partials
//                 into loss_out[0] (the batch MSE).
//   adam_dense    the same update for params[offset + i], i < n, from a dense gradient grad[i]
//                 (the hash table's, added to by the step kernel), which it zeroes for the next
//                 step.
//   step_advance  step += 1 (the step counter the sampler and the bias correction read)
//
// params, m, v: the model's parameters and Adam's moments, f32, model layout; partials:
// (n_blocks, stride) f32; loss_partials: (n_blocks) f32; grad: (n) f32; step: one u64.

// Adam's hyperparameters and the gradient's scale 2/(3B) (engine/step.rs AdamArgs, same layout).
struct AdamArgs {
    float lr, beta1, beta2, eps;
    u32 bias_correction;
    float grad_scale;
};

// Adam's bias corrections at step *step + 1 (1 when off).
DEV float2 adam_corrections(const u64* step, const AdamArgs& a) {
    const double t = (double)(*step + 1);
    if (!a.bias_correction) return make_float2(1.0f, 1.0f);
    return make_float2((float)(1.0 / (1.0 - pow((double)a.beta1, t))), (float)(1.0 / (1.0 - pow((double)a.beta2, t))));
}

// One parameter's update from its unscaled gradient sum g.
DEV void adam_update(float* p, float* m, float* v, float g, const AdamArgs& a, float2 c) {
    g *= a.grad_scale;
    const float mi = a.beta1 * *m + (1.0f - a.beta1) * g;
    const float vi = a.beta2 * *v + (1.0f - a.beta2) * g * g;
    *m = mi;
    *v = vi;
    *p -= a.lr * c.x * mi / (sqrtf(vi * c.y) + a.eps);
}

extern "C" __global__ void adam_step(float* __restrict__ params, float* __restrict__ m, float* __restrict__ v,
                                     const float* __restrict__ partials, u32 n_blocks, u32 n_params, u32 stride,
                                     const float* __restrict__ loss_partials, float* __restrict__ loss_out,
                                     const u64* __restrict__ step, AdamArgs a, float loss_scale) {
    const float2 c = adam_corrections(step, a);
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n_params; i += gridDim.x * blockDim.x) {
        float g = 0.0f;
        for (u32 b = 0; b < n_blocks; ++b) g += partials[(size_t)b * stride + i];
        adam_update(params + i, m + i, v + i, g, a, c);
    }
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        double s = 0.0;
        for (u32 b = 0; b < n_blocks; ++b) s += loss_partials[b];
        loss_out[0] = (float)(s * loss_scale);
    }
}

extern "C" __global__ void adam_dense(float* __restrict__ params, float* __restrict__ m, float* __restrict__ v,
                                      float* __restrict__ grad, u32 offset, u32 n, const u64* __restrict__ step,
                                      AdamArgs a) {
    const float2 c = adam_corrections(step, a);
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const float g = grad[i];
        grad[i] = 0.0f;
        const u32 k = offset + i;
        adam_update(params + k, m + k, v + k, g, a, c);
    }
}

extern "C" __global__ void step_advance(u64* step) {
    if (blockIdx.x == 0 && threadIdx.x == 0) *step += 1;
}
