// nfield CUDA kernels: the squared error of an inference output against the target.
//
//   sse_partials  each block sums (clamp(out, 0, 1) − colour)² over a grid-stride share of the
//                 samples and channels in double and writes one partial; the host adds them.
//
// out: (n, 3) f32; colors: (N, 3) f32; subset: (n) pixel indices (out[i] is pixel subset[i])
// or null (out[i] is pixel i); partials: (gridDim.x) f64.

extern "C" __global__ void sse_partials(const float* __restrict__ out, const float* __restrict__ colors,
                                        const u32* __restrict__ subset, u32 n, double* __restrict__ partials) {
    __shared__ double scratch[32];
    double s = 0.0;
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const size_t k = subset ? subset[i] : i;
#pragma unroll
        for (int c = 0; c < 3; ++c) {
            const double d = (double)fminf(fmaxf(out[3 * (size_t)i + c], 0.0f), 1.0f) - (double)colors[3 * k + c];
            s += d * d;
        }
    }
    const double total = block_sum(s, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = total;
}
