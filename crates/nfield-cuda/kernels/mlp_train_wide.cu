// nfield CUDA kernels: the weight-streaming training step of SIREN, the Fourier MLP (frozen B)
// and the hash grid (MODEL 2: the encoding gathered per tile into shared memory, the table's
// gradient added with atomics into enc_grad), for what mlp_train.cu's fused step cannot hold
// (widths 80-256, deep models, hash grids), and the only tf32 step (TF32 = 1: the matrices in
// shared memory hold tf32 in 32 bits). Same kernel
// name, parameters, partials contract, sampling and rounding model as mlp_train.cu, so adam.cu
// and the engine use it unchanged.
// (TrainTarget, sampling, swz, the gradient tiles and PARTIAL_STRIDE: train_common.cuh.)
//
// Contract (shared with mlp_train.cu):
//   mlp_train_step(params, target, step_counter, seed, batch, partials, loss_partials, scales,
//   enc_grad, table16), a
//   persistent grid; block b takes tiles b, b + gridDim.x, ... of TILE samples (sample i of the
//   batch is pixel train_pixel(seed, step, i); indices ≥ batch are padding, colour −1: no loss,
//   no gradient). partials: (gridDim.x, PARTIAL_STRIDE) f32, each block's own fp32 sum of every
//   MLP parameter's gradient over its samples, without the 2/(3B) factor (the first tile of a
//   block stores, later tiles add: here the sums over samples too, tile by tile).
//   loss_partials: (gridDim.x) f32, Σ squared error. No float atomics:
//   deterministic for a given grid.
//
// Shape: TRAIN_WARPS warps split a tile of TILE = 16·RG samples into RG row groups of 16
// samples × CG column groups of CW = WIDTH / CG ≤ 64 columns (warp w: row group w % RG, column
// group w / RG); every layer's product is one 16 × CW register tile per warp (CW/8 n-tiles of
// mma.sync m16n8k16, fp32 accumulators; with TF32, m16n8k8 in tf32).
//
// Shared memory (sizes in kernels.rs train_wide_smem): wbuf [WIDTH][WBUF_COLS] (mma type MT: 16
// bits, or tf32 in 32 bits): the
// one layer's weights in use, refilled from the fp32 parameters before each layer (forward: W_k
// for layer k; backward: W_{m−1} for layer m), block barriers around each refill; act
// [N_HIDDEN+1][TILE][WIDTH] (mma type): every hidden activation of the tile, δ_m written over
// act_m in the backward; enc [TILE][IN_DIM] (Fourier features); then fp32: sample [TILE][8]
// (x, y, r, g, b, dy0..2), ostage [CG][TILE][3] (output partial sums per column group), loss
// [TILE], small [SMALL_LEN] (output layer; SIREN's layer 0; the hash grid's W_0), stage [RG][STAGE_LEN] (this
// tile's per-row-group sums). MT matrices are row-major with 16-byte chunks XOR-swizzled by row
// (SWZ: swz_chunks of 8 or 4 elements).
//
// Per tile: A. sampling; B. forward, layer by layer (layer 0 in fp32 for SIREN with the
// fp32 argument (siren_first_sincos), or on the tensor cores from the Fourier features; hidden layers on
// the tensor cores, A fragments of act_k by ldmatrix, B fragments of wbuf by ldmatrix); the last
// layer's fp32 epilogue also forms the 3 output sums, reduced over the column groups in a fixed
// order, then loss and dy per sample. C. backward, m = N_HIDDEN .. 0: RECOMPUTE z_m (same
// instructions and operands as the forward: identical values) for SIREN's ω·cos(ω z_m) and, at
// m = N_HIDDEN, the fp32 activation the output layer's gradient needs (Fourier's ReLU mask comes
// from the stored activation, as in mlp_train.cu); δ_m = dA_m ⊙ der in fp32 registers, stored
// over act_m; dW_{m−1} = δ_mᵀ·act_{m−1} (16×16 tiles over the warps, K = the tile's samples,
// into the block's partial); dA_{m−1} = δ_m·W_{m−1} into fp32 registers (the warp owns the same
// rows and columns of z_{m−1} at the next iteration). Sums over samples (biases, output layer,
// SIREN's W0): shuffles over the warp's 16 rows, staged per row group, summed over the row
// groups in a fixed order into the block's partial, every tile (stored on the first).
//
// Rounding (as mlp_train.cu): hidden-layer weights and inputs in the mma type (round to
// nearest), fp32 accumulation; SIREN's layer 0 and the output layer in fp32; δ in fp32
// registers for the sums and the next dA, in the mma type as an mma operand. Differences: the
// activation derivatives are recomputed in fp32 (mlp_train.cu keeps them as fp16), and the
// output sums are added in another fp32 order.
//
// tf32 (TF32 = 1): the same algorithm on m16n8k8 with 32-bit operands. ldmatrix reads 32-bit
// elements as pairs of 16-bit ones, so the non-transposed loads (A of every product, B of the
// forward) are the 16-bit code with 4-element chunks; the transposed ones (B of δ·W, both
// operands of the weight gradient) are scalar loads of the fragment elements.
//
// Defines: those of encoding.cuh (MODEL 0 or 1), OMEGA0, OMEGA, OUT_LINEAR, TRAIN_WARPS, TILE,
// HALF_BF16, TF32, FAST_SINCOS.

