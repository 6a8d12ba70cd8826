// nfield CUDA kernels: the fused training step of SIREN, the Fourier MLP (frozen B) and the
// hash grid (MODEL 2: the table's gradient added with vector atomics into enc_grad).
// (TrainTarget, sampling, swz, the gradient tiles and PARTIAL_STRIDE: train_common.cuh.)
//
//   mlp_train_step   a persistent grid; each block takes tiles of T = 16·TRAIN_WARPS samples:
//     A. sampling: Philox pixel indices (nfield::rng), positions from the target's column/row
//        tables, colours, fetched with cp.async one tile ahead (double-buffered);
//     B. forward, one warp per 16 samples: layer 0 in fp32 (SIREN) or on the tensor cores
//        (Fourier features computed straight into A fragments; the hash grid's gathered per
//        warp into the tile's encoding rows, then read by ldmatrix), hidden layers on the tensor
//        cores with the accumulator fragments reused as the next layer's A fragments; each
//        layer's activation and activation derivative go to shared memory for the backward;
//        the 3 outputs in fp32, then the loss;
//     C. backward, same warp: deltas in registers, δ·W on the tensor cores (W fragments by
//        ldmatrix.trans from the same shared copy), each δ stored over its derivative; the hash
//        grid's ∂L/∂features = δ_0·W_0 on the tensor cores too, added from the C-layout
//        registers into the table's gradient at each sample's four corners per level
//        (red.global.add.v2.f32: the only float atomics, so the table's last bits vary run to run);
//     D. weight gradients, the whole block: dW = δᵀ·a with the tile's samples as K, on the
//        tensor cores, added into this block's own fp32 partial (no atomics: the block owns it,
//        and its warps own disjoint tiles of it); the first tile of a block stores instead.
//        Gradients that are sums over samples (biases, the output layer, SIREN's layer 0) are
//        reduced across each warp with shuffles, staged per warp in shared memory, summed over
//        the warps in a fixed order into block accumulators after the next block barrier
//        (deterministic: no float atomics anywhere), and written once at the end.
//   Then adam.cu sums the partials of the blocks in a fixed order and applies Adam.
//
// Layouts: 16-bit matrices in shared memory are row-major, unpadded, with their 16-byte chunks
// XOR-swizzled by row (swz) so fragment stores and ldmatrix reads are conflict-free.
// partials: (gridDim.x, PARTIAL_STRIDE) f32, PARTIAL_STRIDE = MLP_PARAMS rounded up to 4 (so
// float2 stores stay aligned); loss_partials: (gridDim.x) f32 (Σ squared error).
// Gradients carry no 2/(3B) factor: deltas stay O(0.1) (safe in fp16); adam.cu applies it.
//
// Defines: those of encoding.cuh (MODEL 0, 1 or 2), OMEGA0, OMEGA, TRAIN_WARPS, HALF_BF16,
// FAST_SINCOS, TABLE16 (the hash grid gathers from table16, the table's fp16 copy that
// adam_dense keeps, instead of the fp32 parameters).

#define T_SAMPLES (16 * TRAIN_WARPS)
#define ENCODED (MODEL != 0)  // layer 0 on the tensor cores from an encoding in shared memory
// The hash grid's gathers wait on memory: two blocks per SM hide more of it.
#define MIN_BLOCKS (MODEL == 2 ? 2 : 1)
#define KT (WIDTH / 16)
#define NT (WIDTH / 8)

struct Smem {
    u16* w;     // [N_HIDDEN][WIDTH][WIDTH] hidden weights (mma type)
    u16* w0;    // [WIDTH][IN_DIM] layer-0 weights (Fourier, hash grid)
    u16* act;   // [N_ACT][T][WIDTH] activations (mma type); in the backward, δ_m over act_m
    u16* enc;   // [T][IN_DIM] encodings (Fourier, hash grid)
    float* sample;  // [2][T][5] x, y, r, g, b: this tile's and the next one's
    float* loss;    // [TRAIN_WARPS]
    float* acc;     // [ACC_LEN] gradient sums over the block's tiles
    float* stage;   // [TRAIN_WARPS][STAGE_LEN] this tile's per-warp sums, before the fixed-order reduction
    float* coarse;  // [COARSE_FLOATS] the hash grid's dense gradient of its coarse levels (encoding.cuh)
    int* coarse_meta;  // [2·COARSE_LEVELS] their offsets and dims
};

