// nfield WGSL, training: the tiled matrix product of train_gemm.wgsl on cooperative matrices
// (tensor cores through VK_KHR_cooperative_matrix): operands rounded to f16 as they are staged
// into workgroup memory, products accumulated in f32. fp16 training (Precision::Fp16) runs the
// weight gradients through it; every pass can (src/train/kernels.rs `MatrixPasses` has the
// measurements behind that choice).
//
// out(m, n) = Σ_{k ∈ [k_begin, k_end)} a(m, k) · b(k, n), for m < M, n < N: the contract of
// train_gemm.wgsl (the including pass's load functions and A_K_CONTIGUOUS / B_K_CONTIGUOUS /
// ROW_SUMS; results in `acc` and `row_sum` after `gemm_tile`), for one shape only:
//   TILE_M = TILE_N = 64, TM = 4, TN = 8, K_GROUPS = 1: 128 invocations, which must be four
//   subgroups of 32 (src/train/kernels.rs uses this core only on such devices). Subgroup sg
//   owns the 32 × 32 quarter (rows 32·(sg / 2), columns 32·(sg % 2)) of the tile: 2 × 2
//   16 × 16 accumulators.
// The including pass also provides
//   const A_SCALE: f32    a power of two that a is multiplied by before it is rounded to f16
//                         (deltas: the batch, so that they sit far above f16's subnormals);
//                         the products are divided by it again, exactly
// and stores its @builtin(subgroup_id) into `g_sg` before calling gemm_tile.
//
// k advances in chunks of TILE_K = 16, single-buffered: the next chunk is read from global memory
// into registers (train_gemm_operands.wgsl) while the current one is multiplied, then stored
// after a barrier. Fewer bytes of workgroup memory let more workgroups share a multiprocessor,
// which is what this kernel is bound by (H100 through Vulkan, SIREN-64×8 training at 2^18:
// 6.9 ms a step with 32-deep double-buffered chunks, 38 KiB; 4.9 ms like this, 25 KiB; fp32's
// train_gemm.wgsl 5.1 ms). Each operand is staged as it lies in memory, without transposing:
// rows along k ([m][k], [n][k]) where it is k-contiguous, else rows along m or n ([k][m],
// [k][n]); cooperative loads read either layout (coopLoadT row-major, coopLoad column-major).
// Rows are padded by 8 halves (16 bytes), which spreads them over the banks. After the last
// chunk every subgroup stores its accumulators into `tile_c` (f32, row-major), and every
// invocation reads its TM × TN block from there into `acc`.
// Row sums (ROW_SUMS: the bias gradients, where a is not k-contiguous) are added in f32 from the
// fetched values: with 128 invocations every fetch of an invocation covers the same four rows
// (4·(lid % 16)), so each keeps one running vec4, and the eight invocations of a row group are
// summed in a fixed order at the end (lines under `//#if PARK_ROWS`). The summation order is
// fixed throughout: deterministic.
// Workgroup memory: 2 · (A_HALVES + B_HALVES) + 4 · 64 · C_STRIDE (+ 16 · 128) bytes = 23 KiB
// (25 KiB).

alias MatA = coop_mat16x16<f16, A>;
alias MatB = coop_mat16x16<f16, B>;
alias MatC = coop_mat16x16<f32, C>;

const TILE_K: u32 = 16u;
// row strides of the staged operands, in halves: rows along k, and rows along m or n
const K_STRIDE: u32 = TILE_K + 8u;
const A_MN_STRIDE: u32 = TILE_M + 8u;
const B_MN_STRIDE: u32 = TILE_N + 8u;
const A_HALVES: u32 = select(TILE_K * A_MN_STRIDE, TILE_M * K_STRIDE, A_K_CONTIGUOUS);
const B_HALVES: u32 = select(TILE_K * B_MN_STRIDE, TILE_N * K_STRIDE, B_K_CONTIGUOUS);
const C_STRIDE: u32 = TILE_N + 4u;

var<workgroup> tile_a: array<f16, A_HALVES>;
var<workgroup> tile_b: array<f16, B_HALVES>;
var<workgroup> tile_c: array<f32, TILE_M * C_STRIDE>;
//#if PARK_ROWS
// every invocation's running row sums (ROW_SUMS: kernels.rs keeps these lines then)
var<workgroup> row_parts: array<vec4<f32>, THREADS>;
//#endif
// this invocation's subgroup (set by the including entry point)
var<private> g_sg: u32;

// Stores a's group e (a_group) as f16, scaled by A_SCALE.
fn stash_a(e: u32, v: vec4<f32>) {
    let g = a_group(e);
    let h = vec4<f16>(v * A_SCALE);
    // four k of row m, or four m of row k
    let at = select(g.y * A_MN_STRIDE + g.x, g.x * K_STRIDE + g.y, A_K_CONTIGUOUS);
    tile_a[at] = h.x;
    tile_a[at + 1u] = h.y;
    tile_a[at + 2u] = h.z;
    tile_a[at + 3u] = h.w;
}

