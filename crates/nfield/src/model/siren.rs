//! SIREN (Sitzmann et al. 2020) in the seed's parameterisation (SPEC §3.1).
//!
//! `h0 = sin(ω0 (W0 x + b0))`, `h_l = sin(ω (W_l h + b_l))` for the hidden layers,
//! `y = sigmoid(W_out h + b_out)`; x ∈ [-1, 1]². The seed folds ω0 = 30 into the first layer only
//! (hidden ω = 1) and initialises `U(±1/2)` (first), `U(±√(6/in)/ω)` (hidden), `U(±√(6/W))` with
//! zero bias (output).

use super::mlp::{Activation, MlpSpec};
use crate::{Error, Result};

/// Architecture of a SIREN.
#[derive(Clone, Debug, PartialEq)]
pub struct SirenSpec {
    /// Hidden width (the seed: 64).
    pub width: usize,
    /// Number of `width → width` sine layers after the first one (the seed: 8, so 10 linear
    /// layers in all). This is `train.py --num-layers` for SIREN.
    pub hidden_layers: usize,
    /// ω0 of the first layer (default 30).
    pub omega0: f32,
    /// ω of the hidden layers (default 1: the seed's form).
    pub omega_hidden: f32,
}

impl Default for SirenSpec {
    /// The seed's SIREN: width 64, 8 hidden layers, ω0 = 30, ω = 1.
    fn default() -> Self {
        SirenSpec { width: 64, hidden_layers: 8, omega0: 30.0, omega_hidden: 1.0 }
    }
}

impl SirenSpec {
    /// The MLP: `2 → width` sine(ω0), `hidden_layers × (width → width)` sine(ω), `width → 3` sigmoid.
    pub fn mlp(&self) -> MlpSpec {
        MlpSpec::uniform(
            2,
            self.width,
            Activation::Sine { omega: self.omega0 },
            self.hidden_layers,
            Activation::Sine { omega: self.omega_hidden },
            3,
            Activation::Sigmoid,
        )
    }

    /// Checks ranges; errors name the CLI option.
    pub fn validate(&self) -> Result<()> {
        super::check_width(self.width)?;
        super::check_depth("layers", self.hidden_layers, 0)?;
        for (name, w) in [("omega0", self.omega0), ("omega-hidden", self.omega_hidden)] {
            if !(w.is_finite() && w > 0.0 && w <= 1.0e4) {
                return Err(Error::option(name, format!("expected a finite value in (0, 10000], got {w}")));
            }
        }
        Ok(())
    }

    /// Weight and bias bounds of layer `l` for `U(-b, b)` initialisation: `(weight, bias)`.
    pub fn init_bounds(&self, layer: usize) -> (f64, f64) {
        let n_layers = self.hidden_layers + 2;
        if layer == 0 {
            (0.5, 0.5) // 1 / in with in = 2
        } else if layer + 1 == n_layers {
            ((6.0 / self.width as f64).sqrt(), 0.0)
        } else {
            let b = (6.0 / self.width as f64).sqrt() / self.omega_hidden as f64;
            (b, b)
        }
    }
}