#if TF32
typedef u32 MT;          // tf32 bits
#define EPC 4            // elements per 16-byte chunk
#define KSTEP 8          // k of one mma
#define MMA mma1688_tf32
DEV void st_pair(MT* m, int i, float lo, float hi) { *(uint2*)(m + i) = make_uint2(to_tf32(lo), to_tf32(hi)); }
DEV void st_one(MT* m, int i, float v) { m[i] = to_tf32(v); }
DEV float mt_to_f32(MT v) { return __uint_as_float(v); }
#else
typedef u16 MT;
#define EPC 8
#define KSTEP 16
#define MMA mma16816
DEV void st_pair(MT* m, int i, float lo, float hi) { st32(m, i, PACK2(lo, hi)); }
DEV void st_one(MT* m, int i, float v) { m[i] = TO_HALF(v); }
DEV float mt_to_f32(MT v) { return TO_F32(v); }
#endif
#define SWZ swz_chunks<EPC>

#define RG (TILE / 16)
#define CG (TRAIN_WARPS / RG)
#define CW (WIDTH / CG)
#define NJ (CW / 8)
#define NJC (NJ > 6 ? 4 : NJ)  // n-tiles per column chunk of the backward's recomputation
#if MODEL != 0
#define WBUF_COLS (N_HIDDEN > 0 && WIDTH > IN_DIM ? WIDTH : IN_DIM)
#else
#define WBUF_COLS (N_HIDDEN > 0 ? WIDTH : 0)
#endif

static_assert(TILE % 16 == 0 && TRAIN_WARPS % RG == 0, "TRAIN_WARPS must be a multiple of TILE / 16");
static_assert(CW * CG == WIDTH && CW % 16 == 0 && CW <= 64, "column groups of 16, 32, 48 or 64 columns");
static_assert(MODEL == 0 || MODEL == 1 || MODEL == 2, "SIREN, the Fourier MLP or the hash grid");

// The small parameters read per sample, copied to shared memory once per block: the output
// layer, and SIREN's layer 0 (a shared-memory read is cheap, and the compiler cannot hoist it
// out of the tile loop into a hundred registers as it does with read-only global loads).
#define SM_OUT_W 0
#define SM_OUT_B (3 * WIDTH)
#define SM_W0 (3 * WIDTH + 4)
#define SM_B0 (SM_W0 + 2 * WIDTH)
// The hash grid keeps W_0 in fp32 there too (SM_W0, WIDTH × IN_DIM) for ∂L/∂features = δ_0·W_0.
#define SMALL_LEN (MODEL == 0 ? 6 * WIDTH + 4 : MODEL == 2 ? 3 * WIDTH + 4 + WIDTH * IN_DIM : 3 * WIDTH + 4)
// Bytes of the MT region (wbuf, act, enc), rounded up to 16.
#define HALF_BYTES \
    (((int)sizeof(MT) * (WIDTH * WBUF_COLS + N_ACT * TILE * WIDTH + (MODEL != 0 ? TILE * IN_DIM : 0)) + 15) / 16 * 16)
