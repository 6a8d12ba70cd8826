//! The engine conformance suite on the CPU engine (the reference engine).

fn cpu() -> Option<nfield::cpu::CpuEngine> {
    Some(nfield::cpu::CpuEngine::new())
}

nfield::engine_conformance_tests!(cpu, nfield::testing::Conformance::F32);
