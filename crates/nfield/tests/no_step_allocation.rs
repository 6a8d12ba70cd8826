//! A training step of the CPU engine allocates nothing: every buffer is sized by `load`.
//! (A counting global allocator, so this test has its own binary.)

use nfield::Engine;
use nfield::cpu::CpuEngine;
use nfield::testing::{test_image, test_model, test_specs};
use nfield::train::TrainOptions;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn training_steps_do_not_allocate() {
    let image = test_image(40, 30);
    for spec in test_specs() {
        let model = test_model(spec.clone(), 3);
        let mut engine = CpuEngine::with_threads(2).expect("pool");
        engine.load(&model, Some(&image), &TrainOptions { batch: 3000, ..Default::default() }).expect("load");
        engine.train(2).expect("warm-up");
        // The fewest of three tries: a step's own allocation shows up every time, while rayon's
        // work-stealing deques can grow once when the machine is busy (seen with a parallel
        // build running: 2 allocations in one try of 5 steps, for any model).
        let during = (0..3)
            .map(|_| {
                let before = ALLOCATIONS.load(Ordering::Relaxed);
                engine.train(5).expect("train");
                ALLOCATIONS.load(Ordering::Relaxed) - before
            })
            .min()
            .unwrap_or(usize::MAX);
        assert_eq!(during, 0, "{}: {during} allocations in 5 steps", spec.describe());
    }
}
