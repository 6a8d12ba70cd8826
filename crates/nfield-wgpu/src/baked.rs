//! The baked strategy: per-pixel inference with the MLP's weights compiled into the shader as
//! constants, generated here as WGSL (`mlp_forward(x, y)`, the function `shaders/mlp_forward.wgsl`
//! otherwise provides; `shaders/mlp_infer.wgsl`'s one-sample `infer_per_pixel` calls it).
//!
//! Why: per-pixel inference loads every weight into every lane's registers, and an SM's L1
//! returns 32 floats a clock against 128 FMAs, so the per-pixel kernel stops at a quarter of
//! the FMA rate (~27 % measured, BENCHMARKS.md). A weight that is a literal of the instruction
//! stream is an FMA operand with no load at all: on an H100 through Vulkan SIREN-64×8 runs at
//! 470–476 M samples/s baked against ~245 M/s per-pixel (1.9×), the seed's hash grid at
//! 2.38 G/s against 1.16 (BENCHMARKS.md). The price is a pipeline compiled per weight set,
//! 5–11 s for a SIREN-64×8 (most of it the driver's), so this is the strategy for a model
//! rendered many times, not for one render or live training; the engine compiles it on first
//! use and again only after the weights change.
//!
//! Generated shape, for an MLP `ENC_DIM → WIDTH → … → WIDTH → 3` (the models of
//! `shaders/mlp_forward.wgsl`):
//! - `struct BakedAct { a0: f32, …, a{WIDTH−1}: f32 }`: one layer's activations, by value;
//! - `baked_layer0(x, y) -> BakedAct`: the encoding and the first layer (SIREN's `siren_first`,
//!   or Fourier features / hash-grid features through `shaders/encoding.wgsl` with the levels
//!   and frequencies unrolled, then ReLU);
//! - `baked_hidden{k}(a: BakedAct) -> BakedAct` for each `WIDTH → WIDTH` layer, then
//!   `hidden_act`;
//! - `mlp_forward(x, y)`: the chain, then the output layer and `out_act`.
//!
//! Every weight is one `fma(literal, input, accumulator)` in the order of the CPU engine's
//! loops (inputs outer, outputs inner). One function per layer keeps each function short:
//! naga's WGSL front end takes time quadratic in a function's expressions (one 28 k-literal
//! function: ~6 s; seven of 4 k: ~0.5 s), and a struct, unlike an array, stays in registers
//! across the calls (an array-passing version ran at 40 % of the speed).

use crate::NAME;
use nfield::model::{EncodingSpec, ModelSpec};
use nfield::{Error, Result};
use std::fmt::Write as _;

/// The most MLP weights the baked strategy compiles into one shader: the driver's compile time
/// grows with the straight-line code (SIREN-64×8, 33 k weights: 5–10 s on the H100 machine).
pub const BAKED_MAX_WEIGHTS: usize = 1 << 16;

/// Whether `spec` can be baked, or why not.
pub fn supported(spec: &ModelSpec) -> Result<()> {
    let weights = spec.layout().encoding.start;
    if weights > BAKED_MAX_WEIGHTS {
        return Err(Error::engine(
            NAME,
            format!(
                "the baked strategy compiles every MLP weight into the shader; this MLP has {weights} \
                 (the limit is {BAKED_MAX_WEIGHTS}, for compile times of seconds); use --strategy per-pixel"
            ),
        ));
    }
    Ok(())
}

/// Whether the baked kernel of `spec` reads the parameter buffer (Fourier's B, a hash table):
/// SIREN's has no binding 0.
pub fn reads_params(spec: &ModelSpec) -> bool {
    !matches!(spec.encoding(), EncodingSpec::Identity)
}

/// A WGSL f32 literal of exactly `v`.
fn lit(v: f32) -> String {
    format!("{}f", crate::codegen::float_literal(v))
}