// Block-wide fp32 accumulators of the gradients that are sums over samples rather than matrix
// products: the biases of the N_ACT hidden activations, the output layer (W and b) and SIREN's
// layer 0 (W0 is WIDTH × 2).
#define ACC_BIAS 0
#define ACC_OUT_W (N_ACT * WIDTH)
#define ACC_OUT_B (ACC_OUT_W + 3 * WIDTH)
#define ACC_W0 (ACC_OUT_B + 4)
#define ACC_LEN (ACC_W0 + (MODEL == 0 ? 2 * WIDTH : 0))
// Per-warp staging: [bias of the current layer: WIDTH][output W: 3·WIDTH][output b: 4], and
// SIREN's W0 sums (2·WIDTH) over the output region, which is reduced long before layer 0 (past
// the end when there are no hidden layers, since then both come in the same iteration).
#define STAGE_BIAS 0
#define STAGE_OUT WIDTH
#define STAGE_W0 (N_HIDDEN == 0 ? 4 * WIDTH + 4 : WIDTH)
#define STAGE_LEN (MODEL == 0 && N_HIDDEN == 0 ? 6 * WIDTH + 4 : 4 * WIDTH + 4)

// Stores, per column of this lane (8j + 2t + {0, 1}), the sum over the warp's 16 rows of the
// C-layout values v to stage[col] (lanes 0-3 store: the warp owns its stage).
DEV void stage_column_sums(float* stage, const float (*v)[4], int lane) {
    const int t = lane % 4;
#pragma unroll
    for (int j = 0; j < NT; ++j) {
        const float s0 = sum_rows(v[j][0] + v[j][2]), s1 = sum_rows(v[j][1] + v[j][3]);
        if (lane < 4) {
            stage[8 * j + 2 * t] = s0;
            stage[8 * j + 2 * t + 1] = s1;
        }
    }
}

// acc[i] += Σ over warps, in warp order, of stage[w][from + i], for i < len (the whole block,
// between barriers).
DEV void reduce_stage(float* acc, const float* stage, int from, int len) {
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
        float s = acc[i];
#pragma unroll
        for (int w = 0; w < TRAIN_WARPS; ++w) s += stage[w * STAGE_LEN + from + i];
        acc[i] = s;
    }
}

DEV u32 ld32(const u16* base, int index) { return *(const u32*)(base + index); }

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

// Issues this lane's sample of `tile` (lanes 0-15 of each warp, one sample each) into `dst`
// with cp.async, then closes the group; padding past the batch is written directly.
DEV void fetch_sample(float* dst, const TrainTarget& target, u64 seed, u64 step, u32 tile, u32 batch, int s) {
    const u32 index = tile * T_SAMPLES + s;
    if (index < batch) {
        const u32 k = target_pixel(target, seed, step, index);
        const float* c = target.colors + 3 * (size_t)k;
        cp_async4(dst, target.xs + k % target.width);
        cp_async4(dst + 1, target.ys + k / target.width);
        cp_async4(dst + 2, c);
        cp_async4(dst + 3, c + 1);
        cp_async4(dst + 4, c + 2);
    } else {
        dst[0] = dst[1] = 0.0f;
        dst[2] = -1.0f;  // marks padding: no loss, no gradient
    }
    cp_async_commit();
}

#if MODEL == 2
// The hash grid's table gradient from the warp's δ_0 (v, C layout over WIDTH columns):
// ∂L/∂features = δ_0·W_0 on the tensor cores (W_0[out][in] is B[k = out][n = in], read
// transposed from sm.w0, as the hidden layers' dA), then from each lane's C-layout pairs
// (columns 8j + 2t, + 1 of rows g, g + 8) into enc_grad at the sample's corners; padding skipped.
DEV void hash_table_gradient(const Smem& sm, const float (*v)[4], const float* samples, float* enc_grad,
                             const float* scales, int lane) {
    const int warp = threadIdx.x / 32, g = lane / 4, t = lane % 4, quad = lane / 8, r8 = lane % 8;
    u32 a[KT][4];
    to_fragments(v, a);
    const float* s0 = samples + 5 * (16 * warp + g);
    const float* s1 = s0 + 5 * 8;
    const bool valid0 = s0[2] >= 0.0f, valid1 = s1[2] >= 0.0f;
#pragma unroll
    for (int j = 0; j < IN_DIM / 8; j += 2) {
        float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
        for (int kt = 0; kt < KT; ++kt) {
            u32 b[4];
            ldmatrix_x4_trans(b, sm.w0 + swz(16 * kt + r8 + 8 * (quad & 1), 8 * j + 8 * (quad >> 1), IN_DIM));
            mma16816(acc[0], a[kt], b[0], b[1]);
            mma16816(acc[1], a[kt], b[2], b[3]);
        }
#pragma unroll
        for (int jj = 0; jj < 2; ++jj) {
            const int c = 8 * (j + jj) + 2 * t;
            if (valid0) hash_pair_backward(enc_grad, sm.coarse, sm.coarse_meta, scales, c, s0[0], s0[1], acc[jj][0], acc[jj][1]);
            if (valid1) hash_pair_backward(enc_grad, sm.coarse, sm.coarse_meta, scales, c, s1[0], s1[1], acc[jj][2], acc[jj][3]);
        }
    }
}
#endif

