//! Training vocabulary shared by every engine: options, the Adam optimizer's settings and
//! state, per-call statistics, and the quality metrics (PSNR, SSIM).
//!
//! The loss is the mean squared error over the batch and the three channels,
//! `L = 1/(3B) Σ_s Σ_c (p_sc − t_sc)²`, as in the seed's `train.py` and the PyTorch peers.
//! (The seed's Metal trainer drops the factor 2 and the 1/3, SPEC §9.9; Adam barely notices.)

mod metrics;

pub use metrics::{mse, psnr_from_mse, ssim};

use crate::{Error, Result};

/// Adam's hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f32,
    /// β1 (default 0.9).
    pub beta1: f32,
    /// β2 (default 0.999).
    pub beta2: f32,
    /// ε (default 1e-8).
    pub eps: f32,
    /// Divide the moments by `1 − β^t` (the seed's Metal trainer and PyTorch do; the seed's MLX
    /// trainer does not: SPEC §9.9). Default true.
    pub bias_correction: bool,
    /// Step decay of the learning rate (default: none, a constant rate).
    pub decay: LrDecay,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, bias_correction: true, decay: LrDecay::NONE }
    }
}

/// Step decay of the learning rate (instant-ngp's exponential decay): at step `t` (1-based) the
/// rate is `lr · factor^⌊(t − start)/every⌋` once `t ≥ start + every`, `lr` before.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrDecay {
    /// Steps at the full rate before the first decay interval starts.
    pub start: u64,
    /// Steps per decay interval (≥ 1).
    pub every: u64,
    /// Multiplier per interval, in (0, 1]; 1 is no decay.
    pub factor: f32,
}

impl LrDecay {
    /// No decay: a constant learning rate.
    pub const NONE: LrDecay = LrDecay { start: 0, every: 1, factor: 1.0 };

    /// The learning rate's multiplier at step `t` (1-based).
    pub fn scale(&self, t: u64) -> f64 {
        if self.factor == 1.0 || t < self.start {
            return 1.0;
        }
        let k = (t - self.start) / self.every.max(1);
        (self.factor as f64).powi(k.min(i32::MAX as u64) as i32)
    }
}

impl AdamConfig {
    /// Checks ranges; errors name the CLI option.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 10.0) {
            return Err(Error::option("lr", format!("expected a learning rate in (0, 10], got {}", self.lr)));
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(b.is_finite() && (0.0..1.0).contains(&b)) {
                return Err(Error::option(name, format!("expected a value in [0, 1), got {b}")));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::option("eps", format!("expected a finite value > 0, got {}", self.eps)));
        }
        let d = &self.decay;
        if !(d.factor.is_finite() && d.factor > 0.0 && d.factor <= 1.0) {
            return Err(Error::option("lr-decay-factor", format!("expected a value in (0, 1], got {}", d.factor)));
        }
        if d.every == 0 || d.every > u32::MAX as u64 || d.start > u32::MAX as u64 {
            return Err(Error::option(
                "lr-decay-every",
                format!("expected 1..=2^32−1 steps per interval from step ≤ 2^32−1, got {} from {}", d.every, d.start),
            ));
        }
        Ok(())
    }

    /// The learning rate at step `t` (1-based), after the decay.
    pub fn lr_at(&self, t: u64) -> f64 {
        self.lr as f64 * self.decay.scale(t)
    }

    /// The step-size multipliers `(1/(1 − β1^t), 1/(1 − β2^t))` of step `t` (1-based); ones
    /// without bias correction.
    pub fn corrections(&self, t: u64) -> (f64, f64) {
        if !self.bias_correction {
            return (1.0, 1.0);
        }
        let t = t.min(i32::MAX as u64) as i32;
        (1.0 / (1.0 - (self.beta1 as f64).powi(t)), 1.0 / (1.0 - (self.beta2 as f64).powi(t)))
    }
}

