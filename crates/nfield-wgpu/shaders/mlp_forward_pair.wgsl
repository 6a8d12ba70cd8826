// nfield WGSL: the per-pixel MLP for two samples at once (the compute per-pixel kernel; SIREN
// and the Fourier MLP, widths up to PAIR_MAX_WIDTH; src/codegen.rs repeats the
// `//#unroll WIDTH` lines for o = 0 … WIDTH−1).
//
// mlp_forward_pair(p, q): RGB after the output activation at the model-space positions p and q.
// Same arithmetic, per sample, as mlp_forward.wgsl's UNROLLED form (results are identical);
// each weight is loaded once and used for both samples. Why: every weight a lane uses must be
// delivered to its registers, and an SM's L1 returns 32 floats a clock against 128 FMAs, so
// one sample per invocation caps the MLP at a quarter of the FMA rate; two samples per load
// lift that cap to one half (measured: +18 % for SIREN-64×8 on an H100, to 27 % of the FMA
// rate; src/codegen.rs's per_pixel_pair says where it is used). Accumulators: n{o} for p, m{o}
// for q (2·WIDTH registers). Requires VEC4_WEIGHTS (src/codegen.rs checks).

fn mlp_forward_pair(p: vec2<f32>, q: vec2<f32>) -> array<vec3<f32>, 2> {
    var a: array<f32, WIDTH>;
    var b: array<f32, WIDTH>;
//#unroll WIDTH
    var n{o}: f32;
    var m{o}: f32;
//#end
    if (MODEL == 0u) {
//#unroll WIDTH
        a[{o}u] = siren_first(params[L0_W + 2u * {o}u], params[L0_W + 2u * {o}u + 1u], params[L0_B + {o}u], p.x, p.y, OMEGA0).x;
        b[{o}u] = siren_first(params[L0_W + 2u * {o}u], params[L0_W + 2u * {o}u + 1u], params[L0_B + {o}u], q.x, q.y, OMEGA0).x;
//#end
    } else {
//#unroll WIDTH
        n{o} = params[L0_B + {o}u];
        m{o} = n{o};
//#end
        // the Fourier MLP (hash grids keep one sample per invocation: src/codegen.rs)
        for (var j = 0u; j < FREQS; j++) {
            let sp = fourier_pair(p.x, p.y, j);
            let sq = fourier_pair(q.x, q.y, j);
//#unroll WIDTH
            n{o} = fma(params[L0_W + {o}u * ENC_DIM + j], sp.x, fma(params[L0_W + {o}u * ENC_DIM + FREQS + j], sp.y, n{o}));
            m{o} = fma(params[L0_W + {o}u * ENC_DIM + j], sq.x, fma(params[L0_W + {o}u * ENC_DIM + FREQS + j], sq.y, m{o}));
//#end
        }
//#unroll WIDTH
        a[{o}u] = max(n{o}, 0.0);
        b[{o}u] = max(m{o}, 0.0);
//#end
    }
    for (var k = 0u; k < N_HIDDEN; k++) {
        let wk = hid_w(k);
        let bk = hid_b(k);
//#unroll WIDTH
        n{o} = params[bk + {o}u];
        m{o} = n{o};
//#end
        // four inputs at a time: one 16-byte load of W[o][i…i+3] per output, used twice
        for (var i = 0u; i < WIDTH; i += 4u) {
            let a4 = vec4<f32>(a[i], a[i + 1u], a[i + 2u], a[i + 3u]);
            let b4 = vec4<f32>(b[i], b[i + 1u], b[i + 2u], b[i + 3u]);
//#unroll WIDTH
            let w{o} = params4[(wk + {o}u * WIDTH + i) / 4u];
            n{o} += dot(w{o}, a4);
            m{o} += dot(w{o}, b4);
//#end
        }
//#unroll WIDTH
        a[{o}u] = hidden_act(n{o});
        b[{o}u] = hidden_act(m{o});
//#end
    }
    var zp = vec3<f32>(params[OUT_B], params[OUT_B + 1u], params[OUT_B + 2u]);
    var zq = zp;
    for (var i = 0u; i < WIDTH; i++) {
        let w = vec3<f32>(params[OUT_W + i], params[OUT_W + WIDTH + i], params[OUT_W + 2u * WIDTH + i]);
        zp = fma(w, vec3<f32>(a[i]), zp);
        zq = fma(w, vec3<f32>(b[i]), zq);
    }
    return array<vec3<f32>, 2>(
        vec3<f32>(out_act(zp.x), out_act(zp.y), out_act(zp.z)),
        vec3<f32>(out_act(zq.x), out_act(zq.y), out_act(zq.z)),
    );
}
