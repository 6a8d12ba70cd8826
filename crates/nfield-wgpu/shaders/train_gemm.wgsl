// nfield WGSL, training: the tiled matrix product every MLP pass of a training step shares, in
// f32 on the FMA units (train_gemm_matrix.wgsl is the same contract on cooperative matrices;
// both include train_gemm_operands.wgsl, which reads the operands from global memory).
//
// out(m, n) = Σ_{k ∈ [k_begin, k_end)} a(m, k) · b(k, n), for m < M, n < N.
//
// Shape (constants generated per pipeline by src/train/kernels.rs, `GemmShape`):
//   TILE_M × TILE_N  the tile of `out` one workgroup computes
//   TM × TN          the block one invocation accumulates in registers (multiples of 4)
//   K_GROUPS         1, or 2: two halves of the workgroup sum alternate halves of every k chunk
//                    and add their blocks at the end (needs TILE_M·TILE_N ≤ 8·(TILE_M + TILE_N))
//   VEC              operands and results are read / written 16 bytes at a time: every offset
//                    and every row length along which an operand is contiguous is a multiple
//                    of 4 floats (else scalar accesses, each bounds-checked)
// THREADS = K_GROUPS · (TILE_M / TM) · (TILE_N / TN) invocations. Invocation lid, with
// local = lid % GROUP_THREADS, ty = local / (TILE_N / TN), tx = local % (TILE_N / TN), owns rows
// (r / 4)·ROW_STEP + 4·ty + r % 4 (r < TM) and columns (c / 4)·COL_STEP + 4·tx + c % 4 (c < TN)
// of the tile (ROW_STEP = TILE_M / (TM / 4), COL_STEP = TILE_N / (TN / 4)): 16-byte
// workgroup-memory reads that neighbouring invocations share or that sit side by side.
// k advances in chunks of TILE_K = 16, double-buffered in workgroup memory: the next chunk is
// read from global memory into registers while the current one is multiplied, one barrier a
// chunk. Every value is accumulated with fma, k in increasing order (K_GROUPS = 2: each half in
// increasing order, then half 0 + half 1), so its summation order is fixed: deterministic.
// Row sums (ROW_SUMS: the weight gradients' biases; a not k-contiguous, TM = 4, K_GROUPS = 1
// and THREADS a multiple of TILE_M / 4, src/train/gemm.rs checks) are added as the chunks are
// staged, as train_gemm_matrix.wgsl adds them: every staged group of an invocation holds the
// same four rows (4·(lid % (TILE_M / 4))), so each keeps one running vec4 (`row_part`), and
// the invocations of a row group are summed in a fixed order at the end. Adding the workgroup
// memory operand of every k instead cost 4 adds per 32 fmas: SIREN-64×8's weight gradients at
// 2^18 on an H100 took 623 µs so, 600 without any row sums (time only) and 616 now (means of
// three runs, 2026-11-27).
// Workgroup memory: 2 · 16 · (TILE_M + TILE_N) · 4 bytes.
//
// The including file (train_forward / train_backward / train_weight_grad) provides:
//   fn load_a(m: u32, k: u32) -> f32      a(m, k), called only for m < M, k < k_end
//   fn load_b(k: u32, n: u32) -> f32      b(k, n), called only for n < N, k < k_end
//   fn load_a4(m: u32, k: u32) -> vec4    a(m, k..k+3) if A_K_CONTIGUOUS, else a(m..m+3, k);
//                                         called only with VEC, for m < M, k < k_end (all four
//                                         in bounds then), m % 4 = 0 or k % 4 = 0 respectively
//   fn load_b4(k: u32, n: u32) -> vec4    b(k..k+3, n) if B_K_CONTIGUOUS, else b(k, n..n+3)
//   const A_K_CONTIGUOUS: bool            whether consecutive k of a are adjacent in memory
//   const B_K_CONTIGUOUS: bool            likewise for b
//   const ROW_SUMS: bool                  also accumulate Σ_k a(m, k) (weight gradients' bias)
// and, after `gemm_tile`, reads the results from `acc[r · TN / 4 + c]` = out(tile_row(r),
// tile_col(c) + 0..3) and `row_sum[r / 4][r % 4]` = Σ_k a(tile_row(r), k) (K_GROUPS = 2: the
// products only in invocations with in_group_zero(); no row sums).

const TILE_K: u32 = 16u;
const KK_PER_GROUP: u32 = TILE_K / K_GROUPS;

// two buffers of tile_a[k][m / 4][m % 4] and tile_b[k][n / 4][n % 4]
var<workgroup> tile_a: array<vec4<f32>, 2u * A_VECS>;
var<workgroup> tile_b: array<vec4<f32>, 2u * B_VECS>;

// Stores a's group e into buffer buf (transposed to [k][m] where a is k-contiguous).
fn stash_a(e: u32, buf: u32, v: vec4<f32>) {
    let g = a_group(e);
    let at = buf * A_VECS + g.y * (TILE_M / 4u) + g.x / 4u;
    if (A_K_CONTIGUOUS) {
        let c = g.x % 4u;
        tile_a[at][c] = v.x;
        tile_a[at + TILE_M / 4u][c] = v.y;
        tile_a[at + 2u * (TILE_M / 4u)][c] = v.z;
        tile_a[at + 3u * (TILE_M / 4u)][c] = v.w;
    } else {
        tile_a[at] = v;
    }
}