#define STAGE_BIAS 0
#define STAGE_OUT WIDTH
#define STAGE_W0 (4 * WIDTH)
#define STAGE_LEN (MODEL == 0 ? 6 * WIDTH : 4 * WIDTH)

// dst[i] (the block's partial) = Σ over row groups, in order, of stage[rg][from + i], plus dst[i]
// unless this is the block's first tile; for i < len, the whole block.
DEV void reduce_stage(float* dst, const float* stage, int from, int len, bool first) {
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
        float s = stage[from + i];
#pragma unroll
        for (int r = 1; r < RG; ++r) s += stage[r * STAGE_LEN + from + i];
        dst[i] = first ? s : dst[i] + s;
    }
}

// dst[rows][cols] (mma type, swizzled) = src (fp32, row-major), the whole block; cols % 8 == 0.
DEV void fill_weights(MT* dst, const float* __restrict__ src, int rows, int cols) {
    for (int i = threadIdx.x; i < rows * cols / 4; i += blockDim.x) {
        const int r = (4 * i) / cols, c = (4 * i) % cols;
        const float4 v = __ldg((const float4*)src + i);
#if TF32
        *(uint4*)(dst + SWZ(r, c, cols)) = make_uint4(to_tf32(v.x), to_tf32(v.y), to_tf32(v.z), to_tf32(v.w));
#else
        *(uint2*)(dst + SWZ(r, c, cols)) = make_uint2(PACK2(v.x, v.y), PACK2(v.z, v.w));
#endif
    }
}

// Stores this warp's C-layout tile v (rows r0, r0 + 8; columns col0 + 8j + 2t) in the mma type.
DEV void store_tile(MT* m, int r0, int col0, int t, const float (*v)[4]) {
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
        const int c = col0 + 8 * j + 2 * t;
        st_pair(m, SWZ(r0, c, WIDTH), v[j][0], v[j][1]);
        st_pair(m, SWZ(r0 + 8, c, WIDTH), v[j][2], v[j][3]);
    }
}

