// nfield WGSL: what every shader shares. Prepended after the generated model header
// (src/codegen.rs: MODEL, WIDTH, layer offsets, encoding constants), before the kernel file.
//
// Contents: sin/cos with explicit range reduction (the CPU engine's nfield::cpu::sincos, so the
// GPU does not depend on a driver's sin accuracy) and a sine alone for inference, SIREN's
// compensated first layer, sigmoid, Philox4x32-10 (identical to nfield::rng), and the
// layer-offset helpers.

// ---------------------------------------------------------------- sin / cos
// Cephes' minimax polynomials on [-π/4, π/4] rotated by quadrant q (low two bits).
fn sincos_reduced(r: f32, q: u32) -> vec2<f32> {
    let r2 = r * r;
    let sp = fma(fma(fma(-1.9515295891e-4, r2, 8.3321608736e-3), r2, -1.6666654611e-1) * r2, r, r);
    let cp = fma(fma(fma(fma(2.443315711809948e-5, r2, -1.388731625493765e-3), r2, 4.166664568298827e-2), r2, -0.5), r2, 1.0);
    let k = q & 3u;
    let s = select(select(select(-cp, -sp, k == 2u), cp, k == 1u), sp, k == 0u);
    let c = select(select(select(sp, -cp, k == 2u), -sp, k == 1u), cp, k == 0u);
    return vec2<f32>(s, c);
}

// (sin x, cos x) of x = hi + lo (|lo| ≲ ulp(hi)): a three-term Cody-Waite reduction by π/2 of
// hi, corrected by lo. About 1e-7 absolute for |x| < 1e4.
fn sincos_split(hi: f32, lo: f32) -> vec2<f32> {
    let q = round(hi * 0.63661977236758134);
    var r = fma(-q, 1.5703125, hi);
    r = fma(-q, 4.837512969970703125e-4, r);
    r = fma(-q, 7.54978995489188216e-8, r) + lo;
    // q mod 4 from the low bits of q + 1.5·2^23, exact for |q| < 2^22 (|x| < 6.5e6, far past
    // where the reduction means anything): an add on the FMA pipe where u32(i32(q)) took the
    // conversion unit (a SIREN-64×8 training step's forward pass at 2^18 on an H100: ~10 µs
    // less, 2026-11-27)
    return sincos_reduced(r, bitcast<u32>(q + 12582912.0));
}

// sin x alone: x = qπ + r (three-part Cody-Waite by π, |r| ≤ π/2), sin x = (−1)^q sin r, sin r
// by its odd Taylor polynomial of degree 11 (truncation 6e-8 at π/2). About 1.6e-7 absolute for
// |x| < 60; about half the instructions of sincos, which needs both polynomials for the sine of
// the odd quadrants.
fn sin_only(x: f32) -> f32 {
    let q = round(x * 0.31830988618379067);
    var r = fma(-q, 3.140625, x);
    r = fma(-q, 9.676535846665502e-4, r);
    r = fma(-q, 5.126565838509123e-12, r);
    let r2 = r * r;
    let p = fma(fma(fma(fma(-2.5052108e-8, r2, 2.7557319e-6), r2, -1.9841270e-4), r2, 8.3333333e-3), r2, -1.6666667e-1);
    let s = fma(p * r2, r, r);
    return select(s, -s, (i32(q) & 1) != 0);
}

fn sincos(x: f32) -> vec2<f32> {
    return sincos_split(x, 0.0);
}

fn sigmoid(z: f32) -> f32 {
    return 1.0 / (1.0 + exp(-z));
}

// SIREN's first layer at one neuron: (sin(ω0 z), ω0 cos(ω0 z)) with z = b + w0 x + w1 y. z and
// ω0·z are carried as two f32 (error-free products and sums), so the argument's rounding
// (~2e-6 at ω0 = 30 in plain f32) does not reach every later layer.
fn two_sum(a: f32, b: f32) -> vec2<f32> {
    let s = a + b;
    let bb = s - a;
    return vec2<f32>(s, (a - (s - bb)) + (b - bb));
}

