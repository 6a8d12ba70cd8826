// Copies a compute strategy's output into the field's texture.
// rgb: (height, width, 3) f32, row-major, in [0, 1] (clamped here); frame: (width, height, 0, 0);
// out: one Rgba8Unorm texel per pixel, alpha 1. Drawn as one full-screen triangle.

struct Frame { width: u32, height: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<storage, read> rgb: array<f32>;
@group(0) @binding(1) var<uniform> frame: Frame;

@vertex
fn vs_fullscreen(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let x = f32((i << 1u) & 2u);
    let y = f32(i & 2u);
    return vec4<f32>(x * 2.0 - 1.0, 1.0 - y * 2.0, 0.0, 1.0);
}

@fragment
fn fs_blit(@builtin(position) p: vec4<f32>) -> @location(0) vec4<f32> {
    let x = min(u32(p.x), frame.width - 1u);
    let y = min(u32(p.y), frame.height - 1u);
    let k = 3u * (y * frame.width + x);
    let c = vec3<f32>(rgb[k], rgb[k + 1u], rgb[k + 2u]);
    return vec4<f32>(clamp(c, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
}
