// nfield CUDA kernels: the fused training step of SIREN and the Fourier MLP (frozen B).
//
//   mlp_train_step   a persistent grid; each block takes tiles of T = 16·TRAIN_WARPS samples:
//     A. sampling: Philox pixel indices (nfield::rng), positions from the target's column/row
//        tables, colours;
//     B. forward, one warp per 16 samples: layer 0 in fp32 (SIREN) or on the tensor cores
//        (Fourier features computed straight into A fragments), hidden layers on the tensor
//        cores with the accumulator fragments reused as the next layer's A fragments; each
//        layer's activation and activation derivative go to shared memory for the backward;
//        the 3 outputs in fp32, then the loss;
//     C. backward, same warp: deltas in registers, δ·W on the tensor cores (W fragments by
//        ldmatrix.trans from the same shared copy), each δ stored over its derivative;
//     D. weight gradients, the whole block: dW = δᵀ·a with the tile's samples as K, on the
//        tensor cores, added into this block's own fp32 partial (no atomics: the block owns it,
//        and its warps own disjoint tiles of it); the first tile of a block stores instead.
//   Then adam.cu sums the partials of the blocks in a fixed order and applies Adam.
//
// Layouts: 16-bit matrices in shared memory are row-major, unpadded, with their 16-byte chunks
// XOR-swizzled by row (swz) so fragment stores and ldmatrix reads are conflict-free.
// partials: (gridDim.x, MLP_PARAMS) f32; loss_partials: (gridDim.x) f32 (Σ squared error).
// Gradients carry no 2/(3B) factor: deltas stay O(0.1) (safe in fp16); adam.cu applies it.
//
// Defines: those of encoding.cuh (MODEL 0 or 1), OMEGA0, OMEGA, TRAIN_WARPS, HALF_BF16,
// FAST_SINCOS.

#define T_SAMPLES (16 * TRAIN_WARPS)
#define KT (WIDTH / 16)
#define NT (WIDTH / 8)
#define N_ACT (N_HIDDEN + 1)  // layers with a hidden activation: 0 .. N_HIDDEN

// Element (r, c) of a row-major matrix with w columns, 16-byte chunks swizzled by row.
DEV int swz(int r, int c, int w) {
    const int span = (w / 8) < 8 ? (w / 8) : 8;
    return r * w + ((((c >> 3) ^ (r & (span - 1)))) << 3) + (c & 7);
}

struct TrainTarget {
    const float* xs;      // (width) x of each column
    const float* ys;      // (height) y of each row
    const float* colors;  // (n, 3)
    const u32* subset;    // (n_subset) pixel indices, or null
    u32 width;
    u32 n_pixels;  // pixels to draw from: the subset's length, else width·height
};

struct Smem {
    u16* w;     // [N_HIDDEN][WIDTH][WIDTH] hidden weights (mma type)
    u16* w0;    // [WIDTH][IN_DIM] layer-0 weights (Fourier)
    u16* act;   // [N_ACT][T][WIDTH] activations (mma type)
    u16* der;   // [N_ACT][T][WIDTH] SIREN: ω·cos(ω z) (fp16); then δ (mma type)
    u16* enc;   // [T][IN_DIM] encodings (Fourier)
    float* sample;  // [T][5] x, y, r, g, b
    float* dout;    // [T][3] output deltas
    float* loss;    // [TRAIN_WARPS]
};

DEV u32 ld32(const u16* base, int index) { return *(const u32*)(base + index); }
DEV void st32(u16* base, int index, u32 v) { *(u32*)(base + index) = v; }

// Stores C-layout values v (rows r0, r0+8; columns 8j + 2t) as 16-bit pairs of `type`.
DEV void store_c_layout(u16* m, int r0, int t, const float (*v)[4], bool as_f16) {
#pragma unroll
    for (int j = 0; j < NT; ++j) {
        const int c = 8 * j + 2 * t;
        st32(m, swz(r0, c, WIDTH), as_f16 ? pack_f16(v[j][0], v[j][1]) : PACK2(v[j][0], v[j][1]));
        st32(m, swz(r0 + 8, c, WIDTH), as_f16 ? pack_f16(v[j][2], v[j][3]) : PACK2(v[j][2], v[j][3]));
    }
}

