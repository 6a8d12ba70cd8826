//! Renders a model file (the seed's JSON, or safetensors) into a texture of a wgpu device that
//! this program owns, without a window, and saves the texture as a PNG: the embedding API in
//! twenty lines.
//!
//! `cargo run --release -p nfield-wgpu --example render_texture -- ../shared/seed/data/siren.json out.png [WIDTH HEIGHT]`

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_path, out_path, rest @ ..] = args.as_slice() else {
        return Err("usage: render_texture MODEL OUT.png [WIDTH HEIGHT]".into());
    };
    let model = nfield::format::read_model(model_path.as_ref())?.model;
    let (tw, th) = model.image.map_or((512, 512), |i| (i.width, i.height));
    let (width, height) = match rest {
        [w, h] => (w.parse()?, h.parse()?),
        _ => (tw, th),
    };

    // The application's own device (here opened headless; a renderer would pass its own).
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default()))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&Default::default()))?;

    let format = wgpu::TextureFormat::Rgba8Unorm;
    let mut field = nfield_wgpu::FieldRenderer::new(device, queue, &model, format)?;
    field.render_texture(width, height)?; // every frame, at any size; draw() records into your pass
    let rgba = field.read_texture()?;
    image::RgbaImage::from_raw(width, height, rgba).ok_or("texture size mismatch")?.save(out_path)?;
    println!("rendered {model_path} at {width}×{height} on {} into {out_path}", adapter.get_info().name);
    Ok(())
}
