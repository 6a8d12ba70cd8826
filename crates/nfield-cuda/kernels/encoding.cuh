// nfield CUDA kernels: model layout, the output layer, query positions and input encodings
// (prepended after common.cuh to the MLP kernels).
//
// Defines read here:
//   MODEL        0 SIREN (identity encoding), 1 Fourier features, 2 hash grid
//   IN_DIM       width of the encoding (2, 2·FREQS, LEVELS·FEATURES)
//   WIDTH        hidden width;  N_HIDDEN  width→width layers after layer 0
//   FREQS        Fourier: m (B is 2×m, row-major, in the parameters after the MLP)
//   LEVELS, FEATURES, TABLE_SIZE (a power of two), HASH_OFFSET (0 or 0.5f)
//   OUT_LINEAR   1: linear output, 0: sigmoid
//
// Parameter layout (nfield::model::ParamLayout): [W0 (WIDTH×IN_DIM), b0, {Wk (WIDTH×WIDTH), bk}
// × N_HIDDEN, W_out (3×WIDTH), b_out (3), encoding (Fourier B 2×FREQS | table LEVELS×T×FEATURES)].

#define L0_W 0
#define L0_B (WIDTH * IN_DIM)
#define HID_W(k) (WIDTH * IN_DIM + WIDTH + (k) * (WIDTH * WIDTH + WIDTH))
#define HID_B(k) (HID_W(k) + WIDTH * WIDTH)
#define OUT_W (WIDTH * IN_DIM + WIDTH + N_HIDDEN * (WIDTH * WIDTH + WIDTH))
#define OUT_B (OUT_W + 3 * WIDTH)
#define ENC_OFFSET (OUT_B + 3)
#define MLP_PARAMS ENC_OFFSET

// ---------------------------------------------------------------- output layer (fp32)
// The output activation (OUT_LINEAR: identity, else sigmoid).
DEV float out_act(float z) {
#if OUT_LINEAR
    return z;
#else
    return sigmoidf(z);
#endif
}

// One output channel's error: y = out_act(z) against the colour `target`; returns y − target
// (its square is the loss term) and sets *dy = (y − target)·out_act'(z) (without the loss's
// 2/(3B)); a padding sample (!valid) has 0 for both.
DEV float out_error(float z, float target, bool valid, float* dy) {
#if OUT_LINEAR
    const float y = z, dact = 1.0f;
#else
    const float y = sigmoidf(z), dact = y * (1.0f - y);
#endif
    const float diff = valid ? y - target : 0.0f;
    *dy = diff * dact;
    return diff;
}

// Output channel c's dot product, without the bias, for the 16 rows of a warp tile whose last
// hidden activation v is in mma C layout over all WIDTH columns (v[j]: this lane's columns
// 8j + 2t, 8j + 2t + 1 of rows g and g + 8): Σ_n W_out[c][n]·a[row][n] for row g (.x) and
// g + 8 (.y), summed over the lane's quad (every lane of a quad gets the sums). One channel at a
// time, so a caller can use it before the next (fewer live registers in the fused step).
DEV float2 out_dot_c_layout(const float* __restrict__ params, const float (*v)[4], int t, int c) {
    float s0 = 0.f, s1 = 0.f;
#pragma unroll
    for (int j = 0; j < WIDTH / 8; ++j) {
        const float w0v = params[OUT_W + c * WIDTH + 8 * j + 2 * t];
        const float w1v = params[OUT_W + c * WIDTH + 8 * j + 2 * t + 1];
        s0 = fmaf(w0v, v[j][0], fmaf(w1v, v[j][1], s0));
        s1 = fmaf(w0v, v[j][2], fmaf(w1v, v[j][3], s1));
    }
    s0 += __shfl_xor_sync(0xffffffffu, s0, 1);
    s0 += __shfl_xor_sync(0xffffffffu, s0, 2);
    s1 += __shfl_xor_sync(0xffffffffu, s1, 1);
    s1 += __shfl_xor_sync(0xffffffffu, s1, 2);
    return make_float2(s0, s1);
}

// Where the pixels of a grid query sit (nfield::model::Coords + View): for pixel i of n,
// unit = (i + off) / den; u = u0 + du·unit; x = 2u − 1 (MINUS_ONE_ONE) or u; u ∉ [0, 1] is
// outside the image (black).
struct GridQuery {
    u32 width, height;
    u32 minus_one_one;
    u32 pad;
    double off_x, den_x, u0_x, du_x;
    double off_y, den_y, u0_y, du_y;
};

