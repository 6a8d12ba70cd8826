//! Fourier-feature MLP (Tancik et al. 2020) as the seed's `train.py` builds it (SPEC §3.2).
//!
//! `f = [sin(2π x·B), cos(2π x·B)]` (all sines first), B of shape `2 × m`, then ReLU layers and a
//! sigmoid output. B ~ N(0, σ²); weights ~ N(0, 2/in) (He), biases zero. B is frozen by default
//! (the seed's MLX trainer trains it by accident, SPEC §9.8; `train_b` makes it an option).

use super::mlp::{Activation, MlpSpec};
use crate::{Error, Result};

/// Architecture of a Fourier-feature MLP.
#[derive(Clone, Debug, PartialEq)]
pub struct FourierSpec {
    /// Number of frequencies m (B is `2 × m`; the encoding has `2m` features). The seed: 64.
    pub frequencies: usize,
    /// Standard deviation of B at initialisation (the seed: 1).
    pub sigma: f32,
    /// Hidden width (the seed: 64).
    pub width: usize,
    /// Number of ReLU layers, the first mapping `2m → width` (the seed: 8). This is
    /// `train.py --num-layers` for the Fourier model.
    pub hidden_layers: usize,
    /// Whether B is trained (default false).
    pub train_b: bool,
}

impl Default for FourierSpec {
    /// The seed's Fourier MLP: 64 frequencies, σ = 1, width 64, 8 ReLU layers, frozen B.
    fn default() -> Self {
        FourierSpec { frequencies: 64, sigma: 1.0, width: 64, hidden_layers: 8, train_b: false }
    }
}

impl FourierSpec {
    /// The MLP: `2m → width` ReLU, `(hidden_layers − 1) × (width → width)` ReLU, `width → 3` sigmoid.
    pub fn mlp(&self) -> MlpSpec {
        MlpSpec::uniform(
            2 * self.frequencies,
            self.width,
            Activation::Relu,
            self.hidden_layers - 1,
            Activation::Relu,
            3,
            Activation::Sigmoid,
        )
    }

    /// Checks ranges; errors name the CLI option.
    pub fn validate(&self) -> Result<()> {
        super::check_width(self.width)?;
        super::check_depth("layers", self.hidden_layers, 1)?;
        if !(1..=4096).contains(&self.frequencies) {
            return Err(Error::option("frequencies", format!("expected 1..=4096, got {}", self.frequencies)));
        }
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(Error::option("sigma", format!("expected a finite value > 0, got {}", self.sigma)));
        }
        Ok(())
    }
}
