// nfield WGSL, training: the per-dispatch description of one MLP layer's matrix product, shared
// by train_forward, train_backward (one uniform buffer per layer and pass) and
// train_weight_grad (one storage array per dispatch), written once when the trainer is built.
struct Layer {
    // out is M × N, summed over K (train_gemm.wgsl)
    dims_m: u32,
    dims_n: u32,
    dims_k: u32,
    // samples per split of the batch (weight gradients: workgroup_id.z = split)
    k_split: u32,
    // element offsets: operand a, result, auxiliary (activation derivatives)
    a_off: u32,
    out_off: u32,
    aux_off: u32,
    // 0 sine (ω = OMEGA), 1 ReLU, 2 the output activation (forward: train_forward reads it as
    // its pipeline's constant FORWARD_ACT); 1 = multiply by the derivatives at aux_off (backward)
    act: u32,
    // offsets of the layer's W (outputs × inputs, row-major) and b in the parameters
    w_off: u32,
    bias_off: u32,
    inputs: u32,
    outputs: u32,
}
