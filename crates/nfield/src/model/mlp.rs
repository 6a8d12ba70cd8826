//! The MLP that ends every model: a chain of linear layers, each followed by an activation.
//!
//! Layout contract (shared by every engine and by the seed's JSON): layer `l` has a weight
//! matrix `W_l` of shape `(outputs, inputs)`, row-major (`W[o][i]` at `o * inputs + i`), and a
//! bias `b_l` of length `outputs`; the layer computes `y = act(W x + b)`.

use serde::{Deserialize, Serialize};

/// The non-linearity after a linear layer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Activation {
    /// `sin(omega · z)` (SIREN; the seed uses ω = 30 on the first layer, 1 on the others).
    Sine {
        /// The frequency ω applied to the pre-activation.
        omega: f32,
    },
    /// `max(z, 0)`.
    Relu,
    /// `1 / (1 + e^-z)`: the seed's output activation for every model.
    Sigmoid,
    /// The identity (instant-ngp's and tiny-cuda-nn's output activation).
    Linear,
}

impl Activation {
    /// `act(z)` in f64 (the oracle's definition of each activation).
    pub fn apply_f64(self, z: f64) -> f64 {
        match self {
            Activation::Sine { omega } => (omega as f64 * z).sin(),
            Activation::Relu => z.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Linear => z,
        }
    }

    /// `d act / d z` at pre-activation `z` with output `y = act(z)`, in f64.
    pub fn derivative_f64(self, z: f64, y: f64) -> f64 {
        match self {
            Activation::Sine { omega } => omega as f64 * (omega as f64 * z).cos(),
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Linear => 1.0,
        }
    }
}

/// One linear layer and its activation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerSpec {
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// Activation applied to `W x + b`.
    pub activation: Activation,
}

impl LayerSpec {
    /// Parameters of the layer: `outputs × inputs` weights plus `outputs` biases.
    pub fn param_count(&self) -> usize {
        self.outputs * self.inputs + self.outputs
    }
}

/// A whole MLP: its layers in order. Input width is `layers[0].inputs`.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpSpec {
    /// The layers, first to last.
    pub layers: Vec<LayerSpec>,
}

impl MlpSpec {
    /// A uniform MLP: `input → width` (`first`), `hidden` more `width → width` layers (`hidden_act`),
    /// then `width → output` (`output_act`).
    pub fn uniform(
        input: usize,
        width: usize,
        first: Activation,
        hidden: usize,
        hidden_act: Activation,
        output: usize,
        output_act: Activation,
    ) -> Self {
        let mut layers = vec![LayerSpec { inputs: input, outputs: width, activation: first }];
        for _ in 0..hidden {
            layers.push(LayerSpec { inputs: width, outputs: width, activation: hidden_act });
        }
        layers.push(LayerSpec { inputs: width, outputs: output, activation: output_act });
        MlpSpec { layers }
    }

    /// Width of the input vector.
    pub fn input_dim(&self) -> usize {
        self.layers.first().map_or(0, |l| l.inputs)
    }

    /// Width of the output vector.
    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }

    /// The widest layer (input or output): the size of an activation scratch row.
    pub fn max_width(&self) -> usize {
        self.layers.iter().map(|l| l.inputs.max(l.outputs)).max().unwrap_or(0)
    }

    /// Parameters of all layers.
    pub fn param_count(&self) -> usize {
        self.layers.iter().map(LayerSpec::param_count).sum()
    }

    /// Multiply-adds per sample for one forward pass.
    pub fn macs_per_sample(&self) -> usize {
        self.layers.iter().map(|l| l.inputs * l.outputs).sum()
    }
}
