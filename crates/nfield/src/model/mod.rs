//! Models: an architecture ([`ModelSpec`]) plus its parameters as one flat `Vec<f32>`.
//!
//! Every model is an *encoding* (identity for SIREN, Fourier features, or a hash grid) followed
//! by an MLP. The flat parameter vector has one fixed layout ([`ParamLayout`]) that every engine
//! uploads as is and every format reads and writes:
//!
//! ```text
//! [W_0 (out×in, row-major), b_0, W_1, b_1, …, W_last, b_last, encoding parameters]
//! encoding parameters: Fourier B (2×m, row-major) | hash table (L×T×F, C-order) | nothing
//! ```

mod coords;
mod fourier;
mod hash_grid;
mod mlp;
mod siren;

pub use coords::{CoordRange, Coords, PixelGrid, View, grid_positions};
pub use fourier::FourierSpec;
pub use hash_grid::{Growth, HASH_PRIME_Y, HashGridSpec, OutputActivation, hash_index};
pub use mlp::{Activation, LayerSpec, MlpSpec};
pub use siren::SirenSpec;

use crate::rng;
use crate::{Error, Result};
use std::ops::Range;

/// Which of the three architectures a model is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// SIREN.
    Siren,
    /// Fourier-feature MLP.
    Fourier,
    /// Multiresolution hash grid + MLP (Instant-NGP).
    HashGrid,
}

impl ModelKind {
    /// The `model.type` string of the seed's files.
    pub fn seed_type(self) -> &'static str {
        match self {
            ModelKind::Siren => "siren",
            ModelKind::Fourier => "fourier",
            ModelKind::HashGrid => "instant-ngp",
        }
    }

    /// The range of the model's inputs in the seed's convention.
    pub fn coord_range(self) -> CoordRange {
        match self {
            ModelKind::HashGrid => CoordRange::ZeroOne,
            _ => CoordRange::MinusOneOne,
        }
    }
}

/// The encoding in front of the MLP.
#[derive(Clone, Debug, PartialEq)]
pub enum EncodingSpec {
    /// The 2-D position goes straight into the MLP (SIREN).
    Identity,
    /// `[sin(2π x·B), cos(2π x·B)]`, B of shape `2 × frequencies`.
    Fourier {
        /// m, the number of columns of B.
        frequencies: usize,
        /// Whether B receives gradients and Adam updates.
        trainable: bool,
    },
    /// Multiresolution hash grid.
    HashGrid(HashGridEncoding),
}

/// The constants a hash-grid encoding needs at run time.
#[derive(Clone, Debug, PartialEq)]
pub struct HashGridEncoding {
    /// L.
    pub levels: usize,
    /// F.
    pub features: usize,
    /// T (a power of two).
    pub table_size: u32,
    /// Per-level scales (f32, exactly as used).
    pub scales: Vec<f32>,
    /// Offset added to `x·scale` before flooring.
    pub offset: f32,
    /// Per level: corners per side when stored densely, 0 when hashed
    /// ([`HashGridSpec::dense_dims`]).
    pub dense_dims: Vec<u32>,
}

impl HashGridEncoding {
    /// The table index (within level `l`) of grid corner `(cx, cy)`.
    #[inline(always)]
    pub fn corner_index(&self, l: usize, cx: i32, cy: i32) -> u32 {
        hash_grid::corner_index(cx, cy, self.dense_dims[l], self.table_size)
    }
}

/// An architecture: one of the three models with all its hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    /// SIREN.
    Siren(SirenSpec),
    /// Fourier-feature MLP.
    Fourier(FourierSpec),
    /// Hash grid + MLP.
    HashGrid(HashGridSpec),
}

/// Where layer `l`'s tensors sit in the flat parameter vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSlot {
    /// Offset of `W_l` (`outputs × inputs`, row-major).
    pub weights: usize,
    /// Offset of `b_l` (`outputs`).
    pub biases: usize,
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
}