extern "C" __global__ void __launch_bounds__(32 * TRAIN_WARPS, MIN_BLOCKS)
    mlp_train_step(const float* __restrict__ params, TrainTarget target, const u64* __restrict__ step_counter,
                   u64 seed, u32 batch, float* __restrict__ partials, float* __restrict__ loss_partials,
                   const float* __restrict__ scales, float* __restrict__ enc_grad,
                   const u16* __restrict__ table16) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    Smem sm;
    {
        u16* p = (u16*)smem_raw;
        sm.w = p; p += N_HIDDEN * WIDTH * WIDTH;
        sm.w0 = p; p += (ENCODED ? WIDTH * IN_DIM : 0);
        sm.act = p; p += N_ACT * T_SAMPLES * WIDTH;
        sm.enc = p; p += (ENCODED ? T_SAMPLES * IN_DIM : 0);
        float* f = (float*)(((size_t)p + 15) & ~(size_t)15);
        sm.sample = f; f += 2 * T_SAMPLES * 5;
        sm.loss = f; f += TRAIN_WARPS;
        sm.acc = f; f += ACC_LEN;
        sm.stage = f; f += TRAIN_WARPS * STAGE_LEN;
#if USE_COARSE
        sm.coarse = f; f += COARSE_FLOATS;
        sm.coarse_meta = (int*)f; f += 2 * COARSE_LEVELS;
#else
        sm.coarse = nullptr;
        sm.coarse_meta = nullptr;
#endif
        check_smem_layout(f, smem_raw);
    }
    for (int i = threadIdx.x; i < ACC_LEN; i += blockDim.x) sm.acc[i] = 0.0f;
#if USE_COARSE
    for (int i = threadIdx.x; i < COARSE_FLOATS; i += blockDim.x) sm.coarse[i] = 0.0f;
    if (threadIdx.x == 0) coarse_layout(scales, sm.coarse_meta);
#endif
    {
        // Hidden weights to 16-bit, four at a time, four loads in flight per thread (every
        // layer's offset is a multiple of 4 floats: WIDTH is a multiple of 16).
        constexpr int QUADS = WIDTH * WIDTH / 4, TOTAL = N_HIDDEN * QUADS, STEP = 32 * TRAIN_WARPS;
        for (int i0 = threadIdx.x; i0 < TOTAL; i0 += 4 * STEP) {
            float4 q[4];
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                const int i = i0 + u * STEP;
                if (i < TOTAL) q[u] = *(const float4*)(params + HID_W(i / QUADS) + 4 * (i % QUADS));
            }
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                const int i = i0 + u * STEP;
                if (i >= TOTAL) continue;
                const int k = i / QUADS, e = 4 * (i % QUADS), r = e / WIDTH, c = e % WIDTH;
                *(uint2*)(sm.w + k * WIDTH * WIDTH + swz(r, c, WIDTH)) = make_uint2(PACK2(q[u].x, q[u].y), PACK2(q[u].z, q[u].w));
            }
        }
    }
#if ENCODED
    for (int i = threadIdx.x; i < WIDTH * IN_DIM; i += blockDim.x) {
        sm.w0[swz(i / IN_DIM, i % IN_DIM, IN_DIM)] = TO_HALF(params[L0_W + i]);
    }
