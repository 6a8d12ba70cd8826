// nfield WGSL: inference of every model in the seed's two strategies.
//
//   infer_per_pixel  one invocation per sample running mlp_forward.wgsl (the whole MLP in
//                    private memory; the fragment shader runs the same function), or, with
//                    PAIR (src/codegen.rs: widths up to 64 with 16-byte weight loads), per two
//                    neighbouring samples through mlp_forward_pair.wgsl.
//   infer_coop       one workgroup of COOP_WG invocations per tile of TILE samples: the tile's
//                    activations live in workgroup memory (ping-pong halves, rows padded to
//                    ASTRIDE against bank conflicts); each layer's weights are staged through
//                    workgroup memory in chunks of 64 outputs × KC inputs (layer by layer, chunk
//                    by chunk, so any width fits the adapter's limit); each invocation keeps a
//                    4 × TILE/4 register tile of (output, sample) accumulators.
//
// Bindings: 0–3 as infer_query.wgsl (included before this file); 4 params again, as vec4
// (mlp_forward.wgsl's VEC4_WEIGHTS).
// Extra constants (src/infer.rs): COOP_WG, TILE, KC, ASTRIDE, PER_PIXEL_WG.

@group(0) @binding(4) var<storage, read> params4: array<vec4<f32>>;

// ---------------------------------------------------------------- per pixel
// Sample p is outside the image: black.
fn write_black(p: u32) {
    out[3u * p] = 0.0;
    out[3u * p + 1u] = 0.0;
    out[3u * p + 2u] = 0.0;
}

//#if PAIR
// Two neighbouring samples per invocation (2·index, 2·index + 1) through mlp_forward_pair.wgsl:
// each weight load serves both (see there for why); PER_PIXEL_SAMPLES = 2.
@compute @workgroup_size(64)
fn infer_per_pixel(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let p = 2u * linear_index(wg, groups, lid, 64u);
    if (p >= query.n) {
        return;
    }
    let has_q = p + 1u < query.n;
    let pos_p = sample_position(p);
    let pos_q = sample_position(select(p, p + 1u, has_q));
    if (pos_p.z <= 0.5 && pos_q.z <= 0.5) {
        write_black(p);
        if (has_q) {
            write_black(p + 1u);
        }
        return; // an early exit, not a branch around the MLP (see the one-sample kernel)
    }
    let rgb = mlp_forward_pair(pos_p.xy, pos_q.xy);
    let rp = select(vec3<f32>(0.0), rgb[0], pos_p.z > 0.5);
    out[3u * p] = rp.x;
    out[3u * p + 1u] = rp.y;
    out[3u * p + 2u] = rp.z;
    if (has_q) {
        let rq = select(vec3<f32>(0.0), rgb[1], pos_q.z > 0.5);
        out[3u * p + 3u] = rq.x;
        out[3u * p + 4u] = rq.y;
        out[3u * p + 5u] = rq.z;
    }
}
//#else
// One sample per invocation (PER_PIXEL_SAMPLES = 1), PER_PIXEL_WG invocations a workgroup.
@compute @workgroup_size(PER_PIXEL_WG)
fn infer_per_pixel(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let p = linear_index(wg, groups, lid, PER_PIXEL_WG);
    if (p >= query.n) {
        return;
    }
    let pos = sample_position(p);
    if (pos.z <= 0.5) {
        // Outside the image: black, by an early exit. The MLP inside an `if` instead ran 22 %
        // slower baked (SIREN-64×8 on an H100: 338 against 433 M samples/s); the driver
        // schedules the body of a branch worse.
        write_black(p);
        return;
    }
    let rgb = mlp_forward(pos.x, pos.y);
    out[3u * p] = rgb.x;
    out[3u * p + 1u] = rgb.y;
    out[3u * p + 2u] = rgb.z;
}
//#endif