DEV void to_fragments(const float (*v)[4], u32 (*a)[4]) {
#pragma unroll
    for (int kt = 0; kt < KT; ++kt) {
        a[kt][0] = PACK2(v[2 * kt][0], v[2 * kt][1]);
        a[kt][1] = PACK2(v[2 * kt][2], v[2 * kt][3]);
        a[kt][2] = PACK2(v[2 * kt + 1][0], v[2 * kt + 1][1]);
        a[kt][3] = PACK2(v[2 * kt + 1][2], v[2 * kt + 1][3]);
    }
}

// out[m0..m0+16][n0..n0+16] of Aᵀ·B over K = T_SAMPLES: A is S_a[sample][m] (width wa), B is
// S_b[sample][n] (width wb); both 16-bit, swizzled. acc: two n-tiles in C layout.
DEV void grad_tile(const u16* sa, int wa, int m0, const u16* sb, int wb, int n0, float (*acc)[4], int lane) {
    const int quad = lane / 8, r8 = lane % 8;
#pragma unroll
    for (int k0 = 0; k0 < T_SAMPLES; k0 += 16) {
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
            v0.x += o0.x; v0.y += o0.y; v1.x += o1.x; v1.y += o1.y;
        }
        *p0 = v0;
        *p1 = v1;
    }
}

extern "C" __global__ void __launch_bounds__(32 * TRAIN_WARPS, 1)
    mlp_train_step(const float* __restrict__ params, TrainTarget target, const u64* __restrict__ step_counter,
                   u64 seed, u32 batch, float* __restrict__ partials, float* __restrict__ loss_partials) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    Smem sm;
    {
        u16* p = (u16*)smem_raw;
        sm.w = p; p += N_HIDDEN * WIDTH * WIDTH;
        sm.w0 = p; p += (MODEL == 1 ? WIDTH * IN_DIM : 0);
        sm.act = p; p += N_ACT * T_SAMPLES * WIDTH;
        sm.der = p; p += N_ACT * T_SAMPLES * WIDTH;
        sm.enc = p; p += (MODEL == 1 ? T_SAMPLES * IN_DIM : 0);
        float* f = (float*)(((size_t)p + 15) & ~(size_t)15);
        sm.sample = f; f += T_SAMPLES * 5;
        sm.dout = f; f += T_SAMPLES * 3;
        sm.loss = f;
    }
    for (int i = threadIdx.x; i < N_HIDDEN * WIDTH * WIDTH; i += blockDim.x) {
        const int k = i / (WIDTH * WIDTH), r = (i / WIDTH) % WIDTH, c = i % WIDTH;
        sm.w[k * WIDTH * WIDTH + swz(r, c, WIDTH)] = TO_HALF(params[HID_W(k) + r * WIDTH + c]);
    }
#if MODEL == 1
    for (int i = threadIdx.x; i < WIDTH * IN_DIM; i += blockDim.x) {
        sm.w0[swz(i / IN_DIM, i % IN_DIM, IN_DIM)] = TO_HALF(params[L0_W + i]);
    }
#endif
    const u64 step = *step_counter;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int r0 = 16 * warp + g, r1 = r0 + 8;  // this lane's two rows of the tile
    float block_loss = 0.0f;
    float* partial = partials + (size_t)blockIdx.x * MLP_PARAMS;
    __syncthreads();

    for (u32 tile = blockIdx.x; tile * T_SAMPLES < batch; tile += gridDim.x) {
        const bool first = tile == blockIdx.x;
        // ---- A. sampling (lanes 0-15 of each warp, one sample each)
        if (lane < 16) {
            const int s = 16 * warp + lane;
            const u32 index = tile * T_SAMPLES + s;
            float* smp = sm.sample + 5 * s;
            if (index < batch) {
                u32 k = train_pixel(seed, step, index, target.n_pixels);
                if (target.subset) k = target.subset[k];
                smp[0] = target.xs[k % target.width];
                smp[1] = target.ys[k / target.width];
                smp[2] = target.colors[3 * (size_t)k];
                smp[3] = target.colors[3 * (size_t)k + 1];
                smp[4] = target.colors[3 * (size_t)k + 2];
            } else {
                smp[0] = smp[1] = 0.0f;
                smp[2] = -1.0f;  // marks padding: no loss, no gradient
            }
        }
        __syncwarp();
        const float x0 = sm.sample[5 * r0], y0 = sm.sample[5 * r0 + 1];
        const float x1 = sm.sample[5 * r1], y1 = sm.sample[5 * r1 + 1];

        // ---- B. forward
        float v[NT][4];
        u32 a[KT][4];
#if MODEL == 0
        {
            float d[NT][4];
#pragma unroll
            for (int j = 0; j < NT; ++j) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int c = 8 * j + 2 * t + (e & 1);
                    const float x = e < 2 ? x0 : x1, y = e < 2 ? y0 : y1;
                    const double z = (double)params[L0_B + c] + (double)params[L0_W + 2 * c] * (double)x +
                                     (double)params[L0_W + 2 * c + 1] * (double)y;
                    float s, co;
                    sin_cos_precise_arg((double)OMEGA0 * z, &s, &co);
                    v[j][e] = s;
                    d[j][e] = OMEGA0 * co;
                }
            }
            store_c_layout(sm.der, 16 * warp + g, t, d, true);
        }
