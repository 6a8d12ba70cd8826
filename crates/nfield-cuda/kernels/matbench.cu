// nfield CUDA kernels: matrix micro-benchmarks, the seed's matrix tests (SPEC §7) on CUDA.
// SIMT (fp32 FFMA) against warp-level tensor cores (mma.sync m16n8k16, fp16 in, fp32
// accumulation) on the same fp16 data. Host side: crates/nfield-cuda/src/matbench.rs.
//
// Contract. Every matrix is row-major and dense (leading dimension = its column count); 16-bit
// values are IEEE fp16 bit patterns (compile with HALF_BF16=0, so common.cuh's mma16816 is
// f16.f16.f32); every pointer is 16-byte aligned.
//
//   GEMM  C[M×N] (fp32) = A[M×K] (fp16) · B[K×N] (fp16)
//     gemm_simt(A, B, C, M, N, K): fp32 FFMA; fp16 becomes fp32 on its way into shared memory.
//       Block tile SB_M × SB_N × 8, (SB_M/8)·(SB_N/8) threads, each an 8×8 register block made
//       of four 4×4 quadrants half a tile apart (conflict-free float4 shared-memory reads),
//       shared memory double-buffered through registers.
//       Needs M % SB_M == 0, N % SB_N == 0, K % 8 == 0. Grid (N/SB_N, M/SB_M).
//     gemm_tensor(A, B, C, M, N, K): mma.sync m16n8k16. Block tile TB_M × TB_N × TB_K,
//       TW_M × TW_N warps (warp tile (TB_M/TW_M) × (TB_N/TW_N)), a TB_STAGES-deep cp.async
//       pipeline in dynamic shared memory of
//       TB_STAGES · (TB_M·(TB_K+8) + TB_K·(TB_N+8)) · 2 bytes (rows padded by 8 halves: ldmatrix
//       reads without bank conflicts). A fragments by ldmatrix, B fragments by ldmatrix.trans
//       from the K×N tile. Needs M % TB_M == 0, N % TB_N == 0, K % TB_K == 0.
//       Grid (N/TB_N, M/TB_M), block 32·TW_M·TW_N.
//
//   GEMV  y[rows] (fp16) = W[rows×cols] (fp16) · x[cols] (fp16), fp32 accumulation, y rounded
//         to nearest once at the end.
//     gemv_simt_r{1,2,3,4}(W, x, y, rows, cols): the seed's hierarchical SIMD GEMV: one warp per
//       R consecutive rows; each lane covers 8 consecutive columns (one 16-byte load) of every
//       256-column tile, FFMA into R fp32 sums, then a warp shuffle reduction; lane 0 writes.
//       Needs cols % 8 == 0 (any rows). Block 32·warps, grid ceil(rows / (R·warps)).
//     gemv_tensor(W, x, y, rows, cols): one block of GV_WARPS warps per 16 rows; the warps split
//       the 32-column chunks. In a chunk, lane (g = lane/4, t = lane%4) loads 16 bytes of rows
//       g and g+8 at columns 8t..8t+7 and x at the same columns: two mma.sync m16n8k16 per chunk
//       with A = the 16×32 slice of W (K permuted: logical k 2t+e and 2t+8+e are physical columns
//       8t+e and 8t+2+e of the first mma, +4 for the second, the same permutation for both
//       operands) and B = x in all 8 columns, so every column of C holds y. The warps' partial
//       sums meet in shared memory. Needs rows % 16 == 0, cols % 32 == 0. Block 32·GV_WARPS,
//       grid rows/16.
//
// Defines read: SB_M, SB_N, TB_M, TB_N, TB_K, TW_M, TW_N, TB_STAGES, GV_WARPS, HALF_BF16 (0).

#if HALF_BF16
#error "matbench.cu runs on fp16 data: compile it with HALF_BF16=0"
#endif

#ifndef SB_M
#define SB_M 128
#endif
#ifndef SB_N
#define SB_N 128
#endif
#ifndef TB_M
#define TB_M 128
#endif
#ifndef TB_N
#define TB_N 128
#endif
#ifndef TB_K
#define TB_K 32
#endif
#ifndef TW_M
#define TW_M 2
#endif
#ifndef TW_N
#define TW_N 4
#endif
#ifndef TB_STAGES
#define TB_STAGES 3
#endif
#ifndef GV_WARPS
#define GV_WARPS 8
#endif

// ---------------------------------------------------------------- helpers (mb_: this file's own)
// 16 bytes global → shared without a register round trip (sm_80+), and its group fences.
DEV void mb_cp_async16(void* smem, const void* gmem) {
    const u32 s = (u32)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(gmem) : "memory");
}
DEV void mb_cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
DEV void mb_cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