/// The layout of a model's flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    /// MLP layers in order.
    pub layers: Vec<LayerSlot>,
    /// The encoding's parameters (Fourier B or the hash table); empty for SIREN.
    pub encoding: Range<usize>,
    /// Whether the optimizer updates the encoding's parameters.
    pub encoding_trainable: bool,
    /// Length of the whole vector.
    pub total: usize,
}

impl ModelSpec {
    /// Which architecture this is.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelSpec::Siren(_) => ModelKind::Siren,
            ModelSpec::Fourier(_) => ModelKind::Fourier,
            ModelSpec::HashGrid(_) => ModelKind::HashGrid,
        }
    }

    /// The MLP after the encoding.
    pub fn mlp(&self) -> MlpSpec {
        match self {
            ModelSpec::Siren(s) => s.mlp(),
            ModelSpec::Fourier(s) => s.mlp(),
            ModelSpec::HashGrid(s) => s.mlp(),
        }
    }

    /// The encoding before the MLP.
    pub fn encoding(&self) -> EncodingSpec {
        match self {
            ModelSpec::Siren(_) => EncodingSpec::Identity,
            ModelSpec::Fourier(s) => EncodingSpec::Fourier { frequencies: s.frequencies, trainable: s.train_b },
            ModelSpec::HashGrid(s) => EncodingSpec::HashGrid(HashGridEncoding {
                levels: s.levels,
                features: s.features_per_level,
                table_size: s.table_size() as u32,
                scales: s.level_scales(),
                offset: s.position_offset(),
                dense_dims: s.dense_dims(),
            }),
        }
    }

    /// Number of values the encoding owns (B or the table).
    pub fn encoding_param_count(&self) -> usize {
        match self {
            ModelSpec::Siren(_) => 0,
            ModelSpec::Fourier(s) => 2 * s.frequencies,
            ModelSpec::HashGrid(s) => s.table_len(),
        }
    }

    /// The flat parameter layout.
    pub fn layout(&self) -> ParamLayout {
        let mut offset = 0;
        let layers = self
            .mlp()
            .layers
            .iter()
            .map(|l| {
                let slot = LayerSlot {
                    weights: offset,
                    biases: offset + l.outputs * l.inputs,
                    inputs: l.inputs,
                    outputs: l.outputs,
                };
                offset += l.param_count();
                slot
            })
            .collect();
        let encoding = offset..offset + self.encoding_param_count();
        let encoding_trainable = match self {
            ModelSpec::Siren(_) => false,
            ModelSpec::Fourier(s) => s.train_b,
            ModelSpec::HashGrid(_) => true,
        };
        ParamLayout { layers, total: encoding.end, encoding, encoding_trainable }
    }

    /// Total number of parameters (trainable or not).
    pub fn param_count(&self) -> usize {
        self.mlp().param_count() + self.encoding_param_count()
    }

    /// Checks every hyper-parameter's range.
    pub fn validate(&self) -> Result<()> {
        match self {
            ModelSpec::Siren(s) => s.validate(),
            ModelSpec::Fourier(s) => s.validate(),
            ModelSpec::HashGrid(s) => s.validate(),
        }
    }

    /// A one-line description, e.g. `SIREN 2→64, 8×(64→64), 64→3 (ω0 30, ω 1)`.
    pub fn describe(&self) -> String {
        match self {
            ModelSpec::Siren(s) => format!(
                "SIREN 2→{w}, {h}×({w}→{w}), {w}→3, sine ω0 {o0} / ω {oh}, sigmoid output",
                w = s.width,
                h = s.hidden_layers,
                o0 = s.omega0,
                oh = s.omega_hidden
            ),
            ModelSpec::Fourier(s) => format!(
                "Fourier MLP: {m} frequencies (σ {sg}, B {tb}) → {f}→{w}, {h}×({w}→{w}) ReLU, {w}→3 sigmoid",
                m = s.frequencies,
                sg = s.sigma,
                tb = if s.train_b { "trained" } else { "frozen" },
                f = 2 * s.frequencies,
                w = s.width,
                h = s.hidden_layers - 1
            ),
            ModelSpec::HashGrid(s) => format!(
                "hash grid: {l} levels × {f} features, table 2^{t}, resolution {b}…{mx} ({g}) → {e}→{w}, {h}×({w}→{w}) ReLU, {w}→3 {o}",
                l = s.levels,
                f = s.features_per_level,
                t = s.log2_table_size,
                b = s.base_resolution,
                mx = s.max_resolution,
                g = match s.growth {
                    Growth::FloorLog => "floor-log scales".to_string(),
                    Growth::Geometric { per_level_scale } => format!("geometric ×{per_level_scale}"),
                },
                e = s.encoding_dim(),
                w = s.width,
                h = s.hidden_layers - 1,
                o = match s.output {
                    OutputActivation::Sigmoid => "sigmoid",
                    OutputActivation::Linear => "linear",
                }
            ),
        }
    }
}