#endif
    const u64 step = *step_counter;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int quad = lane / 8, r8 = lane % 8;   // ldmatrix: which matrix and row this lane addresses
    const int r0 = 16 * warp + g, r1 = r0 + 8;  // this lane's two rows of the tile
    float* const stage = sm.stage + warp * STAGE_LEN;
    float block_loss = 0.0f;
    float* partial = partials + (size_t)blockIdx.x * PARTIAL_STRIDE;
    if (lane < 16) {
        const int s = 16 * warp + lane;
        fetch_sample(sm.sample + 5 * s, target, seed, step, blockIdx.x, batch, s);
    }
    __syncthreads();

    for (u32 tile = blockIdx.x; tile * T_SAMPLES < batch; tile += gridDim.x) {
        const bool first = tile == blockIdx.x;
        // ---- A. sampling: this tile's samples arrived (cp.async, issued one tile ago); the next
        // tile's go into the other buffer, which the previous tile finished reading.
        float* const samples = sm.sample + ((tile / gridDim.x) & 1) * (5 * T_SAMPLES);
        cp_async_wait_all();
        __syncwarp();
        if (lane < 16) {
            const int s = 16 * warp + lane;
            float* next = sm.sample + (((tile / gridDim.x) + 1) & 1) * (5 * T_SAMPLES) + 5 * s;
            fetch_sample(next, target, seed, step, tile + gridDim.x, batch, s);
        }
#if MODEL != 2  // (the hash grid reads its positions per (sample, level))
        const float x0 = samples[5 * r0], y0 = samples[5 * r0 + 1];
        const float x1 = samples[5 * r1], y1 = samples[5 * r1 + 1];
#endif

        // ---- B. forward. SIREN's activation derivatives ω·cos(ω z) stay in registers (fp16
        // pairs, der[layer][n-tile][row]) until the backward needs them.
        float v[NT][4];
        u32 a[KT][4];
#if MODEL == 0
        u32 der[N_ACT][NT][2];
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            float d[4];
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int c = 8 * j + 2 * t + (e & 1);
                const float x = e < 2 ? x0 : x1, y = e < 2 ? y0 : y1;
                siren_first_sincos(params[L0_W + 2 * c], params[L0_W + 2 * c + 1], params[L0_B + c], x, y, OMEGA0,
                                   &v[j][e], &d[e]);
            }
            der[0][j][0] = pack_f16(d[0], d[1]);
            der[0][j][1] = pack_f16(d[2], d[3]);
        }
