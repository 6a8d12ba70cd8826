// nfield WGSL: the render-pass path. A full-screen triangle whose fragment shader evaluates the
// field at its pixel (mlp_forward.wgsl, the per-pixel strategy) and writes the colour to the
// render target, so an application can draw a neural field inside its own render pass.
//
// Bindings: 0 params (model layout); 1 axes: the target's WIDTH x-axis entries then HEIGHT
// y-axis entries, each (model coordinate, inside the image ? 1 : 0); 2 the frame's size; 3 params
// again, as vec4 (mlp_forward.wgsl's VEC4_WEIGHTS).
// Pixel (i, j) of the target (j = 0 at the top) shows the field at (axes[i].x, axes[W + j].x),
// black outside the image. SRGB_TARGET (extra constant): the target format encodes sRGB, so
// the colour (already sRGB-encoded, as the seed's images are) is linearised first and the
// stored bytes equal the field's values.

@group(0) @binding(0) var<storage, read> params: array<f32>;
@group(0) @binding(1) var<storage, read> axes: array<vec2<f32>>;
@group(0) @binding(2) var<uniform> frame: Frame;
@group(0) @binding(3) var<storage, read> params4: array<vec4<f32>>;

struct Frame {
    width: u32,
    height: u32,
    _pad0: u32,
    _pad1: u32,
}

@vertex
fn vs_fullscreen(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_field(@builtin(position) frag: vec4<f32>) -> @location(0) vec4<f32> {
    let i = min(u32(frag.x), frame.width - 1u);
    let j = min(u32(frag.y), frame.height - 1u);
    let ax = axes[i];
    let ay = axes[frame.width + j];
    var rgb = vec3<f32>(0.0);
    if (ax.y * ay.y > 0.5) {
        rgb = mlp_forward(ax.x, ay.x);
    }
    if (SRGB_TARGET) {
        rgb = srgb_to_linear(clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0)));
    }
    return vec4<f32>(rgb, 1.0);
}
