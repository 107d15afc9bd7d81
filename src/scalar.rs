//! The real scalar type the crate is generic over.

use crate::fft::FftPlans;
use core::cell::RefCell;
use core::fmt::{Debug, Display, LowerExp};
use num_complex::Complex;
use num_traits::{Float, FloatConst, FromPrimitive, NumAssign, Signed};
use std::sync::OnceLock;
use std::thread::LocalKey;

/// A real floating-point scalar: `f32` or `f64`.
///
/// Every type in the crate is generic over one `T: Real`, with `f64` the default. The bounds are
/// those of [`num_traits::Float`] plus what [`rustfft`] needs for its plans, so a `T: Real` can be
/// used in FFTs without further bounds.
pub trait Real:
    Float
    + FloatConst
    + FromPrimitive
    + Signed
    + NumAssign
    + Default
    + Debug
    + Display
    + LowerExp
    + Send
    + Sync
    + 'static
    + rustfft::FftNum
{
    /// Converts an `f64` constant to `Self` (rounding for `f32`).
    fn from_f64c(x: f64) -> Self;
    /// Converts `self` to `f64` (exact for both `f32` and `f64`).
    fn to_f64c(self) -> f64;
    /// The process-wide FFT plan cache for this type (see [`FftPlans::global`]).
    #[doc(hidden)]
    fn fft_plans() -> &'static FftPlans<Self>;
    /// This thread's pool of array buffers for this type (see `reverse::release_buffers`).
    #[doc(hidden)]
    fn buffer_pool() -> &'static LocalKey<BufferPool<Self>>;
}

/// Array buffers of dropped or cleared tapes, kept for reuse.
#[doc(hidden)]
pub type BufferPool<T> = RefCell<Vec<Vec<Complex<T>>>>;

thread_local! {
    static POOL64: BufferPool<f64> = const { RefCell::new(Vec::new()) };
    static POOL32: BufferPool<f32> = const { RefCell::new(Vec::new()) };
}

impl Real for f64 {
    #[inline(always)]
    fn from_f64c(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64c(self) -> f64 {
        self
    }
    fn fft_plans() -> &'static FftPlans<Self> {
        static PLANS: OnceLock<FftPlans<f64>> = OnceLock::new();
        PLANS.get_or_init(FftPlans::new)
    }
    fn buffer_pool() -> &'static LocalKey<BufferPool<Self>> {
        &POOL64
    }
}

impl Real for f32 {
    #[inline(always)]
    fn from_f64c(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64c(self) -> f64 {
        self as f64
    }
    fn fft_plans() -> &'static FftPlans<Self> {
        static PLANS: OnceLock<FftPlans<f32>> = OnceLock::new();
        PLANS.get_or_init(FftPlans::new)
    }
    fn buffer_pool() -> &'static LocalKey<BufferPool<Self>> {
        &POOL32
    }
}