#else
        {
            u32 e[IN_DIM / 16][4];
#if MODEL == 2
            // The warp's 16 samples × LEVELS levels, one (sample, level) per lane and turn, into
            // the warp's encoding rows; then the A fragments by ldmatrix.
            {
#if TABLE16
                const u16* table = table16;
#else
                const float* table = params + ENC_OFFSET;
#endif
#pragma unroll 8
                for (int i = lane; i < 16 * LEVELS; i += 32) {
                    const int s = 16 * warp + i / LEVELS, l = i % LEVELS;
                    float f[FEATURES];
                    hash_level(table, scales, l, samples[5 * s], samples[5 * s + 1], f);
#if FEATURES == 1
                    sm.enc[swz(s, l, IN_DIM)] = TO_HALF(f[0]);
#else
#pragma unroll
                    for (int k = 0; k < FEATURES; k += 2) st32(sm.enc, swz(s, l * FEATURES + k, IN_DIM), PACK2(f[k], f[k + 1]));
#endif
                }
                __syncwarp();
#pragma unroll
                for (int kt = 0; kt < IN_DIM / 16; ++kt) {
                    ldmatrix_x4(e[kt], sm.enc + swz(16 * warp + r8 + 8 * (quad & 1), 16 * kt + 8 * (quad >> 1), IN_DIM));
                }
            }
#else
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
#endif
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
#pragma unroll
        for (int k = 0; k < N_HIDDEN; ++k) {
            to_fragments(v, a);
            const u16* wk = sm.w + k * WIDTH * WIDTH;
#pragma unroll
            for (int j = 0; j < NT; j += 2) {
                // Accumulators start at the bias; B fragments of n-tiles j, j + 1 by one ldmatrix
                // per k-tile: (j, k lo), (j, k hi), (j + 1, k lo), (j + 1, k hi).
#pragma unroll
                for (int jj = 0; jj < 2; ++jj) {
                    const int c = HID_B(k) + 8 * (j + jj) + 2 * t;
                    v[j + jj][0] = v[j + jj][2] = params[c];
                    v[j + jj][1] = v[j + jj][3] = params[c + 1];
                }
#pragma unroll
                for (int kt = 0; kt < KT; ++kt) {
                    u32 b[4];
                    ldmatrix_x4(b, wk + swz(8 * j + r8 + 8 * (quad >> 1), 16 * kt + 8 * (quad & 1), WIDTH));
                    mma16816(v[j], a[kt], b[0], b[1]);
                    mma16816(v[j + 1], a[kt], b[2], b[3]);
                }
#pragma unroll
                for (int jj = 0; jj < 2; ++jj) {
#if MODEL == 0
                    float d[4];
#endif
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const float z = v[j + jj][e];
#if MODEL == 0
                        float s, co;
                        sin_cos(OMEGA * z, &s, &co);
                        v[j + jj][e] = s;
                        d[e] = OMEGA * co;
#else
                        v[j + jj][e] = fmaxf(z, 0.f);
#endif
                    }
#if MODEL == 0
                    der[k + 1][j + jj][0] = pack_f16(d[0], d[1]);
                    der[k + 1][j + jj][1] = pack_f16(d[2], d[3]);
#endif
                }
            }
            store_c_layout(sm.act + (k + 1) * T_SAMPLES * WIDTH, 16 * warp + g, t, v, false);
        }
        // Output layer (fp32), loss, output deltas and the output layer's gradients. Every lane
        // of a quad gets the sums.
        float dy[2][3];
        {
            float sq = 0.0f;
#pragma unroll
            for (int c = 0; c < 3; ++c) {
                const float2 s = out_dot_c_layout(params, v, t, c);
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const float* smp = samples + 5 * (h ? r1 : r0);
                    const float z = (h ? s.y : s.x) + params[OUT_B + c];
                    // encoding.cuh's out_error inline by hand: through the function ptxas spills
                    // 160 bytes instead of 140 in this register-bound kernel.
                    const bool valid = smp[2] >= 0.0f;
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
#pragma unroll
            for (int c = 0; c < 3; ++c) {
                float g_out[NT][4];
#pragma unroll
                for (int j = 0; j < NT; ++j) {
                    g_out[j][0] = dy[0][c] * v[j][0];
                    g_out[j][1] = dy[0][c] * v[j][1];
                    g_out[j][2] = dy[1][c] * v[j][2];
                    g_out[j][3] = dy[1][c] * v[j][3];
                }
                stage_column_sums(stage + STAGE_OUT + c * WIDTH, g_out, lane);
                const float db = sum_rows(t == 0 ? dy[0][c] + dy[1][c] : 0.0f);
                if (lane == 0) stage[STAGE_OUT + 3 * WIDTH + c] = db;
            }
            sq += __shfl_xor_sync(0xffffffffu, sq, 1);
            sq += __shfl_xor_sync(0xffffffffu, sq, 2);
            sq += __shfl_xor_sync(0xffffffffu, sq, 4);
            sq += __shfl_xor_sync(0xffffffffu, sq, 8);
            sq += __shfl_xor_sync(0xffffffffu, sq, 16);
            block_loss += lane == 0 ? sq : 0.0f;
        }

        // ---- C + D. backward, layer by layer, the whole block in step: the warp's δ_m in
        // registers, written over act_m (no longer needed: the previous layer's dW has read it);
        // then dW of the layer below from δ_m and act_{m−1} (all of the tile's samples as K),
        // and dA_{m−1} = δ_m · W on the tensor cores.
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
#pragma unroll
        for (int m = N_HIDDEN; m >= 0; --m) {
            u16* buf = sm.act + m * T_SAMPLES * WIDTH;
#pragma unroll
            for (int j = 0; j < NT; ++j) {
#if MODEL == 0
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const u32 dd = der[m][j][h];
                    v[j][2 * h] *= f16_to_f32((u16)(dd & 0xffff));
                    v[j][2 * h + 1] *= f16_to_f32((u16)(dd >> 16));
                }
#else
                const int c = 8 * j + 2 * t;
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const u32 aa = ld32(buf, swz(h ? r1 : r0, c, WIDTH));
                    if (TO_F32((u16)(aa & 0xffff)) <= 0.0f) v[j][2 * h] = 0.0f;
                    if (TO_F32((u16)(aa >> 16)) <= 0.0f) v[j][2 * h + 1] = 0.0f;
                }
#endif
            }
            stage_column_sums(stage + STAGE_BIAS, v, lane);
            if (m == 0) {
#if MODEL == 0
                // SIREN's layer 0: dW0[col][0] = Σ δ·x, dW0[col][1] = Σ δ·y (W0 is WIDTH × 2).
#pragma unroll
                for (int j = 0; j < NT; ++j) {
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        const int c = 8 * j + 2 * t + e;
                        const float gx = sum_rows(v[j][e] * x0 + v[j][2 + e] * x1);
                        const float gy = sum_rows(v[j][e] * y0 + v[j][2 + e] * y1);
                        if (lane < 4) {
                            stage[STAGE_W0 + 2 * c] = gx;
                            stage[STAGE_W0 + 2 * c + 1] = gy;
                        }
                    }
                }
                __syncthreads();
                reduce_stage(sm.acc + ACC_W0, sm.stage, STAGE_W0, 2 * WIDTH);
