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
//! The shapes, `x` a complex array input (an FFT's output, a leaf) and the other operand getting
//! no share (a target):
//! - `Σ (|x|² − t)²`, intensity matching (phase retrieval, holography): `t` a real array or a
//!   real scalar, on either side of the `−`; the square as `powi(2)` or as `norm_sqr` of the
//!   real difference (as `norm_sqr_sum` of a pending expression writes it);
//! - `Σ |x − y|²`, field matching: `y` an array of any kind or a scalar, on either side (as
//!   `norm_sqr_sum` or `norm_sqr().sum()`); when it is the second operand that needs its share,
//!   a complex array, and the first does not, that one is `x`.
//!
//! A shape runs for the value alone (in place of [`View::sum_range`]) and for the VJP of a real
//! seed, with or without the value ([`Backward::range`]); `x`'s share is stored into a buffer
//! of its own, added into an existing adjoint, or not computed at all. Anything else (a complex
//! seed, an array seed, both operands needing shares, other input kinds) takes the general
//! pass.

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

/// A recognised shape: which input is `x` (the complex array that gets a share), the other
/// operand of the `−`, and their order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Shape {
    /// The array input `x`.
    x: usize,
    /// The other operand of the `−`: an array or a scalar input.
    other: Src,
    /// Whether `x` (or `|x|²`) is the first operand of the `−`.
    x_first: bool,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `Σ (|x|² − t)²`, `t` real (`other`), squared by `powi(2)` (`square`) or `norm_sqr`.
    Intensity { square: bool },
    /// `Σ |x − y|²`, `y` (`other`) of any kind.
    Field,
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

/// Room for the other operand's chunk where it is not stored as the loop reads it.
struct Room<T> {
    reals: [T; CHUNK],
    complexes: [C<T>; CHUNK],
}

impl<T: Real> Room<T> {
    fn new() -> Self {
        Room {
            reals: [T::zero(); CHUNK],
            complexes: [zero(); CHUNK],
        }
    }
}

impl Shape {
    /// The shape of `v`'s chain, if it has one.
    pub(super) fn of<T: Real>(v: &View<'_, T>) -> Option<Self> {
        Self::intensity(v).or_else(|| Self::field(v))
    }

    /// `norm_sqr(x)`, `x − t` or `t − x`, then `powi(2)` or `norm_sqr`, every op real.
    fn intensity<T: Real>(v: &View<'_, T>) -> Option<Self> {
        let [(k0, a0, r0), (k1, a1, r1), (k2, a2, r2)] = v.ops[..] else {
            return None;
        };
        // Every op real (so is `t`: `−` keeps only real operands real).
        if !(r0 && r1 && r2) || k0.known() != Some(Known::NormSqr) || k1.known() != Some(Known::Sub)
        {
            return None;
        }
        let square = match k2.known() {
            Some(Known::Square) => true,
            Some(Known::NormSqr) => false,
            _ => return None,
        };
        let [Some(Src::Array(x)), None] = a0 else {
            return None;
        };
        if !matches!(v.arrays[x], Input::Complex(_)) || a2 != [Some(Src::Op(1)), None] {
            return None;
        }
        let (other, x_first) = match a1 {
            [Some(Src::Op(0)), Some(t)] => (t, true),
            [Some(t), Some(Src::Op(0))] => (t, false),
            _ => return None,
        };
        let real_t = match other {
            Src::Array(k) => !matches!(v.arrays[k], Input::Complex(_)),
            Src::Scalar(_) => true,
            Src::Op(_) => false,
        };
        real_t.then_some(Shape {
            x,
            other,
            x_first,
            kind: Kind::Intensity { square },
        })
    }

