// nfield WGSL: the encodings in front of the MLP (nfield::model), forward. Shared by the
// inference, fragment and training shaders.
//
// Binding contract: every shader that includes this file declares
//   @group(0) @binding(0) var<storage, read> params: array<f32>;   (or read_write)
// holding the model's parameters in nfield's flat layout:
//   [W_0 (out×in, row-major), b_0, W_1, b_1, …, W_out, b_out, encoding]
// where the encoding part (at ENC_OFFSET) is Fourier's B (2 × FREQS, row-major) or the hash
// table (LEVELS × TABLE_SIZE × FEATURES, C-order).

// ---------------------------------------------------------------- Fourier features
// (sin, cos) of 2π·(x·B[0][j] + y·B[1][j]): the turns are reduced to [-0.5, 0.5] before the
// 2π, as the CPU and CUDA engines do.
fn fourier_pair(x: f32, y: f32, j: u32) -> vec2<f32> {
    let turns = fma(x, params[ENC_OFFSET + j], y * params[ENC_OFFSET + FREQS + j]);
    let r = turns - round(turns);
    return sincos(6.28318530717958647 * r);
}

// Feature c of the 2·FREQS Fourier features: sin for c < FREQS, cos after.
fn fourier_feature(x: f32, y: f32, c: u32) -> f32 {
    let sc = fourier_pair(x, y, select(c - FREQS, c, c < FREQS));
    return select(sc.y, sc.x, c < FREQS);
}

// ---------------------------------------------------------------- hash grid
// The 4 corners of the cell of (x, y) at level l: their table entries within the level
// (idx, corner = 2·dx + dy) and bilinear weights. p = x·scale_l + POS_OFFSET in f32; corners are
// hashed with (1, 2654435761) mod TABLE_SIZE, or indexed cx + cy·dim on densely stored levels
// (DENSE_DIMS[l] > 0).
struct HashCorners {
    idx: vec4<u32>,
    w: vec4<f32>,
}

fn hash_corners(l: u32, x: f32, y: f32) -> HashCorners {
    let scales = LEVEL_SCALES;
    let dims = DENSE_DIMS;
    let px = x * scales[l] + POS_OFFSET;
    let py = y * scales[l] + POS_OFFSET;
    let fx = floor(px);
    let fy = floor(py);
    let tx = px - fx;
    let ty = py - fy;
    let cx = u32(i32(fx));
    let cy = u32(i32(fy));
    var out: HashCorners;
    let dim = dims[l];
    for (var corner = 0u; corner < 4u; corner++) {
        let ux = cx + (corner >> 1u);
        let uy = cy + (corner & 1u);
        var index: u32;
        if (dim > 0u) {
            index = (ux + uy * dim) & (TABLE_SIZE - 1u);
        } else {
            index = (ux ^ (uy * 2654435761u)) & (TABLE_SIZE - 1u);
        }
        out.idx[corner] = index;
        let wx = select(1.0 - tx, tx, (corner >> 1u) == 1u);
        let wy = select(1.0 - ty, ty, (corner & 1u) == 1u);
        out.w[corner] = wx * wy;
    }
    return out;
}

// Feature k of level l at the cell `hc`: Σ_corners w·table[l][idx][k].
fn hash_feature(l: u32, hc: HashCorners, k: u32) -> f32 {
    let base = ENC_OFFSET + l * TABLE_SIZE * FEATURES + k;
    var f = 0.0;
    for (var corner = 0u; corner < 4u; corner++) {
        f = fma(hc.w[corner], params[base + hc.idx[corner] * FEATURES], f);
    }
    return f;
}
