// nfield CUDA kernels: model layout, the output layer, query positions and input encodings
// (prepended after common.cuh to the MLP kernels).
//
// USE_COARSE: whether the fused step pre-reduces the hash grid's coarse levels (below).
#if MODEL == 2 && COARSE_LEVELS > 0 && !DETERMINISTIC
#define USE_COARSE 1
#else
#define USE_COARSE 0
#endif

// Defines read here:
//   MODEL        0 SIREN (identity encoding), 1 Fourier features, 2 hash grid
//   IN_DIM       width of the encoding (2, 2·FREQS, LEVELS·FEATURES)
//   WIDTH        hidden width;  N_HIDDEN  width→width layers after layer 0
//   FREQS        Fourier: m (B is 2×m, row-major, in the parameters after the MLP)
//   LEVELS, FEATURES, TABLE_SIZE (a power of two), HASH_OFFSET (0 or 0.5f)
//   OUT_LINEAR   1: linear output, 0: sigmoid
//   DENSE_LEVELS the leading levels stored densely (corner (cx, cy) at cx + cy·dim, mod T)
//   DETERMINISTIC  1: the table's gradient in 64-bit fixed point (see table_grad_add)
//   COARSE_LEVELS, COARSE_FLOATS  the fused step's dense pre-reduction of coarse levels
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
// The hash grid (nfield::model::hash_grid): p = x·scale + offset in f32, corners hashed with
// (1, 2654435761) or indexed densely.
//
// The cell of (x, y) at level l: its lower corner (cx, cy) and the fractions (tx, ty).
DEV void hash_cell(const float* scales, int l, float x, float y, u32* cx, u32* cy, float* tx, float* ty) {
    // mul then add, rounded separately, exactly as the CPU engine and the oracle do
    const float px = __fadd_rn(__fmul_rn(x, scales[l]), HASH_OFFSET);
    const float py = __fadd_rn(__fmul_rn(y, scales[l]), HASH_OFFSET);
    const float fx = floorf(px), fy = floorf(py);
    *tx = px - fx;
    *ty = py - fy;
    *cx = (u32)(int)fx;
    *cy = (u32)(int)fy;
}

// Corners per side of level l's grid, ⌊scale + offset⌋ + 2 (nfield::model::HashGridSpec::
// dense_dims; f32 as there): positions in [0, 1] keep their four corners inside.
DEV int level_dim(const float* scales, int l) { return (int)floorf(__fadd_rn(scales[l], HASH_OFFSET)) + 2; }

// The table entry (within level l) of grid corner (cx, cy): hashed, or cx + cy·dim for a level
// stored densely (l < DENSE_LEVELS).
DEV u32 hash_index(const float* scales, int l, u32 cx, u32 cy) {
#if DENSE_LEVELS > 0
    if (l < DENSE_LEVELS) return (cx + cy * (u32)level_dim(scales, l)) & (TABLE_SIZE - 1);
#endif
    return (cx ^ (cy * 2654435761u)) & (TABLE_SIZE - 1);
}

// The bilinear weight of corner 2·dx + dy of a cell with fractions (tx, ty).
DEV float corner_weight(int corner, float tx, float ty) {
    return ((corner >> 1) ? tx : 1.0f - tx) * ((corner & 1) ? ty : 1.0f - ty);
}

// The 4 cell corners of (x, y) at level l: their table entries (within the level) and bilinear
// weights, corner = 2·dx + dy.
DEV void hash_corners(const float* scales, int l, float x, float y, u32* index, float* w) {
    u32 cx, cy;
    float tx, ty;
    hash_cell(scales, l, x, y, &cx, &cy, &tx, &ty);
#pragma unroll
    for (int corner = 0; corner < 4; ++corner) {
        index[corner] = hash_index(scales, l, cx + (corner >> 1), cy + (corner & 1));
        w[corner] = corner_weight(corner, tx, ty);
    }
}

// The table's values as fp32: the fp32 parameters, or their fp16 copy (TABLE16: what the fused
// fp16 step gathers from; half the bytes, so a 2^19 × 16 × 2 table fits the L2).
DEV float table_value(const float* table, size_t i) { return __ldg(table + i); }
DEV float table_value(const u16* table, size_t i) { return f16_to_f32(__ldg(table + i)); }

