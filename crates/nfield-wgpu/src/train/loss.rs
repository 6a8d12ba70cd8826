//! The loss pass's source (train_loss.wgsl): the output layer's constants where the loss
//! computes that layer too, and the choice of workgroup sum.

use super::kernels::sources;
use super::plan::Plan;
use crate::codegen::{self, files};
use nfield::model::{ModelSpec, ParamLayout};

/// A WGSL `u32` constant.
fn u(v: impl std::fmt::Display) -> String {
    format!("{v}u")
}

/// The constants of the output layer fused into the loss (train_loss.wgsl): its input's offset
/// and width, where the delta of the layer below goes, whether it is multiplied by that
/// layer's derivatives and whether it is needed at all (`encoding_grad`: the encoding takes
/// ∂L/∂E when the output layer is layer 0).
pub(super) fn output_constants(plan: &Plan, layout: &ParamLayout, encoding_grad: bool) -> Vec<(&'static str, String)> {
    let last = plan.dims.len() - 1;
    let w_aligned = layout.layers[last].weights.is_multiple_of(4);
    let inputs = plan.dims[last].0;
    let in_off = plan.input_offset(last);
    let back_off = plan.delta_offset(last.checked_sub(1));
    vec![
        ("OUT_IN", u(inputs)),
        ("OUT_IN_OFF", u(in_off)),
        ("OUT_BACK", (last > 0 || encoding_grad).to_string()),
        ("OUT_BACK_MUL", (last > 0).to_string()),
        ("OUT_BACK_OFF", u(back_off)),
        (
            "OUT_VEC",
            (w_aligned && inputs.is_multiple_of(4) && in_off.is_multiple_of(4) && back_off.is_multiple_of(4))
                .to_string(),
        ),
    ]
}

/// train_loss's source: `consts` (with [`output_constants`]), its workgroup sum with subgroup
/// operations or in workgroup memory, the output layer inside with `fuse_output`.
pub(super) fn loss_source(spec: &ModelSpec, consts: &[(&str, String)], subgroups: bool, fuse_output: bool) -> String {
    use sources::*;
    let reduce = if subgroups { REDUCE_SUBGROUP } else { REDUCE_TREE };
    let source = codegen::assemble(spec, consts, &[files::COMMON, BATCH, LOSS, OUTPUT, reduce]);
    codegen::preprocess(&source, if fuse_output { &["FUSE_OUTPUT"] } else { &[] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::kernels::test_setups;

    /// The loss with and without the output layer fused, both reductions, every test model
    /// (lavapipe runs only the fused one: every test model has hidden layers).
    #[test]
    fn loss_pipelines_compile_to_spirv() {
        for (spec, layout, plan, consts) in test_setups() {
            let consts = [consts, output_constants(&plan, &layout, true)].concat();
            for subgroups in [true, false] {
                for fuse_output in [true, false] {
                    let label = format!("{} loss, subgroups {subgroups}, output {fuse_output}", spec.describe());
                    codegen::compile_to_spirv(&label, &loss_source(&spec, &consts, subgroups, fuse_output));
                }
            }
        }
    }
}