/// The size of the image a model was trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A model: architecture, parameters, coordinate convention and training-image size.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// The architecture.
    pub spec: ModelSpec,
    /// All parameters, in [`ParamLayout`] order.
    pub params: Vec<f32>,
    /// How pixel grids map to model inputs.
    pub coords: Coords,
    /// The training image's size (drives the default render size and the aspect fit).
    pub image: Option<ImageSize>,
}

impl Model {
    /// A freshly initialised model (the seed's initialisation, SPEC §3), reproducible from `seed`.
    /// Coordinates default to pixel centres in the model's range.
    pub fn new(spec: ModelSpec, seed: u64) -> Result<Model> {
        spec.validate()?;
        let layout = spec.layout();
        let mut params = vec![0.0f32; layout.total];
        let mlp = spec.mlp();
        for (l, (slot, layer)) in layout.layers.iter().zip(&mlp.layers).enumerate() {
            let (w_init, b_init) = match &spec {
                ModelSpec::Siren(s) => {
                    let (wb, bb) = s.init_bounds(l);
                    (Init::Uniform(wb), Init::Uniform(bb))
                }
                // He initialisation, zero biases (train.py's FourierMLP).
                ModelSpec::Fourier(_) => (Init::Normal((2.0 / layer.inputs as f64).sqrt()), Init::Zero),
                // MLX's nn.Linear default: U(±1/√in) for weights and biases.
                ModelSpec::HashGrid(_) => {
                    let b = 1.0 / (layer.inputs as f64).sqrt();
                    (Init::Uniform(b), Init::Uniform(b))
                }
            };
            w_init.fill(seed, slot.weights, &mut params[slot.weights..slot.biases]);
            b_init.fill(seed, slot.biases, &mut params[slot.biases..slot.biases + slot.outputs]);
        }
        let enc = layout.encoding.clone();
        match &spec {
            ModelSpec::Siren(_) => {}
            ModelSpec::Fourier(s) => Init::Normal(s.sigma as f64).fill(seed, enc.start, &mut params[enc]),
            ModelSpec::HashGrid(_) => Init::Uniform(1e-4).fill(seed, enc.start, &mut params[enc]),
        }
        let coords = Coords { range: spec.kind().coord_range(), grid: PixelGrid::Centers };
        Ok(Model { spec, params, coords, image: None })
    }

    /// Which architecture this is.
    pub fn kind(&self) -> ModelKind {
        self.spec.kind()
    }

    /// The flat layout of [`Model::params`].
    pub fn layout(&self) -> ParamLayout {
        self.spec.layout()
    }

    /// Checks that the parameter vector has the layout's length and only finite values.
    pub fn check_params(&self) -> Result<()> {
        let total = self.spec.param_count();
        if self.params.len() != total {
            return Err(Error::field(
                "<memory>",
                "params",
                format!("expected {total} parameters for {}, got {}", self.spec.describe(), self.params.len()),
            ));
        }
        if let Some(i) = self.params.iter().position(|p| !p.is_finite()) {
            return Err(Error::field("<memory>", format!("params[{i}]"), "expected a finite value"));
        }
        Ok(())
    }
}