// The two fp16 values of a 32-bit word as floats (low half first).
DEV void mb_unpack2(u32 v, float* f) {
    f[0] = f16_to_f32((u16)(v & 0xffffu));
    f[1] = f16_to_f32((u16)(v >> 16));
}
DEV void mb_unpack8(uint4 v, float* f) {
    mb_unpack2(v.x, f);
    mb_unpack2(v.y, f + 2);
    mb_unpack2(v.z, f + 4);
    mb_unpack2(v.w, f + 6);
}

// ---------------------------------------------------------------- GEMM, SIMT
#define SB_K 8
#define S_THREADS ((SB_M / 8) * (SB_N / 8))
#define SA_LD (SB_M + 4)  // A tile stored transposed, [k][m]; +4 spreads the transposing stores
#define A_CHUNKS (SB_M * SB_K / 4)  // 4 halves (8 bytes) per chunk
#define B_CHUNKS (SB_K * SB_N / 4)
#define A_PER ((A_CHUNKS + S_THREADS - 1) / S_THREADS)
#define B_PER ((B_CHUNKS + S_THREADS - 1) / S_THREADS)
static_assert(SB_M % 16 == 0 && SB_N % 16 == 0, "SIMT tiles are multiples of 16");

extern "C" __global__ void __launch_bounds__(S_THREADS)
    gemm_simt(const u16* __restrict__ A, const u16* __restrict__ B, float* __restrict__ C, int M, int N, int K) {
    __shared__ __align__(16) float As[2][SB_K][SA_LD];
    __shared__ __align__(16) float Bs[2][SB_K][SB_N];
    const int tid = threadIdx.x, tx = tid % (SB_N / 8), ty = tid / (SB_N / 8);
    const int m0 = blockIdx.y * SB_M, n0 = blockIdx.x * SB_N;
    uint2 ra[A_PER], rb[B_PER];
    // A chunk c: row c/2, k (c%2)·4; B chunk c: k row c/(SB_N/4), column (c%(SB_N/4))·4.
    auto load = [&](int k0) {
#pragma unroll
        for (int i = 0; i < A_PER; ++i) {
            const int c = tid + i * S_THREADS;
            if (c < A_CHUNKS) ra[i] = *(const uint2*)(A + (size_t)(m0 + c / 2) * K + k0 + (c % 2) * 4);
        }
#pragma unroll
        for (int i = 0; i < B_PER; ++i) {
            const int c = tid + i * S_THREADS;
            if (c < B_CHUNKS) {
                rb[i] = *(const uint2*)(B + (size_t)(k0 + c / (SB_N / 4)) * N + n0 + (c % (SB_N / 4)) * 4);
            }
        }
    };
    auto store = [&](int s) {
#pragma unroll
        for (int i = 0; i < A_PER; ++i) {
            const int c = tid + i * S_THREADS;
            if (c < A_CHUNKS) {
                float f[4];
                mb_unpack2(ra[i].x, f);
                mb_unpack2(ra[i].y, f + 2);
                const int row = c / 2, k = (c % 2) * 4;
#pragma unroll
                for (int j = 0; j < 4; ++j) As[s][k + j][row] = f[j];
            }
        }
#pragma unroll
        for (int i = 0; i < B_PER; ++i) {
            const int c = tid + i * S_THREADS;
            if (c < B_CHUNKS) {
                float f[4];
                mb_unpack2(rb[i].x, f);
                mb_unpack2(rb[i].y, f + 2);
                *(float4*)&Bs[s][c / (SB_N / 4)][(c % (SB_N / 4)) * 4] = make_float4(f[0], f[1], f[2], f[3]);
            }
        }
    };

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

    load(0);
    store(0);
    __syncthreads();
    for (int k0 = 0; k0 < K; k0 += SB_K) {
        const int s = (k0 / SB_K) & 1;
        const bool more = k0 + SB_K < K;
        if (more) load(k0 + SB_K);  // in flight during the math below
#pragma unroll
        for (int k = 0; k < SB_K; ++k) {
            float a[8], b[8];
            *(float4*)&a[0] = *(const float4*)&As[s][k][ty * 4];
            *(float4*)&a[4] = *(const float4*)&As[s][k][SB_M / 2 + ty * 4];
            *(float4*)&b[0] = *(const float4*)&Bs[s][k][tx * 4];
            *(float4*)&b[4] = *(const float4*)&Bs[s][k][SB_N / 2 + tx * 4];
#pragma unroll
            for (int i = 0; i < 8; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        if (more) store(s ^ 1);  // the other buffer was last read before the previous barrier
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int row = m0 + (i < 4 ? ty * 4 + i : SB_M / 2 + ty * 4 + i - 4);
        float* c = C + (size_t)row * N + n0;
        *(float4*)(c + tx * 4) = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
        *(float4*)(c + SB_N / 2 + tx * 4) = make_float4(acc[i][4], acc[i][5], acc[i][6], acc[i][7]);
    }
}

// ---------------------------------------------------------------- GEMM, tensor cores
#define T_THREADS (32 * TW_M * TW_N)
#define WT_M (TB_M / TW_M)  // warp tile
#define WT_N (TB_N / TW_N)
#define MT (WT_M / 16)  // m16 tiles per warp
#define NT (WT_N / 8)   // n8 tiles per warp
#define TA_LD (TB_K + 8)
#define TB_LD (TB_N + 8)
#define TA_STAGE (TB_M * TA_LD)
#define TB_STAGE (TB_K * TB_LD)
static_assert(WT_M % 16 == 0 && WT_N % 16 == 0 && TB_K % 16 == 0, "warp tiles are multiples of 16");
static_assert(TB_STAGES >= 2, "the pipeline needs two stages");

extern "C" __global__ void __launch_bounds__(T_THREADS)
    gemm_tensor(const u16* __restrict__ A, const u16* __restrict__ B, float* __restrict__ C, int M, int N, int K) {
    extern __shared__ __align__(16) u16 smem[];
    u16* As = smem;                           // [TB_STAGES][TB_M][TA_LD]
    u16* Bs = smem + TB_STAGES * TA_STAGE;    // [TB_STAGES][TB_K][TB_LD]
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int wm = warp / TW_N, wn = warp % TW_N;
    const int m0 = blockIdx.y * TB_M, n0 = blockIdx.x * TB_N;
    const u16* Ag = A + (size_t)m0 * K;
    const u16* Bg = B + n0;
    auto load = [&](int stage, int k0) {
        u16* as = As + stage * TA_STAGE;
        u16* bs = Bs + stage * TB_STAGE;
        for (int c = tid; c < TB_M * TB_K / 8; c += T_THREADS) {
            const int r = c / (TB_K / 8), col = (c % (TB_K / 8)) * 8;
            mb_cp_async16(as + r * TA_LD + col, Ag + (size_t)r * K + k0 + col);
        }
        for (int c = tid; c < TB_K * TB_N / 8; c += T_THREADS) {
            const int r = c / (TB_N / 8), col = (c % (TB_N / 8)) * 8;
            mb_cp_async16(bs + r * TB_LD + col, Bg + (size_t)(k0 + r) * N + col);
        }
    };

    float acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.f;

    const int KT = K / TB_K;
    // Prologue: stages 0..S-2 in flight, one commit group each (empty past the end of K).
#pragma unroll
    for (int s = 0; s < TB_STAGES - 1; ++s) {
        if (s < KT) load(s, s * TB_K);
        mb_cp_async_commit();
    }
    for (int kt = 0; kt < KT; ++kt) {
        // Groups committed so far: S-1+kt; tile kt is group kt, so S-2 may still be pending.
        mb_cp_async_wait<TB_STAGES - 2>();
        __syncthreads();  // tile kt visible to all; every warp is done with tile kt-1's stage
        const int next = kt + TB_STAGES - 1;
        if (next < KT) load(next % TB_STAGES, next * TB_K);  // into tile kt-1's stage
        mb_cp_async_commit();
        const u16* as = As + (kt % TB_STAGES) * TA_STAGE + (wm * WT_M) * TA_LD;
        const u16* bs = Bs + (kt % TB_STAGES) * TB_STAGE + wn * WT_N;
#pragma unroll
        for (int kk = 0; kk < TB_K; kk += 16) {
            // ldmatrix x4: lanes 0-15 address rows 0-15 of the first 8 columns, lanes 16-31 the
            // same rows 8 columns on: A → a0..a3 of an m16 tile; B (rows = k) with .trans →
            // b0, b1 of two n8 tiles.
            u32 a[MT][4], b[NT][2];
#pragma unroll
            for (int i = 0; i < MT; ++i) ldmatrix_x4(a[i], as + (i * 16 + (lane & 15)) * TA_LD + kk + (lane >> 4) * 8);
#pragma unroll
            for (int j = 0; j < NT / 2; ++j) {
                u32 r[4];
                ldmatrix_x4_trans(r, bs + (kk + (lane & 15)) * TB_LD + j * 16 + (lane >> 4) * 8);
                b[2 * j][0] = r[0];
                b[2 * j][1] = r[1];
                b[2 * j + 1][0] = r[2];
                b[2 * j + 1][1] = r[3];
            }
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int j = 0; j < NT; ++j) mma16816(acc[i][j], a[i], b[j][0], b[j][1]);
        }
    }
    mb_cp_async_wait<0>();
    // c0, c1 = C[g][2t..2t+1], c2, c3 = C[g+8][2t..2t+1] of each 16×8 tile.
    const int g = lane / 4, t = lane % 4;
#pragma unroll
    for (int i = 0; i < MT; ++i) {
        const int row = m0 + wm * WT_M + i * 16 + g;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            const int col = n0 + wn * WT_N + j * 8 + 2 * t;
            *(float2*)(C + (size_t)row * N + col) = make_float2(acc[i][j][0], acc[i][j][1]);
            *(float2*)(C + (size_t)(row + 8) * N + col) = make_float2(acc[i][j][2], acc[i][j][3]);
        }
    }
}

