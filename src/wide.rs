//! Wider vector code for elementwise loops, chosen at run time: the crate is built for the
//! baseline of its target (SSE2 on x86-64, two `f64` per instruction), and a loop run through
//! [`wide`] is compiled a second time with AVX2 (four), which runs when the CPU has it.
//!
//! Only the vector width changes, not the arithmetic: Rust never contracts `a·b + c` into a fused
//! multiply-add on its own (and `avx2` alone does not enable FMA), and vectorized loops keep the
//! order of every sum. So a loop gives the same bits with and without AVX2. (Other parts of the
//! crate do use FMA where the CPU has it: see the scalar tape's walk.)

/// Runs `f`, compiled with AVX2 where the CPU supports it. `f` should be a small closure over
/// `#[inline(always)]` loops, so that they are compiled into the AVX2 build.
#[inline(always)]
pub(crate) fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU supports AVX2, just checked.
        return unsafe { avx2(f) };
    }
    f()
}
