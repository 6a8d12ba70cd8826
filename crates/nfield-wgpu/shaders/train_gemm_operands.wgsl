// nfield WGSL, training: what both cores of the training GEMM share (train_gemm.wgsl in f32 on
// the FMA units, train_gemm_matrix.wgsl on cooperative matrices): the shape's derived
// constants, the invocation's result block (`acc`, `row_sum`) and where it sits in the tile
// (`tile_row`, `tile_col`), and the reading of each k chunk's operands from global memory into
// registers (`prefetch` into `next_a` / `next_b`, 16-byte groups as `a_group` / `b_group` map
// them). The shape constants (TILE_M, TILE_N, TM, TN, K_GROUPS, VEC) come from
// src/train/kernels.rs, TILE_K from the core, the load functions from the including pass; see
// train_gemm.wgsl for the whole contract.

const THREADS_N: u32 = TILE_N / TN;
const GROUP_THREADS: u32 = (TILE_M / TM) * THREADS_N;
const THREADS: u32 = K_GROUPS * GROUP_THREADS;
const ROW_STEP: u32 = TILE_M / (TM / 4u);
const COL_STEP: u32 = TILE_N / (TN / 4u);
const COL_VECS: u32 = TN / 4u;
const ACC_VECS: u32 = TM * TN / 4u;
// 16-byte groups of a staged chunk of a and b, and per invocation
const A_VECS: u32 = TILE_M * TILE_K / 4u;
const B_VECS: u32 = TILE_N * TILE_K / 4u;
const A_LOADS: u32 = A_VECS / THREADS;
const B_LOADS: u32 = B_VECS / THREADS;

// this invocation's block: acc[r · COL_VECS + c] = out(tile_row(r), tile_col(c) + 0..3)
var<private> acc: array<vec4<f32>, ACC_VECS>;
// Σ_k a(tile_row(r), k) in row_sum[r / 4][r % 4] (ROW_SUMS only)
var<private> row_sum: array<vec4<f32>, TM / 4u>;
// Σ over the staged k of a(4·(lid % (TILE_M / 4)) + 0..3, k) (ROW_SUMS only; both cores add
// the rows as they stage a)
var<private> row_part: vec4<f32>;
// the next chunk's share of this invocation, in flight while the current one is multiplied
var<private> next_a: array<vec4<f32>, A_LOADS>;
var<private> next_b: array<vec4<f32>, B_LOADS>;
// the product in flight (set by gemm_tile)
var<private> g_m0: u32;
var<private> g_n0: u32;
var<private> g_k_end: u32;
var<private> g_dims_m: u32;
var<private> g_dims_n: u32;
var<private> g_lid: u32;

// Records the product in flight for the functions below (gemm_tile's first step).
fn begin_tile(m0: u32, n0: u32, k_end: u32, dims_m: u32, dims_n: u32, lid: u32) {
    g_m0 = m0;
    g_n0 = n0;
    g_k_end = k_end;
    g_dims_m = dims_m;
    g_dims_n = dims_n;
    g_lid = lid;
}

// Row of `out` of this invocation's row r (valid after gemm_tile).
fn tile_row(r: u32) -> u32 {
    return g_m0 + (r / 4u) * ROW_STEP + 4u * ((g_lid % GROUP_THREADS) / THREADS_N) + r % 4u;
}

// First of the four columns of `out` of this invocation's column group c.
fn tile_col(c: u32) -> u32 {
    return g_n0 + c * COL_STEP + 4u * (g_lid % THREADS_N);
}

// Whether this invocation holds final results (K_GROUPS = 2: the first half of the workgroup).
fn in_group_zero() -> bool {
    return g_lid < GROUP_THREADS;
}

// (m, k) within the chunk of a's 16-byte group e: 4 k (A_K_CONTIGUOUS) or 4 m. Neighbouring
// invocations take neighbouring m, so that the transposing stores below hit distinct banks.
fn a_group(e: u32) -> vec2<u32> {
    if (A_K_CONTIGUOUS) {
        return vec2<u32>(e % TILE_M, 4u * (e / TILE_M));
    }
    return vec2<u32>(4u * (e % (TILE_M / 4u)), e / (TILE_M / 4u));
}

// (k, n) within the chunk of b's 16-byte group e: 4 k (B_K_CONTIGUOUS) or 4 n.
fn b_group(e: u32) -> vec2<u32> {
    if (B_K_CONTIGUOUS) {
        return vec2<u32>(4u * (e / TILE_N), e % TILE_N);
    }
    return vec2<u32>(e / (TILE_N / 4u), 4u * (e % (TILE_N / 4u)));
}

// a's group e of the chunk at k0 (zero outside the bounds; `inside`: the whole chunk is).
fn fetch_a(e: u32, k0: u32, inside: bool) -> vec4<f32> {
    let g = a_group(e);
    let m = g_m0 + g.x;
    let k = k0 + g.y;
    if (VEC) {
        if (inside || (m < g_dims_m && k < g_k_end)) {
            return load_a4(m, k);
        }
        return vec4<f32>(0.0);
    }
    var v = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        let mc = select(m + c, m, A_K_CONTIGUOUS);
        let kc = select(k, k + c, A_K_CONTIGUOUS);
        if (mc < g_dims_m && kc < g_k_end) {
            v[c] = load_a(mc, kc);
        }
    }
    return v;
}

// b's group e of the chunk at k0 (zero outside the bounds; `inside`: the whole chunk is).
fn fetch_b(e: u32, k0: u32, inside: bool) -> vec4<f32> {
    let g = b_group(e);
    let k = k0 + g.x;
    let n = g_n0 + g.y;
    if (VEC) {
        if (inside || (n < g_dims_n && k < g_k_end)) {
            return load_b4(k, n);
        }
        return vec4<f32>(0.0);
    }
    var v = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        let kc = select(k, k + c, B_K_CONTIGUOUS);
        let nc = select(n + c, n, B_K_CONTIGUOUS);
        if (nc < g_dims_n && kc < g_k_end) {
            v[c] = load_b(kc, nc);
        }
    }
    return v;
}

// Reads this invocation's share of the chunk at k0 into registers.
fn prefetch(k0: u32) {
    let k_inside = k0 + TILE_K <= g_k_end;
    let a_inside = k_inside && g_m0 + TILE_M <= g_dims_m;
    let b_inside = k_inside && g_n0 + TILE_N <= g_dims_n;
//#unroll LOADS_A
    next_a[{o}u] = fetch_a(g_lid + {o}u * THREADS, k0, a_inside);
//#end
//#unroll LOADS_B
    next_b[{o}u] = fetch_b(g_lid + {o}u * THREADS, k0, b_inside);
//#end
}