// ---------------------------------------------------------------- cooperative
const T4: u32 = TILE / 4u;
// LEVELS as a divisor (0 outside hash grids, whose branches are dead but still validated)
const LEVELS_NZ: u32 = max(LEVELS, 1u);
// the two activation halves, each TILE rows of ASTRIDE
var<workgroup> act: array<f32, 2u * TILE * ASTRIDE>;
// one weight chunk, 64 rows (outputs) of KC + 1 (inputs, padded)
var<workgroup> wchunk: array<f32, 64u * (KC + 1u)>;
var<workgroup> tile_pos: array<vec3<f32>, TILE>;

// One linear layer on the tile: act[dst] = act_fn(W · act[src] + b), `n_in` → `n_out`.
// act_kind: 0 ReLU, 1 hidden_act. Invocation (ol, sl) = (lid % 16, lid / 16) owns outputs
// oc + ol + 16j (j < 4) of samples sl + 4i (i < T4): 4·T4 accumulators acc{j}_{i}, unrolled
// by src/codegen.rs (`//#unroll T4`) so that they stay in registers.
fn coop_layer(lid: u32, w_off: u32, b_off: u32, n_in: u32, n_out: u32, src: u32, dst: u32, act_kind: u32) {
    let ol = lid % 16u;
    let sl = lid / 16u;
    for (var oc = 0u; oc < n_out; oc += 64u) {
        let o0 = oc + ol;
        let o1 = o0 + 16u;
        let o2 = o0 + 32u;
        let o3 = o0 + 48u;
        let b0 = select(0.0, params[b_off + min(o0, n_out - 1u)], o0 < n_out);
        let b1 = select(0.0, params[b_off + min(o1, n_out - 1u)], o1 < n_out);
        let b2 = select(0.0, params[b_off + min(o2, n_out - 1u)], o2 < n_out);
        let b3 = select(0.0, params[b_off + min(o3, n_out - 1u)], o3 < n_out);
//#unroll T4
        var acc0_{o} = b0;
        var acc1_{o} = b1;
        var acc2_{o} = b2;
        var acc3_{o} = b3;
//#end
        // The weight chunks are software-pipelined: chunk kc + KC is loaded into registers
        // (STAGE = 64·KC/COOP_WG per invocation, unrolled) while chunk kc is multiplied, so
        // the global loads' latency hides behind the FMAs.
//#unroll STAGE
        var sw{o} = stage_weight(lid + {o}u * COOP_WG, oc, 0u, w_off, n_in, n_out);
//#end
        for (var kc = 0u; kc < n_in; kc += KC) {
            // the barrier before the stores keeps the previous chunk until all have used it
            workgroupBarrier();
//#unroll STAGE
            wchunk[((lid + {o}u * COOP_WG) / KC) * (KC + 1u) + (lid + {o}u * COOP_WG) % KC] = sw{o};
//#end
            workgroupBarrier();
            if (kc + KC < n_in) {
//#unroll STAGE
                sw{o} = stage_weight(lid + {o}u * COOP_WG, oc, kc + KC, w_off, n_in, n_out);
//#end
            }
            let kn = min(KC, n_in - kc);
            for (var kl = 0u; kl < kn; kl++) {
                let w0 = wchunk[ol * (KC + 1u) + kl];
                let w1 = wchunk[(ol + 16u) * (KC + 1u) + kl];
                let w2 = wchunk[(ol + 32u) * (KC + 1u) + kl];
                let w3 = wchunk[(ol + 48u) * (KC + 1u) + kl];
//#unroll T4
                let av{o} = act[src + (sl + 4u * {o}u) * ASTRIDE + kc + kl];
                acc0_{o} = fma(w0, av{o}, acc0_{o});
                acc1_{o} = fma(w1, av{o}, acc1_{o});
                acc2_{o} = fma(w2, av{o}, acc2_{o});
                acc3_{o} = fma(w3, av{o}, acc3_{o});
//#end
            }
        }
//#unroll T4
        coop_store(dst + (sl + 4u * {o}u) * ASTRIDE, o0, n_out, acc0_{o}, act_kind);
        coop_store(dst + (sl + 4u * {o}u) * ASTRIDE, o1, n_out, acc1_{o}, act_kind);
        coop_store(dst + (sl + 4u * {o}u) * ASTRIDE, o2, n_out, acc2_{o}, act_kind);
        coop_store(dst + (sl + 4u * {o}u) * ASTRIDE, o3, n_out, acc3_{o}, act_kind);
//#end
    }
    workgroupBarrier();
}

