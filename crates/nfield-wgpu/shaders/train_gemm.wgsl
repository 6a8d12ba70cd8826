// nfield WGSL, training: the tiled matrix product every MLP pass of a training step shares.
//
// out(m, n) = Σ_{k ∈ [k_begin, k_end)} a(m, k) · b(k, n), for m < M, n < N.
// A workgroup of 256 invocations computes a TILE_M × TILE_N = 64 × 64 tile of `out`, stepping
// over k in chunks of TILE_K = 16 staged in workgroup memory; each invocation owns a 4 × 4 block
// (rows 4·(lid / 16) + i, columns 4·(lid % 16) + j) accumulated in registers with fma, k in
// increasing order (so every value's summation order is fixed: results are deterministic).
//
// The including file (train_forward / train_backward / train_weight_grad) provides:
//   fn load_a(m: u32, k: u32) -> f32      a(m, k), called only for m < M, k < k_end
//   fn load_b(k: u32, n: u32) -> f32      b(k, n), called only for n < N, k < k_end
//   const A_K_CONTIGUOUS: bool            whether consecutive k of a are adjacent in memory
//   const B_K_CONTIGUOUS: bool            likewise for b (selects the coalesced load order)
//   const ROW_SUMS: bool                  also accumulate Σ_k a(m, k) (weight gradients' bias)
// and reads the results from `acc` (and `row_sum`) after `gemm_tile`.

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;

// tile_a[k][m / 4][m % 4], tile_b[k][n / 4][n % 4]
var<workgroup> tile_a: array<vec4<f32>, 256>;
var<workgroup> tile_b: array<vec4<f32>, 256>;
// this invocation's 4 × 4 block: acc[i][j] = out(row0 + i, col0 + j)
var<private> acc: array<vec4<f32>, 4>;
// Σ_k a(row0 + i, k) (ROW_SUMS only)
var<private> row_sum: vec4<f32>;

// Stages a(m0.., k0..) and b(k0.., n0..) (zero outside the bounds) into workgroup memory. The
// 1024 elements of each tile are spread over the 256 invocations in the order in which the
// operand is contiguous, so neighbouring invocations read neighbouring addresses.
fn stage_tiles(m0: u32, n0: u32, k0: u32, k_end: u32, dims_m: u32, dims_n: u32, lid: u32) {
    for (var r = 0u; r < 4u; r++) {
        let e = lid + 256u * r;
        var m: u32;
        var k: u32;
        if (A_K_CONTIGUOUS) {
            m = e / TILE_K;
            k = e % TILE_K;
        } else {
            m = e % TILE_M;
            k = e / TILE_M;
        }
        var v = 0.0;
        if (m0 + m < dims_m && k0 + k < k_end) {
            v = load_a(m0 + m, k0 + k);
        }
        tile_a[k * 16u + m / 4u][m % 4u] = v;

        var n: u32;
        var kb: u32;
        if (B_K_CONTIGUOUS) {
            n = e / TILE_K;
            kb = e % TILE_K;
        } else {
            n = e % TILE_N;
            kb = e / TILE_N;
        }
        var w = 0.0;
        if (n0 + n < dims_n && k0 + kb < k_end) {
            w = load_b(k0 + kb, n0 + n);
        }
        tile_b[kb * 16u + n / 4u][n % 4u] = w;
    }
}

// Accumulates the tile at (m0, n0) over k ∈ [k_begin, k_end) into `acc` (and `row_sum`).
// Must be called in uniform control flow by the whole workgroup.
fn gemm_tile(m0: u32, n0: u32, k_begin: u32, k_end: u32, dims_m: u32, dims_n: u32, lid: u32) {
    let ty = lid / 16u;
    let tx = lid % 16u;
    for (var i = 0u; i < 4u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    row_sum = vec4<f32>(0.0);
    for (var k0 = k_begin; k0 < k_end; k0 += TILE_K) {
        stage_tiles(m0, n0, k0, k_end, dims_m, dims_n, lid);
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk++) {
            let a = tile_a[kk * 16u + ty];
            let b = tile_b[kk * 16u + tx];
            acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
            acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
            acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
            acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
            if (ROW_SUMS) {
                row_sum += a;
            }
        }
        workgroupBarrier();
    }
}
