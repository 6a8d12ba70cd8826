//! Coordinate conventions: where pixel (i, j) of a W×H grid sits in the model's input space.
//!
//! The seed mixes two grids (SPEC §2.2): its Python trainer uses `linspace` *endpoints*
//! (`t_i = i/(W−1)`), its Metal trainer and renderers use pixel *centres* (`t_i = (i+0.5)/W`);
//! SIREN and Fourier map `t` to [−1, 1], the hash grid keeps [0, 1]. Rows are y-down, pixels are
//! row-major. nfield records the convention in every file it writes; files without one get
//! the seed producer's (`train.py`'s) convention: endpoints.

use serde::{Deserialize, Serialize};

/// The range the unit square is mapped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoordRange {
    /// `x = 2t − 1` (SIREN, Fourier).
    #[serde(rename = "minus_one_one")]
    MinusOneOne,
    /// `x = t` (hash grid).
    #[serde(rename = "zero_one")]
    ZeroOne,
}

/// Where the samples of a pixel grid sit inside the unit interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PixelGrid {
    /// `t_i = i / (n − 1)`: `numpy.linspace` including both endpoints (the seed's `train.py`).
    /// A single pixel sits at 0.5.
    #[serde(rename = "linspace")]
    Endpoints,
    /// `t_i = (i + 0.5) / n`: pixel centres (the seed's Metal code, PyTorch peers, nfield).
    #[serde(rename = "pixel_centers")]
    Centers,
}

/// A coordinate convention: a grid rule and a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coords {
    /// The range of the model's inputs.
    pub range: CoordRange,
    /// The grid rule.
    pub grid: PixelGrid,
}

impl Coords {
    /// The position of pixel `i` of `n` along one axis in the unit interval, in f64.
    #[inline]
    pub fn unit(&self, i: u32, n: u32) -> f64 {
        match self.grid {
            PixelGrid::Endpoints if n > 1 => i as f64 / (n - 1) as f64,
            PixelGrid::Endpoints => 0.5,
            PixelGrid::Centers => (i as f64 + 0.5) / n as f64,
        }
    }

    /// Maps a unit-interval position to the model's range, rounded to f32 once (as numpy's
    /// float64 `linspace` followed by `astype(float32)` does).
    #[inline]
    pub fn map_unit(&self, t: f64) -> f32 {
        match self.range {
            CoordRange::MinusOneOne => (-1.0 + 2.0 * t) as f32,
            CoordRange::ZeroOne => t as f32,
        }
    }

    /// The coordinate of pixel `i` of `n` along one axis.
    #[inline]
    pub fn axis(&self, i: u32, n: u32) -> f32 {
        self.map_unit(self.unit(i, n))
    }

    /// The model-space position of pixel `(i, j)` of a `width × height` grid.
    #[inline]
    pub fn pixel(&self, i: u32, j: u32, width: u32, height: u32) -> [f32; 2] {
        [self.axis(i, width), self.axis(j, height)]
    }

    /// The name used in files and on the command line, e.g. `pixel_centers/minus_one_one`.
    pub fn describe(&self) -> &'static str {
        match (self.grid, self.range) {
            (PixelGrid::Endpoints, CoordRange::MinusOneOne) => "linspace endpoints in [-1, 1]",
            (PixelGrid::Endpoints, CoordRange::ZeroOne) => "linspace endpoints in [0, 1]",
            (PixelGrid::Centers, CoordRange::MinusOneOne) => "pixel centres in [-1, 1]",
            (PixelGrid::Centers, CoordRange::ZeroOne) => "pixel centres in [0, 1]",
        }
    }
}

/// The part of the model's unit square that a rendered grid shows: `[x0, x1] × [y0, y1]` in
/// unit coordinates (0 = left/top edge of the training image, 1 = right/bottom). Pixels that
/// fall outside `[0, 1]²` are black (letterboxing).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    /// Left edge.
    pub x0: f64,
    /// Top edge.
    pub y0: f64,
    /// Right edge.
    pub x1: f64,
    /// Bottom edge.
    pub y1: f64,
}

impl Default for View {
    fn default() -> Self {
        View::FULL
    }
}

impl View {
    /// The whole training image, stretched to the grid.
    pub const FULL: View = View { x0: 0.0, y0: 0.0, x1: 1.0, y1: 1.0 };

    /// The seed's aspect fit (SPEC §2.2): the training image centred in a `width × height` grid
    /// with black bars on the sides that do not match its aspect ratio.
    pub fn aspect_fit(train_width: u32, train_height: u32, width: u32, height: u32) -> View {
        if train_width == 0 || train_height == 0 || width == 0 || height == 0 {
            return View::FULL;
        }
        let target = train_width as f64 / train_height as f64;
        let grid = width as f64 / height as f64;
        if grid > target {
            let visible = (target / grid).max(1e-6);
            let pad = 0.5 * (1.0 / visible - 1.0);
            View { x0: -pad, x1: 1.0 + pad, ..View::FULL }
        } else if grid < target {
            let visible = (grid / target).max(1e-6);
            let pad = 0.5 * (1.0 / visible - 1.0);
            View { y0: -pad, y1: 1.0 + pad, ..View::FULL }
        } else {
            View::FULL
        }
    }

    /// Whether this is the identity view (no letterbox, no zoom).
    pub fn is_full(&self) -> bool {
        *self == View::FULL
    }
}

/// Fills `out` (`width·height·2` floats, row-major, `[x, y]` per pixel) with the model-space
/// positions of a grid, and `inside` (`width·height`) with whether each pixel lies in the image.
pub fn grid_positions(coords: Coords, view: View, width: u32, height: u32, out: &mut [f32], inside: &mut [bool]) {
    let xs: Vec<(f32, bool)> = (0..width)
        .map(|i| {
            let u = view.x0 + (view.x1 - view.x0) * coords.unit(i, width);
            (coords.map_unit(u), (0.0..=1.0).contains(&u))
        })
        .collect();
    for j in 0..height {
        let v = view.y0 + (view.y1 - view.y0) * coords.unit(j, height);
        let y = coords.map_unit(v);
        let row_in = (0.0..=1.0).contains(&v);
        for (i, &(x, col_in)) in xs.iter().enumerate() {
            let k = j as usize * width as usize + i;
            out[2 * k] = x;
            out[2 * k + 1] = y;
            inside[k] = row_in && col_in;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_endpoints_match_numpy() {
        let c = Coords { range: CoordRange::MinusOneOne, grid: PixelGrid::Endpoints };
        assert_eq!(c.axis(0, 771), -1.0);
        assert_eq!(c.axis(770, 771), 1.0);
        assert_eq!(c.axis(385, 771), 0.0);
        let z = Coords { range: CoordRange::ZeroOne, grid: PixelGrid::Endpoints };
        assert_eq!(z.axis(0, 1), 0.5, "a single pixel sits in the middle (the seed divides by zero)");
    }

    #[test]
    fn pixel_centres() {
        let c = Coords { range: CoordRange::MinusOneOne, grid: PixelGrid::Centers };
        assert_eq!(c.axis(0, 2), -0.5);
        assert_eq!(c.axis(1, 2), 0.5);
    }

    #[test]
    fn aspect_fit_letterboxes_the_long_side() {
        let v = View::aspect_fit(100, 100, 200, 100);
        assert!((v.x0 + 0.5).abs() < 1e-12 && (v.x1 - 1.5).abs() < 1e-12);
        assert_eq!((v.y0, v.y1), (0.0, 1.0));
        assert!(View::aspect_fit(50, 80, 50, 80).is_full());
    }
}
