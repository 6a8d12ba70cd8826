// nfield WGSL, training: the per-step and per-chunk records every training kernel may read.
// The trainer copies the current step's and chunk's record into these uniform buffers between
// passes, so one submission can run many steps of many chunks with no host round trip.

// The optimizer step in flight: `step` is the 0-based step index (the sampler's counter,
// split in 32-bit halves); step_size = lr_t / (1 − β1^t) and c2 = 1 / (1 − β2^t) of the
// 1-based t = step + 1, computed on the host in f64 and rounded once (nfield::cpu::adam).
struct StepInfo {
    step_lo: u32,
    step_hi: u32,
    step_size: f32,
    c2: f32,
}

// The chunk of the batch in flight: samples [base, base + valid) of the step; the chunk's
// buffers hold CHUNK_SIZE samples, those ≥ valid are padding (zero colour, zero delta).
// accumulate = 0 for the first chunk of a step (gradients overwrite), 1 after (they add).
struct Chunk {
    base: u32,
    valid: u32,
    accumulate: u32,
    pad: u32,
}