// Stores b's group e (b_group) as f16.
fn stash_b(e: u32, v: vec4<f32>) {
    let g = b_group(e);
    let h = vec4<f16>(v);
    // four k of row n, or four n of row k
    let at = select(g.x * B_MN_STRIDE + g.y, g.y * K_STRIDE + g.x, B_K_CONTIGUOUS);
    tile_b[at] = h.x;
    tile_b[at + 1u] = h.y;
    tile_b[at + 2u] = h.z;
    tile_b[at + 3u] = h.w;
}

// Writes the prefetched share into the tiles (and adds a's values to the row sums).
fn stash() {
//#unroll LOADS_A
    stash_a(g_lid + {o}u * THREADS, next_a[{o}u]);
//#end
//#unroll LOADS_B
    stash_b(g_lid + {o}u * THREADS, next_b[{o}u]);
//#end
    if (ROW_SUMS) {
//#unroll LOADS_A
        row_part += next_a[{o}u];
//#end
    }
}

// The 16 × 16 block of a at rows 16·fm, k = kk.
fn fragment_a(fm: u32, kk: u32) -> MatA {
    if (A_K_CONTIGUOUS) {
        return coopLoadT<MatA>(&tile_a[16u * fm * K_STRIDE + kk], K_STRIDE);
    }
    return coopLoad<MatA>(&tile_a[kk * A_MN_STRIDE + 16u * fm], A_MN_STRIDE);
}

// The 16 × 16 block of b at k = kk, columns 16·fc.
fn fragment_b(kk: u32, fc: u32) -> MatB {
    if (B_K_CONTIGUOUS) {
        return coopLoad<MatB>(&tile_b[16u * fc * K_STRIDE + kk], K_STRIDE);
    }
    return coopLoadT<MatB>(&tile_b[kk * B_MN_STRIDE + 16u * fc], B_MN_STRIDE);
}

// out(m0 + r, n0 + c .. c + 3) from tile_c, divided by A_SCALE.
fn tile_c4(r: u32, c: u32) -> vec4<f32> {
    let at = r * C_STRIDE + c;
    return vec4<f32>(tile_c[at], tile_c[at + 1u], tile_c[at + 2u], tile_c[at + 3u]) * (1.0 / A_SCALE);
}

// Accumulates the tile at (m0, n0) over k ∈ [k_begin, k_end) into `acc` (and `row_sum`).
// Must be called in uniform control flow by the whole workgroup.
fn gemm_tile(m0: u32, n0: u32, k_begin: u32, k_end: u32, dims_m: u32, dims_n: u32, lid: u32) {
    begin_tile(m0, n0, k_end, dims_m, dims_n, lid);
    row_part = vec4<f32>(0.0);
    // this subgroup's 32 × 32 block: fragment rows fm, fm + 1 and columns fc, fc + 1
    let fm = 2u * (g_sg / (TILE_N / 32u));
    let fc = 2u * (g_sg % (TILE_N / 32u));
    var c00 = MatC();
    var c01 = MatC();
    var c10 = MatC();
    var c11 = MatC();
    if (k_begin < k_end) {
        prefetch(k_begin);
        stash();
    }
    workgroupBarrier();
    for (var k0 = k_begin; k0 < k_end; k0 += TILE_K) {
        let more = k0 + TILE_K < k_end;
        if (more) {
            prefetch(k0 + TILE_K);
        }
        for (var kk = 0u; kk < TILE_K; kk += 16u) {
            let a0 = fragment_a(fm, kk);
            let a1 = fragment_a(fm + 1u, kk);
            let b0 = fragment_b(kk, fc);
            let b1 = fragment_b(kk, fc + 1u);
            c00 = coopMultiplyAdd(a0, b0, c00);
            c01 = coopMultiplyAdd(a0, b1, c01);
            c10 = coopMultiplyAdd(a1, b0, c10);
            c11 = coopMultiplyAdd(a1, b1, c11);
        }
        // everyone has read this chunk: the next one may replace it
        workgroupBarrier();
        if (more) {
            stash();
        }
        workgroupBarrier();
    }
    let at = 16u * fm * C_STRIDE + 16u * fc;
    coopStoreT(c00, &tile_c[at], C_STRIDE);
    coopStoreT(c01, &tile_c[at + 16u], C_STRIDE);
    coopStoreT(c10, &tile_c[at + 16u * C_STRIDE], C_STRIDE);
    coopStoreT(c11, &tile_c[at + 16u * C_STRIDE + 16u], C_STRIDE);
//#if PARK_ROWS
    row_parts[lid] = row_part;
//#endif
    workgroupBarrier();
//#unroll ACC
    acc[{o}u] = tile_c4(tile_row({o}u / COL_VECS) - m0, tile_col({o}u % COL_VECS) - n0);
//#end
//#if PARK_ROWS
    // rows 4·ty .. 4·ty + 3 of the tile (TM = 4): the running sums of invocations ty + 16·j
    let ty = lid / THREADS_N;
    var sum = vec4<f32>(0.0);
    for (var j = ty; j < THREADS; j += TILE_M / 4u) {
        sum += row_parts[j];
    }
    row_sum[0] = sum;
//#endif
}
