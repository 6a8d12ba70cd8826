//! Run-time SIMD dispatch without `unsafe` in the kernels themselves.
//!
//! The CPU kernels are plain Rust loops written so that LLVM vectorises them: fixed-size inner
//! loops, no branches, `madd` for multiply-add. Each hot entry point is compiled twice by
//! [`simd_entry!`]: once with AVX2+FMA enabled (picked at run time when the CPU has them) and
//! once for the build's baseline. `FMA = true` makes `madd` a fused multiply-add.

use std::sync::OnceLock;

/// Whether the baseline build already has a fused multiply-add instruction.
pub const NATIVE_FMA: bool = cfg!(any(target_feature = "fma", target_arch = "aarch64"));

/// `a·b + c`, fused when `FMA` (one rounding), plain otherwise.
#[inline(always)]
pub fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// Whether this CPU has AVX2 and FMA (checked once).
#[inline]
pub fn avx2_fma() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// The instruction set the kernels run with, for logs and benchmark records.
pub fn describe() -> &'static str {
    if avx2_fma() {
        "AVX2+FMA"
    } else if NATIVE_FMA {
        "baseline+FMA"
    } else {
        "baseline SIMD"
    }
}

/// Defines `fn $name(args) -> ret` that calls `$imp::<true>` inside an AVX2+FMA function when the
/// CPU has them, and `$imp::<NATIVE_FMA>` otherwise. `$imp` must be `#[inline(always)]` (and so
/// must everything it calls in the hot loop) so that it is compiled with the enabled features.
macro_rules! simd_entry {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? => $imp:ident) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn with_avx2($($arg: $ty),*) $(-> $ret)? {
                    $imp::<true>($($arg),*)
                }
                if $crate::cpu::simd::avx2_fma() {
                    // SAFETY: AVX2 and FMA were detected on this CPU at run time.
                    return unsafe { with_avx2($($arg),*) };
                }
            }
            $imp::<{ $crate::cpu::simd::NATIVE_FMA }>($($arg),*)
        }
    };
}
pub(crate) use simd_entry;