// Stores b's group e into buffer buf (transposed to [k][n] where b is k-contiguous).
fn stash_b(e: u32, buf: u32, v: vec4<f32>) {
    let g = b_group(e);
    let at = buf * B_VECS + g.x * (TILE_N / 4u) + g.y / 4u;
    if (B_K_CONTIGUOUS) {
        let c = g.y % 4u;
        tile_b[at][c] = v.x;
        tile_b[at + TILE_N / 4u][c] = v.y;
        tile_b[at + 2u * (TILE_N / 4u)][c] = v.z;
        tile_b[at + 3u * (TILE_N / 4u)][c] = v.w;
    } else {
        tile_b[at] = v;
    }
}

// Writes the prefetched share into buffer buf (and adds a's values to the row sums).
fn stash(buf: u32) {
//#unroll LOADS_A
    stash_a(g_lid + {o}u * THREADS, buf, next_a[{o}u]);
//#end
//#unroll LOADS_B
    stash_b(g_lid + {o}u * THREADS, buf, next_b[{o}u]);
//#end
    if (ROW_SUMS) {
//#unroll LOADS_A
        row_part += next_a[{o}u];
//#end
    }
}

// acc += this invocation's block of a · b over this group's k of buffer buf.
fn multiply(buf: u32) {
    let local = g_lid % GROUP_THREADS;
    let a_base = buf * A_VECS + local / THREADS_N;
    let b_base = buf * B_VECS + local % THREADS_N;
    let kk0 = (g_lid / GROUP_THREADS) * KK_PER_GROUP;
    for (var kk = kk0; kk < kk0 + KK_PER_GROUP; kk++) {
        var av: array<vec4<f32>, TM / 4u>;
        var bv: array<vec4<f32>, COL_VECS>;
//#unroll ROW_VECS
        av[{o}u] = tile_a[a_base + kk * (TILE_M / 4u) + {o}u * (ROW_STEP / 4u)];
//#end
//#unroll COL_VECS
        bv[{o}u] = tile_b[b_base + kk * (TILE_N / 4u) + {o}u * (COL_STEP / 4u)];
//#end
//#unroll ACC
        acc[{o}u] = fma(vec4<f32>(av[{o}u / COL_VECS / 4u][({o}u / COL_VECS) % 4u]), bv[{o}u % COL_VECS], acc[{o}u]);
//#end
    }
}

// Accumulates the tile at (m0, n0) over k ∈ [k_begin, k_end) into `acc` (and `row_sum`).
// Must be called in uniform control flow by the whole workgroup.
fn gemm_tile(m0: u32, n0: u32, k_begin: u32, k_end: u32, dims_m: u32, dims_n: u32, lid: u32) {
    begin_tile(m0, n0, k_end, dims_m, dims_n, lid);
//#unroll ACC
    acc[{o}u] = vec4<f32>(0.0);
//#end
//#unroll ROW_VECS
    row_sum[{o}u] = vec4<f32>(0.0);
//#end
    row_part = vec4<f32>(0.0);
    if (k_begin < k_end) {
        prefetch(k_begin);
        stash(0u);
    }
    workgroupBarrier();
    var buf = 0u;
    for (var k0 = k_begin; k0 < k_end; k0 += TILE_K) {
        let more = k0 + TILE_K < k_end;
        if (more) {
            prefetch(k0 + TILE_K);
        }
        multiply(buf);
        if (more) {
            stash(1u - buf);
        }
        workgroupBarrier();
        buf = 1u - buf;
    }
    if (K_GROUPS > 1u) {
        // group 1 parks its block in the (now idle) tiles, group 0 adds it: half 0 + half 1
        let local = lid % GROUP_THREADS;
        if (!in_group_zero()) {
//#unroll ACC
            park({o}u * GROUP_THREADS + local, acc[{o}u]);
//#end
        }
        workgroupBarrier();
        if (in_group_zero()) {
//#unroll ACC
            acc[{o}u] += parked({o}u * GROUP_THREADS + local);
//#end
        }
    }
    if (ROW_SUMS) {
        // rows 4·ty .. 4·ty + 3 of the tile (TM = 4): the running sums of invocations
        // ty + (TILE_M / 4)·j, parked in the (now idle) tiles
        tile_a[lid] = row_part;
        workgroupBarrier();
        let ty = lid / THREADS_N;
        var sum = vec4<f32>(0.0);
        for (var j = ty; j < THREADS; j += TILE_M / 4u) {
            sum += tile_a[j];
        }
        row_sum[0] = sum;
    }
}

// Element i of the tiles seen as one array (tile_a's buffers, then tile_b's).
fn park(i: u32, v: vec4<f32>) {
    if (i < 2u * A_VECS) {
        tile_a[i] = v;
    } else {
        tile_b[(i - 2u * A_VECS) % (2u * B_VECS)] = v;
    }
}

fn parked(i: u32) -> vec4<f32> {
    if (i < 2u * A_VECS) {
        return tile_a[i];
    }
    return tile_b[(i - 2u * A_VECS) % (2u * B_VECS)];
}
