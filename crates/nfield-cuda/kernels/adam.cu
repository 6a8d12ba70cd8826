// nfield CUDA kernels: the optimizer end of a training step.
//
//   adam_step     per MLP parameter: sums the blocks' gradient partials in a fixed order
//                 (deterministic), scales by 2/(3B), updates Adam's moments and the fp32 master
//                 parameter (nfield::reference::adam); block 0 also reduces the loss partials
//                 into loss_out[0] (the batch MSE).
//   adam_dense    the same update for params[offset + i], i < n, from a dense gradient grad[i]
//                 (the hash table's, added to by the step kernel), which it zeroes for the next
//                 step; table16[i] (when not null) gets the updated value in fp16 (the copy the
//                 fused fp16 step gathers from). With grad_fixed, grad holds n 64-bit integers
//                 in units of 2⁻³² (encoding.cuh DETERMINISTIC) instead of floats. Only the
//                 values i of the chunks listed in chunks[0..n_chunks) (i / ADAM_CHUNK, in
//                 increasing order: HashGridSpec::reachable_chunks) are visited; the others never
//                 get a gradient, so their update would leave them as they are.
//   step_advance  step += 1 (the step counter the sampler and the bias correction read)
//
// params, m, v: the model's parameters and Adam's moments, f32, model layout; partials:
// (n_blocks, stride) f32; loss_partials: (n_blocks) f32; grad: (n) f32; chunks: (n_chunks) u32;
// step: one u64.

// Adam's hyperparameters, the gradient's scale 2/(3B) and the learning rate's step decay
// (nfield::train::LrDecay) (engine/step.rs AdamArgs, same layout).
struct AdamArgs {
    float lr, beta1, beta2, eps;
    u32 bias_correction;
    float grad_scale;
    u32 decay_start, decay_every;
    float decay_factor;
};

