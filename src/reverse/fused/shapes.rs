//! Fused kernels for common loss shapes: one loop per chunk for the whole chain, instead of one
//! loop per op.
//!
//! The general pass runs each op of a fused chain as its own loop over a chunk, through slots of
//! the chunk's scratch: on a chain of three ops, two to four times the time of one hand-written
//! loop that reads the inputs and writes the gradient. A shape recognized here runs as one such
//! loop (2026-11-28, `Σ (|x|² − t)²` and its VJP at 1024², one core, alternating rounds: the
//! general pass 4.7–5.4 ms, this loop 2.5 ms, a hand-written loop 1.7 ms). It calls the same
//! rules of the table as the ops' kernels, on the same operands built the same way (a real
//! operand as `(x, 0)`, a real result's real part), in the same order, and sums each chunk as the
//! general pass does ([`lane_sum`]): so it gives the same bits as the general pass, which the
//! tests check, and writes no rule a second time.
//!
//! The shape: `Σ (|x|² − t)²`, intensity matching (phase retrieval, holography), with
//! - `x` a complex array input (an FFT's output, a leaf);
//! - `t` a real array or a real scalar that gets no share (a target), on either side of the `−`;
//! - the square as `powi(2)` or as `norm_sqr` of the real difference (as `norm_sqr_sum` of a
//!   pending expression writes it).
//!
//! It runs for the value alone (in place of [`View::sum_range`]) and for the VJP of a real seed, with or
//! without the value ([`Backward::range`]); `x`'s share is stored into a buffer of its own,
//! added into an existing adjoint, or not computed at all. Anything else (a complex seed, an
//! array seed, `t` needing its share, other input kinds) takes the general pass.

use super::{lane_sum, zero, Backward, Input, Known, SeedPtr, Src, Target, View, C, CHUNK};
use crate::rules;
use crate::wide::wide;
use crate::Real;
use core::ops::Range;

/// Whether shapes are used: always, except in tests that turn them off on their thread to
/// compare with the general pass.
#[inline(always)]
pub(super) fn enabled() -> bool {
    #[cfg(test)]
    return ENABLED.with(|e| e.get());
    #[cfg(not(test))]
    true
}

/// Notes that a shape runs a pass (counted in tests, on the calling thread).
#[inline(always)]
pub(super) fn count() {
    #[cfg(test)]
    RUNS.with(|n| n.set(n.get() + 1));
}

#[cfg(test)]
thread_local! {
    /// See [`enabled`].
    static ENABLED: core::cell::Cell<bool> = const { core::cell::Cell::new(true) };
    /// Passes run by a shape on this thread.
    static RUNS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// `Σ outer(|x|² − t)` or `Σ outer(t − |x|²)`, `outer` a square (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Intensity {
    /// The array input `x`.
    x: usize,
    /// The operand `t`: an array or a scalar input.
    t: Src,
    /// Whether `|x|²` is the first operand of the `−`.
    x_first: bool,
    /// [`Known::Square`] or [`Known::NormSqr`].
    outer: Known,
}

