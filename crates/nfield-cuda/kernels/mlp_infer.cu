// nfield CUDA kernels: inference of every model, in the seed's two strategies.
//
//   mlp_infer_per_pixel  one thread per sample, the whole MLP in registers (fp32 FFMA), the
//                        MLP's weights in shared memory when SMEM_WEIGHTS (else read through L1)
//   mlp_infer_coop       one warp per 16 samples: the hidden layers run on the tensor cores
//                        (mma.sync m16n8k16, bf16 or fp16 operands, fp32 accumulation); each
//                        layer's accumulator fragments become the next layer's A fragments in
//                        registers, so activations never touch memory; weights in shared memory
//                        (B fragments by ldmatrix), accumulators start at the bias; a warp
//                        carries TPW tiles together
//
// params: the model's parameters (f32, nfield layout, see encoding.cuh); scales: LEVELS level
// scales (hash grid) or null; q: the grid (when points is null); points: (n, 2) f32 or null;
// out: (n, 3) f32 RGB, black outside the image. Both kernels loop over samples with a
// persistent grid, so weights are staged once per block.
//
// Defines: those of encoding.cuh, plus OMEGA0, OMEGA (SIREN), OUT_LINEAR, FAST_SINCOS,
// SMEM_WEIGHTS and PP_UNROLL (per-pixel), HALF_BF16, COOP_WARPS and TPW (cooperative: tiles of
// 16 samples a warp carries through the layers together).

#if MODEL == 0
// SIREN's first layer: sin(ω0 (w0 x + w1 y + b)) (common.cuh's siren_first_sincos: the argument
// in double for the per-pixel fp32 kernel, in fp32 on the special-function unit for the
// cooperative one).
DEV float siren_first(float w0, float w1, float b, float x, float y) {
    float s, d;
    siren_first_sincos(w0, w1, b, x, y, OMEGA0, &s, &d);
    return s;
}
#endif

DEV float hidden_act(float z) {
#if MODEL == 0
    return sin_only(OMEGA * z);
#else
    return fmaxf(z, 0.0f);
#endif
}


#if !defined(COOP_WARPS)
// Per-pixel: the accumulators of a layer's outputs stay in registers (loops over outputs unroll
// by PP_UNROLL: fully up to width 64); the layer input is read one value at a time, so the loop
// over inputs stays a loop and NVRTC compiles in seconds. With SMEM_WEIGHTS the weights are
// staged transposed (input-major), so the weights of one input are contiguous.
#if SMEM_WEIGHTS
#define WT(off, n_in, i, o) W[(off) + (i) * WIDTH + (o)]
#else
#define WT(off, n_in, i, o) W[(off) + (o) * (n_in) + (i)]
#endif

