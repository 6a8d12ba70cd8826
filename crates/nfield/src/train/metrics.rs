//! Image quality metrics on [0, 1] RGB images, in f64.

use crate::data::Image;

/// PSNR in dB of a mean squared error on [0, 1] data (peak 1); 100 dB for a perfect fit.
pub fn psnr_from_mse(mse: f64) -> f64 {
    if mse <= 0.0 { 100.0 } else { -10.0 * mse.log10() }
}

/// Mean squared error between two equally long value slices.
pub fn mse(a: &[f32], b: &[f32]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    if a.is_empty() {
        return 0.0;
    }
    a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>() / a.len() as f64
}

/// Structural similarity (Wang et al. 2004) of two images of the same size: an 11×11 Gaussian
/// window with σ = 1.5, K1 = 0.01, K2 = 0.03, data range 1, computed per channel over the
/// positions where the window fits ("valid"), then averaged over channels. Images smaller than
/// 11 pixels use the largest odd window that fits, with σ scaled alike.
pub fn ssim(a: &Image, b: &Image) -> Option<f64> {
    if a.width != b.width || a.height != b.height {
        return None;
    }
    let (w, h) = (a.width as usize, a.height as usize);
    let mut win = 11.min(w).min(h);
    if win % 2 == 0 {
        win -= 1;
    }
    let sigma = 1.5 * win as f64 / 11.0;
    let half = (win / 2) as isize;
    let mut kernel: Vec<f64> = (-half..=half).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let norm: f64 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= norm);

    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let (ow, oh) = (w - win + 1, h - win + 1);
    let mut total = 0.0;
    for c in 0..3 {
        let chan = |img: &Image| -> Vec<f64> { (0..w * h).map(|k| img.rgb[3 * k + c] as f64).collect() };
        let (x, y) = (chan(a), chan(b));
        let xx: Vec<f64> = x.iter().map(|v| v * v).collect();
        let yy: Vec<f64> = y.iter().map(|v| v * v).collect();
        let xy: Vec<f64> = x.iter().zip(&y).map(|(p, q)| p * q).collect();
        let filt = |src: &[f64]| -> Vec<f64> {
            // separable valid filter: rows, then columns
            let mut tmp = vec![0.0; ow * h];
            for j in 0..h {
                for i in 0..ow {
                    tmp[j * ow + i] = (0..win).map(|k| kernel[k] * src[j * w + i + k]).sum();
                }
            }
            let mut out = vec![0.0; ow * oh];
            for j in 0..oh {
                for i in 0..ow {
                    out[j * ow + i] = (0..win).map(|k| kernel[k] * tmp[(j + k) * ow + i]).sum();
                }
            }
            out
        };
        let (mx, my, sxx, syy, sxy) = (filt(&x), filt(&y), filt(&xx), filt(&yy), filt(&xy));
        let mut sum = 0.0;
        for k in 0..ow * oh {
            let (vx, vy, cxy) = (sxx[k] - mx[k] * mx[k], syy[k] - my[k] * my[k], sxy[k] - mx[k] * my[k]);
            sum += ((2.0 * mx[k] * my[k] + c1) * (2.0 * cxy + c2))
                / ((mx[k] * mx[k] + my[k] * my[k] + c1) * (vx + vy + c2));
        }
        total += sum / (ow * oh) as f64;
    }
    Some(total / 3.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise_image(w: u32, h: u32, seed: u64) -> Image {
        let rgb = (0..w * h * 3)
            .map(|i| crate::rng::unit_f32(crate::rng::draw(seed, crate::rng::Stream::Init, 9, i)[0]))
            .collect();
        Image::new(w, h, rgb).expect("valid image")
    }

    #[test]
    fn ssim_of_identical_images_is_one() {
        let a = noise_image(32, 20, 1);
        assert!((ssim(&a, &a).expect("same size") - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ssim_drops_with_noise_and_is_symmetric() {
        let a = noise_image(40, 40, 1);
        let b = noise_image(40, 40, 2);
        let s = ssim(&a, &b).expect("same size");
        assert!(s < 0.1, "independent noise images have SSIM {s}");
        assert!((s - ssim(&b, &a).expect("same size")).abs() < 1e-12);
        assert!(ssim(&a, &noise_image(40, 39, 1)).is_none());
    }

    #[test]
    fn psnr_of_known_errors() {
        assert!((psnr_from_mse(0.01) - 20.0).abs() < 1e-12);
        assert_eq!(psnr_from_mse(0.0), 100.0);
        assert!((mse(&[0.0, 1.0], &[0.5, 0.5]) - 0.25).abs() < 1e-12);
    }
}
