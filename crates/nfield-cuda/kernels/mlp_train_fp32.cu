// nfield CUDA kernels: the fp32 training step of SIREN and the Fourier MLP (frozen B), on the
// SIMT cores (FFMA): fp32 activations, weights, products and sums everywhere. Same kernel name,
// parameters, partials contract and sampling as mlp_train_wide.cu, so adam.cu and the engine use
// it unchanged.
// (TrainTarget, sampling, swz, the gradient tiles and PARTIAL_STRIDE: train_common.cuh.)
//
// Contract (shared with mlp_train.cu, mlp_train_wide.cu):
//   mlp_train_step(params, target, step_counter, seed, batch, partials, loss_partials, scales,
//   enc_grad, table16), a
//   persistent grid; block b takes tiles b, b + gridDim.x, ... of TILE samples (sample i of the
//   batch is pixel train_pixel(seed, step, i); indices ≥ batch are padding, colour −1: no loss,
//   no gradient). partials: (gridDim.x, PARTIAL_STRIDE) f32, each block's own fp32 sum of every
//   MLP parameter's gradient over its samples, without the 2/(3B) factor (the first tile of a
//   block stores, later tiles add). loss_partials: (gridDim.x) f32, Σ squared error. No float
//   atomics: deterministic for a given grid.
//
// Shape: THREADS = 32·TRAIN_WARPS threads. Every layer's product is a TILE × WIDTH matrix of
// 4 × 4 register blocks ("units", 4 samples × 4 columns, TILE·WIDTH/16 of them); thread i owns
// units i, i + THREADS, ... (UNITS = TILE·WIDTH / (16·THREADS) of them, exact), unit u at sample
// rows 4·(u / (WIDTH/4)) and columns 4·(u % (WIDTH/4)). The same thread owns the same units in
// every layer, forward and backward. Products: acc[s][n] += Σ_k A[s][k]·wbuf[k][n], k ascending
// (fixed order: bit-reproducible).
//
// Shared memory (fp32 throughout; sizes in kernels.rs train_fp32_smem): wbuf [WCHUNK][WIDTH]:
// WCHUNK reduction rows of one layer's weights (forward: wbuf[kk][n] = W[n][k0 + kk]; backward
// dA: wbuf[nn][k] = W[n0 + nn][k]), refilled chunk by chunk with block barriers around each
// refill; act [N_ACT][TILE][LDA]: per hidden layer m the Fourier MLP's activation a_m, SIREN's
// pre-activation z_m (m ≥ 1; z_0 is recomputed from (x, y) in double); δ_m written over it in
// the backward; scratch [TILE][LDA] (SIREN): the activation a_m = sin(ω z_m) currently needed
// (forward: the next layer's input; backward: a_{m−1} for dW_m), recomputed from z_m with the
// same instructions as the forward (identical values); enc [TILE][ENC_LD] (Fourier features);
// sample [TILE][8] (x, y, r, g, b, dy0..2); loss [TILE]; small [SMALL_LEN] (the output layer,
// SIREN's layer 0). Row strides LDA = WIDTH + 4 and ENC_LD = IN_DIM + 4 (float4-aligned, rows
// of a unit's 4 samples in different banks).
//
// SIREN's derivatives ω·cos(ω z_m) are recomputed in the backward from the stored fp32 z_m (no
// second product); the first layer exactly as mlp_train_wide.cu (double-precision argument).
//
// Per tile: A. sampling; B. forward, layer by layer; outputs by one warp per sample (lanes over
// columns, a fixed shuffle tree), loss and dy. C. output-layer sums; dA_N = W_outᵀ·dy in
// registers; m = N_HIDDEN .. 0: δ_m = dA_m ⊙ der_m (own units) over act_m; per-column sums over
// the tile's samples in order (bias, SIREN's W0); dW_m = δ_mᵀ·a_{m−1} (4 × 4 blocks over the
// threads, samples ascending); dA_{m−1} = δ_m·W_{m−1}.
//
// Defines: those of encoding.cuh (MODEL 0 or 1), OMEGA0, OMEGA, OUT_LINEAR, TRAIN_WARPS, TILE,
// WCHUNK, FAST_SINCOS (0: the precise sin/cos), HALF_BF16 (unused).

#define THREADS (32 * TRAIN_WARPS)
#define CB (WIDTH / 4)                              // column blocks of a product
#define UNITS (TILE * WIDTH / (16 * THREADS))       // 4 × 4 units per thread
#define LDA (WIDTH + 4)
#define ENC_LD (IN_DIM + 4)

