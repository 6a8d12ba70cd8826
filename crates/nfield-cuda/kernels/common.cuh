// nfield CUDA kernels: shared device code (prepended to every kernel file; NVRTC needs no
// include paths). Compile-time constants come from -D defines set by the Rust side
// (crates/nfield-cuda/src/kernels.rs); every kernel file lists the ones it reads.
//
// Contents: integer types, Philox4x32-10 (identical to nfield::rng), sin/cos with explicit range
// reduction, bf16/fp16/tf32 packing, and the warp-level tensor-core instructions (mma.sync
// m16n8k16 and the tf32 m16n8k8, ldmatrix) used by the cooperative kernels.

typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned short u16;

#define DEV __device__ __forceinline__

// ---------------------------------------------------------------- random numbers
// counter = [index, step lo, step hi, stream], key = [seed lo, seed hi] (nfield::rng).
DEV uint4 philox4x32(uint4 c, uint2 k) {
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k.x += 0x9E3779B9u;
            k.y += 0xBB67AE85u;
        }
        const u32 hi0 = __umulhi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        const u32 hi1 = __umulhi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

// The training pixel of sample `index` in step `step` (nfield::rng::train_pixel).
DEV u32 train_pixel(u64 seed, u64 step, u32 index, u32 n_pixels) {
    const uint4 w = philox4x32(make_uint4(index, (u32)step, (u32)(step >> 32), 0u), make_uint2((u32)seed, (u32)(seed >> 32)));
    return __umulhi(w.x, n_pixels);
}

// ---------------------------------------------------------------- sin / cos
// Cephes' minimax polynomials on [-π/4, π/4] with a quadrant rotation (the CPU engine's
// nfield::cpu::sincos): r is the reduced argument, q the quadrant (any integer).
DEV void sincos_reduced(float r, int q, float* s, float* c) {
    const float r2 = r * r;
    const float sp = fmaf(fmaf(fmaf(-1.9515295891e-4f, r2, 8.3321608736e-3f), r2, -1.6666654611e-1f) * r2, r, r);
    const float cp = fmaf(fmaf(fmaf(fmaf(2.443315711809948e-5f, r2, -1.388731625493765e-3f), r2, 4.166664568298827e-2f), r2,
                               -0.5f),
                          r2, 1.0f);
    const int k = q & 3;
    *s = k == 0 ? sp : k == 1 ? cp : k == 2 ? -sp : -cp;
    *c = k == 0 ? cp : k == 1 ? -sp : k == 2 ? -cp : sp;
}

// sin and cos of x. FAST (16-bit and tf32 modes): the special-function unit on x as it is. The
// unit takes x/2π and reduces it itself: the absolute error is ~5e-7 on [-π, π] and grows with
// |x| through the rounding of x/2π (~2e-6 at |x| = 50, ~1e-5 at 600), against the 2.4e-4
// rounding of the 10-bit operand the value becomes (an explicit reduction cost 3 of 5
// instructions per value). Otherwise a three-term
// Cody-Waite reduction by π/2 and the polynomials: ~1e-7 absolute for |x| < 1e4, inline, no
// slow path (the library's sincosf is not inlined, and its calls made the per-pixel kernel spill
// its accumulators around every activation).
DEV void sin_cos(float x, float* s, float* c) {
#if FAST_SINCOS
    *s = __sinf(x);
    *c = __cosf(x);
#else
    const float q = rintf(x * 0.63661977236758134f);
    float r = fmaf(-q, 1.5703125f, x);
    r = fmaf(-q, 4.837512969970703125e-4f, r);
    r = fmaf(-q, 7.54978995489188216e-8f, r);
    sincos_reduced(r, (int)q, s, c);
#endif
}

// sin alone (inference has no use for the cosine).
DEV float sin_only(float x) {
#if FAST_SINCOS
    return __sinf(x);
#else
    float s, c;
    sin_cos(x, &s, &c);
    return s;
#endif
}

// sin and cos of an argument formed in double (SIREN's first layer, ω0·(w0 x + w1 y + b) with
// ω0 = 30 would otherwise carry 1e-6 of f32 rounding into every layer), reduced by π/2 in double.
DEV void sin_cos_precise_arg(double arg, float* s, float* c) {
    const double k = rint(arg * 0.63661977236758134);  // 2/π
    const float r = (float)fma(-k, 1.5707963267948966, arg);
    sincos_reduced(r, (int)k, s, c);
}