#else
        {
            u32 e[IN_DIM / 16][4];
            const float* B = params + ENC_OFFSET;
#pragma unroll
            for (int kt = 0; kt < IN_DIM / 16; ++kt) {
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int c = 16 * kt + 8 * h + 2 * t;
                    const u32 lo = PACK2(fourier_feature(B, x0, y0, c), fourier_feature(B, x0, y0, c + 1));
                    const u32 hi = PACK2(fourier_feature(B, x1, y1, c), fourier_feature(B, x1, y1, c + 1));
                    e[kt][2 * h] = lo;
                    e[kt][2 * h + 1] = hi;
                    st32(sm.enc, swz(r0, c, IN_DIM), lo);
                    st32(sm.enc, swz(r1, c, IN_DIM), hi);
                }
            }
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                v[j][0] = v[j][1] = v[j][2] = v[j][3] = 0.0f;
#pragma unroll
                for (int kt = 0; kt < IN_DIM / 16; ++kt) {
                    mma16816(v[j], e[kt], ld32(sm.w0, swz(8 * j + g, 16 * kt + 2 * t, IN_DIM)),
                             ld32(sm.w0, swz(8 * j + g, 16 * kt + 8 + 2 * t, IN_DIM)));
                }
                const float b0 = params[L0_B + 8 * j + 2 * t], b1 = params[L0_B + 8 * j + 2 * t + 1];
                v[j][0] = fmaxf(v[j][0] + b0, 0.f);
                v[j][1] = fmaxf(v[j][1] + b1, 0.f);
                v[j][2] = fmaxf(v[j][2] + b0, 0.f);
                v[j][3] = fmaxf(v[j][3] + b1, 0.f);
            }
        }
#endif
        store_c_layout(sm.act, 16 * warp + g, t, v, false);
        for (int k = 0; k < N_HIDDEN; ++k) {
            to_fragments(v, a);
            const u16* wk = sm.w + k * WIDTH * WIDTH;
#if MODEL == 0
            float d[NT][4];
#endif
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                v[j][0] = v[j][1] = v[j][2] = v[j][3] = 0.0f;
#pragma unroll
                for (int kt = 0; kt < KT; ++kt) {
                    mma16816(v[j], a[kt], ld32(wk, swz(8 * j + g, 16 * kt + 2 * t, WIDTH)),
                             ld32(wk, swz(8 * j + g, 16 * kt + 8 + 2 * t, WIDTH)));
                }
                const float b0 = params[HID_B(k) + 8 * j + 2 * t], b1 = params[HID_B(k) + 8 * j + 2 * t + 1];
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const float z = v[j][e] + ((e & 1) ? b1 : b0);
#if MODEL == 0
                    float s, co;
                    sin_cos(OMEGA * z, &s, &co);
                    v[j][e] = s;
                    d[j][e] = OMEGA * co;
#else
                    v[j][e] = fmaxf(z, 0.f);
#endif
                }
            }
            const int off = (k + 1) * T_SAMPLES * WIDTH;
            store_c_layout(sm.act + off, 16 * warp + g, t, v, false);
#if MODEL == 0
            store_c_layout(sm.der + off, 16 * warp + g, t, d, true);
