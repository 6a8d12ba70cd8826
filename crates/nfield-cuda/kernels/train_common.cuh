// nfield CUDA kernels: device code shared by the three training steps (mlp_train.cu,
// mlp_train_wide.cu, mlp_train_fp32.cu), prepended after common.cuh and encoding.cuh.
//
// Contents: the per-block gradient partial's stride, the training target as the kernels read
// it, the pixel a sample draws, the plain sample load, the row swizzle of 16-bit matrices in
// shared memory, warp row sums, and the 16×16 weight-gradient tile (tensor cores) with its flush
// into the partial. Contracts as each function states.

// partials: (gridDim.x, PARTIAL_STRIDE) f32, PARTIAL_STRIDE = MLP_PARAMS rounded up to 4 (so
// float2 stores stay aligned). Every training kernel also takes scales (LEVELS f32, the hash
// grid's level scales) and enc_grad (the hash table's gradient, LEVELS·TABLE_SIZE·FEATURES f32,
// added to with atomics, unscaled); only mlp_train_wide.cu's hash grid (MODEL 2) reads them.
#define PARTIAL_STRIDE ((MLP_PARAMS + 3) / 4 * 4)
#define N_ACT (N_HIDDEN + 1)  // layers with a hidden activation: 0 .. N_HIDDEN

struct TrainTarget {
    const float* xs;      // (width) x of each column
    const float* ys;      // (height) y of each row
    const float* colors;  // (n, 3)
    const u32* subset;    // (n_subset) pixel indices, or null
    u32 width;
    u32 n_pixels;  // pixels to draw from: the subset's length, else width·height
};

// The pixel sample `index` of step `step` draws (nfield::rng::train_pixel, through the subset).
DEV u32 target_pixel(const TrainTarget& target, u64 seed, u64 step, u32 index) {
    const u32 k = train_pixel(seed, step, index, target.n_pixels);
    return target.subset ? target.subset[k] : k;
}

// smp[0..5] = x, y, r, g, b of sample `index`; past the batch, padding (colour −1: no loss, no
// gradient; the rest 0).
DEV void load_sample(float* smp, const TrainTarget& target, u64 seed, u64 step, u32 index, u32 batch) {
    if (index < batch) {
        const u32 k = target_pixel(target, seed, step, index);
        smp[0] = target.xs[k % target.width];
        smp[1] = target.ys[k / target.width];
        smp[2] = target.colors[3 * (size_t)k];
        smp[3] = target.colors[3 * (size_t)k + 1];
        smp[4] = target.colors[3 * (size_t)k + 2];
    } else {
        smp[0] = smp[1] = 0.0f;
        smp[2] = -1.0f;
        smp[3] = smp[4] = 0.0f;
    }
}

// Element (r, c) of a row-major matrix with w columns of EPC-element 16-byte chunks (8 for
// 16-bit elements, 4 for 32-bit), the chunks XOR-swizzled by row so that the 8 rows an ldmatrix
// reads fall in different banks. The XOR mask stays below the largest power of two (≤ 8) that
// divides the row's chunk count, so a chunk never leaves its row (w = 48: 6 chunks, mask < 2;
// w = 96: 12 chunks, mask < 4).
template <int EPC>
DEV int swz_chunks(int r, int c, int w) {
    const int chunks = w / EPC;
    const int span = (chunks & -chunks) < 8 ? (chunks & -chunks) : 8;
    return r * w + (((c / EPC) ^ (r & (span - 1))) * EPC) + (c % EPC);
}
// Element (r, c) of a swizzled row-major 16-bit matrix with w columns.
DEV int swz(int r, int c, int w) { return swz_chunks<8>(r, c, w); }

DEV void st32(u16* base, int index, u32 v) { *(u32*)(base + index) = v; }

// Σ over the 8 row groups of a warp (lanes with the same t): every lane gets the sum.
DEV float sum_rows(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 4);
    v += __shfl_xor_sync(0xffffffffu, v, 8);
    v += __shfl_xor_sync(0xffffffffu, v, 16);
    return v;
}

// out[m0..m0+16][n0..n0+16] of Aᵀ·B over K samples: A is S_a[sample][m] (width wa), B is
// S_b[sample][n] (width wb); both 16-bit, swizzled. acc: two n-tiles in C layout.
template <int K>
DEV void grad_tile(const u16* sa, int wa, int m0, const u16* sb, int wb, int n0, float (*acc)[4], int lane) {
    const int quad = lane / 8, r8 = lane % 8;
#pragma unroll
    for (int k0 = 0; k0 < K; k0 += 16) {
        u32 a[4], b[4];
        // A (m × k) from S_a[k][m]: matrices (k0-7, m0-7), (k0-7, m8-15), (k8-15, m0-7), (k8-15, m8-15).
        ldmatrix_x4_trans(a, sa + swz(k0 + r8 + 8 * (quad >> 1), m0 + 8 * (quad & 1), wa));
        // B (k × n) from S_b[k][n]: matrices (k0-7, n0-7), (k8-15, n0-7), (k0-7, n8-15), (k8-15, n8-15).
        ldmatrix_x4_trans(b, sb + swz(k0 + r8 + 8 * (quad & 1), n0 + 8 * (quad >> 1), wb));
        mma16816(acc[0], a, b[0], b[1]);
        mma16816(acc[1], a, b[2], b[3]);
    }
}

// Adds (or, on a block's first tile, stores) a 16×16 gradient tile into the block's partial.
DEV void flush_tile(float* dst, int ld, int m0, int n0, const float (*acc)[4], int lane, bool first) {
    const int g = lane / 4, t = lane % 4;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        float2* p0 = (float2*)(dst + (m0 + g) * ld + n0 + 8 * h + 2 * t);
        float2* p1 = (float2*)(dst + (m0 + g + 8) * ld + n0 + 8 * h + 2 * t);
        float2 v0 = make_float2(acc[h][0], acc[h][1]), v1 = make_float2(acc[h][2], acc[h][3]);
        if (!first) {
            const float2 o0 = *p0, o1 = *p1;
            v0.x += o0.x;
            v0.y += o0.y;
            v1.x += o1.x;
            v1.y += o1.y;
        }
        *p0 = v0;
        *p1 = v1;
    }
}
