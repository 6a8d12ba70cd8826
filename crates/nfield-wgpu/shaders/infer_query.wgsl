// nfield WGSL: what every inference kernel shares (mlp_infer.wgsl, mlp_infer_matrix.wgsl): the
// query's bindings and the position of a sample.
//
// Bindings: 0 params (model layout, see encoding.wgsl); 1 the query; 2 positions: for a grid,
// WIDTH_PX x-axis entries then HEIGHT_PX y-axis entries, each (coordinate, inside ? 1 : 0); for
// points, one (x, y) per sample; 3 out: (n, 3) RGB, black outside the image.

@group(0) @binding(0) var<storage, read> params: array<f32>;
@group(0) @binding(1) var<uniform> query: Query;
@group(0) @binding(2) var<storage, read> positions: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

struct Query {
    // samples
    n: u32,
    // grid columns (0 for a list of points)
    width: u32,
    _pad0: u32,
    _pad1: u32,
}

// The model-space position of sample p and whether it lies inside the image.
fn sample_position(p: u32) -> vec3<f32> {
    if (query.width == 0u) {
        return vec3<f32>(positions[p], 1.0);
    }
    let ax = positions[p % query.width];
    let ay = positions[query.width + p / query.width];
    return vec3<f32>(ax.x, ay.x, ax.y * ay.y);
}

// A tile's sample p: sample_position(p), or zeros (outside the image) past the query's end.
fn tile_sample(p: u32) -> vec3<f32> {
    if (p < query.n) {
        return sample_position(p);
    }
    return vec3<f32>(0.0);
}

// The linear index of the invocation in a (possibly 2-D, ≤ 65535 per side) dispatch.
fn linear_index(wg: vec3<u32>, groups: vec3<u32>, lid: u32, size: u32) -> u32 {
    return (wg.y * groups.x + wg.x) * size + lid;
}