// At step t = *step + 1: (.x) the step size's multiplier, Adam's first bias correction times the
// learning rate's decay factor^⌊(t − start)/every⌋ (t ≥ start), and (.y) the second bias
// correction (corrections are 1 when off).
DEV float2 adam_corrections(const u64* step, const AdamArgs& a) {
    const u64 t = *step + 1;
    const double decay =
        a.decay_factor == 1.0f || t < a.decay_start ? 1.0 : pow((double)a.decay_factor, (double)((t - a.decay_start) / a.decay_every));
    if (!a.bias_correction) return make_float2((float)decay, 1.0f);
    return make_float2((float)(decay / (1.0 - pow((double)a.beta1, (double)t))),
                       (float)(1.0 / (1.0 - pow((double)a.beta2, (double)t))));
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

// adam_step's shape: a block of ADAM_WARPS warps takes 32 consecutive parameters (one per
// lane); warp w sums blocks [w·n/ADAM_WARPS, (w+1)·n/ADAM_WARPS) of the partials in order, then
// warp 0 adds the warps' sums in warp order: a fixed order (deterministic) with n/ADAM_WARPS
// loads per thread instead of n (the sum over ~264 partials was latency-bound at one per thread).
#define ADAM_WARPS 8

extern "C" __global__ void __launch_bounds__(32 * ADAM_WARPS)
    adam_step(float* __restrict__ params, float* __restrict__ m, float* __restrict__ v,
              const float* __restrict__ partials, u32 n_blocks, u32 n_params, u32 stride,
              const float* __restrict__ loss_partials, float* __restrict__ loss_out, const u64* __restrict__ step,
              AdamArgs a, float loss_scale) {
    __shared__ float sums[ADAM_WARPS][32];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const u32 i = 32 * blockIdx.x + lane;
    const u32 b0 = (u32)((u64)n_blocks * warp / ADAM_WARPS), b1 = (u32)((u64)n_blocks * (warp + 1) / ADAM_WARPS);
    float g = 0.0f;
    if (i < n_params) {
#pragma unroll 8
        for (u32 b = b0; b < b1; ++b) g += partials[(size_t)b * stride + i];
    }
    sums[warp][lane] = g;
    __syncthreads();
    if (warp == 0 && i < n_params) {
        float total = sums[0][lane];
#pragma unroll
        for (int w = 1; w < ADAM_WARPS; ++w) total += sums[w][lane];
        adam_update(params + i, m + i, v + i, total, a, adam_corrections(step, a));
    }
    if (blockIdx.x == 0 && warp == 0) {
        // Lane l sums partials l, l + 32, …, then a shuffle tree: a fixed order, and 32 loads in
        // flight instead of one thread's chain of ~264 (which made this kernel 17 µs).
        double s = 0.0;
        for (u32 b = lane; b < n_blocks; b += 32) s += loss_partials[b];
#pragma unroll
        for (int offset = 16; offset > 0; offset /= 2) s += __shfl_down_sync(0xffffffffu, s, offset);
        if (lane == 0) loss_out[0] = (float)(s * loss_scale);
    }
}

// ADAM_DENSE_UNROLL elements per thread and turn, every load issued before the first update: the
// update is a few instructions per 34 bytes of traffic, so the kernel is bound by how many loads
// are in flight (one element per thread and turn reached 0.46 TB/s on the H100).
#define ADAM_DENSE_UNROLL 8
// Table values per entry of adam_dense's chunk list (step.rs ADAM_CHUNK, the same number).
#define ADAM_CHUNK 256

extern "C" __global__ void adam_dense(float* __restrict__ params, float* __restrict__ m, float* __restrict__ v,
                                      float* __restrict__ grad, u32 offset, u32 n, const u32* __restrict__ chunks,
                                      u32 n_chunks, const u64* __restrict__ step, AdamArgs a,
                                      u16* __restrict__ table16, u32 grad_fixed) {
    long long* const fixed = (long long*)grad;
    const float2 c = adam_corrections(step, a);
    const u32 stride = gridDim.x * blockDim.x * ADAM_DENSE_UNROLL;
    const u32 visited = n_chunks * ADAM_CHUNK;
    for (u32 base = blockIdx.x * blockDim.x * ADAM_DENSE_UNROLL + threadIdx.x; base < visited; base += stride) {
        u32 index[ADAM_DENSE_UNROLL];
        float g[ADAM_DENSE_UNROLL], p[ADAM_DENSE_UNROLL], mi[ADAM_DENSE_UNROLL], vi[ADAM_DENSE_UNROLL];
#pragma unroll
        for (int u = 0; u < ADAM_DENSE_UNROLL; ++u) {
            const u32 j = base + u * blockDim.x;
            index[u] = j < visited ? chunks[j / ADAM_CHUNK] * ADAM_CHUNK + j % ADAM_CHUNK : n;
        }
#pragma unroll
        for (int u = 0; u < ADAM_DENSE_UNROLL; ++u) {
            const u32 i = index[u], k = offset + i;
            if (i < n) {
                g[u] = grad_fixed ? (float)((double)fixed[i] / (double)TABLE_GRAD_ONE) : grad[i];
                p[u] = params[k];
                mi[u] = m[k];
                vi[u] = v[k];
            }
        }
#pragma unroll
        for (int u = 0; u < ADAM_DENSE_UNROLL; ++u) {
            const u32 i = index[u], k = offset + i;
            if (i >= n) continue;
            if (grad_fixed) {
                fixed[i] = 0;
            } else {
                grad[i] = 0.0f;
            }
            adam_update(&p[u], &mi[u], &vi[u], g[u], a, c);
            params[k] = p[u];
            m[k] = mi[u];
            v[k] = vi[u];
            if (table16) table16[i] = f32_to_f16(p[u]);
        }
    }
}

extern "C" __global__ void step_advance(u64* step) {
    if (blockIdx.x == 0 && threadIdx.x == 0) *step += 1;
}
