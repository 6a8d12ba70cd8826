// nfield CUDA kernels: the optimizer end of a training step.
//
//   adam_step     one thread per trainable parameter: sums the blocks' gradient partials in
//                 block order (deterministic), scales by 2/(3B), updates Adam's moments and the
//                 fp32 master parameter (nfield::reference::adam); block 0 also reduces the
//                 loss partials into loss_out[0] (the batch MSE).
//   step_advance  step += 1 (the step counter the sampler and the bias correction read)
//
// params, m, v: (n_params) f32 (the trainable prefix of the model layout); partials:
// (n_blocks, stride) f32; loss_partials: (n_blocks) f32; step: one u64.

extern "C" __global__ void adam_step(float* __restrict__ params, float* __restrict__ m, float* __restrict__ v,
                                     const float* __restrict__ partials, u32 n_blocks, u32 n_params, u32 stride,
                                     const float* __restrict__ loss_partials, float* __restrict__ loss_out,
                                     const u64* __restrict__ step, float lr, float beta1, float beta2, float eps,
                                     u32 bias_correction, float grad_scale, float loss_scale) {
    const double t = (double)(*step + 1);
    const float c1 = bias_correction ? (float)(1.0 / (1.0 - pow((double)beta1, t))) : 1.0f;
    const float c2 = bias_correction ? (float)(1.0 / (1.0 - pow((double)beta2, t))) : 1.0f;
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n_params; i += gridDim.x * blockDim.x) {
        float g = 0.0f;
        for (u32 b = 0; b < n_blocks; ++b) g += partials[(size_t)b * stride + i];
        g *= grad_scale;
        const float mi = beta1 * m[i] + (1.0f - beta1) * g;
        const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] -= lr * c1 * mi / (sqrtf(vi * c2) + eps);
    }
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        double s = 0.0;
        for (u32 b = 0; b < n_blocks; ++b) s += loss_partials[b];
        loss_out[0] = (float)(s * loss_scale);
    }
}

extern "C" __global__ void step_advance(u64* step) {
    if (blockIdx.x == 0 && threadIdx.x == 0) *step += 1;
}