// Hash-grid level l at (x, y): the FEATURES interpolated features into f.
template <typename TableT>
DEV void hash_level(const TableT* table, const float* scales, int l, float x, float y, float* f) {
    u32 index[4];
    float w[4];
    hash_corners(scales, l, x, y, index, w);
    const TableT* level = table + (size_t)l * TABLE_SIZE * FEATURES;
#pragma unroll
    for (int k = 0; k < FEATURES; ++k) f[k] = 0.0f;
#pragma unroll
    for (int corner = 0; corner < 4; ++corner) {
#pragma unroll
        for (int k = 0; k < FEATURES; ++k) {
            f[k] = fmaf(w[corner], table_value(level, (size_t)index[corner] * FEATURES + k), f[k]);
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

// *p += (a, b, c, d) for four adjacent floats (16-byte aligned; sm_90 only).
DEV void red_add4(float* p, float a, float b, float c, float d) {
#if __CUDA_ARCH__ >= 900
    asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(p), "f"(a), "f"(b), "f"(c), "f"(d) : "memory");
#else
    red_add2(p, a, b);
    red_add2(p + 2, c, d);
#endif
}

// The table gradient's element e += a (and e + 1 += b). Float atomics, whose order (and so the
// last bits of a sum) varies run to run; with DETERMINISTIC the gradient buffer holds 64-bit
// integers in units of 2⁻³² instead (common.cuh TABLE_GRAD_ONE; adam.cu reads them back), and
// integer addition gives the same sum in any order.
#if DETERMINISTIC
DEV void table_grad_add(float* grad, size_t e, float a) {
    atomicAdd((unsigned long long*)grad + e, (unsigned long long)__float2ll_rn(a * TABLE_GRAD_ONE));
}
DEV void table_grad_add2(float* grad, size_t e, float a, float b) {
    table_grad_add(grad, e, a);
    table_grad_add(grad, e + 1, b);
}
#else
DEV void table_grad_add(float* grad, size_t e, float a) { atomicAdd(grad + e, a); }
DEV void table_grad_add2(float* grad, size_t e, float a, float b) { red_add2(grad + e, a, b); }
#endif

// ---- Dense pre-reduction of the coarse levels (COARSE_LEVELS > 0, not with DETERMINISTIC).
// A block adds the gradient of levels l < COARSE_LEVELS into its own dense copy in shared memory
// first, indexed by grid corner: coarse[offset_l + (cy·dim_l + cx)·FEATURES + k], dim_l =
// ⌊scale_l + HASH_OFFSET⌋ + 2 corners per side (positions in [0, 1] stay inside), offsets in
// level order. Level 0 of tiny-cuda-nn's image grid has 289 corners for the 2^20 contributions of
// a 2^18 batch: added straight into the table, their atomics serialise on a few L2 addresses
// (measured: leaving out levels 0-3's atomics saved 150 of the 270 µs all of them cost;
// BENCHMARKS.md). coarse_flush then adds each
// nonzero dense value into the table once per block. The host sizes the copy
// (kernels.rs coarse_levels: COARSE_FLOATS floats).
#if USE_COARSE

// Offsets and dims of the coarse levels into meta[0..COARSE_LEVELS) and
// meta[COARSE_LEVELS..2·COARSE_LEVELS) (one thread; traps if the host's COARSE_FLOATS is short).
DEV void coarse_layout(const float* scales, int* meta) {
    int off = 0;
    for (int l = 0; l < COARSE_LEVELS; ++l) {
        const int dim = level_dim(scales, l);
        meta[l] = off;
        meta[COARSE_LEVELS + l] = dim;
        off += dim * dim * FEATURES;
    }
    if (off > COARSE_FLOATS) __trap();
}

// Adds every nonzero value of the block's dense copy into the table's gradient (the whole block,
// after its last tile).
DEV void coarse_flush(float* grad, const float* coarse, const int* meta, const float* scales) {
    constexpr int CELLS = COARSE_FLOATS / FEATURES;
    // Each block starts at another cell, so that the blocks finishing together spread their
    // atomics over the L2 instead of queueing on the same addresses.
    const int start = (int)(((u64)blockIdx.x * 2654435761u) % CELLS);
    for (int n = threadIdx.x; n < CELLS; n += blockDim.x) {
        const int i = (n + start) % CELLS;
        int l = 0;
        while (l + 1 < COARSE_LEVELS && i * FEATURES >= meta[l + 1]) ++l;
        const int cell = i - meta[l] / FEATURES, dim = meta[COARSE_LEVELS + l];
        if (cell >= dim * dim) continue;  // past the last level
        const u32 cx = (u32)(cell % dim), cy = (u32)(cell / dim);
        const size_t entry = (size_t)l * TABLE_SIZE * FEATURES + (size_t)hash_index(scales, l, cx, cy) * FEATURES;
        const float* v = coarse + (size_t)i * FEATURES;
#pragma unroll
        for (int k = 0; k < FEATURES; ++k) {
            if (v[k] != 0.0f) atomicAdd(grad + entry + k, v[k]);
        }
    }
}
#endif

// Level l's features k (and k + 1 when two) of one sample, whose ∂L/∂ are g0 (and g1), into
// the table's gradient at the sample's 4 corners, or into the block's dense copy for a coarse
// level (coarse: null when there is none; meta: coarse_layout's).
DEV void hash_level_grad(float* grad, float* coarse, const int* meta, const float* scales, int l, int k, bool two,
                         float x, float y, float g0, float g1) {
    u32 cx, cy;
    float tx, ty;
    hash_cell(scales, l, x, y, &cx, &cy, &tx, &ty);
#if USE_COARSE
    if (l < COARSE_LEVELS) {
        const int dim = meta[COARSE_LEVELS + l];
        if (cx + 1 < (u32)dim && cy + 1 < (u32)dim) {
#pragma unroll
            for (int corner = 0; corner < 4; ++corner) {
                const float w = corner_weight(corner, tx, ty);
                float* e = coarse + meta[l] + ((cy + (corner & 1)) * dim + cx + (corner >> 1)) * FEATURES + k;
                atomicAdd(e, w * g0);
                if (two) atomicAdd(e + 1, w * g1);
            }
            return;
        }
    }
#endif
    const size_t level = (size_t)l * TABLE_SIZE * FEATURES + k;
#if FEATURES == 2 && !DETERMINISTIC && __CUDA_ARCH__ >= 900
    // Corners (cx, cy) and (cx + 1, cy) are adjacent entries whenever cx's hash is even (XOR
    // with an even cx flips bit 0 only) or the level is dense: one 16-byte reduction for both
    // (about half the pairs) instead of two 8-byte ones.
    if (two) {
#pragma unroll
        for (int dy = 0; dy < 2; ++dy) {
            const u32 i0 = hash_index(scales, l, cx, cy + dy), i1 = hash_index(scales, l, cx + 1, cy + dy);
            const float w0 = corner_weight(dy, tx, ty), w1 = corner_weight(2 + dy, tx, ty);
            float* const e0 = grad + level + (size_t)i0 * FEATURES;
            if (i1 == i0 + 1 && (i0 & 1) == 0) {
                red_add4(e0, w0 * g0, w0 * g1, w1 * g0, w1 * g1);
            } else {
                red_add2(e0, w0 * g0, w0 * g1);
                red_add2(grad + level + (size_t)i1 * FEATURES, w1 * g0, w1 * g1);
            }
        }
        return;
    }
#endif
#pragma unroll
    for (int corner = 0; corner < 4; ++corner) {
        const float w = corner_weight(corner, tx, ty);
        const size_t e = level + (size_t)hash_index(scales, l, cx + (corner >> 1), cy + (corner & 1)) * FEATURES;
        if (two) {
            table_grad_add2(grad, e, w * g0, w * g1);
        } else {
            table_grad_add(grad, e, w * g0);
        }
    }
}

// Adds the gradient g (FEATURES values, ∂L/∂ of level l's features at (x, y)) into the table's
// gradient grad (the table's layout): w·g at each corner (the weight-streaming step's).
DEV void hash_level_backward(float* grad, const float* scales, int l, float x, float y, const float* g) {
#if FEATURES == 1
    hash_level_grad(grad, nullptr, nullptr, scales, l, 0, false, x, y, g[0], 0.0f);
#else
#pragma unroll
    for (int k = 0; k < FEATURES; k += 2) hash_level_grad(grad, nullptr, nullptr, scales, l, k, true, x, y, g[k], g[k + 1]);
#endif
}

// The table-gradient update for encoding columns c and c + 1 (c even) of one sample, whose
// ∂L/∂features are g0, g1: with one feature per level, levels c and c + 1; else features
// c % FEATURES and the next of level c / FEATURES (one vector reduction per corner). For the
// fused step, whose mma C layout gives each lane such column pairs.
DEV void hash_pair_backward(float* grad, float* coarse, const int* meta, const float* scales, int c, float x, float y,
                            float g0, float g1) {
#if FEATURES == 1
    hash_level_grad(grad, coarse, meta, scales, c, 0, false, x, y, g0, 0.0f);
    hash_level_grad(grad, coarse, meta, scales, c + 1, 0, false, x, y, g1, 0.0f);
#else
    hash_level_grad(grad, coarse, meta, scales, c / FEATURES, c % FEATURES, true, x, y, g0, g1);
#endif
}
#endif