static_assert(MODEL == 0 || MODEL == 1, "SIREN or the Fourier MLP");
static_assert(WIDTH % 4 == 0 && TILE % 4 == 0, "widths and tiles of 4");
static_assert(UNITS >= 1 && UNITS * 16 * THREADS == TILE * WIDTH, "the units fill the threads exactly");
static_assert(WCHUNK % 4 == 0 && WIDTH % WCHUNK == 0, "weight chunks of 4 dividing the width");
#if MODEL == 1
static_assert(IN_DIM % WCHUNK == 0, "weight chunks dividing the encoding width");
#endif

#define SM_OUT_W 0
#define SM_OUT_B (3 * WIDTH)
#define SM_W0 (3 * WIDTH + 4)
#define SM_B0 (SM_W0 + 2 * WIDTH)
#define SMALL_LEN (MODEL == 0 ? 6 * WIDTH + 4 : 3 * WIDTH + 4)

// Unit uu of this thread: first sample row and first column.
DEV int unit_row(int uu) { return 4 * (((int)threadIdx.x + THREADS * uu) / CB); }
DEV int unit_col(int uu) { return 4 * (((int)threadIdx.x + THREADS * uu) % CB); }

// wbuf[kk][n] = W[n][k0 + kk] for kk < WCHUNK (W row-major, k_len columns): a forward chunk.
DEV void fill_forward(float* wbuf, const float* __restrict__ w, int k_len, int k0) {
    for (int i = threadIdx.x; i < WCHUNK * WIDTH; i += THREADS) {
        const int n = i / WCHUNK, kk = i % WCHUNK;
        wbuf[kk * WIDTH + n] = __ldg(w + (size_t)n * k_len + k0 + kk);
    }
}

// wbuf[nn][k] = W[n0 + nn][k] for nn < WCHUNK (W is WIDTH × WIDTH): a chunk of dA = δ·W.
DEV void fill_backward(float* wbuf, const float* __restrict__ w, int n0) {
    for (int i = threadIdx.x; i < WCHUNK * WIDTH; i += THREADS) wbuf[i] = __ldg(w + (size_t)n0 * WIDTH + i);
}

// acc[uu][4i + j] += Σ_{kk < WCHUNK} A[row + i][a0 + kk]·wbuf[kk][col + j], kk ascending.
DEV void mm_chunk(float (*acc)[16], const float* a, int lda, int a0, const float* wbuf) {
#pragma unroll
    for (int uu = 0; uu < UNITS; ++uu) {
        const int row = unit_row(uu), col = unit_col(uu);
        const float* ar = a + row * lda + a0;
#pragma unroll 2
        for (int kk = 0; kk < WCHUNK; kk += 4) {
            float4 av[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) av[i] = *(const float4*)(ar + i * lda + kk);
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const float4 wv = *(const float4*)(wbuf + (kk + q) * WIDTH + col);
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const float x = q == 0 ? av[i].x : q == 1 ? av[i].y : q == 2 ? av[i].z : av[i].w;
                    acc[uu][4 * i + 0] = fmaf(x, wv.x, acc[uu][4 * i + 0]);
                    acc[uu][4 * i + 1] = fmaf(x, wv.y, acc[uu][4 * i + 1]);
                    acc[uu][4 * i + 2] = fmaf(x, wv.z, acc[uu][4 * i + 2]);
                    acc[uu][4 * i + 3] = fmaf(x, wv.w, acc[uu][4 * i + 3]);
                }
            }
        }
    }
}

DEV void zero_acc(float (*acc)[16]) {
#pragma unroll
    for (int uu = 0; uu < UNITS; ++uu) {
#pragma unroll
        for (int e = 0; e < 16; ++e) acc[uu][e] = 0.0f;
    }
}

// acc = A·Wᵀ over the whole layer (A: TILE × k_len, W: WIDTH × k_len row-major), chunk by chunk.
// Starts with a block barrier (A complete, wbuf free); ends after the last chunk's products
// (wbuf still in use by other threads).
DEV void forward_product(float (*acc)[16], const float* a, int lda, const float* __restrict__ w, int k_len,
                         float* wbuf) {
    zero_acc(acc);
    for (int k0 = 0; k0 < k_len; k0 += WCHUNK) {
        __syncthreads();
        fill_forward(wbuf, w, k_len, k0);
        __syncthreads();
        mm_chunk(acc, a, lda, k0, wbuf);
    }
}

