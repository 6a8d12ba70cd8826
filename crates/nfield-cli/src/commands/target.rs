//! Training to a target PSNR (`nfield train --target-psnr`, and the bench's time-to-quality
//! cases with nfield's own schedule): when to spend a full-image evaluation.
//!
//! An evaluation of target.jpeg (1.6 MP) costs about as much as one hash-grid training step on
//! an H100 (0.36 ms against 0.32–0.50), so evaluating every few steps spends a third of the
//! clock, and evaluating rarely overshoots the step that first reaches the target. The schedule
//! evaluates after `first` steps, then extrapolates the PSNR curve through the last two
//! evaluations to the step where it meets the target and evaluates there (at most `max_gap`
//! steps on). The curve is concave, so the extrapolation lands at or before the crossing and
//! the last evaluations close in on it. On the H100 trajectories of the hash grid (2026-11-27,
//! four seeds, `bench/results/cuda-2026-11-27-hash-trajectories.jsonl`) this costs 1.0–1.4 ms
//! over an oracle that evaluates exactly once, at the first step past 40 dB, against 6–8 ms for
//! an evaluation every 10 or 20 steps.

/// The evaluation schedule of one run to `target_db`.
#[derive(Clone, Debug)]
pub struct TargetSchedule {
    target_db: f64,
    first: u64,
    max_gap: u64,
    /// (step, PSNR) of the evaluations so far, in order.
    evals: Vec<(u64, f64)>,
}

impl TargetSchedule {
    /// A schedule for a run of at most `max_steps` steps: first evaluation after
    /// `max_steps / 32` steps (at least 1), never more than that many steps between two.
    pub fn new(target_db: f64, max_steps: u64) -> TargetSchedule {
        let first = max_steps.div_ceil(32).max(1);
        TargetSchedule { target_db, first, max_gap: first, evals: Vec::new() }
    }

    /// The step (counted from the run's start) at which to evaluate next, after the last
    /// evaluation (or the start).
    pub fn next_eval(&self) -> u64 {
        match self.evals.as_slice() {
            [] => self.first,
            [(s, _)] => s + self.max_gap,
            [.., (s0, p0), (s1, p1)] => {
                let slope = (p1 - p0) / (s1 - s0) as f64;
                let gap = if slope > 0.0 && slope.is_finite() {
                    ((self.target_db - p1) / slope).ceil().clamp(1.0, self.max_gap as f64) as u64
                } else {
                    self.max_gap
                };
                s1 + gap
            }
        }
    }

    /// Records the evaluation at `step` (counted from the run's start); true when it reaches
    /// the target.
    pub fn record(&mut self, step: u64, psnr_db: f64) -> bool {
        self.evals.push((step, psnr_db));
        psnr_db >= self.target_db
    }

    /// Evaluations recorded so far.
    pub fn evaluations(&self) -> usize {
        self.evals.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the schedule against a PSNR curve; (first step at or above the target, evaluations).
    fn run(curve: impl Fn(u64) -> f64, target: f64, max_steps: u64) -> Option<(u64, usize)> {
        let mut s = TargetSchedule::new(target, max_steps);
        let mut last = 0;
        loop {
            let step = s.next_eval();
            assert!(step > last, "the schedule must move forward ({last} → {step})");
            last = step;
            if step > max_steps {
                return None;
            }
            if s.record(step, curve(step)) {
                return Some((step, s.evaluations()));
            }
        }
    }

    #[test]
    fn a_concave_curve_is_met_within_a_few_steps_and_evaluations() {
        // 40 dB first at step 160 (like the hash grid at batch 2^17)
        let curve = |s: u64| 40.0 * (s as f64 / 160.0).powf(0.35);
        let (step, evals) = run(curve, 40.0, 2000).expect("reached");
        assert!((160..=163).contains(&step), "stopped at step {step}");
        assert!(evals <= 8, "{evals} evaluations");
    }

    #[test]
    fn a_flat_or_falling_curve_waits_the_longest_gap() {
        let mut s = TargetSchedule::new(40.0, 320);
        assert_eq!(s.next_eval(), 10);
        assert!(!s.record(10, 30.0));
        assert_eq!(s.next_eval(), 20);
        assert!(!s.record(20, 29.0));
        assert_eq!(s.next_eval(), 30);
        assert!(!s.record(30, 29.0));
        assert_eq!(s.next_eval(), 40);
    }

    #[test]
    fn a_steep_curve_is_evaluated_one_step_on_at_least() {
        let mut s = TargetSchedule::new(40.0, 3200);
        s.record(100, 20.0);
        s.record(101, 39.99);
        assert_eq!(s.next_eval(), 102);
        assert!(s.record(102, 40.0));
    }

    #[test]
    fn an_unreachable_target_ends_at_the_step_limit() {
        assert_eq!(run(|s| 30.0 + s as f64 * 1e-3, 40.0, 500), None);
    }
}