/// Where `x`'s shares go.
enum Put<'a, T> {
    /// Nowhere: `x` needs no adjoint (the loop then computes no share).
    Discard,
    /// Stored: the first share of a buffer of its own.
    Store(&'a mut [C<T>]),
    /// Added into an existing adjoint.
    Add(&'a mut [C<T>]),
}

impl Intensity {
    /// The shape of `v`'s chain, if it is this one.
    pub(super) fn of<T: Real>(v: &View<'_, T>) -> Option<Self> {
        let [(k0, a0, r0), (k1, a1, r1), (k2, a2, r2)] = v.ops[..] else {
            return None;
        };
        // Every op real (so is `t`: `−` keeps only real operands real).
        if !(r0 && r1 && r2) || k0.known() != Some(Known::NormSqr) || k1.known() != Some(Known::Sub)
        {
            return None;
        }
        let outer = k2
            .known()
            .filter(|k| matches!(k, Known::Square | Known::NormSqr))?;
        let [Some(Src::Array(x)), None] = a0 else {
            return None;
        };
        if !matches!(v.arrays[x], Input::Complex(_)) || a2 != [Some(Src::Op(1)), None] {
            return None;
        }
        let (t, x_first) = match a1 {
            [Some(Src::Op(0)), Some(t)] => (t, true),
            [Some(t), Some(Src::Op(0))] => (t, false),
            _ => return None,
        };
        let t_ok = match t {
            Src::Array(k) => k != x && !matches!(v.arrays[k], Input::Complex(_)),
            Src::Scalar(_) => true,
            Src::Op(_) => false,
        };
        t_ok.then_some(Intensity {
            x,
            t,
            x_first,
            outer,
        })
    }

    /// Whether the VJP pass `b` can run here: a real scalar seed (every cotangent real) and no
    /// share for `t`.
    pub(super) fn runs<T: Real>(&self, b: &Backward<'_, T>) -> bool {
        let t_skipped = match self.t {
            Src::Array(k) => matches!(b.targets[k], Target::Skip),
            Src::Scalar(k) => !b.wants_scalar[k],
            Src::Op(_) => false,
        };
        matches!(b.seed, SeedPtr::Scalar(_)) && b.rc.iter().all(|&r| r) && t_skipped
    }

    /// `Σ` of the values over `r`: chunk sums added in order, as [`View::sum_range`] adds them.
    pub(super) fn sum_range<T: Real>(&self, v: &View<'_, T>, r: Range<usize>) -> C<T> {
        let mut total = zero();
        let (mut vals, mut t) = ([T::zero(); CHUNK], [T::zero(); CHUNK]);
        for lo in r.clone().step_by(CHUNK) {
            let n = CHUNK.min(r.end - lo);
            self.chunk(v, lo, &mut vals[..n], &mut t, zero(), Put::Discard);
            total.re += lane_sum(&vals[..n], |&x| x, T::zero());
        }
        total
    }

    /// [`Backward::range`] for this shape (when [`runs`](Self::runs)): no scalar input gets a
    /// share.
    ///
    /// # Safety
    /// As for [`Backward::range`].
    pub(super) unsafe fn range<T: Real>(
        &self,
        b: &Backward<'_, T>,
        r: Range<usize>,
    ) -> (Vec<C<T>>, C<T>) {
        let v = b.view;
        // As the general pass reads a real scalar seed: `(Re c, 0)`.
        let SeedPtr::Scalar(c) = b.seed else {
            unreachable!("an array seed takes the general pass")
        };
        let seed = C::new(c.re, T::zero());
        let mut total = zero();
        let (mut vals, mut t) = ([T::zero(); CHUNK], [T::zero(); CHUNK]);
        for lo in r.clone().step_by(CHUNK) {
            let n = CHUNK.min(r.end - lo);
            // SAFETY: elements `lo..lo + n` of the target arrays are this task's (the caller's
            // promise), in bounds.
            let part = |p: super::Ptr<T>| unsafe { std::slice::from_raw_parts_mut(p.0.add(lo), n) };
            let vals = &mut vals[..n];
            match b.targets[self.x] {
                Target::Skip => self.chunk(v, lo, vals, &mut t, seed, Put::Discard),
                // `x` is read once, so its share is the first its own buffer receives.
                Target::Own(o) => {
                    self.chunk(v, lo, vals, &mut t, seed, Put::Store(part(b.owns[o])))
                }
                Target::Add(p) => self.chunk(v, lo, vals, &mut t, seed, Put::Add(part(p))),
            }
            if b.with_value {
                total.re += lane_sum(vals, |&x| x, T::zero());
            }
        }
        (vec![zero(); v.scalars.len()], total)
    }

    /// The chunk at `lo`, `vals.len()` elements: the values into `vals`, and `x`'s shares for
    /// the seed `seed` into `put`. `t` is room for `t`'s chunk as real numbers where it is not
    /// stored as such.
    #[inline(always)]
    fn chunk<T: Real>(
        &self,
        v: &View<'_, T>,
        lo: usize,
        vals: &mut [T],
        t: &mut [T; CHUNK],
        seed: C<T>,
        put: Put<'_, T>,
    ) {
        let n = vals.len();
        let Input::Complex(x) = v.arrays[self.x] else {
            unreachable!("checked by `of`")
        };
        let x = &x[lo..lo + n];
        // `t` as the general pass reads it: `(t, 0)`, from real numbers, from the real parts of
        // complex ones, or a real scalar (whose imaginary part the view has set to +0).
        let t: &[T] = match self.t {
            Src::Array(k) => match v.arrays[k] {
                Input::Real(t) => &t[lo..lo + n],
                Input::RealParts(z, _) => {
                    for (t, z) in t.iter_mut().zip(&z[lo..lo + n]) {
                        *t = z.re;
                    }
                    &t[..n]
                }
                Input::Complex(_) => unreachable!("checked by `of`"),
            },
            Src::Scalar(k) => {
                t[..n].fill(v.scalars[k].re);
                &t[..n]
            }
            Src::Op(_) => unreachable!("checked by `of`"),
        };
        match (self.x_first, self.outer == Known::Square) {
            (true, true) => run::<T, true, true>(x, t, vals, seed, put),
            (true, false) => run::<T, true, false>(x, t, vals, seed, put),
            (false, true) => run::<T, false, true>(x, t, vals, seed, put),
            (false, false) => run::<T, false, false>(x, t, vals, seed, put),
        }
    }
}

/// The loops of [`Intensity::chunk`], one per variant of the shape, kind of target and element
/// type, compiled with AVX2 where the CPU has it.
#[inline(always)]
fn run<T: Real, const X_FIRST: bool, const SQUARE: bool>(
    x: &[C<T>],
    t: &[T],
    vals: &mut [T],
    seed: C<T>,
    put: Put<'_, T>,
) {
    let n = vals.len();
    let (x, t) = (&x[..n], &t[..n]);
    let at = |xi, ti| element::<T, X_FIRST, SQUARE>(xi, ti, seed);
    wide(
        #[inline(always)]
        || match put {
            Put::Discard => {
                for ((v, &xi), &ti) in vals.iter_mut().zip(x).zip(t) {
                    *v = at(xi, ti).0;
                }
            }
            Put::Store(out) => {
                for (((v, &xi), &ti), o) in vals.iter_mut().zip(x).zip(t).zip(&mut out[..n]) {
                    (*v, *o) = at(xi, ti);
                }
            }
            Put::Add(out) => {
                for (((v, &xi), &ti), o) in vals.iter_mut().zip(x).zip(t).zip(&mut out[..n]) {
                    let (value, share) = at(xi, ti);
                    *v = value;
                    *o += share;
                }
            }
        },
    )
}

/// One element of [`run`]: the value, and `x`'s share for the seed `seed`.
#[inline(always)]
fn element<T: Real, const X_FIRST: bool, const SQUARE: bool>(
    xi: C<T>,
    ti: T,
    seed: C<T>,
) -> (T, C<T>) {
    let real = |z: C<T>| C::new(z.re, T::zero());
    // Forward: each op's value as its kernel stores it (a real result's real part), read back
    // as `(re, 0)`.
    let ti = C::new(ti, T::zero());
    let v0 = real(rules::norm_sqr(xi).value);
    let d = real(
        if X_FIRST {
            rules::sub(v0, ti)
        } else {
            rules::sub(ti, v0)
        }
        .value,
    );
    // Backward, the kernels' formulas: `conj(∂g/∂a) c` for a holomorphic rule, `+ (∂g/∂ā)
    // conj(c)` for one that is not.
    let (value, g1) = if SQUARE {
        let r = rules::powi(d, 2);
        (r.value.re, real(r.da.conj() * seed))
    } else {
        let r = rules::norm_sqr(d);
        let g = r.da.conj() * seed + r.da_conj.unwrap_or_else(zero) * seed.conj();
        (r.value.re, real(g))
    };
    // The `−` kernel's partial for `|x|²`, conjugated, as its (linear) backward loop takes it:
    // `1`, which it passes on as it is, or `−1`, by which it multiplies.
    let g0 = if X_FIRST {
        g1
    } else {
        real(rules::sub::<T>(zero(), zero()).db.conj() * g1)
    };
    let r = rules::norm_sqr(xi);
    let share = r.da.conj() * g0 + r.da_conj.unwrap_or_else(zero) * g0.conj();
    (value, share)
}

#[cfg(test)]
mod tests;