fn siren_first(w0: f32, w1: f32, b: f32, x: f32, y: f32, omega0: f32) -> vec2<f32> {
    let p0 = w0 * x;
    let e0 = fma(w0, x, -p0);
    let p1 = w1 * y;
    let e1 = fma(w1, y, -p1);
    let s0 = two_sum(b, p0);
    let s1 = two_sum(s0.x, p1);
    let z_lo = s0.y + s1.y + e0 + e1;
    let z = two_sum(s1.x, z_lo);
    let hi = omega0 * z.x;
    let lo = fma(omega0, z.x, -hi) + omega0 * z.y;
    let sc = sincos_split(hi, lo);
    return vec2<f32>(sc.x, omega0 * sc.y);
}

// ---------------------------------------------------------------- Philox4x32-10
// (hi, lo) of the 64-bit product a·b, from 16-bit halves (WGSL has no 64-bit integers).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let al = a & 0xffffu;
    let ah = a >> 16u;
    let bl = b & 0xffffu;
    let bh = b >> 16u;
    let ll = al * bl;
    let lh = al * bh;
    let hl = ah * bl;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    let hi = ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

// nfield::rng::philox4x32: counter [index, step_lo, step_hi, stream], key [seed_lo, seed_hi].
fn philox4x32(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        if (round > 0u) {
            k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let p0 = mulhilo(0xD2511F53u, c.x);
        let p1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

// nfield::rng::train_pixel: the training pixel of sample `index` in step `step` (stream 0).
fn train_pixel(seed: vec2<u32>, step: vec2<u32>, index: u32, n_pixels: u32) -> u32 {
    let w = philox4x32(vec4<u32>(index, step.x, step.y, 0u), seed);
    return mulhilo(w.x, n_pixels).x;
}

// ---------------------------------------------------------------- layer offsets
// Hidden layer k (0-based, WIDTH → WIDTH): its weights (out × in, row-major) and biases.
fn hid_w(k: u32) -> u32 {
    return HID_BASE + k * HID_STRIDE;
}

fn hid_b(k: u32) -> u32 {
    return HID_BASE + k * HID_STRIDE + WIDTH * WIDTH;
}

// The hidden layers' activation in inference: sin(ω z) (SIREN) or max(z, 0). sin_only, not
// sincos: the baked SIREN-64×8 went 445 → 473 M samples/s on an H100 (training, which needs the
// cosine too, keeps sincos).
fn hidden_act(z: f32) -> f32 {
    if (MODEL == 0u) {
        return sin_only(OMEGA * z);
    }
    return max(z, 0.0);
}

// The output activation: sigmoid, or the identity (OUT_LINEAR).
fn out_act(z: f32) -> f32 {
    if (OUT_LINEAR) {
        return z;
    }
    return sigmoid(z);
}

// ---------------------------------------------------------------- 64-bit fixed point
// A hash table's gradient is accumulated as a 64-bit two's-complement integer in units of
// 2⁻³² (TABLE_GRAD_ONE, as the CUDA engine's deterministic mode), stored as (lo, hi) u32 word
// pairs: integer additions commute, so the sum does not depend on the order in which
// invocations add, and training is bit-identical run to run. WGSL has no 64-bit atomics: lo is
// added first, and the carry out of that addition (from the old value the atomic returns) goes
// into hi with the high word, which is exact whatever the interleaving.

// v·2^32 as (lo, hi): hi = ⌊v⌋, lo = round((v − ⌊v⌋)·2^32) (|v| < 2^31).
fn to_fixed64(v: f32) -> vec2<u32> {
    let hi = floor(v);
    let lo = round((v - hi) * 4294967296.0);
    return vec2<u32>(u32(lo), bitcast<u32>(i32(hi)));
}

// The f32 nearest (within an ulp) to the fixed-point value (lo, hi).
fn from_fixed64(w: vec2<u32>) -> f32 {
    return f32(bitcast<i32>(w.y)) + f32(w.x) * 2.3283064365386963e-10;
}
