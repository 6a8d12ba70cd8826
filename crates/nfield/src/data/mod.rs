//! Images: loading (EXIF orientation, optional down-scaling), pixel access and PNG output.
//!
//! Colours are 8-bit sRGB values divided by 255, with no linearisation (SPEC §2.3); alpha is
//! dropped. Pixels are row-major, y down: pixel `(i, j)` is at `k = j·width + i`.

use crate::format::write_atomic;
use crate::{Error, Result};
use image::{DynamicImage, ImageDecoder, ImageReader, imageops::FilterType};
use std::path::Path;

/// The largest image nfield accepts, in pixels (256 Mpx; 3 GiB as f32 RGB).
pub const MAX_PIXELS: u64 = 1 << 28;

/// An RGB image with values in [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width·height·3` values, row-major, RGB interleaved.
    pub rgb: Vec<f32>,
}

impl Image {
    /// An image from `width·height·3` floats; errors on a size mismatch, an empty image or
    /// a non-finite value.
    pub fn new(width: u32, height: u32, rgb: Vec<f32>) -> Result<Image> {
        check_size(Path::new("<memory>"), width, height)?;
        if rgb.len() != width as usize * height as usize * 3 {
            return Err(Error::Image {
                path: "<memory>".into(),
                message: format!(
                    "expected {}×{}×3 = {} values, got {}",
                    width,
                    height,
                    width as usize * height as usize * 3,
                    rgb.len()
                ),
            });
        }
        if rgb.iter().any(|v| !v.is_finite()) {
            return Err(Error::Image { path: "<memory>".into(), message: "contains a non-finite value".into() });
        }
        Ok(Image { width, height, rgb })
    }

    /// Loads a PNG or JPEG, applies its EXIF orientation (as the seed's `train.py` does), drops
    /// alpha, and, if `max_dim` is given and the longer side exceeds it, scales it down with a
    /// Lanczos3 filter so that the longer side is `max_dim` (never up).
    pub fn load(path: &Path, max_dim: Option<u32>) -> Result<Image> {
        let bad = |message: String| Error::Image { path: path.to_path_buf(), message };
        let bytes =
            std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), action: "read", source })?;
        if bytes.is_empty() {
            return Err(bad("the file is empty; expected a PNG or JPEG image".into()));
        }
        let reader = ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .map_err(|e| bad(format!("cannot read: {e}")))?;
        if reader.format().is_none() {
            return Err(bad("not a PNG or JPEG image (unrecognised file signature)".into()));
        }
        let mut decoder = reader.into_decoder().map_err(|e| bad(format!("cannot decode: {e}")))?;
        let (w, h) = decoder.dimensions();
        check_size(path, w, h)?;
        let orientation = decoder.orientation().map_err(|e| bad(format!("cannot read orientation: {e}")))?;
        let mut img = DynamicImage::from_decoder(decoder).map_err(|e| bad(format!("cannot decode: {e}")))?;
        img.apply_orientation(orientation);
        let mut rgb = img.to_rgb32f();
        if let Some(max_dim) = max_dim {
            if max_dim == 0 {
                return Err(Error::option("max-dim", "expected a size of at least 1 pixel, got 0"));
            }
            let (w, h) = rgb.dimensions();
            let long = w.max(h);
            if long > max_dim {
                let s = max_dim as f64 / long as f64;
                let nw = ((w as f64 * s) as u32).max(1);
                let nh = ((h as f64 * s) as u32).max(1);
                rgb = image::imageops::resize(&rgb, nw, nh, FilterType::Lanczos3);
                // Lanczos rings slightly outside [0, 1]; targets are colours.
                rgb.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
            }
        }
        let (width, height) = rgb.dimensions();
        Ok(Image { width, height, rgb: rgb.into_raw() })
    }

    /// Number of pixels.
    pub fn pixel_count(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// The colour of pixel `k` (row-major index).
    #[inline]
    pub fn pixel(&self, k: usize) -> [f32; 3] {
        [self.rgb[3 * k], self.rgb[3 * k + 1], self.rgb[3 * k + 2]]
    }

    /// 8-bit RGB, rounding to nearest (the seed truncates; rounding halves the quantisation
    /// error and differs from it by at most 1/255).
    pub fn to_rgb8(&self) -> Vec<u8> {
        self.rgb.iter().map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect()
    }

    /// Writes an 8-bit RGB PNG through a temporary file renamed into place.
    pub fn save_png(&self, path: &Path) -> Result<()> {
        let bytes = self.to_rgb8();
        write_atomic(path, |w| {
            let enc = image::codecs::png::PngEncoder::new(w);
            image::ImageEncoder::write_image(enc, &bytes, self.width, self.height, image::ExtendedColorType::Rgb8)
                .map_err(std::io::Error::other)
        })
    }
}

fn check_size(path: &Path, width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::Image {
            path: path.to_path_buf(),
            message: format!("the image is {width}×{height}; expected at least 1×1"),
        });
    }
    if width as u64 * height as u64 > MAX_PIXELS {
        return Err(Error::Image {
            path: path.to_path_buf(),
            message: format!(
                "the image is {width}×{height}; at most {MAX_PIXELS} pixels are supported (use --max-dim)"
            ),
        });
    }
    Ok(())
}