// ---------------------------------------------------------------- GEMV, SIMT
template <int R>
DEV void gemv_simt(const u16* __restrict__ W, const u16* __restrict__ x, u16* __restrict__ y, int rows, int cols) {
    const int lane = threadIdx.x % 32;
    const int r0 = (blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32) * R;
    if (r0 >= rows) return;  // warp-uniform
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = 0.f;
#pragma unroll 2
    for (int c = lane * 8; c < cols; c += 256) {
        float xf[8];
        mb_unpack8(*(const uint4*)(x + c), xf);
#pragma unroll
        for (int r = 0; r < R; ++r) {
            if (r0 + r < rows) {
                float wf[8];
                mb_unpack8(*(const uint4*)(W + (size_t)(r0 + r) * cols + c), wf);
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[r] = fmaf(wf[j], xf[j], acc[r]);
            }
        }
    }
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
    if (lane == 0) {
#pragma unroll
        for (int r = 0; r < R; ++r)
            if (r0 + r < rows) y[r0 + r] = f32_to_f16(acc[r]);
    }
}

#define GEMV_SIMT(R)                                                                                       \
    extern "C" __global__ void gemv_simt_r##R(const u16* __restrict__ W, const u16* __restrict__ x,       \
                                              u16* __restrict__ y, int rows, int cols) {                  \
        gemv_simt<R>(W, x, y, rows, cols);                                                                 \
    }