    /// `a − b`, then `norm_sqr` (real), with `x` the first of `a`, `b` that is a complex array.
    fn field<T: Real>(v: &View<'_, T>) -> Option<Self> {
        let [(k0, [Some(a), Some(b)], _), (k1, a1, true)] = v.ops[..] else {
            return None;
        };
        if k0.known() != Some(Known::Sub)
            || k1.known() != Some(Known::NormSqr)
            || a1 != [Some(Src::Op(0)), None]
            || a == b
            || matches!(a, Src::Op(_))
            || matches!(b, Src::Op(_))
        {
            return None;
        }
        let complex = |s: Src| match s {
            Src::Array(k) => matches!(v.arrays[k], Input::Complex(_)).then_some(k),
            _ => None,
        };
        let (x, other, x_first) = match (complex(a), complex(b)) {
            (Some(x), _) => (x, b, true),
            (None, Some(x)) => (x, a, false),
            (None, None) => return None,
        };
        Some(Shape {
            x,
            other,
            x_first,
            kind: Kind::Field,
        })
    }

    /// The shape as it runs the VJP pass `b`, if it can: a real scalar seed (a real cotangent
    /// of the sum), and a share for `x` only. For `Σ |a − b|²` where it is the other operand
    /// that needs its share, a complex array, that one becomes `x`.
    pub(super) fn runs<T: Real>(&self, b: &Backward<'_, T>) -> Option<Self> {
        let wanted = |s: Src| match s {
            Src::Array(k) => !matches!(b.targets[k], Target::Skip),
            Src::Scalar(k) => b.wants_scalar[k],
            Src::Op(_) => true,
        };
        let real_seed = matches!(b.seed, SeedPtr::Scalar(_)) && b.rc[b.rc.len() - 1];
        if !real_seed {
            return None;
        }
        match self.kind {
            // Every cotangent real, as the loop computes them.
            Kind::Intensity { .. } if b.rc.iter().all(|&r| r) && !wanted(self.other) => Some(*self),
            Kind::Intensity { .. } => None,
            Kind::Field if !wanted(self.other) => Some(*self),
            Kind::Field => match self.other {
                Src::Array(k)
                    if matches!(b.view.arrays[k], Input::Complex(_))
                        && !wanted(Src::Array(self.x)) =>
                {
                    Some(Shape {
                        x: k,
                        other: Src::Array(self.x),
                        x_first: !self.x_first,
                        kind: Kind::Field,
                    })
                }
                _ => None,
            },
        }
    }

    /// `Σ` of the values over `r`: chunk sums added in order, as [`View::sum_range`] adds them.
    pub(super) fn sum_range<T: Real>(&self, v: &View<'_, T>, r: Range<usize>) -> C<T> {
        let mut total = zero();
        let (mut vals, mut room) = ([T::zero(); CHUNK], Room::new());
        for lo in r.clone().step_by(CHUNK) {
            let n = CHUNK.min(r.end - lo);
            self.chunk(v, lo, &mut vals[..n], &mut room, zero(), Put::Discard);
            total.re += lane_sum(&vals[..n], |&x| x, T::zero());
        }
        total
    }