// SIREN's first layer at one neuron: s = sin(ω0 z), d = ω0 cos(ω0 z), z = b + w0 x + w1 y.
// FAST_SINCOS (products in fp16, bf16 or tf32): z in fp32 and the special-function unit (the
// argument's rounding, ~4e-6 at ω0 = 30, is a hundredth of the 10-bit operand s becomes).
// Otherwise (fp32 paths) z in double and the polynomials: within ~1e-7 of the f64 oracle.
DEV void siren_first_sincos(float w0, float w1, float b, float x, float y, float omega0, float* s, float* d) {
    float co;
#if FAST_SINCOS
    sin_cos(omega0 * fmaf(w1, y, fmaf(w0, x, b)), s, &co);
#else
    const double z = (double)b + (double)w0 * (double)x + (double)w1 * (double)y;
    sin_cos_precise_arg((double)omega0 * z, s, &co);
#endif
    *d = omega0 * co;
}

DEV float sigmoidf(float z) { return 1.0f / (1.0f + __expf(-z)); }

// ---------------------------------------------------------------- 16-bit packing
// Two floats into one 32-bit register of two 16-bit values (lo in the low half).
DEV u32 pack_bf16(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
DEV u32 pack_f16(float lo, float hi) {
    u32 r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
DEV float bf16_to_f32(u16 v) { return __uint_as_float(((u32)v) << 16); }
DEV float f16_to_f32(u16 v) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v));
    return f;
}
DEV u16 f32_to_f16(float v) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    return h;
}
DEV u16 f32_to_bf16(float v) {
    u16 h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(v));
    return h;
}

// One unit of the deterministic hash-table gradient's 64-bit fixed point is 1/TABLE_GRAD_ONE
// (2⁻³²): encoding.cuh table_grad_add writes it, adam.cu adam_dense and engine/step.rs
// (TABLE_GRAD_ONE) read it back.
#define TABLE_GRAD_ONE 4294967296.0f

// The 16-bit matrix type of a half-precision mode: HALF_BF16 = 1 picks bf16, else fp16.
#if HALF_BF16
#define PACK2 pack_bf16
#define TO_F32 bf16_to_f32
#define TO_HALF f32_to_bf16
#define MMA_TYPE "bf16"
#else
#define PACK2 pack_f16
#define TO_F32 f16_to_f32
#define TO_HALF f32_to_f16
#define MMA_TYPE "f16"
#endif

// ---------------------------------------------------------------- tensor cores
// D = A·B + D with A 16×16 (row), B 16×8 (col), fp32 accumulators. Fragment ownership of lane
// (g = lane/4, t = lane%4): a0 = A[g][2t..2t+1], a1 = A[g+8][2t..], a2 = A[g][2t+8..],
// a3 = A[g+8][2t+8..]; b0 = B[2t..2t+1][g], b1 = B[2t+8..2t+9][g]; c0 = C[g][2t], c1 = C[g][2t+1],
// c2 = C[g+8][2t], c3 = C[g+8][2t+1].
DEV void mma16816(float* c, const u32* a, u32 b0, u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." MMA_TYPE "." MMA_TYPE ".f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// tf32: an fp32 value rounded to 10 mantissa bits (to nearest, ties away from zero), as bits.
DEV u32 to_tf32(float x) {
    u32 r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}

// D = A·B + D with A 16×8 (row), B 8×8 (col) in tf32, fp32 accumulators. Lane (g, t):
// a0 = A[g][t], a1 = A[g+8][t], a2 = A[g][t+4], a3 = A[g+8][t+4]; b0 = B[t][g], b1 = B[t+4][g];
// C as mma16816.
DEV void mma1688_tf32(float* c, const u32* a, u32 b0, u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four 8×8 16-bit matrices from shared memory (rows addressed by lanes 0-7, 8-15, 16-23, 24-31).
DEV void ldmatrix_x4(u32* r, const void* smem_row) {
    const u32 addr = (u32)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
DEV void ldmatrix_x4_trans(u32* r, const void* smem_row) {
    const u32 addr = (u32)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// Asynchronous 4-byte global → shared copies (sm_80+): issue, close the group, wait for all.
DEV void cp_async4(void* smem_dst, const void* global_src) {
    const u32 dst = (u32)__cvta_generic_to_shared(smem_dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(dst), "l"(global_src) : "memory");
}
DEV void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
DEV void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }

// Traps (a launch error, not silent corruption) when the host gave a block less dynamic shared
// memory than the kernel's layout ends at: the Rust side computes the size from its own copy of
// the layout.
DEV void check_smem_layout(const void* layout_end, const void* smem_base) {
    u32 size;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(size));
    if ((size_t)((const char*)layout_end - (const char*)smem_base) > size) __trap();
}

// Block-wide sum of a double (all threads get the result); `scratch` holds 32 doubles.
DEV double block_sum(double v, double* scratch) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    double total = 0.0;
    for (int w = 0; w < (int)(blockDim.x / 32); ++w) total += scratch[w];
    return total;
}