// Element e of the 64 × KC weight chunk at (oc, kc): W[oc + e / KC][kc + e % KC], 0 outside.
fn stage_weight(e: u32, oc: u32, kc: u32, w_off: u32, n_in: u32, n_out: u32) -> f32 {
    let o = oc + e / KC;
    let k = kc + e % KC;
    let inside = o < n_out && k < n_in;
    return select(0.0, params[select(0u, w_off + o * n_in + k, inside)], inside);
}

// act[row + o] = act_fn(z) for outputs inside the layer.
fn coop_store(row: u32, o: u32, n_out: u32, z: f32, act_kind: u32) {
    if (o < n_out) {
        act[row + o] = select(hidden_act(z), max(z, 0.0), act_kind == 0u);
    }
}

@compute @workgroup_size(COOP_WG)
fn infer_coop(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let first = (wg.y * groups.x + wg.x) * TILE;
    if (first >= query.n) {
        return;
    }
    for (var s = lid; s < TILE; s += COOP_WG) {
        tile_pos[s] = tile_sample(first + s);
    }
    workgroupBarrier();
    let half = TILE * ASTRIDE;
    // Layer 0 (SIREN) or the encoding (Fourier, hash grid) into half 0.
    if (MODEL == 0u) {
        for (var e = lid; e < TILE * WIDTH; e += COOP_WG) {
            let s = e / WIDTH;
            let o = e % WIDTH;
            let p = tile_pos[s];
            act[s * ASTRIDE + o] =
                siren_first(params[L0_W + 2u * o], params[L0_W + 2u * o + 1u], params[L0_B + o], p.x, p.y, OMEGA0).x;
        }
    } else if (MODEL == 1u) {
        for (var e = lid; e < TILE * ENC_DIM; e += COOP_WG) {
            let s = e / ENC_DIM;
            let p = tile_pos[s];
            act[s * ASTRIDE + e % ENC_DIM] = fourier_feature(p.x, p.y, e % ENC_DIM);
        }
    } else {
        for (var e = lid; e < TILE * LEVELS; e += COOP_WG) {
            let s = e / LEVELS_NZ;
            let l = e % LEVELS_NZ;
            let p = tile_pos[s];
            let hc = hash_corners(l, p.x, p.y);
            for (var k = 0u; k < FEATURES; k++) {
                act[s * ASTRIDE + l * FEATURES + k] = hash_feature(l, hc, k);
            }
        }
    }
    var src = 0u;
    if (MODEL != 0u) {
        coop_layer(lid, L0_W, L0_B, ENC_DIM, WIDTH, 0u, half, 0u);
        src = half;
    } else {
        workgroupBarrier();
    }
    for (var k = 0u; k < N_HIDDEN; k++) {
        coop_layer(lid, hid_w(k), hid_b(k), WIDTH, WIDTH, src, half - src, 1u);
        src = half - src;
    }
    // The output layer: one (sample, channel) dot product per invocation.
    for (var e = lid; e < TILE * 3u; e += COOP_WG) {
        let s = e / 3u;
        let c = e % 3u;
        if (first + s < query.n) {
            var z = params[OUT_B + c];
            for (var i = 0u; i < WIDTH; i++) {
                z = fma(params[OUT_W + c * WIDTH + i], act[src + s * ASTRIDE + i], z);
            }
            out[3u * (first + s) + c] = select(0.0, out_act(z), tile_pos[s].z > 0.5);
        }
    }
}
