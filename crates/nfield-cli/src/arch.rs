//! Model architecture flags shared by `nfield train` and `nfield bench`.

use clap::{Args, ValueEnum};
use nfield::model::{FourierSpec, Growth, HashGridSpec, ModelSpec, OutputActivation, SirenSpec};

/// `--model`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelChoice {
    /// SIREN: sine activations (ω0 on the first layer), sigmoid output.
    Siren,
    /// Fourier-feature MLP: [sin, cos](2π x·B), ReLU layers, sigmoid output.
    Fourier,
    /// Multiresolution hash grid (Instant-NGP) + a small ReLU MLP.
    HashGrid,
}

impl ModelChoice {
    /// A short name for file names (`siren`, `fourier`, `hash-grid`).
    pub fn name(self) -> &'static str {
        match self {
            ModelChoice::Siren => "siren",
            ModelChoice::Fourier => "fourier",
            ModelChoice::HashGrid => "hash-grid",
        }
    }
}

/// `--growth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GrowthChoice {
    /// The seed's scales: exp(lerp(⌊ln base⌋, ⌊ln max⌋, l/(L−1))).
    FloorLog,
    /// tiny-cuda-nn's: base·b^l − 1 with b = --per-level-scale, positions offset by 0.5.
    Geometric,
}

/// `--output-activation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputChoice {
    /// The seed's sigmoid.
    Sigmoid,
    /// instant-ngp's identity.
    Linear,
}

/// Architecture flags. Unset flags take the model's defaults (listed per flag).
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Which model to fit.
    #[arg(long, value_enum, default_value_t = ModelChoice::Siren)]
    pub model: ModelChoice,
    /// Hidden width [siren, fourier, hash-grid: 64].
    #[arg(long, help_heading = "Architecture")]
    pub width: Option<usize>,
    /// Hidden layers: SIREN's width→width sine layers after the first [8]; ReLU layers for
    /// fourier [8] and hash-grid [2] (train.py's --num-layers).
    #[arg(long, help_heading = "Architecture")]
    pub layers: Option<usize>,
    /// SIREN: ω0 of the first layer [30].
    #[arg(long, allow_negative_numbers = true, help_heading = "Architecture")]
    pub omega0: Option<f32>,
    /// SIREN: ω of the hidden layers [1, the seed's form].
    #[arg(long, allow_negative_numbers = true, help_heading = "Architecture")]
    pub omega_hidden: Option<f32>,
    /// Fourier: number of frequencies m (B is 2×m) [64].
    #[arg(long, help_heading = "Architecture")]
    pub frequencies: Option<usize>,
    /// Fourier: standard deviation of B [1] (10 suits photos better).
    #[arg(long, allow_negative_numbers = true, help_heading = "Architecture")]
    pub sigma: Option<f32>,
    /// Fourier: train B too (the seed's MLX trainer does, by accident).
    #[arg(long, help_heading = "Architecture")]
    pub train_b: bool,
    /// Hash grid: levels [16].
    #[arg(long, help_heading = "Architecture")]
    pub levels: Option<usize>,
    /// Hash grid: features per level, 1, 2, 4 or 8 [2].
    #[arg(long, help_heading = "Architecture")]
    pub features: Option<usize>,
    /// Hash grid: log2 of the entries per level, 4–24 [19 on a GPU, 16 on the CPU; the seed's
    /// files use 12].
    #[arg(long, help_heading = "Architecture")]
    pub log2_table: Option<u32>,
    /// Hash grid: coarsest resolution [16].
    #[arg(long, help_heading = "Architecture")]
    pub base_res: Option<u32>,
    /// Hash grid: finest resolution (floor-log growth) [2048].
    #[arg(long, help_heading = "Architecture")]
    pub max_res: Option<u32>,
    /// Hash grid: how level scales grow [geometric].
    #[arg(long, value_enum, help_heading = "Architecture")]
    pub growth: Option<GrowthChoice>,
    /// Hash grid: per-level scale b of geometric growth [1.5].
    #[arg(long, allow_negative_numbers = true, help_heading = "Architecture")]
    pub per_level_scale: Option<f32>,
    /// Hash grid: output activation [linear on a GPU (tiny-cuda-nn's), sigmoid on the CPU].
    #[arg(long, value_enum, help_heading = "Architecture")]
    pub output_activation: Option<OutputChoice>,
    /// Hash grid: store each level whose grid of corners fits the table densely (index
    /// cx + cy·dim) instead of hashing it, as instant-ngp and tiny-cuda-nn do [true on a GPU,
    /// false on the CPU (every level hashed, the seed's)]; `--dense-coarse` alone means true.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", help_heading = "Architecture")]
    pub dense_coarse: Option<bool>,
}