// acc = A·Wᵀ for the warp's 16 rows (from R0) and 8·N columns (from c0): A is a[T][K], W is
// w[n][K] (out × in), both MT, swizzled with K columns. k ascending, as mlp_train.cu.
// (k lo / k hi: the first and second half of the mma's KSTEP, one 16-byte chunk each.)
template <int K, int N>
DEV void layer_mma(float (*acc)[4], const MT* a, const MT* w, int R0, int c0, int lane) {
    const int quad = lane / 8, r8 = lane % 8;
#pragma unroll
    for (int j = 0; j < N; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
#pragma unroll 4
    for (int k0 = 0; k0 < K; k0 += KSTEP) {
        u32 af[4];
        // A: (rows 0-7, k lo), (rows 8-15, k lo), (rows 0-7, k hi), (rows 8-15, k hi) = a0..a3.
        ldmatrix_x4(af, a + SWZ(R0 + r8 + 8 * (quad & 1), k0 + EPC * (quad >> 1), K));
#pragma unroll
        for (int j = 0; j < N; j += 2) {
            u32 b[4];
            // W rows n, columns k: (n-tile j, k lo), (j, k hi), (j + 1, k lo), (j + 1, k hi).
            ldmatrix_x4(b, w + SWZ(c0 + 8 * j + r8 + 8 * (quad >> 1), k0 + EPC * (quad & 1), K));
            MMA(acc[j], af, b[0], b[1]);
            MMA(acc[j + 1], af, b[2], b[3]);
        }
    }
}

// acc = δ·W for the warp's rows and columns: δ is d[T][WIDTH] (k = out), W is w[out][in]
// (B[k = out][n = in], read transposed), as mlp_train.cu's dA.
DEV void delta_times_w(float (*acc)[4], const MT* d, const MT* w, int R0, int col0, int lane) {
    const int quad = lane / 8, r8 = lane % 8;
#pragma unroll
    for (int j = 0; j < NJ; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
#pragma unroll 4
    for (int k0 = 0; k0 < WIDTH; k0 += KSTEP) {
        u32 af[4];
        ldmatrix_x4(af, d + SWZ(R0 + r8 + 8 * (quad & 1), k0 + EPC * (quad >> 1), WIDTH));
#pragma unroll
        for (int j = 0; j < NJ; j += 2) {
#if TF32
            // b0 = W[k0 + t][n], b1 = W[k0 + t + 4][n], n = col0 + 8j + g (and + 8 for j + 1).
            const int g = lane / 4, t = lane % 4, n = col0 + 8 * j + g;
            MMA(acc[j], af, w[SWZ(k0 + t, n, WIDTH)], w[SWZ(k0 + t + 4, n, WIDTH)]);
            MMA(acc[j + 1], af, w[SWZ(k0 + t, n + 8, WIDTH)], w[SWZ(k0 + t + 4, n + 8, WIDTH)]);
#else
            u32 b[4];
            ldmatrix_x4_trans(b, w + SWZ(k0 + r8 + 8 * (quad & 1), col0 + 8 * j + 8 * (quad >> 1), WIDTH));
            MMA(acc[j], af, b[0], b[1]);
            MMA(acc[j + 1], af, b[2], b[3]);
#endif
        }
    }
}

#if TF32
// grad_tile (train_common.cuh) in tf32: out[m0..m0+16][n0..n0+16] += Aᵀ·B over K samples, A is
// S_a[sample][m] (width wa), B is S_b[sample][n] (width wb), fragments by scalar loads
// (a0 = S_a[k0+t][m0+g], a1 = S_a[k0+t][m0+g+8], a2/a3 the same at k0+t+4; b0 = S_b[k0+t][n],
// b1 = S_b[k0+t+4][n]). Samples ascending, as grad_tile.
template <int K>
DEV void grad_tile_mt(const MT* sa, int wa, int m0, const MT* sb, int wb, int n0, float (*acc)[4], int lane) {
    const int g = lane / 4, t = lane % 4;
#pragma unroll 4
    for (int k0 = 0; k0 < K; k0 += 8) {
        const u32 a[4] = {sa[SWZ(k0 + t, m0 + g, wa)], sa[SWZ(k0 + t, m0 + g + 8, wa)], sa[SWZ(k0 + t + 4, m0 + g, wa)],
                          sa[SWZ(k0 + t + 4, m0 + g + 8, wa)]};
        MMA(acc[0], a, sb[SWZ(k0 + t, n0 + g, wb)], sb[SWZ(k0 + t + 4, n0 + g, wb)]);
        MMA(acc[1], a, sb[SWZ(k0 + t, n0 + 8 + g, wb)], sb[SWZ(k0 + t + 4, n0 + 8 + g, wb)]);
    }
}
#else
#define grad_tile_mt grad_tile
#endif

// dW = Sᵀ·A over the tile: S is s[T][WIDTH] (δ), A is a[T][wa]; rows × wa tiles of 16 × 16
// shared out over the warps, into dst (WIDTH × wa, row-major) of the block's partial.
DEV void weight_gradient(float* dst, const MT* s, const MT* a, int wa, int warp, int lane, bool first) {
    const int tiles = (WIDTH / 16) * (wa / 16);
    for (int u = warp; u < tiles; u += TRAIN_WARPS) {
        const int m0 = 16 * (u / (wa / 16)), n0 = 16 * (u % (wa / 16));
        float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
        grad_tile_mt<TILE>(s, WIDTH, m0, a, wa, n0, acc, lane);
        flush_tile(dst, wa, m0, n0, acc, lane, first);
    }
}

#if MODEL == 0
// SIREN's layer 0 at column c: sin(ω0 z) and ω0·cos(ω0 z), z = b + w·(x, y) (common.cuh's
// siren_first_sincos: fp32 argument and the special-function unit in these modes).
DEV void siren_first(const float* small, int c, float x, float y, float* s, float* d) {
    siren_first_sincos(small[SM_W0 + 2 * c], small[SM_W0 + 2 * c + 1], small[SM_B0 + c], x, y, OMEGA0, s, d);
}
#endif

// z = acc + b, then the hidden activation a and its derivative d (SIREN: sin(ω z), ω cos(ω z);
// ReLU: max(z, 0), z > 0).
DEV void activate(float acc, float b, float* a, float* d) {
    const float z = acc + b;
#if MODEL == 0
    float s, co;
    sin_cos(OMEGA * z, &s, &co);
    *a = s;
    *d = OMEGA * co;
#else
    *a = fmaxf(z, 0.f);
    *d = z > 0.f ? 1.f : 0.f;
#endif
}

// The pre-activation accumulators of hidden activation m (m ≥ 1, or m = 0 from the encoding) for
// the warp's rows and 8·N columns from c0, before the bias (wbuf holds the layer's weights).
template <int N>
DEV void pre_activation(float (*v)[4], const MT* act, const MT* enc, const MT* wbuf, int m, int R0, int c0,
                        int lane) {
#if MODEL != 0
    if (m == 0) {
        layer_mma<IN_DIM, N>(v, enc, wbuf, R0, c0, lane);
        return;
    }
#endif
    layer_mma<WIDTH, N>(v, act + (m - 1) * TILE * WIDTH, wbuf, R0, c0, lane);
}

// Where the bias of hidden activation m sits in the parameters.
DEV int bias_of(int m) { return m == 0 ? L0_B : HID_B(m - 1); }

// The hash grid's gathers wait on memory: two blocks per SM hide more of it (ptxas keeps the
// kernel within 128 registers for that).
#if MODEL == 2
#define MIN_BLOCKS 2
#else
#define MIN_BLOCKS 1
#endif

extern "C" __global__ void __launch_bounds__(32 * TRAIN_WARPS, MIN_BLOCKS)
    mlp_train_step(const float* __restrict__ params, TrainTarget target, const u64* __restrict__ step_counter,
                   u64 seed, u32 batch, float* __restrict__ partials, float* __restrict__ loss_partials,
                   const float* __restrict__ scales, float* __restrict__ enc_grad,
                   const u16* __restrict__ table16) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    MT* const wbuf = (MT*)smem_raw;
    MT* const act = wbuf + WIDTH * WBUF_COLS;
    MT* const enc = act + N_ACT * TILE * WIDTH;
    // (offsets from smem_raw, not integer casts: the compiler keeps shared-memory instructions)
    float* const sample = (float*)(smem_raw + HALF_BYTES);
    float* const ostage = sample + TILE * 8;
    float* const loss = ostage + CG * TILE * 3;
    float* const small = loss + TILE;
    float* const stage_all = small + SMALL_LEN;
    check_smem_layout(stage_all + RG * STAGE_LEN, smem_raw);  // kernels.rs train_wide_smem agrees

    const u64 step = *step_counter;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int rg = warp % RG, cg = warp / RG;
    const int R0 = 16 * rg, col0 = CW * cg;
    const int r0 = R0 + g, r1 = r0 + 8;  // this lane's two rows of the tile
    float* const stage = stage_all + rg * STAGE_LEN;
    float* const partial = partials + (size_t)blockIdx.x * PARTIAL_STRIDE;
    if (threadIdx.x < TILE) loss[threadIdx.x] = 0.0f;  // Σ squared error of sample slot i, all tiles
    for (int i = threadIdx.x; i < 3 * WIDTH + 3; i += blockDim.x) small[SM_OUT_W + i] = params[OUT_W + i];
#if MODEL == 0
    for (int i = threadIdx.x; i < 3 * WIDTH; i += blockDim.x) small[SM_W0 + i] = params[L0_W + i];  // W0, b0
#elif MODEL == 2
    for (int i = threadIdx.x; i < WIDTH * IN_DIM; i += blockDim.x) small[SM_W0 + i] = params[L0_W + i];
#endif

    for (u32 tile = blockIdx.x; tile * TILE < batch; tile += gridDim.x) {
        const bool first = tile == blockIdx.x;
        // ---- A. sampling, one thread per sample
        if (threadIdx.x < TILE) load_sample(sample + 8 * threadIdx.x, target, seed, step, tile * TILE + threadIdx.x, batch);
        __syncthreads();

        // ---- B. forward
        float v[NJ][4];
#if MODEL == 0
        const float x0 = sample[8 * r0], y0 = sample[8 * r0 + 1];
        const float x1 = sample[8 * r1], y1 = sample[8 * r1 + 1];
#pragma unroll
        for (int j = 0; j < NJ; ++j) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                float unused;
                siren_first(small, col0 + 8 * j + 2 * t + (e & 1), e < 2 ? x0 : x1, e < 2 ? y0 : y1, &v[j][e],
                            &unused);
            }
        }
        store_tile(act, r0, col0, t, v);
#else
        {
#if MODEL == 1
            const float* B = params + ENC_OFFSET;
            for (int i = threadIdx.x; i < TILE * IN_DIM / 2; i += blockDim.x) {
                const int s = i / (IN_DIM / 2), c = 2 * (i % (IN_DIM / 2));
                const float x = sample[8 * s], y = sample[8 * s + 1];
                st_pair(enc, SWZ(s, c, IN_DIM), fourier_feature(B, x, y, c), fourier_feature(B, x, y, c + 1));
            }
#else
            // The hash grid: one (sample, level) per thread and turn, FEATURES gathered values.
            const float* table = params + ENC_OFFSET;
            for (int i = threadIdx.x; i < TILE * LEVELS; i += blockDim.x) {
                const int s = i / LEVELS, l = i % LEVELS;
                float f[FEATURES];
                hash_level(table, scales, l, sample[8 * s], sample[8 * s + 1], f);
#pragma unroll
                for (int k = 0; k < FEATURES; ++k) st_one(enc, SWZ(s, l * FEATURES + k, IN_DIM), f[k]);
            }
#endif
            fill_weights(wbuf, params + L0_W, WIDTH, IN_DIM);
            __syncthreads();
        }
#endif
        for (int k = MODEL == 0 ? 1 : 0; k <= N_HIDDEN; ++k) {
            if (k > 0) {
                __syncthreads();  // act_{k−1} complete, wbuf free
                fill_weights(wbuf, params + HID_W(k - 1), WIDTH, WIDTH);
                __syncthreads();
            }
            pre_activation<NJ>(v, act, enc, wbuf, k, R0, col0, lane);
#pragma unroll
            for (int j = 0; j < NJ; ++j) {
                const int c = bias_of(k) + col0 + 8 * j + 2 * t;
                const float b0 = params[c], b1 = params[c + 1];
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    float unused;
                    activate(v[j][e], (e & 1) ? b1 : b0, &v[j][e], &unused);
                }
            }
            store_tile(act + k * TILE * WIDTH, r0, col0, t, v);
        }
        // The 3 outputs (fp32, from the fp32 activation): this warp's columns, summed over the
        // quad, staged per column group, summed over the column groups in order.
        {
            float o[2][3] = {{0.f, 0.f, 0.f}, {0.f, 0.f, 0.f}};
#pragma unroll
            for (int j = 0; j < NJ; ++j) {
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const int c = col0 + 8 * j + 2 * t + e;
#pragma unroll
                    for (int k = 0; k < 3; ++k) {
                        const float w = small[SM_OUT_W + k * WIDTH + c];
                        o[0][k] = fmaf(w, v[j][e], o[0][k]);
                        o[1][k] = fmaf(w, v[j][e + 2], o[1][k]);
                    }
                }
            }