/// How an engine trains the loaded model.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOptions {
    /// Samples per step (pixels drawn uniformly with replacement, fresh each step).
    pub batch: u32,
    /// Seed of the counter-based sampler ([`crate::rng`]).
    pub seed: u64,
    /// Optimizer settings.
    pub adam: AdamConfig,
    /// Train (and evaluate) on these pixel indices only (`train_siren --limit`); all pixels if `None`.
    pub subset: Option<Vec<u32>>,
    /// Bit-identical results run to run, where an engine's fast path is not: CUDA's hash-grid
    /// step then adds the table's gradient as 64-bit fixed point (units of 2⁻³², integer
    /// atomics, order-independent) instead of float atomics. The CPU and wgpu engines and every
    /// other CUDA path are deterministic either way. Default false.
    pub deterministic: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { batch: 1 << 14, seed: 0, adam: AdamConfig::default(), subset: None, deterministic: false }
    }
}

/// Units per 1.0 of the 64-bit fixed point in which GPU engines add a hash table's gradient
/// deterministically (CUDA's `--deterministic`, always on wgpu): 2^32.
pub const TABLE_GRAD_ONE: f64 = 4_294_967_296.0;

/// The largest batch an engine is asked to take (2^26 samples).
pub const MAX_BATCH: u32 = 1 << 26;

impl TrainOptions {
    /// Checks ranges; errors name the CLI option.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return Err(Error::option(
                "batch",
                format!("expected 1..={MAX_BATCH} samples per step, got {}", self.batch),
            ));
        }
        if let Some(s) = &self.subset {
            if s.is_empty() {
                return Err(Error::option("limit", "expected at least one pixel to train on"));
            }
        }
        self.adam.validate()
    }
}

/// What one [`crate::Engine::train`] call did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Optimizer steps taken since the model was first initialised (includes resumed steps).
    pub step: u64,
    /// The training loss (batch MSE) of the last step.
    pub loss: f32,
    /// Samples processed by this call.
    pub samples: u64,
}

/// Adam's state: the step count and the two moments, one per parameter (zero for frozen ones).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamState {
    /// Steps taken.
    pub step: u64,
    /// First moments.
    pub m: Vec<f32>,
    /// Second moments.
    pub v: Vec<f32>,
}

impl AdamState {
    /// A fresh state for `n` parameters.
    pub fn zeros(n: usize) -> AdamState {
        AdamState { step: 0, m: vec![0.0; n], v: vec![0.0; n] }
    }
}

/// Quality of the model on its loaded target (all pixels, or the subset).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean squared error over pixels and channels, of the outputs clamped to [0, 1].
    pub mse: f64,
    /// `−10 log10(mse)` in dB.
    pub psnr_db: f64,
}

impl Evaluation {
    /// An evaluation from a mean squared error.
    pub fn from_mse(mse: f64) -> Evaluation {
        Evaluation { mse, psnr_db: psnr_from_mse(mse) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_decay_multiplies_the_rate_once_per_interval() {
        let d = LrDecay { start: 10, every: 5, factor: 0.5 };
        let scales: Vec<f64> = [1, 9, 10, 14, 15, 19, 20, 30].iter().map(|&t| d.scale(t)).collect();
        assert_eq!(scales, [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.0625]);
        assert_eq!(LrDecay::NONE.scale(1_000_000), 1.0);
        let cfg = AdamConfig { lr: 0.02, decay: d, ..Default::default() };
        assert!((cfg.lr_at(20) - 0.005).abs() < 1e-9);
        for (bad, option) in [
            (LrDecay { factor: 0.0, ..d }, "lr-decay-factor"),
            (LrDecay { factor: 1.5, ..d }, "lr-decay-factor"),
            (LrDecay { every: 0, ..d }, "lr-decay-every"),
        ] {
            let err = AdamConfig { decay: bad, ..cfg }.validate().expect_err("invalid");
            assert!(err.to_string().contains(option), "{err}");
        }
    }
}