extern "C" __global__ void mlp_infer_per_pixel(const float* __restrict__ params, const float* __restrict__ scales,
                                               GridQuery q, const float* __restrict__ points, u32 n,
                                               float* __restrict__ out) {
#if SMEM_WEIGHTS
    extern __shared__ float w_smem[];
    for (u32 i = threadIdx.x; i < MLP_PARAMS; i += blockDim.x) {
        // Transpose W0 and every hidden W (out × in → in × out); biases and the output layer as is.
        u32 dst = i;
        if (i < L0_B) {
            dst = L0_W + (i % IN_DIM) * WIDTH + i / IN_DIM;
        } else if (i >= HID_W(0) && i < OUT_W) {
            const u32 k = (i - HID_W(0)) / (WIDTH * WIDTH + WIDTH), r = (i - HID_W(0)) % (WIDTH * WIDTH + WIDTH);
            if (r < WIDTH * WIDTH) dst = HID_W(k) + (r % WIDTH) * WIDTH + r / WIDTH;
        }
        w_smem[dst] = params[i];
    }
    __syncthreads();
    const float* W = w_smem;
#else
    const float* W = params;
#endif
    for (u32 p = blockIdx.x * blockDim.x + threadIdx.x; p < n; p += gridDim.x * blockDim.x) {
        float x, y;
        const bool inside = query_position(q, points, p, &x, &y);
        float a[WIDTH];
#if MODEL == 0
#pragma unroll PP_UNROLL
        for (int o = 0; o < WIDTH; ++o) a[o] = siren_first(WT(L0_W, 2, 0, o), WT(L0_W, 2, 1, o), W[L0_B + o], x, y);
#else
        float acc0[WIDTH];
#pragma unroll PP_UNROLL
        for (int o = 0; o < WIDTH; ++o) acc0[o] = W[L0_B + o];
#if MODEL == 1
        const float* B = params + ENC_OFFSET;
#pragma unroll 1
        for (int j = 0; j < FREQS; ++j) {
            float sv, cv;
            fourier_pair(B, x, y, j, &sv, &cv);
#pragma unroll PP_UNROLL
            for (int o = 0; o < WIDTH; ++o)
                acc0[o] = fmaf(WT(L0_W, IN_DIM, j, o), sv, fmaf(WT(L0_W, IN_DIM, FREQS + j, o), cv, acc0[o]));
        }
#else
        const float* table = params + ENC_OFFSET;
#pragma unroll 1
        for (int l = 0; l < LEVELS; ++l) {
            float f[FEATURES];
            hash_level(table, scales, l, x, y, f);
#pragma unroll
            for (int k = 0; k < FEATURES; ++k) {
#pragma unroll PP_UNROLL
                for (int o = 0; o < WIDTH; ++o) acc0[o] = fmaf(WT(L0_W, IN_DIM, l * FEATURES + k, o), f[k], acc0[o]);
            }
        }
#endif
#pragma unroll PP_UNROLL
        for (int o = 0; o < WIDTH; ++o) a[o] = fmaxf(acc0[o], 0.0f);
#endif
#pragma unroll 1
        for (int k = 0; k < N_HIDDEN; ++k) {
            float acc[WIDTH];
#pragma unroll PP_UNROLL
            for (int o = 0; o < WIDTH; ++o) acc[o] = W[HID_B(k) + o];
#pragma unroll 2
            for (int i = 0; i < WIDTH; ++i) {
                const float ai = a[i];
#pragma unroll PP_UNROLL
                for (int o = 0; o < WIDTH; ++o) acc[o] = fmaf(WT(HID_W(k), WIDTH, i, o), ai, acc[o]);
            }
#pragma unroll PP_UNROLL
            for (int o = 0; o < WIDTH; ++o) a[o] = hidden_act(acc[o]);
        }
#pragma unroll
        for (int c = 0; c < 3; ++c) {
            float acc = W[OUT_B + c];
#pragma unroll 4
            for (int i = 0; i < WIDTH; ++i) acc = fmaf(W[OUT_W + c * WIDTH + i], a[i], acc);
            out[3 * (size_t)p + c] = inside ? out_act(acc) : 0.0f;
        }
    }
}

#else
// ---------------------------------------------------------------- cooperative (tensor cores)
#define KT (WIDTH / 16)      // k-tiles of a hidden layer
#define NT (WIDTH / 8)       // n-tiles of a hidden layer
#define LDW (WIDTH + 8)      // padded row of a 16-bit weight matrix: conflict-free fragment loads
#define IN_KT (IN_DIM / 16)  // k-tiles of layer 0 (Fourier, hash grid)
#define LDW0 (IN_DIM + 8)

// Activation of the fragment values `v` (C layout) and their packing into A fragments.
DEV void to_fragments(float (*v)[4], u32 (*a)[4]) {
#pragma unroll
    for (int kt = 0; kt < KT; ++kt) {
        a[kt][0] = PACK2(v[2 * kt][0], v[2 * kt][1]);
        a[kt][1] = PACK2(v[2 * kt][2], v[2 * kt][3]);
        a[kt][2] = PACK2(v[2 * kt + 1][0], v[2 * kt + 1][1]);
        a[kt][3] = PACK2(v[2 * kt + 1][2], v[2 * kt + 1][3]);
    }
}