#pragma unroll
            for (int h = 0; h < 2; ++h) {
#pragma unroll
                for (int k = 0; k < 3; ++k) {
                    float s = o[h][k];
                    s += __shfl_xor_sync(0xffffffffu, s, 1);
                    s += __shfl_xor_sync(0xffffffffu, s, 2);
                    if (t == 0) ostage[(cg * TILE + (h ? r1 : r0)) * 3 + k] = s;
                }
            }
        }
        __syncthreads();
        if (threadIdx.x < TILE) {
            float* smp = sample + 8 * threadIdx.x;
            float sq = 0.0f;
#pragma unroll
            for (int k = 0; k < 3; ++k) {
                float z = 0.0f;
                for (int c = 0; c < CG; ++c) z += ostage[(c * TILE + threadIdx.x) * 3 + k];
                z += small[SM_OUT_B + k];
                const float diff = out_error(z, smp[2 + k], smp[2] >= 0.0f, &smp[5 + k]);
                sq += diff * diff;
            }
            loss[threadIdx.x] += sq;
        }
        __syncthreads();
        if (threadIdx.x < 3) {
            float s = 0.0f;
            for (int i = 0; i < TILE; ++i) s += sample[8 * i + 5 + threadIdx.x];
            partial[OUT_B + threadIdx.x] = first ? s : partial[OUT_B + threadIdx.x] + s;
        }

        // ---- C. backward. dA_N = W_outᵀ·dy in fp32 (mlp_train.cu's formula).
        float dy[2][3];
