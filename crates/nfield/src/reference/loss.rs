//! The training loss in f64: mean squared error over samples and channels.
//!
//! `pred`, `target`: `(N, C)`; `L = 1/(N·C) Σ (pred − target)²`; `∂L/∂pred = 2 (pred − target)/(N·C)`.

/// The loss.
pub fn mse(pred: &[f64], target: &[f64]) -> f64 {
    assert_eq!(pred.len(), target.len());
    pred.iter().zip(target).map(|(p, t)| (p - t) * (p - t)).sum::<f64>() / pred.len() as f64
}

/// The loss and its gradient with respect to `pred`.
pub fn mse_with_grad(pred: &[f64], target: &[f64]) -> (f64, Vec<f64>) {
    let scale = 2.0 / pred.len() as f64;
    let grad = pred.iter().zip(target).map(|(p, t)| scale * (p - t)).collect();
    (mse(pred, target), grad)
}