#endif
        }
        // Output layer (fp32), loss and output deltas. Every lane of a quad gets the sums.
        float dy[2][3];
        {
            float sq = 0.0f;
#pragma unroll
            for (int c = 0; c < 3; ++c) {
                float s0 = 0.f, s1 = 0.f;
#pragma unroll
                for (int j = 0; j < NT; ++j) {
                    const float w0v = params[OUT_W + c * WIDTH + 8 * j + 2 * t];
                    const float w1v = params[OUT_W + c * WIDTH + 8 * j + 2 * t + 1];
                    s0 = fmaf(w0v, v[j][0], fmaf(w1v, v[j][1], s0));
                    s1 = fmaf(w0v, v[j][2], fmaf(w1v, v[j][3], s1));
                }
                s0 += __shfl_xor_sync(0xffffffffu, s0, 1);
                s0 += __shfl_xor_sync(0xffffffffu, s0, 2);
                s1 += __shfl_xor_sync(0xffffffffu, s1, 1);
                s1 += __shfl_xor_sync(0xffffffffu, s1, 2);
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const float* smp = sm.sample + 5 * (h ? r1 : r0);
                    const bool valid = smp[2] >= 0.0f;
                    const float z = (h ? s1 : s0) + params[OUT_B + c];
#if OUT_LINEAR
                    const float yv = z, dact = 1.0f;
#else
                    const float yv = sigmoidf(z), dact = yv * (1.0f - yv);
#endif
                    const float diff = valid ? yv - smp[2 + c] : 0.0f;
                    if (t == h) sq += diff * diff;
                    dy[h][c] = diff * dact;
                }
            }
            if (t < 2) {
#pragma unroll
                for (int c = 0; c < 3; ++c) sm.dout[3 * (t ? r1 : r0) + c] = dy[t][c];
            }
            sq += __shfl_xor_sync(0xffffffffu, sq, 1);
            sq += __shfl_xor_sync(0xffffffffu, sq, 2);
            sq += __shfl_xor_sync(0xffffffffu, sq, 4);
            sq += __shfl_xor_sync(0xffffffffu, sq, 8);
            sq += __shfl_xor_sync(0xffffffffu, sq, 16);
            block_loss += lane == 0 ? sq : 0.0f;
        }

        // ---- C. backward: dA of the last activation, then layer by layer.
#pragma unroll
        for (int j = 0; j < NT; ++j) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int c = 8 * j + 2 * t + (e & 1);
                const int h = e >> 1;
                v[j][e] = params[OUT_W + c] * dy[h][0] + params[OUT_W + WIDTH + c] * dy[h][1] +
                          params[OUT_W + 2 * WIDTH + c] * dy[h][2];
            }
        }
        for (int k = N_HIDDEN; k >= 0; --k) {
            // δ_k = dA ⊙ act'(z_k), stored over the derivative.
            u16* der = sm.der + k * T_SAMPLES * WIDTH;
            const u16* act = sm.act + k * T_SAMPLES * WIDTH;
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                const int c = 8 * j + 2 * t;
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int idx = swz(h ? r1 : r0, c, WIDTH);
#if MODEL == 0
                    const u32 dd = ld32(der, idx);
                    v[j][2 * h] *= f16_to_f32((u16)(dd & 0xffff));
                    v[j][2 * h + 1] *= f16_to_f32((u16)(dd >> 16));
#else
                    const u32 aa = ld32(act, idx);
                    if (TO_F32((u16)(aa & 0xffff)) <= 0.0f) v[j][2 * h] = 0.0f;
                    if (TO_F32((u16)(aa >> 16)) <= 0.0f) v[j][2 * h + 1] = 0.0f;
#endif
                }
            }
            store_c_layout(der, 16 * warp + g, t, v, false);
            if (k == 0) break;
            // dA_{k-1} = δ_k · W_k: W_k[out][in] is B[k=out][n=in], read transposed.
            to_fragments(v, a);
            const u16* wk = sm.w + (k - 1) * WIDTH * WIDTH;
            const int quad = lane / 8, r8 = lane % 8;