#pragma unroll
        for (int k = 0; k < 3; ++k) {
            dy[0][k] = sample[8 * r0 + 5 + k];
            dy[1][k] = sample[8 * r1 + 5 + k];
        }
        float da[NJ][4];
#pragma unroll
        for (int j = 0; j < NJ; ++j) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int c = col0 + 8 * j + 2 * t + (e & 1);
                const int h = e >> 1;
                da[j][e] = small[SM_OUT_W + c] * dy[h][0] + small[SM_OUT_W + WIDTH + c] * dy[h][1] +
                           small[SM_OUT_W + 2 * WIDTH + c] * dy[h][2];
            }
        }
        for (int m = N_HIDDEN; m >= 0; --m) {
            if (m < N_HIDDEN) {
                __syncthreads();  // dW_m and dA_m have read act_m, act_{m-1}, wbuf; stage reduced
                if (m > 0) {
                    fill_weights(wbuf, params + HID_W(m - 1), WIDTH, WIDTH);
                    __syncthreads();
                }
            }
            MT* const dbuf = act + m * TILE * WIDTH;
            // a_m and its derivative, recomputed exactly as the forward computed them (wbuf
            // holds the layer's weights; at m = N_HIDDEN still from the forward). Fourier needs
            // a_m only at m = N_HIDDEN (the output layer's gradient); its ReLU mask comes from
            // the stored activation, as in mlp_train.cu.
            const bool recompute = (MODEL == 0 && m > 0) || m == N_HIDDEN;
#if MODEL == 0
            const float x0 = sample[8 * r0], y0 = sample[8 * r0 + 1];
            const float x1 = sample[8 * r1], y1 = sample[8 * r1 + 1];
#endif
#pragma unroll
            for (int j0 = 0; j0 < NJ; j0 += NJC) {  // column chunks: z of one chunk at a time
                float z[NJC][4];
                if (recompute && (MODEL != 0 || m > 0)) {
                    pre_activation<NJC>(z, act, enc, wbuf, m, R0, col0 + 8 * j0, lane);
                }
#pragma unroll
                for (int jj = 0; jj < NJC; ++jj) {
                    const int j = j0 + jj;
                    const int cj = col0 + 8 * j + 2 * t;
                    float a4[4], d4[4];
#if MODEL == 0
                    if (m == 0) {
#pragma unroll
                        for (int e = 0; e < 4; ++e) {
                            siren_first(small, cj + (e & 1), e < 2 ? x0 : x1, e < 2 ? y0 : y1, &a4[e], &d4[e]);
                        }
                    } else {
#else
                    if (recompute) {
#endif
                        const float b0 = params[bias_of(m) + cj], b1 = params[bias_of(m) + cj + 1];
#pragma unroll
                        for (int e = 0; e < 4; ++e) activate(z[jj][e], (e & 1) ? b1 : b0, &a4[e], &d4[e]);
                    }
#if MODEL != 0
#pragma unroll
                    for (int h = 0; h < 2; ++h) {
                        const MT* aa = dbuf + SWZ(h ? r1 : r0, cj, WIDTH);  // (cj, cj + 1): one chunk
                        d4[2 * h] = mt_to_f32(aa[0]) <= 0.0f ? 0.0f : 1.0f;
                        d4[2 * h + 1] = mt_to_f32(aa[1]) <= 0.0f ? 0.0f : 1.0f;
                    }
#endif
#pragma unroll
                    for (int e = 0; e < 4; ++e) da[j][e] *= d4[e];  // δ_m (ReLU: × 1 or × 0)
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        const int c = cj + e;
                        if (m == N_HIDDEN) {
                            // The output layer's weight gradient Σ dy·a_N (fp32 a_N).
#pragma unroll
                            for (int k = 0; k < 3; ++k) {
                                const float s = sum_rows(dy[0][k] * a4[e] + dy[1][k] * a4[e + 2]);
                                if (lane < 4) stage[STAGE_OUT + k * WIDTH + c] = s;
                            }
                        }
                        const float sb = sum_rows(da[j][e] + da[j][e + 2]);
                        if (lane < 4) stage[STAGE_BIAS + c] = sb;
#if MODEL == 0
                        if (m == 0) {
                            // SIREN's layer 0: dW0[c][0] = Σ δ·x, dW0[c][1] = Σ δ·y.
                            const float gx = sum_rows(da[j][e] * x0 + da[j][e + 2] * x1);
                            const float gy = sum_rows(da[j][e] * y0 + da[j][e + 2] * y1);
                            if (lane < 4) {
                                stage[STAGE_W0 + 2 * c] = gx;
                                stage[STAGE_W0 + 2 * c + 1] = gy;
                            }
                        }
#endif
                    }
                }
            }
            if (m > 0 || MODEL != 0) store_tile(dbuf, r0, col0, t, da);  // δ_m over act_m
            __syncthreads();  // δ_m and the stage complete
            reduce_stage(partial + bias_of(m), stage_all, STAGE_BIAS, WIDTH, first);
            if (m == N_HIDDEN) reduce_stage(partial + OUT_W, stage_all, STAGE_OUT, 3 * WIDTH, first);
            if (m == 0) {
#if MODEL == 0
                reduce_stage(partial + L0_W, stage_all, STAGE_W0, 2 * WIDTH, first);
#else
                weight_gradient(partial + L0_W, dbuf, enc, IN_DIM, warp, lane, first);  // dW_0 = δ_0ᵀ·enc
#endif
#if MODEL == 2
                // ∂L/∂features = δ_0·W_0 (fp32 sums of the stored δ_0 with W_0 from small), added into
                // the table's gradient at each sample's 4 corners per level (padding skipped).
                for (int i = threadIdx.x; i < TILE * LEVELS; i += blockDim.x) {
                    const int s = i / LEVELS, l = i % LEVELS;
                    if (sample[8 * s + 2] < 0.0f) continue;
                    float gf[FEATURES];
#pragma unroll
                    for (int k = 0; k < FEATURES; ++k) gf[k] = 0.0f;
                    for (int n = 0; n < WIDTH; ++n) {
                        const float dn = mt_to_f32(dbuf[SWZ(s, n, WIDTH)]);
#pragma unroll
                        for (int k = 0; k < FEATURES; ++k) {
                            gf[k] = fmaf(dn, small[SM_W0 + n * IN_DIM + l * FEATURES + k], gf[k]);
                        }
                    }
                    hash_level_backward(enc_grad, scales, l, sample[8 * s], sample[8 * s + 1], gf);
                }
#endif
                break;
            }
            weight_gradient(partial + HID_W(m - 1), dbuf, act + (m - 1) * TILE * WIDTH, WIDTH, warp, lane, first);
            delta_times_w(da, dbuf, wbuf, R0, col0, lane);  // dA_{m−1} = δ_m·W_{m−1}
        }
        __syncthreads();  // the tile's buffers are free for the next one
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float s = 0.0f;
        for (int i = 0; i < TILE; ++i) s += loss[i];
        loss_partials[blockIdx.x] = s;
    }
}
