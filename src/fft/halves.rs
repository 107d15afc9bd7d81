//! One long 1-D transform on two threads at once.
//!
//! rustfft runs one transform on one thread, so a 1-D FFT of 2¹⁶ points would leave the other
//! cores idle. A length `n = 2m` splits, by one radix-2 step of decimation in time, into the
//! transforms `E` and `O` of the even and the odd samples, which run at the same time:
//!
//! ```text
//! X[k]     = E[k] + wᵏ O[k]
//! X[k + m] = E[k] − wᵏ O[k],     w = exp(∓2πi/n),  k < m.
//! ```
//!
//! That costs one pass to deinterleave the samples and one to combine the halves (which also
//! applies the normalisation, so the separate scaling pass goes), both on the thread pool. On one
//! thread this is slower than rustfft's own plan for `n`, so it is only used when a second
//! thread can take a half; see [`FftPlans::transform`](super::FftPlans::transform) on what that
//! means for the bits of the result.

use crate::{Complex, Real};
use rayon::prelude::*;
use rustfft::Fft;
use std::sync::Arc;

/// Lines at least this long are split when the pool has more than one thread (2¹⁵ points, the
/// size from which [`THRESHOLD`](crate::parallel::THRESHOLD) puts array work on the pool).
pub(super) const FROM: usize = crate::parallel::THRESHOLD;

/// Elements of a half one task of the deinterleaving or combining pass handles.
const TASK: usize = 1 << 12;

/// The plan of one split transform: the half-length plan and the twiddles `wᵏ`, `k < n/2`.
pub(super) struct Halves<T: Real> {
    half: Arc<dyn Fft<T>>,
    twiddles: Vec<Complex<T>>,
}

impl<T: Real> Halves<T> {
    /// The plan for length `2·half.len()` in the direction of `half` (forward: `w = exp(−2πi/n)`).
    pub(super) fn new(half: Arc<dyn Fft<T>>) -> Self {
        let m = half.len();
        let n = (2 * m) as f64;
        let sign = match half.fft_direction() {
            rustfft::FftDirection::Forward => -1.0,
            rustfft::FftDirection::Inverse => 1.0,
        };
        // Each twiddle from its own angle, in f64, so none carries the error of a recurrence.
        let twiddles = (0..m)
            .map(|k| {
                let a = sign * 2.0 * std::f64::consts::PI * (k as f64) / n;
                Complex::new(T::from_f64c(a.cos()), T::from_f64c(a.sin()))
            })
            .collect();
        Halves { half, twiddles }
    }

    /// Whether a line of length `n` is split rather than transformed whole.
    pub(super) fn applies(n: usize) -> bool {
        n >= FROM && n % 2 == 0 && crate::parallel::parallel(n)
    }

    /// Scratch [`process`](Self::process) needs: with a `src`, each half is transformed in place
    /// in `data`; without, the samples are deinterleaved into the scratch first.
    pub(super) fn scratch_len(&self, in_place: bool) -> usize {
        if in_place {
            2 * (self.half.len() + self.half.get_outofplace_scratch_len())
        } else {
            2 * self.half.get_inplace_scratch_len()
        }
    }

    /// `data ← s·DFT(src)` (or of `data` itself when `src` is `None`), with `s = scale` or 1.
    /// `scratch` has at least [`scratch_len`](Self::scratch_len) elements.
    ///
    /// Out of place, the samples are deinterleaved straight into the halves of `data` and each is
    /// transformed there; in place, into `scratch`, and each half is transformed from there into
    /// `data`. (One route for both, through `scratch`, made `gp_grad` on two threads 1.23× slower:
    /// eight alternating rounds, slower in all.) The two give the same bits as long as rustfft's
    /// in-place and out-of-place transforms do, which the tests check.
    pub(super) fn process(
        &self,
        src: Option<&[Complex<T>]>,
        data: &mut [Complex<T>],
        scratch: &mut [Complex<T>],
        scale: Option<T>,
    ) {
        let m = self.half.len();
        debug_assert_eq!(data.len(), 2 * m);
        let half = self.half.as_ref();
        match src {
            Some(src) => {
                let (even, odd) = data.split_at_mut(m);
                deinterleave(src, even, odd);
                let (s1, s2) = scratch.split_at_mut(scratch.len() / 2);
                rayon::join(
                    || half.process_with_scratch(even, s1),
                    || half.process_with_scratch(odd, s2),
                );
            }
            None => {
                let (samples, rest) = scratch.split_at_mut(2 * m);
                let (even, odd) = samples.split_at_mut(m);
                deinterleave(data, even, odd);
                let (s1, s2) = rest.split_at_mut(rest.len() / 2);
                let (e_out, o_out) = data.split_at_mut(m);
                rayon::join(
                    || half.process_outofplace_with_scratch(even, e_out, s1),
                    || half.process_outofplace_with_scratch(odd, o_out, s2),
                );
            }
        }
        let (e, o) = data.split_at_mut(m);
        combine(e, o, &self.twiddles, scale);
    }
}

/// `even[j] = src[2j]`, `odd[j] = src[2j + 1]`, in tasks on the pool.
fn deinterleave<T: Real>(src: &[Complex<T>], even: &mut [Complex<T>], odd: &mut [Complex<T>]) {
    src.par_chunks(2 * TASK)
        .zip(even.par_chunks_mut(TASK))
        .zip(odd.par_chunks_mut(TASK))
        .for_each(|((s, e), o)| {
            for ((p, e), o) in s.chunks_exact(2).zip(e).zip(o) {
                *e = p[0];
                *o = p[1];
            }
        });
}

/// The radix-2 butterflies `(e, o) ← s·(e + w o, e − w o)`, in tasks on the pool.
fn combine<T: Real>(
    even: &mut [Complex<T>],
    odd: &mut [Complex<T>],
    twiddles: &[Complex<T>],
    scale: Option<T>,
) {
    let tasks = even
        .par_chunks_mut(TASK)
        .zip(odd.par_chunks_mut(TASK))
        .zip(twiddles.par_chunks(TASK));
    match scale {
        None => tasks.for_each(|((e, o), w)| butterflies(e, o, w, |z| z)),
        Some(s) => tasks.for_each(|((e, o), w)| butterflies(e, o, w, |z| z.scale(s))),
    }
}

/// The butterflies of [`combine`] on one task's elements, `s` applied to both outputs.
#[inline(always)]
fn butterflies<T: Real>(
    even: &mut [Complex<T>],
    odd: &mut [Complex<T>],
    twiddles: &[Complex<T>],
    s: impl Fn(Complex<T>) -> Complex<T>,
) {
    for ((e, o), &w) in even.iter_mut().zip(odd.iter_mut()).zip(twiddles) {
        let (a, b) = (*e, *o * w);
        *e = s(a + b);
        *o = s(a - b);
    }
}