GEMV_SIMT(1)
GEMV_SIMT(2)
GEMV_SIMT(3)
GEMV_SIMT(4)

// ---------------------------------------------------------------- GEMV, tensor cores
#define GV_UNROLL 4

// One 32-column chunk: rows g (w0) and g+8 (w1) and x at columns 8t..8t+7, two mma.sync.
DEV void mb_gemv_chunk(float* c, uint4 w0, uint4 w1, uint4 xv) {
    const u32 lo[4] = {w0.x, w1.x, w0.y, w1.y};  // physical columns 8t..8t+3
    mma16816(c, lo, xv.x, xv.y);
    const u32 hi[4] = {w0.z, w1.z, w0.w, w1.w};  // physical columns 8t+4..8t+7
    mma16816(c, hi, xv.z, xv.w);
}

extern "C" __global__ void __launch_bounds__(32 * GV_WARPS)
    gemv_tensor(const u16* __restrict__ W, const u16* __restrict__ x, u16* __restrict__ y, int rows, int cols) {
    __shared__ float part[GV_WARPS][16];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int r0 = blockIdx.x * 16;
    const u16* w0 = W + (size_t)(r0 + g) * cols + 8 * t;
    const u16* w1 = w0 + (size_t)8 * cols;
    const u16* xp = x + 8 * t;
    float c[4] = {0.f, 0.f, 0.f, 0.f};
    const int chunks = cols / 32;
    int ch = warp;
    for (; ch + (GV_UNROLL - 1) * GV_WARPS < chunks; ch += GV_UNROLL * GV_WARPS) {
        uint4 a[GV_UNROLL], b[GV_UNROLL], v[GV_UNROLL];
#pragma unroll
        for (int u = 0; u < GV_UNROLL; ++u) {  // all loads first: 3·GV_UNROLL in flight per lane
            const int off = (ch + u * GV_WARPS) * 32;
            a[u] = *(const uint4*)(w0 + off);
            b[u] = *(const uint4*)(w1 + off);
            v[u] = *(const uint4*)(xp + off);
        }
#pragma unroll
        for (int u = 0; u < GV_UNROLL; ++u) mb_gemv_chunk(c, a[u], b[u], v[u]);
    }
    for (; ch < chunks; ch += GV_WARPS) {
        const int off = ch * 32;
        mb_gemv_chunk(c, *(const uint4*)(w0 + off), *(const uint4*)(w1 + off), *(const uint4*)(xp + off));
    }
    // Every column of C is y: c0 = y[r0+g], c2 = y[r0+g+8] (partial over this warp's chunks).
    if (t == 0) {
        part[warp][g] = c[0];
        part[warp][g + 8] = c[2];
    }
    __syncthreads();
    if (threadIdx.x < 16) {
        float s = 0.f;
#pragma unroll
        for (int w = 0; w < GV_WARPS; ++w) s += part[w][threadIdx.x];
        y[r0 + threadIdx.x] = f32_to_f16(s);
    }
}