    /// [`Backward::range`] for this shape (as [`runs`](Self::runs) gives it): no scalar input
    /// gets a share.
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
        let (mut vals, mut room) = ([T::zero(); CHUNK], Room::new());
        for lo in r.clone().step_by(CHUNK) {
            let n = CHUNK.min(r.end - lo);
            // SAFETY: elements `lo..lo + n` of the target arrays are this task's (the caller's
            // promise), in bounds.
            let part = |p: super::Ptr<T>| unsafe { std::slice::from_raw_parts_mut(p.0.add(lo), n) };
            let (vals, room) = (&mut vals[..n], &mut room);
            match b.targets[self.x] {
                Target::Skip => self.chunk(v, lo, vals, room, seed, Put::Discard),
                // `x` is read once, so its share is the first its own buffer receives.
                Target::Own(o) => self.chunk(v, lo, vals, room, seed, Put::Store(part(b.owns[o]))),
                Target::Add(p) => self.chunk(v, lo, vals, room, seed, Put::Add(part(p))),
            }
            if b.with_value {
                total.re += lane_sum(vals, |&x| x, T::zero());
            }
        }
        (vec![zero(); v.scalars.len()], total)
    }

    /// The chunk at `lo`, `vals.len()` elements: the values into `vals`, and `x`'s shares for
    /// the seed `seed` into `put`.
    #[inline(always)]
    fn chunk<T: Real>(
        &self,
        v: &View<'_, T>,
        lo: usize,
        vals: &mut [T],
        room: &mut Room<T>,
        seed: C<T>,
        put: Put<'_, T>,
    ) {
        let n = vals.len();
        let Input::Complex(x) = v.arrays[self.x] else {
            unreachable!("checked by `of` and `runs`")
        };
        let x = &x[lo..lo + n];
        match self.kind {
            Kind::Intensity { square } => {
                let t = self.reals(v, lo, n, &mut room.reals);
                match (self.x_first, square) {
                    (true, true) => run(x, t, vals, put, intensity::<T, true, true>(seed)),
                    (true, false) => run(x, t, vals, put, intensity::<T, true, false>(seed)),
                    (false, true) => run(x, t, vals, put, intensity::<T, false, true>(seed)),
                    (false, false) => run(x, t, vals, put, intensity::<T, false, false>(seed)),
                }
            }
            Kind::Field => {
                let y = self.complexes(v, lo, n, &mut room.complexes);
                if self.x_first {
                    run(x, y, vals, put, field::<T, true>(seed))
                } else {
                    run(x, y, vals, put, field::<T, false>(seed))
                }
            }
        }
    }

    /// The other operand's chunk as real numbers `t` (read by the general pass as `(t, 0)`):
    /// stored so, the real parts of complex numbers, or a real scalar (whose imaginary part
    /// the view has set to +0).
    #[inline(always)]
    fn reals<'a, T: Real>(
        &self,
        v: &View<'a, T>,
        lo: usize,
        n: usize,
        room: &'a mut [T; CHUNK],
    ) -> &'a [T] {
        match self.other {
            Src::Array(k) => match v.arrays[k] {
                Input::Real(t) => &t[lo..lo + n],
                Input::RealParts(z, _) => {
                    for (t, z) in room.iter_mut().zip(&z[lo..lo + n]) {
                        *t = z.re;
                    }
                    &room[..n]
                }
                Input::Complex(_) => unreachable!("checked by `of`"),
            },
            Src::Scalar(k) => {
                room[..n].fill(v.scalars[k].re);
                &room[..n]
            }
            Src::Op(_) => unreachable!("checked by `of`"),
        }
    }

    /// The other operand's chunk as complex numbers, as the general pass reads it: real ones
    /// as `(t, 0)`, a scalar broadcast.
    #[inline(always)]
    fn complexes<'a, T: Real>(
        &self,
        v: &View<'a, T>,
        lo: usize,
        n: usize,
        room: &'a mut [C<T>; CHUNK],
    ) -> &'a [C<T>] {
        match self.other {
            Src::Array(k) => match v.arrays[k] {
                Input::Complex(y) => &y[lo..lo + n],
                Input::Real(t) => {
                    for (y, &t) in room.iter_mut().zip(&t[lo..lo + n]) {
                        *y = C::new(t, T::zero());
                    }
                    &room[..n]
                }
                Input::RealParts(z, _) => {
                    for (y, z) in room.iter_mut().zip(&z[lo..lo + n]) {
                        *y = C::new(z.re, T::zero());
                    }
                    &room[..n]
                }
            },
            Src::Scalar(k) => {
                room[..n].fill(v.scalars[k]);
                &room[..n]
            }
            Src::Op(_) => unreachable!("checked by `of`"),
        }
    }
}