/// An initialisation rule; values are drawn per parameter offset from the Init stream.
enum Init {
    Uniform(f64),
    Normal(f64),
    Zero,
}

impl Init {
    fn fill(&self, seed: u64, offset: usize, out: &mut [f32]) {
        for (k, v) in out.iter_mut().enumerate() {
            let index = (offset + k) as u32;
            *v = match *self {
                Init::Uniform(b) => rng::init_uniform(seed, index, b),
                Init::Normal(s) => rng::init_normal(seed, index, s),
                Init::Zero => 0.0,
            };
        }
    }
}

pub(crate) fn check_width(width: usize) -> Result<()> {
    if !(1..=1024).contains(&width) {
        return Err(Error::option("width", format!("expected a hidden width in 1..=1024, got {width}")));
    }
    Ok(())
}

pub(crate) fn check_depth(option: &'static str, layers: usize, min: usize) -> Result<()> {
    if !(min..=64).contains(&layers) {
        return Err(Error::option(option, format!("expected {min}..=64 hidden layers, got {layers}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Offsets pinned with literal numbers (tiny-cuda-nn's test_grid.cu style): a layout change
    // breaks every file and every engine, so it must break this test first.
    #[test]
    fn seed_siren_layout_is_pinned() {
        let layout = ModelSpec::Siren(SirenSpec::default()).layout();
        assert_eq!(layout.total, 33_667);
        assert_eq!(layout.layers.len(), 10);
        assert_eq!(layout.layers[0], LayerSlot { weights: 0, biases: 128, inputs: 2, outputs: 64 });
        assert_eq!(layout.layers[1], LayerSlot { weights: 192, biases: 4288, inputs: 64, outputs: 64 });
        assert_eq!(layout.layers[9], LayerSlot { weights: 33_472, biases: 33_664, inputs: 64, outputs: 3 });
        assert!(layout.encoding.is_empty());
    }

    #[test]
    fn seed_fourier_and_hash_grid_layouts_are_pinned() {
        let f = ModelSpec::Fourier(FourierSpec::default()).layout();
        assert_eq!(f.layers.len(), 9);
        assert_eq!(f.layers[0], LayerSlot { weights: 0, biases: 8192, inputs: 128, outputs: 64 });
        assert_eq!(f.encoding, 37_571..37_699);
        let h = ModelSpec::HashGrid(HashGridSpec::default()).layout();
        assert_eq!(h.layers[0], LayerSlot { weights: 0, biases: 2048, inputs: 32, outputs: 64 });
        assert_eq!(h.layers[1], LayerSlot { weights: 2112, biases: 2304, inputs: 64, outputs: 3 });
        assert_eq!(h.encoding, 2307..133_379);
        assert!(h.encoding_trainable);
    }

    #[test]
    fn init_is_reproducible_and_bounded() {
        let spec = ModelSpec::Siren(SirenSpec::default());
        let a = Model::new(spec.clone(), 5).expect("valid spec");
        let b = Model::new(spec, 5).expect("valid spec");
        assert_eq!(a.params, b.params);
        let l = a.layout();
        assert!(a.params[..128].iter().all(|w| w.abs() <= 0.5));
        assert!(a.params[l.layers[9].biases..].iter().all(|&b| b == 0.0), "output bias starts at zero");
        let bound = (6.0f32 / 64.0).sqrt();
        assert!(a.params[l.layers[1].weights..l.layers[1].biases].iter().all(|w| w.abs() <= bound));
    }

    #[test]
    fn bad_specs_name_the_option() {
        let e = ModelSpec::Siren(SirenSpec { width: 0, ..Default::default() }).validate().unwrap_err();
        assert!(e.to_string().contains("`width`"), "{e}");
        let e =
            ModelSpec::HashGrid(HashGridSpec { features_per_level: 3, ..Default::default() }).validate().unwrap_err();
        assert!(e.to_string().contains("`features`"), "{e}");
    }
}