// acc = δ·W (δ: TILE × WIDTH at d, W: WIDTH × WIDTH, reduction over W's rows), chunk by chunk.
DEV void backward_product(float (*acc)[16], const float* d, const float* __restrict__ w, float* wbuf) {
    zero_acc(acc);
    for (int n0 = 0; n0 < WIDTH; n0 += WCHUNK) {
        __syncthreads();
        fill_backward(wbuf, w, n0);
        __syncthreads();
        mm_chunk(acc, d, LDA, n0, wbuf);
    }
}

// dst (WIDTH × k_len, row-major; the block's partial) (+)= Σ_s δ[s][n]·A[s][k] over the tile,
// samples ascending; 4 × 4 blocks of (n, k) over the threads.
DEV void weight_gradient(float* dst, const float* d, const float* a, int lda, int k_len, bool first) {
    const int kb = k_len / 4;
    for (int u = threadIdx.x; u < CB * kb; u += THREADS) {
        const int n = 4 * (u / kb), k = 4 * (u % kb);
        float acc[16];
#pragma unroll
        for (int e = 0; e < 16; ++e) acc[e] = 0.0f;
        for (int s = 0; s < TILE; ++s) {
            const float4 dv = *(const float4*)(d + s * LDA + n);
            const float4 av = *(const float4*)(a + s * lda + k);
            const float dd[4] = {dv.x, dv.y, dv.z, dv.w};
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                acc[4 * i + 0] = fmaf(dd[i], av.x, acc[4 * i + 0]);
                acc[4 * i + 1] = fmaf(dd[i], av.y, acc[4 * i + 1]);
                acc[4 * i + 2] = fmaf(dd[i], av.z, acc[4 * i + 2]);
                acc[4 * i + 3] = fmaf(dd[i], av.w, acc[4 * i + 3]);
            }
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                float* p = dst + (size_t)(n + i) * k_len + k + j;
                *p = first ? acc[4 * i + j] : *p + acc[4 * i + j];
            }
        }
    }
}

#if MODEL == 0
// SIREN's layer 0 at column c: sin(ω0 z) and ω0·cos(ω0 z), z = b + w·(x, y) formed in double
// (common.cuh's siren_first_sincos without FAST_SINCOS).
DEV void siren_first(const float* small, int c, float x, float y, float* s, float* d) {
    siren_first_sincos(small[SM_W0 + 2 * c], small[SM_W0 + 2 * c + 1], small[SM_B0 + c], x, y, OMEGA0, s, d);
}

// scratch[s][c] = a_m for every sample and column: sin(ω z_m) from act_m (m ≥ 1), or layer 0
// from (x, y). The same instructions as the forward: identical values.
DEV void siren_activation(float* scratch, const float* act, const float* small, const float* sample, int m) {
    for (int i = threadIdx.x; i < TILE * WIDTH; i += THREADS) {
        const int s = i / WIDTH, c = i % WIDTH;
        float a, d;
        if (m == 0) {
            siren_first(small, c, sample[8 * s], sample[8 * s + 1], &a, &d);
        } else {
            sin_cos(OMEGA * act[(m * TILE + s) * LDA + c], &a, &d);
        }
        scratch[s * LDA + c] = a;
    }
}
#endif

// Where the bias of hidden activation m sits in the parameters.
DEV int bias_of(int m) { return m == 0 ? L0_B : HID_B(m - 1); }

