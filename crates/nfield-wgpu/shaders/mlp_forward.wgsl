// nfield WGSL: the whole MLP of one sample in private memory (the per-pixel strategy, shared
// by the compute kernel infer_per_pixel and the fragment shader).
//
// mlp_forward(x, y): the model-space position (x, y) → RGB after the output activation.
// Reads `params` (model layout, encoding.wgsl's binding contract); the weights' addresses are
// the same for every invocation, so a subgroup's loads are broadcasts.
//
// Two forms: UNROLLED (widths up to 128; src/codegen.rs repeats the `//#unroll` lines for
// o = 0 … WIDTH−1) keeps a layer's accumulators in scalars n0, n1, … — registers — and loops
// over the inputs, reading one input from the private array per WIDTH FMAs; otherwise loops
// over outputs and inputs (private arrays, which drivers place in local memory: ~10× slower
// on an H100).
//
// VEC4_WEIGHTS (WIDTH and every hidden layer's offset multiples of 4): the hidden layers read
// W through `params4`, the same buffer as vec4 (a second binding), four inputs per load.
//
// Known driver bug: Mesa's lavapipe (22.3, LLVM 15) returns wrong values from these loads once
// the MLP's weights pass the first 64 Ki elements of the buffer (measured: a SIREN 64×15,
// 62 787 parameters, is right; 64×16, 66 947, is wrong per pixel and right cooperatively).
// src/infer.rs refuses that case on CPU adapters.

//#if UNROLLED
fn mlp_forward(x: f32, y: f32) -> vec3<f32> {
    var a: array<f32, WIDTH>;
//#unroll WIDTH
    var n{o}: f32;
//#end
    if (MODEL == 0u) {
//#unroll WIDTH
        a[{o}u] = siren_first(params[L0_W + 2u * {o}u], params[L0_W + 2u * {o}u + 1u], params[L0_B + {o}u], x, y, OMEGA0).x;
//#end
    } else {
//#unroll WIDTH
        n{o} = params[L0_B + {o}u];
//#end
        if (MODEL == 1u) {
            for (var j = 0u; j < FREQS; j++) {
                let sc = fourier_pair(x, y, j);
//#unroll WIDTH
                n{o} = fma(params[L0_W + {o}u * ENC_DIM + j], sc.x, fma(params[L0_W + {o}u * ENC_DIM + FREQS + j], sc.y, n{o}));
//#end
            }
        } else {
            for (var l = 0u; l < LEVELS; l++) {
                let hc = hash_corners(l, x, y);
                for (var k = 0u; k < FEATURES; k++) {
                    let f = hash_feature(l, hc, k);
                    let i = l * FEATURES + k;
//#unroll WIDTH
                    n{o} = fma(params[L0_W + {o}u * ENC_DIM + i], f, n{o});
//#end
                }
            }
        }
//#unroll WIDTH
        a[{o}u] = max(n{o}, 0.0);
//#end
    }
    for (var k = 0u; k < N_HIDDEN; k++) {
        let wk = hid_w(k);
        let bk = hid_b(k);
//#unroll WIDTH
        n{o} = params[bk + {o}u];
//#end
        if (VEC4_WEIGHTS) {
            // four inputs at a time: one 16-byte load of W[o][i…i+3] per output
            for (var i = 0u; i < WIDTH; i += 4u) {
                let a4 = vec4<f32>(a[i], a[i + 1u], a[i + 2u], a[i + 3u]);
//#unroll WIDTH
                n{o} += dot(params4[(wk + {o}u * WIDTH + i) / 4u], a4);
//#end
            }
        } else {
            for (var i = 0u; i < WIDTH; i++) {
                let ai = a[i];
//#unroll WIDTH
                n{o} = fma(params[wk + {o}u * WIDTH + i], ai, n{o});
//#end
            }
        }
//#unroll WIDTH
        a[{o}u] = hidden_act(n{o});
//#end
    }
    var z = vec3<f32>(params[OUT_B], params[OUT_B + 1u], params[OUT_B + 2u]);
    for (var i = 0u; i < WIDTH; i++) {
        let w = vec3<f32>(params[OUT_W + i], params[OUT_W + WIDTH + i], params[OUT_W + 2u * WIDTH + i]);
        z = fma(w, vec3<f32>(a[i]), z);
    }
    return vec3<f32>(out_act(z.x), out_act(z.y), out_act(z.z));
}
//#else
fn mlp_forward(x: f32, y: f32) -> vec3<f32> {
    var a: array<f32, WIDTH>;
    var acc: array<f32, WIDTH>;
    if (MODEL == 0u) {
        for (var o = 0u; o < WIDTH; o++) {
            a[o] = siren_first(params[L0_W + 2u * o], params[L0_W + 2u * o + 1u], params[L0_B + o], x, y, OMEGA0).x;
        }
    } else {
        for (var o = 0u; o < WIDTH; o++) {
            acc[o] = params[L0_B + o];
        }
        if (MODEL == 1u) {
            for (var j = 0u; j < FREQS; j++) {
                let sc = fourier_pair(x, y, j);
                for (var o = 0u; o < WIDTH; o++) {
                    let w = L0_W + o * ENC_DIM;
                    acc[o] = fma(params[w + j], sc.x, fma(params[w + FREQS + j], sc.y, acc[o]));
                }
            }
        } else {
            for (var l = 0u; l < LEVELS; l++) {
                let hc = hash_corners(l, x, y);
                for (var k = 0u; k < FEATURES; k++) {
                    let f = hash_feature(l, hc, k);
                    for (var o = 0u; o < WIDTH; o++) {
                        acc[o] = fma(params[L0_W + o * ENC_DIM + l * FEATURES + k], f, acc[o]);
                    }
                }
            }
        }
        for (var o = 0u; o < WIDTH; o++) {
            a[o] = max(acc[o], 0.0);
        }
    }
    // Hidden layers, one output at a time (a row of W against the input vector) into `acc`,
    // then copied back: no array is both read and accumulated in the inner loop.
    for (var k = 0u; k < N_HIDDEN; k++) {
        let wk = hid_w(k);
        let bk = hid_b(k);
        for (var o = 0u; o < WIDTH; o++) {
            var z = params[bk + o];
            let row = wk + o * WIDTH;
            if (VEC4_WEIGHTS) {
                for (var i = 0u; i < WIDTH; i += 4u) {
                    z += dot(params4[(row + i) / 4u], vec4<f32>(a[i], a[i + 1u], a[i + 2u], a[i + 3u]));
                }
            } else {
                for (var i = 0u; i < WIDTH; i++) {
                    z = fma(params[row + i], a[i], z);
                }
            }
            acc[o] = hidden_act(z);
        }
        a = acc;
    }
    var z = vec3<f32>(params[OUT_B], params[OUT_B + 1u], params[OUT_B + 2u]);
    for (var i = 0u; i < WIDTH; i++) {
        let w = vec3<f32>(params[OUT_W + i], params[OUT_W + WIDTH + i], params[OUT_W + 2u * WIDTH + i]);
        z = fma(w, vec3<f32>(a[i]), z);
    }
    return vec3<f32>(out_act(z.x), out_act(z.y), out_act(z.z));
}
//#endif