#pragma unroll
            for (int j = 0; j < NT; j += 2) {
                float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
                for (int kt = 0; kt < KT; ++kt) {
                    u32 b[4];
                    ldmatrix_x4_trans(b, wk + swz(16 * kt + r8 + 8 * (quad & 1), 8 * j + 8 * (quad >> 1), WIDTH));
                    mma16816(acc[0], a[kt], b[0], b[1]);
                    mma16816(acc[1], a[kt], b[2], b[3]);
                }
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    v[j][e] = acc[0][e];
                    v[j + 1][e] = acc[1][e];
                }
            }
        }
        __syncthreads();

        // ---- D. weight gradients of the tile, block-wide.
        // Hidden layers: dW_k = δ_kᵀ · act_{k-1}, 16×16 tiles shared out over the warps.
        constexpr int tiles_per_layer = (WIDTH / 16) * (WIDTH / 16);
        for (int u = warp; u < N_HIDDEN * tiles_per_layer; u += TRAIN_WARPS) {
            const int k = u / tiles_per_layer, m0 = 16 * ((u % tiles_per_layer) / (WIDTH / 16)),
                      n0 = 16 * (u % (WIDTH / 16));
            float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
            grad_tile(sm.der + (k + 1) * T_SAMPLES * WIDTH, WIDTH, m0, sm.act + k * T_SAMPLES * WIDTH, WIDTH, n0, acc, lane);
            flush_tile(partial + HID_W(k), WIDTH, m0, n0, acc, lane, first);
        }
#if MODEL == 1
        // Layer 0 of the Fourier MLP: dW_0 = δ_0ᵀ · enc.
        for (int u = warp; u < (WIDTH / 16) * (IN_DIM / 16); u += TRAIN_WARPS) {
            const int m0 = 16 * (u / (IN_DIM / 16)), n0 = 16 * (u % (IN_DIM / 16));
            float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
            grad_tile(sm.der, WIDTH, m0, sm.enc, IN_DIM, n0, acc, lane);
            flush_tile(partial + L0_W, IN_DIM, m0, n0, acc, lane, first);
        }
#endif
        // Biases of the hidden layers and layer 0 (Σ over samples of δ), the output layer and
        // SIREN's layer 0 (fp32 from the sample buffer): one thread per parameter.
        for (int i = threadIdx.x; i < N_ACT * WIDTH + 3 * WIDTH + 3 + (MODEL == 0 ? 2 * WIDTH : 0); i += blockDim.x) {
            float s = 0.0f;
            int dst;
            if (i < N_ACT * WIDTH) {
                const int k = i / WIDTH, c = i % WIDTH;
                const u16* d = sm.der + k * T_SAMPLES * WIDTH;
                for (int r = 0; r < T_SAMPLES; ++r) s += TO_F32(d[swz(r, c, WIDTH)]);
                dst = k == 0 ? L0_B + c : HID_B(k - 1) + c;
            } else if (i < N_ACT * WIDTH + 3 * WIDTH) {
                const int c = (i - N_ACT * WIDTH) / WIDTH, col = (i - N_ACT * WIDTH) % WIDTH;
                const u16* a_last = sm.act + N_HIDDEN * T_SAMPLES * WIDTH;
                for (int r = 0; r < T_SAMPLES; ++r) s += sm.dout[3 * r + c] * TO_F32(a_last[swz(r, col, WIDTH)]);
                dst = OUT_W + c * WIDTH + col;
            } else if (i < N_ACT * WIDTH + 3 * WIDTH + 3) {
                const int c = i - N_ACT * WIDTH - 3 * WIDTH;
                for (int r = 0; r < T_SAMPLES; ++r) s += sm.dout[3 * r + c];
                dst = OUT_B + c;
            } else {
                const int j = i - N_ACT * WIDTH - 3 * WIDTH - 3, c = j / 2, coord = j % 2;
                for (int r = 0; r < T_SAMPLES; ++r) s += TO_F32(sm.der[swz(r, c, WIDTH)]) * sm.sample[5 * r + coord];
                dst = L0_W + 2 * c + coord;
            }
            partial[dst] = first ? s : partial[dst] + s;
        }
        __syncthreads();
    }
    if (lane == 0) sm.loss[warp] = block_loss;
    __syncthreads();
    if (threadIdx.x == 0) {
        float s = 0.0f;
        for (int w = 0; w < TRAIN_WARPS; ++w) s += sm.loss[w];
        loss_partials[blockIdx.x] = s;
    }
}