// Layer 0 of the 16-sample tile whose lane rows are (x0, y0) and (x1, y1): the hidden
// activation a_0 in C layout (v[j][e]: row g (e < 2) or g + 8, column 8j + 2t + (e & 1)).
// SIREN: sin(ω0 (w·(x, y) + b)) in fp32 on the special-function unit (siren_first); Fourier and
// hash grid:
// the encoding straight into A fragments, then its product with W_0 on the tensor cores.
DEV void coop_first_layer(const float* __restrict__ params, const float* __restrict__ scales, const u16* w0, float x0,
                          float y0, float x1, float y1, int g, int t, float (*v)[4]) {
#if MODEL == 0
#pragma unroll
    for (int j = 0; j < NT; ++j) {
        const int c = 8 * j + 2 * t;
#pragma unroll
        for (int e = 0; e < 2; ++e) {
            const float w0v = params[L0_W + 2 * (c + e)], w1v = params[L0_W + 2 * (c + e) + 1];
            const float b = params[L0_B + c + e];
            v[j][e] = siren_first(w0v, w1v, b, x0, y0);
            v[j][e + 2] = siren_first(w0v, w1v, b, x1, y1);
        }
    }
#else
    // This lane owns rows g, g+8 and columns 16kt + 2t + {0,1, 8,9} of the encoding.
    u32 e[IN_KT][4];
#pragma unroll
    for (int kt = 0; kt < IN_KT; ++kt) {
        float f[2][4];
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int c = 16 * kt + 8 * half + 2 * t;
#if MODEL == 1
            const float* B = params + ENC_OFFSET;
            f[half][0] = fourier_feature(B, x0, y0, c);
            f[half][1] = fourier_feature(B, x0, y0, c + 1);
            f[half][2] = fourier_feature(B, x1, y1, c);
            f[half][3] = fourier_feature(B, x1, y1, c + 1);
#else
            // Columns c and c+1 (c even) share a level when FEATURES ≥ 2.
            const float* table = params + ENC_OFFSET;
            float h0[FEATURES], h1[FEATURES];
            hash_level(table, scales, c / FEATURES, x0, y0, h0);
            hash_level(table, scales, c / FEATURES, x1, y1, h1);
            f[half][0] = h0[c % FEATURES];
            f[half][2] = h1[c % FEATURES];
            if (FEATURES == 1) {
                hash_level(table, scales, c + 1, x0, y0, h0);
                hash_level(table, scales, c + 1, x1, y1, h1);
            }
            f[half][1] = h0[(c + 1) % FEATURES];
            f[half][3] = h1[(c + 1) % FEATURES];
#endif
        }
        e[kt][0] = PACK2(f[0][0], f[0][1]);
        e[kt][1] = PACK2(f[0][2], f[0][3]);
        e[kt][2] = PACK2(f[1][0], f[1][1]);
        e[kt][3] = PACK2(f[1][2], f[1][3]);
    }
#pragma unroll
    for (int j = 0; j < NT; ++j) {
        v[j][0] = v[j][1] = v[j][2] = v[j][3] = 0.0f;
        const u16* row = w0 + (8 * j + g) * LDW0 + 2 * t;
#pragma unroll
        for (int kt = 0; kt < IN_KT; ++kt) {
            mma16816(v[j], e[kt], *(const u32*)(row + 16 * kt), *(const u32*)(row + 16 * kt + 8));
        }
        const float b0 = params[L0_B + 8 * j + 2 * t], b1 = params[L0_B + 8 * j + 2 * t + 1];
        v[j][0] = fmaxf(v[j][0] + b0, 0.f);
        v[j][1] = fmaxf(v[j][1] + b1, 0.f);
        v[j][2] = fmaxf(v[j][2] + b0, 0.f);
        v[j][3] = fmaxf(v[j][3] + b1, 0.f);
    }
#endif
}

// The output layer in fp32 for one tile (v: a_N in C layout): each lane's partial dot products
// over its columns, summed over the 4 lanes of its quad; lane t = 0 writes row p0, t = 1 row p1.
DEV void coop_outputs(const float* __restrict__ params, const float (*v)[4], u32 p0, u32 p1, bool in0, bool in1, u32 n,
                      int t, float* __restrict__ out) {
    float y[2][3];
#pragma unroll
    for (int c = 0; c < 3; ++c) {
        const float2 s = out_dot_c_layout(params, v, t, c);
        y[0][c] = out_act(s.x + params[OUT_B + c]);
        y[1][c] = out_act(s.y + params[OUT_B + c]);
    }
    if (t == 0 && p0 < n) {
#pragma unroll
        for (int c = 0; c < 3; ++c) out[3 * (size_t)p0 + c] = in0 ? y[0][c] : 0.0f;
    }
    if (t == 1 && p1 < n) {
#pragma unroll
        for (int c = 0; c < 3; ++c) out[3 * (size_t)p1 + c] = in1 ? y[1][c] : 0.0f;
    }
}