#else
                store_c_layout(buf, 16 * warp + g, t, v, false);
#if MODEL == 2
                hash_table_gradient(sm, v, samples, enc_grad, scales, lane);
#endif
                __syncthreads();
#endif
                reduce_stage(sm.acc + ACC_BIAS, sm.stage, STAGE_BIAS, WIDTH);
                if (N_HIDDEN == 0) reduce_stage(sm.acc + ACC_OUT_W, sm.stage, STAGE_OUT, 3 * WIDTH + 3);
#if ENCODED
                // Layer 0 of the Fourier MLP and the hash grid: dW_0 = δ_0ᵀ · enc.
                for (int u = warp; u < (WIDTH / 16) * (IN_DIM / 16); u += TRAIN_WARPS) {
                    const int m0 = 16 * (u / (IN_DIM / 16)), n0 = 16 * (u % (IN_DIM / 16));
                    float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
                    grad_tile<T_SAMPLES>(buf, WIDTH, m0, sm.enc, IN_DIM, n0, acc, lane);
                    flush_tile(partial + L0_W, IN_DIM, m0, n0, acc, lane, first);
                }
#endif
                break;
            }
            store_c_layout(buf, 16 * warp + g, t, v, false);
            // dA_{m−1} = δ_m · W_{m−1}: W[out][in] is B[k=out][n=in], read transposed.
            to_fragments(v, a);
            const u16* wk = sm.w + (m - 1) * WIDTH * WIDTH;
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
            __syncthreads();  // every warp's δ_m and sums are in place
            reduce_stage(sm.acc + ACC_BIAS + m * WIDTH, sm.stage, STAGE_BIAS, WIDTH);
            if (m == N_HIDDEN) reduce_stage(sm.acc + ACC_OUT_W, sm.stage, STAGE_OUT, 3 * WIDTH + 3);
            // dW of hidden layer m−1 = δ_mᵀ · act_{m−1}, 16×16 tiles shared out over the warps.
            constexpr int tiles = (WIDTH / 16) * (WIDTH / 16);
            for (int u = warp; u < tiles; u += TRAIN_WARPS) {
                const int m0 = 16 * (u / (WIDTH / 16)), n0 = 16 * (u % (WIDTH / 16));
                float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
                grad_tile<T_SAMPLES>(buf, WIDTH, m0, sm.act + (m - 1) * T_SAMPLES * WIDTH, WIDTH, n0, acc, lane);
                flush_tile(partial + HID_W(m - 1), WIDTH, m0, n0, acc, lane, first);
            }
            __syncthreads();  // act_{m−1} and the stage are read before δ_{m−1} and its sums go over them
        }
        __syncthreads();
    }
    if (lane == 0) sm.loss[warp] = block_loss;
    __syncthreads();
#if USE_COARSE
    coarse_flush(enc_grad, sm.coarse, sm.coarse_meta, scales);
#endif
    // The block's sums into its partial (written once).
    for (int i = threadIdx.x; i < ACC_LEN; i += blockDim.x) {
        const float s = sm.acc[i];
        int dst = -1;
        if (i < ACC_OUT_W) {
            const int k = i / WIDTH, c = i % WIDTH;
            dst = k == 0 ? L0_B + c : HID_B(k - 1) + c;
        } else if (i < ACC_OUT_B) {
            dst = OUT_W + (i - ACC_OUT_W);
        } else if (i < ACC_OUT_B + 3) {
            dst = OUT_B + (i - ACC_OUT_B);
        } else if (i >= ACC_W0) {
            dst = L0_W + (i - ACC_W0);
        }
        if (dst >= 0) partial[dst] = s;
    }
    if (threadIdx.x == 0) {
        float s = 0.0f;
        for (int w = 0; w < TRAIN_WARPS; ++w) s += sm.loss[w];
        loss_partials[blockIdx.x] = s;
    }
}
