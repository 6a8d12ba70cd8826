//! A training step's dispatches as recorded into a compute pass: pipeline, bind group and
//! workgroup counts, with a bind group per step slot for the passes that read the step's record
//! (the sampler's counter, Adam's step size), so that the steps of one submission need no copy
//! between them.

use super::plan::StepRecord;
use crate::Gpu;
use nfield::Result;

/// Step slots of the step-record buffer ([`super::kernels::Buffers::step_records`]): the most
/// steps recorded into one submission.
pub const STEP_SLOTS: u32 = 32;

/// One compute dispatch: pipeline, its bind group (or one per step slot) and workgroup counts.
pub struct Dispatch {
    /// What it computes (the pass's name; [`super::Trainer::profile_step`] adds up by it).
    pub label: &'static str,
    pub(super) pipeline: wgpu::ComputePipeline,
    pub(super) bind_group: BindGroups,
    pub(super) groups: [u32; 3],
}

/// A dispatch's bind groups: one, or one per step slot ([`per_step`]).
pub(super) enum BindGroups {
    One(wgpu::BindGroup),
    PerStep(Vec<wgpu::BindGroup>),
}

impl From<wgpu::BindGroup> for BindGroups {
    fn from(bg: wgpu::BindGroup) -> BindGroups {
        BindGroups::One(bg)
    }
}

impl Dispatch {
    /// Records the dispatch into `pass` for the step whose record is at `slot` of the
    /// step-record buffer.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>, slot: u32) {
        pass.set_pipeline(&self.pipeline);
        let bg = match &self.bind_group {
            BindGroups::One(bg) => bg,
            BindGroups::PerStep(bgs) => &bgs[slot as usize % bgs.len()],
        };
        pass.set_bind_group(0, bg, &[]);
        pass.dispatch_workgroups(self.groups[0], self.groups[1], self.groups[2]);
    }
}

/// The bind groups of `pipeline` for every step slot: `entries` (whole buffers) and, at
/// `binding`, slot `i`'s [`StepRecord`] at `i · stride` of `records`.
pub(super) fn per_step(
    gpu: &Gpu,
    label: &str,
    pipeline: &wgpu::ComputePipeline,
    entries: &[(u32, &wgpu::Buffer)],
    binding: u32,
    records: &wgpu::Buffer,
    stride: u64,
) -> Result<BindGroups> {
    let layout = pipeline.get_bind_group_layout(0);
    let bgs = (0..STEP_SLOTS as u64)
        .map(|slot| {
            let mut all: Vec<(u32, wgpu::BindingResource<'_>)> =
                entries.iter().map(|&(b, buf)| (b, buf.as_entire_binding())).collect();
            all.push((
                binding,
                wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: records,
                    offset: slot * stride,
                    size: wgpu::BufferSize::new(std::mem::size_of::<StepRecord>() as u64),
                }),
            ));
            gpu.bind_resources(label, &layout, all)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(BindGroups::PerStep(bgs))
}