extern "C" __global__ void __launch_bounds__(32 * TRAIN_WARPS, 1)
    mlp_train_step(const float* __restrict__ params, TrainTarget target, const u64* __restrict__ step_counter,
                   u64 seed, u32 batch, float* __restrict__ partials, float* __restrict__ loss_partials,
                   const float* __restrict__ scales, float* __restrict__ enc_grad,
                   const u16* __restrict__ table16) {
    extern __shared__ __align__(16) float smem_f[];
    float* const wbuf = smem_f;
    float* const act = wbuf + WCHUNK * WIDTH;
#if MODEL == 0
    float* const scratch = act + N_ACT * TILE * LDA;
    float* const sample = scratch + TILE * LDA;
#else
    float* const enc = act + N_ACT * TILE * LDA;
    float* const sample = enc + TILE * ENC_LD;
#endif
    float* const loss = sample + TILE * 8;
    float* const small = loss + TILE;
    check_smem_layout(small + SMALL_LEN, smem_f);

    const u64 step = *step_counter;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float* const partial = partials + (size_t)blockIdx.x * PARTIAL_STRIDE;
    for (int i = threadIdx.x; i < TILE; i += THREADS) loss[i] = 0.0f;  // Σ squared error of slot i
    for (int i = threadIdx.x; i < 3 * WIDTH + 3; i += THREADS) small[SM_OUT_W + i] = params[OUT_W + i];
#if MODEL == 0
    for (int i = threadIdx.x; i < 3 * WIDTH; i += THREADS) small[SM_W0 + i] = params[L0_W + i];  // W0, b0
#endif

    for (u32 tile = blockIdx.x; tile * TILE < batch; tile += gridDim.x) {
        const bool first = tile == blockIdx.x;
        // ---- A. sampling, one thread per sample
        for (int i = threadIdx.x; i < TILE; i += THREADS) {
            load_sample(sample + 8 * i, target, seed, step, tile * TILE + i, batch);
        }
        __syncthreads();

        // ---- B. forward
        float acc[UNITS][16];
#if MODEL == 0
        siren_activation(scratch, act, small, sample, 0);  // a_0, the first product's input
#else
        {
            const float* B = params + ENC_OFFSET;
            for (int i = threadIdx.x; i < TILE * IN_DIM; i += THREADS) {
                const int s = i / IN_DIM, c = i % IN_DIM;
                enc[s * ENC_LD + c] = fourier_feature(B, sample[8 * s], sample[8 * s + 1], c);
            }
        }
#endif
        for (int k = MODEL == 0 ? 1 : 0; k <= N_HIDDEN; ++k) {
#if MODEL == 0
            forward_product(acc, scratch, LDA, params + HID_W(k - 1), WIDTH, wbuf);
            __syncthreads();  // every thread is done reading scratch (a_{k−1})
#else
            if (k == 0) {
                forward_product(acc, enc, ENC_LD, params + L0_W, IN_DIM, wbuf);
            } else {
                forward_product(acc, act + (k - 1) * TILE * LDA, LDA, params + HID_W(k - 1), WIDTH, wbuf);
            }
#endif
#pragma unroll
            for (int uu = 0; uu < UNITS; ++uu) {
                const int row = unit_row(uu), col = unit_col(uu);
                float b[4];
#pragma unroll
                for (int j = 0; j < 4; ++j) b[j] = __ldg(params + bias_of(k) + col + j);
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    float z[4], a[4];
#pragma unroll
                    for (int j = 0; j < 4; ++j) {
                        z[j] = acc[uu][4 * i + j] + b[j];
#if MODEL == 0
                        float unused;
                        sin_cos(OMEGA * z[j], &a[j], &unused);
#else
                        a[j] = fmaxf(z[j], 0.0f);
#endif
                    }
                    const int at = (k * TILE + row + i) * LDA + col;
#if MODEL == 0
                    *(float4*)(act + at) = make_float4(z[0], z[1], z[2], z[3]);
                    *(float4*)(scratch + (row + i) * LDA + col) = make_float4(a[0], a[1], a[2], a[3]);
#else
                    *(float4*)(act + at) = make_float4(a[0], a[1], a[2], a[3]);
#endif
                }
            }
        }
        __syncthreads();  // a_N complete
#if MODEL == 0
        const float* const a_top = scratch;
#else
        const float* const a_top = act + N_HIDDEN * TILE * LDA;
#endif
        // The 3 outputs, loss and dy: one warp per sample, lanes over columns, a fixed tree.
        for (int s = warp; s < TILE; s += TRAIN_WARPS) {
            float o[3] = {0.0f, 0.0f, 0.0f};
            for (int c = lane; c < WIDTH; c += 32) {
                const float a = a_top[s * LDA + c];
#pragma unroll
                for (int k = 0; k < 3; ++k) o[k] = fmaf(small[SM_OUT_W + k * WIDTH + c], a, o[k]);
            }
#pragma unroll
            for (int k = 0; k < 3; ++k) {
#pragma unroll
                for (int off = 16; off > 0; off >>= 1) o[k] += __shfl_xor_sync(0xffffffffu, o[k], off);
            }
            if (lane == 0) {
                float* smp = sample + 8 * s;
                float sq = 0.0f;
#pragma unroll
                for (int k = 0; k < 3; ++k) {
                    const float diff = out_error(o[k] + small[SM_OUT_B + k], smp[2 + k], smp[2] >= 0.0f, &smp[5 + k]);
                    sq += diff * diff;
                }
                loss[s] += sq;
            }
        }
        __syncthreads();  // dy complete

        // ---- C. backward. The output layer's sums over the tile's samples, in order.
        for (int i = threadIdx.x; i < 3 * WIDTH + 3; i += THREADS) {
            float g = 0.0f;
            if (i < 3 * WIDTH) {
                const int k = i / WIDTH, c = i % WIDTH;
                for (int s = 0; s < TILE; ++s) g = fmaf(sample[8 * s + 5 + k], a_top[s * LDA + c], g);
                partial[OUT_W + i] = first ? g : partial[OUT_W + i] + g;
            } else {
                for (int s = 0; s < TILE; ++s) g += sample[8 * s + 5 + (i - 3 * WIDTH)];
                partial[OUT_W + i] = first ? g : partial[OUT_W + i] + g;  // OUT_B = OUT_W + 3·WIDTH
            }
        }
        __syncthreads();  // (Fourier) a_N read: δ_N goes over it
        // dA_N = W_outᵀ·dy for the own units.
#pragma unroll
        for (int uu = 0; uu < UNITS; ++uu) {
            const int row = unit_row(uu), col = unit_col(uu);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const float* dy = sample + 8 * (row + i) + 5;
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const int c = col + j;
                    acc[uu][4 * i + j] = small[SM_OUT_W + c] * dy[0] + small[SM_OUT_W + WIDTH + c] * dy[1] +
                                         small[SM_OUT_W + 2 * WIDTH + c] * dy[2];
                }
            }
        }
        for (int m = N_HIDDEN; m >= 0; --m) {
            float* const dbuf = act + m * TILE * LDA;
            // δ_m = dA_m ⊙ der_m over act_m (own units: read, then written by the same thread).
#pragma unroll
            for (int uu = 0; uu < UNITS; ++uu) {
                const int row = unit_row(uu), col = unit_col(uu);
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    float* p = dbuf + (row + i) * LDA + col;
                    float der[4];
#if MODEL == 0
                    if (m == 0) {
                        const float x = sample[8 * (row + i)], y = sample[8 * (row + i) + 1];
#pragma unroll
                        for (int j = 0; j < 4; ++j) {
                            float unused;
                            siren_first(small, col + j, x, y, &unused, &der[j]);
                        }
                    } else {
                        const float4 zv = *(const float4*)p;
                        const float z[4] = {zv.x, zv.y, zv.z, zv.w};
#pragma unroll
                        for (int j = 0; j < 4; ++j) {
                            float s, co;
                            sin_cos(OMEGA * z[j], &s, &co);
                            der[j] = OMEGA * co;
                        }
                    }
#else
                    const float4 av = *(const float4*)p;
                    der[0] = av.x > 0.0f ? 1.0f : 0.0f;
                    der[1] = av.y > 0.0f ? 1.0f : 0.0f;
                    der[2] = av.z > 0.0f ? 1.0f : 0.0f;
                    der[3] = av.w > 0.0f ? 1.0f : 0.0f;
#endif
#pragma unroll
                    for (int j = 0; j < 4; ++j) acc[uu][4 * i + j] *= der[j];
                    *(float4*)p = make_float4(acc[uu][4 * i], acc[uu][4 * i + 1], acc[uu][4 * i + 2], acc[uu][4 * i + 3]);
                }
            }
            __syncthreads();  // δ_m complete; every reader of scratch (a_m) is done
            // Per-column sums over the samples, in order: the bias (and SIREN's W0).
            for (int c = threadIdx.x; c < WIDTH; c += THREADS) {
                float gb = 0.0f;
#if MODEL == 0
                float gx = 0.0f, gy = 0.0f;
#endif
                for (int s = 0; s < TILE; ++s) {
                    const float dl = dbuf[s * LDA + c];
                    gb += dl;
#if MODEL == 0
                    if (m == 0) {
                        gx = fmaf(dl, sample[8 * s], gx);
                        gy = fmaf(dl, sample[8 * s + 1], gy);
                    }
#endif
                }
                float* pb = partial + bias_of(m) + c;
                *pb = first ? gb : *pb + gb;
#if MODEL == 0
                if (m == 0) {
                    float* pw = partial + L0_W + 2 * c;
                    pw[0] = first ? gx : pw[0] + gx;
                    pw[1] = first ? gy : pw[1] + gy;
                }
#endif
            }
            if (m == 0) {
#if MODEL == 1
                weight_gradient(partial + L0_W, dbuf, enc, ENC_LD, IN_DIM, first);  // dW_0 = δ_0ᵀ·enc
#endif
                break;
            }
#if MODEL == 0
            siren_activation(scratch, act, small, sample, m - 1);  // a_{m−1}
            __syncthreads();
            weight_gradient(partial + HID_W(m - 1), dbuf, scratch, LDA, WIDTH, first);
#else
            weight_gradient(partial + HID_W(m - 1), dbuf, act + (m - 1) * TILE * LDA, LDA, WIDTH, first);
#endif
            backward_product(acc, dbuf, params + HID_W(m - 1), wbuf);  // dA_{m−1} = δ_m·W_{m−1}
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