impl ModelArgs {
    /// The architecture these flags describe (validated by the library on use), with the
    /// defaults of the engine that will train it: on a GPU the hash grid defaults to
    /// tiny-cuda-nn's image configuration (table 2^19, dense coarse levels, linear output: 40 dB
    /// on a photo in a fraction of a second), on the CPU to a 2^16 table, every level hashed and
    /// the seed's sigmoid (8× fewer table values to update per step).
    pub fn spec(&self, on_gpu: bool) -> ModelSpec {
        match self.model {
            ModelChoice::Siren => {
                let d = SirenSpec::default();
                ModelSpec::Siren(SirenSpec {
                    width: self.width.unwrap_or(d.width),
                    hidden_layers: self.layers.unwrap_or(d.hidden_layers),
                    omega0: self.omega0.unwrap_or(d.omega0),
                    omega_hidden: self.omega_hidden.unwrap_or(d.omega_hidden),
                })
            }
            ModelChoice::Fourier => {
                let d = FourierSpec::default();
                ModelSpec::Fourier(FourierSpec {
                    frequencies: self.frequencies.unwrap_or(d.frequencies),
                    sigma: self.sigma.unwrap_or(d.sigma),
                    width: self.width.unwrap_or(d.width),
                    hidden_layers: self.layers.unwrap_or(d.hidden_layers),
                    train_b: self.train_b,
                })
            }
            ModelChoice::HashGrid => {
                let d = HashGridSpec::default();
                let growth = match self.growth.unwrap_or(GrowthChoice::Geometric) {
                    GrowthChoice::FloorLog => Growth::FloorLog,
                    GrowthChoice::Geometric => {
                        Growth::Geometric { per_level_scale: self.per_level_scale.unwrap_or(1.5) }
                    }
                };
                ModelSpec::HashGrid(HashGridSpec {
                    levels: self.levels.unwrap_or(d.levels),
                    features_per_level: self.features.unwrap_or(d.features_per_level),
                    log2_table_size: self.log2_table.unwrap_or(if on_gpu { 19 } else { 16 }),
                    base_resolution: self.base_res.unwrap_or(d.base_resolution),
                    max_resolution: self.max_res.unwrap_or(d.max_resolution),
                    growth,
                    width: self.width.unwrap_or(d.width),
                    hidden_layers: self.layers.unwrap_or(2),
                    output: match self.output_activation.unwrap_or(if on_gpu {
                        OutputChoice::Linear
                    } else {
                        OutputChoice::Sigmoid
                    }) {
                        OutputChoice::Sigmoid => OutputActivation::Sigmoid,
                        OutputChoice::Linear => OutputActivation::Linear,
                    },
                    dense_coarse: self.dense_coarse.unwrap_or(on_gpu),
                })
            }
        }
    }

    /// Flags that do not apply to the chosen model (to warn about).
    pub fn ignored(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let siren = self.model == ModelChoice::Siren;
        let fourier = self.model == ModelChoice::Fourier;
        let hash = self.model == ModelChoice::HashGrid;
        for (set, name, applies) in [
            (self.omega0.is_some(), "--omega0", siren),
            (self.omega_hidden.is_some(), "--omega-hidden", siren),
            (self.frequencies.is_some(), "--frequencies", fourier),
            (self.sigma.is_some(), "--sigma", fourier),
            (self.train_b, "--train-b", fourier),
            (self.levels.is_some(), "--levels", hash),
            (self.features.is_some(), "--features", hash),
            (self.log2_table.is_some(), "--log2-table", hash),
            (self.base_res.is_some(), "--base-res", hash),
            (self.max_res.is_some(), "--max-res", hash),
            (self.growth.is_some(), "--growth", hash),
            (self.per_level_scale.is_some(), "--per-level-scale", hash),
            (self.output_activation.is_some(), "--output-activation", hash),
            (self.dense_coarse.is_some(), "--dense-coarse", hash),
        ] {
            if set && !applies {
                v.push(name);
            }
        }
        v
    }
}