/// The loops of [`Shape::chunk`]: `element(x, other)` gives the value and `x`'s share. One
/// loop per shape, variant, kind of target and element type, compiled with AVX2 where the CPU
/// has it.
#[inline(always)]
fn run<T: Real, O: Copy>(
    x: &[C<T>],
    other: &[O],
    vals: &mut [T],
    put: Put<'_, T>,
    element: impl Fn(C<T>, O) -> (T, C<T>),
) {
    let n = vals.len();
    let (x, other) = (&x[..n], &other[..n]);
    wide(
        #[inline(always)]
        || match put {
            Put::Discard => {
                for ((v, &xi), &oi) in vals.iter_mut().zip(x).zip(other) {
                    *v = element(xi, oi).0;
                }
            }
            Put::Store(out) => {
                for (((v, &xi), &oi), o) in vals.iter_mut().zip(x).zip(other).zip(&mut out[..n]) {
                    (*v, *o) = element(xi, oi);
                }
            }
            Put::Add(out) => {
                for (((v, &xi), &oi), o) in vals.iter_mut().zip(x).zip(other).zip(&mut out[..n]) {
                    let (value, share) = element(xi, oi);
                    *v = value;
                    *o += share;
                }
            }
        },
    )
}

/// The real part of `z`, as a real op's kernel stores it, read back as `(re, 0)`.
#[inline(always)]
fn real<T: Real>(z: C<T>) -> C<T> {
    C::new(z.re, T::zero())
}

/// The `−` kernel's (linear) backward loop for the operand `x` is on side `X_FIRST`: the
/// conjugated partial is `1`, which passes `c` on as it is, or `−1`, by which it multiplies.
#[inline(always)]
fn through_sub<T: Real, const X_FIRST: bool>(c: C<T>) -> C<T> {
    if X_FIRST {
        c
    } else {
        rules::sub::<T>(zero(), zero()).db.conj() * c
    }
}

/// `x`'s share from `norm_sqr(x)` for its conjugate cotangent `c`: the kernel's formula for a
/// rule that is not holomorphic, `conj(∂g/∂a) c + (∂g/∂ā) conj(c)`.
#[inline(always)]
fn through_norm_sqr<T: Real>(a: C<T>, c: C<T>) -> C<T> {
    let r = rules::norm_sqr(a);
    r.da.conj() * c + r.da_conj.unwrap_or_else(zero) * c.conj()
}

/// One element of `Σ (|x|² − t)²`: the value, and `x`'s share for the seed `seed`.
#[inline(always)]
fn intensity<T: Real, const X_FIRST: bool, const SQUARE: bool>(
    seed: C<T>,
) -> impl Fn(C<T>, T) -> (T, C<T>) {
    move |xi, ti| {
        // Forward: each op's value as its kernel stores it.
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
        // Backward: `powi(2)` is holomorphic, `conj(∂g/∂a) c`; every cotangent is real.
        let (value, g1) = if SQUARE {
            let r = rules::powi(d, 2);
            (r.value.re, real(r.da.conj() * seed))
        } else {
            (rules::norm_sqr(d).value.re, real(through_norm_sqr(d, seed)))
        };
        let g0 = real(through_sub::<T, X_FIRST>(g1));
        (value, through_norm_sqr(xi, g0))
    }
}

/// One element of `Σ |x − y|²`: the value, and `x`'s share for the seed `seed`.
#[inline(always)]
fn field<T: Real, const X_FIRST: bool>(seed: C<T>) -> impl Fn(C<T>, C<T>) -> (T, C<T>) {
    move |xi, yi| {
        // The difference is complex: stored and read back as it is.
        let d = if X_FIRST {
            rules::sub(xi, yi)
        } else {
            rules::sub(yi, xi)
        }
        .value;
        let value = rules::norm_sqr(d).value.re;
        (value, through_sub::<T, X_FIRST>(through_norm_sqr(d, seed)))
    }
}

#[cfg(test)]
mod tests;