// A warp takes TPW tiles of 16 samples at once (tiles TPW·w .. TPW·w + TPW − 1 of its step):
// their hidden layers share every B fragment load and interleave independent mma and MUFU chains.
extern "C" __global__ void __launch_bounds__(32 * COOP_WARPS)
    mlp_infer_coop(const float* __restrict__ params, const float* __restrict__ scales, GridQuery q,
                   const float* __restrict__ points, u32 n, float* __restrict__ out) {
    extern __shared__ __align__(16) u16 w16[];  // [N_HIDDEN][WIDTH][LDW], then layer 0 [WIDTH][LDW0]
    for (u32 i = threadIdx.x; i < (u32)N_HIDDEN * WIDTH * WIDTH; i += blockDim.x) {
        const u32 k = i / (WIDTH * WIDTH), r = (i / WIDTH) % WIDTH, c = i % WIDTH;
        w16[(k * WIDTH + r) * LDW + c] = TO_HALF(params[HID_W(k) + r * WIDTH + c]);
    }
    u16* const w0 = w16 + N_HIDDEN * WIDTH * LDW;
#if MODEL != 0
    for (u32 i = threadIdx.x; i < (u32)WIDTH * IN_DIM; i += blockDim.x) {
        w0[(i / IN_DIM) * LDW0 + i % IN_DIM] = TO_HALF(params[L0_W + i]);
    }
#endif
    __syncthreads();

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int quad = lane / 8, r8 = lane % 8;
    for (u32 tile0 = (blockIdx.x * COOP_WARPS + warp) * TPW; tile0 * 16 < n; tile0 += gridDim.x * COOP_WARPS * TPW) {
        u32 p0[TPW], p1[TPW];
        bool in0[TPW], in1[TPW];
        float v[TPW][NT][4];
#pragma unroll
        for (int u = 0; u < TPW; ++u) {
            p0[u] = (tile0 + u) * 16 + g;
            p1[u] = p0[u] + 8;
            float x0 = 0.f, y0 = 0.f, x1 = 0.f, y1 = 0.f;
            in0[u] = p0[u] < n && query_position(q, points, p0[u], &x0, &y0);
            in1[u] = p1[u] < n && query_position(q, points, p1[u], &x1, &y1);
            coop_first_layer(params, scales, w0, x0, y0, x1, y1, g, t, v[u]);
        }
        for (int k = 0; k < N_HIDDEN; ++k) {
            u32 a[TPW][KT][4];
#pragma unroll
            for (int u = 0; u < TPW; ++u) to_fragments(v[u], a[u]);
            const u16* wk = w16 + k * WIDTH * LDW;
#pragma unroll
            for (int j = 0; j < NT; j += 2) {
                // The accumulators start at the bias.
#pragma unroll
                for (int jj = 0; jj < 2; ++jj) {
                    const int c = HID_B(k) + 8 * (j + jj) + 2 * t;
                    const float b0 = params[c], b1 = params[c + 1];
#pragma unroll
                    for (int u = 0; u < TPW; ++u) {
                        v[u][j + jj][0] = v[u][j + jj][2] = b0;
                        v[u][j + jj][1] = v[u][j + jj][3] = b1;
                    }
                }
                // B fragments of n-tiles j, j + 1: rows 8j + r8 (+ 8 for lanes 16-31) of W_k,
                // columns 16 kt (+ 8 for lanes 8-15, 24-31) = (j, k lo), (j, k hi), (j+1, lo), (j+1, hi).
                const u16* rows = wk + (8 * j + r8 + 8 * (quad >> 1)) * LDW + 8 * (quad & 1);
#pragma unroll
                for (int kt = 0; kt < KT; ++kt) {
                    u32 b[4];
                    ldmatrix_x4(b, rows + 16 * kt);
#pragma unroll
                    for (int u = 0; u < TPW; ++u) {
                        mma16816(v[u][j], a[u][kt], b[0], b[1]);
                        mma16816(v[u][j + 1], a[u][kt], b[2], b[3]);
                    }
                }
#pragma unroll
                for (int u = 0; u < TPW; ++u) {
#pragma unroll
                    for (int jj = 0; jj < 2; ++jj) {
#pragma unroll
                        for (int e = 0; e < 4; ++e) v[u][j + jj][e] = hidden_act(v[u][j + jj][e]);
                    }
                }
            }
        }
#pragma unroll
        for (int u = 0; u < TPW; ++u) coop_outputs(params, v[u], p0[u], p1[u], in0[u], in1[u], n, t, out);
    }
}
#endif