/// `mlp_forward(x, y)` of `spec` with the MLP weights `mlp` (the first `encoding.start`
/// parameters) as literals (see the module docs for the shape).
pub fn mlp_forward_source(spec: &ModelSpec, mlp: &[f32]) -> Result<String> {
    supported(spec)?;
    let layout = spec.layout();
    if mlp.len() < layout.encoding.start {
        return Err(Error::engine(
            NAME,
            format!("baking needs {} MLP weights, got {}", layout.encoding.start, mlp.len()),
        ));
    }
    let layers = &layout.layers;
    let width = layers[0].outputs;
    let mut s = String::new();
    let fields: Vec<String> = (0..width).map(|o| format!("a{o}: f32")).collect();
    let _ = writeln!(s, "struct BakedAct {{ {} }}\n", fields.join(", "));

    // layer 0: the encoding and the first layer
    let first = &layers[0];
    let w0 = |o: usize, i: usize| lit(mlp[first.weights + o * first.inputs + i]);
    let _ = writeln!(s, "fn baked_layer0(x: f32, y: f32) -> BakedAct {{");
    let acts: Vec<String> = match spec.encoding() {
        EncodingSpec::Identity => (0..width)
            .map(|o| format!("siren_first({}, {}, {}, x, y, OMEGA0).x", w0(o, 0), w0(o, 1), lit(mlp[first.biases + o])))
            .collect(),
        encoding => {
            for o in 0..width {
                let _ = writeln!(s, "    var n{o} = {};", lit(mlp[first.biases + o]));
            }
            if let EncodingSpec::Fourier { frequencies, .. } = encoding {
                // as mlp_forward.wgsl: n = fma(W[o][j], sin, fma(W[o][F + j], cos, n))
                for j in 0..frequencies {
                    let _ = writeln!(s, "    let sc{j} = fourier_pair(x, y, {j}u);");
                    for o in 0..width {
                        let (ws, wc) = (w0(o, j), w0(o, frequencies + j));
                        let _ = writeln!(s, "    n{o} = fma({ws}, sc{j}.x, fma({wc}, sc{j}.y, n{o}));");
                    }
                }
            } else if let EncodingSpec::HashGrid(h) = encoding {
                for l in 0..h.levels {
                    let _ = writeln!(s, "    let hc{l} = hash_corners({l}u, x, y);");
                    for k in 0..h.features {
                        let _ = writeln!(s, "    let f{l}_{k} = hash_feature({l}u, hc{l}, {k}u);");
                        for o in 0..width {
                            let _ = writeln!(s, "    n{o} = fma({}, f{l}_{k}, n{o});", w0(o, l * h.features + k));
                        }
                    }
                }
            }
            (0..width).map(|o| format!("max(n{o}, 0.0)")).collect()
        }
    };
    let _ = writeln!(s, "    return BakedAct({});\n}}\n", acts.join(", "));

    // hidden layers
    let hidden = &layers[1..layers.len() - 1];
    for (k, layer) in hidden.iter().enumerate() {
        let _ = writeln!(s, "fn baked_hidden{k}(a: BakedAct) -> BakedAct {{");
        for o in 0..width {
            let _ = writeln!(s, "    var n{o} = {};", lit(mlp[layer.biases + o]));
        }
        for i in 0..width {
            let _ = writeln!(s, "    let a{i} = a.a{i};");
            for o in 0..width {
                let _ = writeln!(s, "    n{o} = fma({}, a{i}, n{o});", lit(mlp[layer.weights + o * width + i]));
            }
        }
        let acts: Vec<String> = (0..width).map(|o| format!("hidden_act(n{o})")).collect();
        let _ = writeln!(s, "    return BakedAct({});\n}}\n", acts.join(", "));
    }

    // the chain and the output layer
    let out = &layers[layers.len() - 1];
    let _ = writeln!(s, "fn mlp_forward(x: f32, y: f32) -> vec3<f32> {{\n    var a = baked_layer0(x, y);");
    for k in 0..hidden.len() {
        let _ = writeln!(s, "    a = baked_hidden{k}(a);");
    }
    let _ = writeln!(
        s,
        "    var z = vec3<f32>({}, {}, {});",
        lit(mlp[out.biases]),
        lit(mlp[out.biases + 1]),
        lit(mlp[out.biases + 2])
    );
    for i in 0..width {
        let w = |c: usize| lit(mlp[out.weights + c * width + i]);
        let _ = writeln!(s, "    z = fma(vec3<f32>({}, {}, {}), vec3<f32>(a.a{i}), z);", w(0), w(1), w(2));
    }
    s += "    return vec3<f32>(out_act(z.x), out_act(z.y), out_act(z.z));\n}\n";
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nfield::model::{Model, SirenSpec};

    #[test]
    fn every_weight_appears_once_as_a_literal() {
        let spec = ModelSpec::Siren(SirenSpec { width: 8, hidden_layers: 2, ..Default::default() });
        let model = Model::new(spec.clone(), 7).expect("model");
        let src = mlp_forward_source(&spec, &model.params).expect("source");
        for (i, &w) in model.params.iter().enumerate() {
            assert!(src.contains(&lit(w)), "parameter {i} ({w}) is missing");
        }
        assert_eq!(src.matches("fn baked_hidden").count(), 2);
    }

    #[test]
    fn too_large_an_mlp_is_refused_by_name() {
        let spec = ModelSpec::Siren(SirenSpec { width: 256, hidden_layers: 3, ..Default::default() });
        let err = supported(&spec).expect_err("196 k weights").to_string();
        assert!(err.contains("baked") && err.contains("per-pixel"), "{err}");
    }
}