// The model-space position of sample p (a grid pixel, or points[p]); false when outside.
DEV bool query_position(const GridQuery& q, const float* points, u32 p, float* x, float* y) {
    if (points) {
        *x = points[2 * p];
        *y = points[2 * p + 1];
        return true;
    }
    const u32 i = p % q.width, j = p / q.width;
    const double ux = q.u0_x + q.du_x * (((double)i + q.off_x) / q.den_x);
    const double uy = q.u0_y + q.du_y * (((double)j + q.off_y) / q.den_y);
    *x = q.minus_one_one ? (float)(-1.0 + 2.0 * ux) : (float)ux;
    *y = q.minus_one_one ? (float)(-1.0 + 2.0 * uy) : (float)uy;
    return ux >= 0.0 && ux <= 1.0 && uy >= 0.0 && uy <= 1.0;
}

#if MODEL == 1
// Fourier feature c of (x, y): sin(2π x·B_c) for c < FREQS, cos(2π x·B_{c−FREQS}) after.
// The phase is reduced in turns (x·B − round(x·B)) so |2π r| ≤ π.
DEV void fourier_pair(const float* B, float x, float y, int j, float* s, float* c) {
    const float turns = fmaf(x, B[j], y * B[FREQS + j]);
    const float r = turns - rintf(turns);
    sin_cos(6.28318530717958647f * r, s, c);
}
DEV float fourier_feature(const float* B, float x, float y, int c) {
    float s, co;
    fourier_pair(B, x, y, c < FREQS ? c : c - FREQS, &s, &co);
    return c < FREQS ? s : co;
}
#endif

#if MODEL == 2
// Hash-grid level l at (x, y): the FEATURES interpolated features into f
// (nfield::model::hash_grid: p = x·scale + offset in f32, corners hashed with (1, 2654435761)).
// The 4 cell corners of (x, y) at level l: their table entries (within the level) and bilinear
// weights, corner = 2·dx + dy.
DEV void hash_corners(const float* scales, int l, float x, float y, u32* index, float* w) {
    // mul then add, rounded separately, exactly as the CPU engine and the oracle do
    const float px = __fadd_rn(__fmul_rn(x, scales[l]), HASH_OFFSET);
    const float py = __fadd_rn(__fmul_rn(y, scales[l]), HASH_OFFSET);
    const float fx = floorf(px), fy = floorf(py);
    const float tx = px - fx, ty = py - fy;
    const u32 cx = (u32)(int)fx, cy = (u32)(int)fy;
#pragma unroll
    for (int corner = 0; corner < 4; ++corner) {
        const u32 dx = corner >> 1, dy = corner & 1;
        index[corner] = ((cx + dx) ^ ((cy + dy) * 2654435761u)) & (TABLE_SIZE - 1);
        w[corner] = (dx ? tx : 1.0f - tx) * (dy ? ty : 1.0f - ty);
    }
}

DEV void hash_level(const float* table, const float* scales, int l, float x, float y, float* f) {
    u32 index[4];
    float w[4];
    hash_corners(scales, l, x, y, index, w);
    const float* level = table + (size_t)l * TABLE_SIZE * FEATURES;
#pragma unroll
    for (int k = 0; k < FEATURES; ++k) f[k] = 0.0f;
#pragma unroll
    for (int corner = 0; corner < 4; ++corner) {
#pragma unroll
        for (int k = 0; k < FEATURES; ++k) {
            f[k] = fmaf(w[corner], __ldg(level + (size_t)index[corner] * FEATURES + k), f[k]);
        }
    }
}

// *p += (a, b) for two adjacent floats (8-byte aligned): one vector reduction on sm_90, two
// scalar ones before.
DEV void red_add2(float* p, float a, float b) {
#if __CUDA_ARCH__ >= 900
    asm volatile("red.global.add.v2.f32 [%0], {%1, %2};" ::"l"(p), "f"(a), "f"(b) : "memory");
#else
    atomicAdd(p, a);
    atomicAdd(p + 1, b);
#endif
}

// Adds the gradient g (FEATURES values, ∂L/∂ of level l's features at (x, y)) into the table's
// gradient grad (the table's layout): w·g at each corner, with float atomics (their order, and
// so the last bits of a sum, vary run to run).
DEV void hash_level_backward(float* grad, const float* scales, int l, float x, float y, const float* g) {
    u32 index[4];
    float w[4];
    hash_corners(scales, l, x, y, index, w);
    float* level = grad + (size_t)l * TABLE_SIZE * FEATURES;
#pragma unroll
    for (int corner = 0; corner < 4; ++corner) {
        float* entry = level + (size_t)index[corner] * FEATURES;
#if FEATURES % 2 == 0
#pragma unroll
        for (int k = 0; k < FEATURES; k += 2) red_add2(entry + k, w[corner] * g[k], w[corner] * g[k + 1]);
#else
#pragma unroll
        for (int k = 0; k < FEATURES; ++k) atomicAdd(entry + k, w[corner] * g[k]);
#endif
    }
}
#endif
