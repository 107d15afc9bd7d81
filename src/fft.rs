//! FFT numerics: numpy-style normalisation, adjoints, a plan cache and `fftshift`.
//!
//! This module is pure numerics on `Complex<T>` slices; it knows nothing about the tape. The
//! reverse-mode FFT operations call [`FftPlans::transform_outofplace`] for the forward pass (the
//! input array stays as it is, and is not copied first) and [`FftPlans::transform`] in place for
//! the reverse rule, using [`adjoint`] to pick the transform that applies `Aᴴ`.
//!
//! # Normalization
//!
//! With the unnormalised DFT `F_jk = exp(−2πi jk/n)` (and its conjugate transpose
//! `Fᴴ_jk = exp(+2πi jk/n)`, the unnormalised inverse), numpy's `norm` argument names the
//! direction that carries the scaling:
//!
//! | [`Norm`] | numpy `norm=` | forward (`fft`) | inverse (`ifft`) |
//! |---|---|---|---|
//! | [`Backward`](Norm::Backward) (default) | `"backward"` | `F u` | `Fᴴ u / n` |
//! | [`Ortho`](Norm::Ortho) | `"ortho"` | `F u / √n` | `Fᴴ u / √n` |
//! | [`Forward`](Norm::Forward) | `"forward"` | `F u / n` | `Fᴴ u` |
//!
//! For an n-D transform `n` is the product of the transformed axis lengths. With the same `norm`,
//! the inverse transform undoes the forward one in all three cases.
//!
//! # Adjoints
//!
//! Every transform here is linear and holomorphic, so its reverse rule is `c_u = Aᴴ c_y`. The
//! adjoint of a transform is again one of these transforms, in the opposite [`Direction`] and with
//! `Backward` and `Forward` swapped (see [`adjoint`]):
//!
//! ```
//! use wirtinger::fft::{adjoint, Direction, Norm};
//!
//! // numpy's default `fft` is `F u`; its adjoint `Fᴴ` is the *unnormalised* inverse.
//! assert_eq!(adjoint(Direction::Forward, Norm::Backward), (Direction::Inverse, Norm::Forward));
//! // "ortho" transforms are unitary: the adjoint is the inverse.
//! assert_eq!(adjoint(Direction::Forward, Norm::Ortho), (Direction::Inverse, Norm::Ortho));
//! ```

use crate::parallel as par;
use crate::{Complex, Real};
#[cfg(feature = "parallel")]
use rayon::prelude::*;
use rustfft::{Fft, FftDirection, FftPlanner};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

#[cfg(target_arch = "x86_64")]
mod columns;
#[cfg(feature = "parallel")]
mod halves;
#[cfg(target_arch = "x86_64")]
use columns::ColumnPlan;
#[cfg(feature = "parallel")]
use halves::Halves;

/// numpy's `norm` argument: which direction of the transform carries the `1/n` scaling.
///
/// # Normalization
///
/// `n` is the total transform length, the product of the transformed axis lengths; `F` is the
/// unnormalised DFT `F_jk = exp(−2πi jk/n)` and `Fᴴ` the unnormalised inverse DFT. numpy's name
/// says which direction is scaled: `"backward"` scales the backward (inverse) transform,
/// `"forward"` the forward one, and `"ortho"` splits the scaling evenly so both are unitary.
/// Whatever the choice, `ifft(fft(u, norm), norm) = u`. [`Norm::factor`] gives the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Norm {
    /// numpy's default `"backward"`: forward `F u` (factor 1), inverse `Fᴴ u / n` (factor `1/n`).
    #[default]
    Backward,
    /// numpy's `"ortho"`: forward `F u / √n`, inverse `Fᴴ u / √n` (factor `1/√n` both ways);
    /// both transforms are unitary.
    Ortho,
    /// numpy's `"forward"`: forward `F u / n` (factor `1/n`), inverse `Fᴴ u` (factor 1).
    Forward,
}

/// The direction of a transform: the sign in the exponent of the DFT kernel.
///
/// [`Forward`](Direction::Forward) is numpy's `fft`, kernel `exp(−2πi jk/n)`;
/// [`Inverse`](Direction::Inverse) is numpy's `ifft`, kernel `exp(+2πi jk/n)`. The scaling is set
/// separately by [`Norm`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Kernel `exp(−2πi jk/n)` (numpy `fft`).
    Forward,
    /// Kernel `exp(+2πi jk/n)` (numpy `ifft`).
    Inverse,
}

impl Direction {
    /// The opposite direction: `Forward` ↔ `Inverse`.
    #[inline]
    #[must_use]
    pub fn reverse(self) -> Self {
        match self {
            Direction::Forward => Direction::Inverse,
            Direction::Inverse => Direction::Forward,
        }
    }

    #[inline]
    fn to_rustfft(self) -> FftDirection {
        match self {
            Direction::Forward => FftDirection::Forward,
            Direction::Inverse => FftDirection::Inverse,
        }
    }
}

impl Norm {
    /// The factor a transform of total length `n` in direction `dir` is multiplied by, after the
    /// unnormalised DFT.
    ///
    /// # Normalization
    ///
    /// | `self` | `Direction::Forward` | `Direction::Inverse` |
    /// |---|---|---|
    /// | `Backward` | 1 | `1/n` |
    /// | `Ortho` | `1/√n` | `1/√n` |
    /// | `Forward` | `1/n` | 1 |
    ///
    /// `n` is the product of the transformed axis lengths. The factor is computed in `f64` and
    /// then rounded to `T`. For `n = 0` (an empty transform) the scaled cases are infinite, but
    /// there is nothing to scale.
    ///
    /// ```
    /// use wirtinger::fft::{Direction, Norm};
    ///
    /// assert_eq!(Norm::Backward.factor::<f64>(Direction::Inverse, 4), 0.25);
    /// assert_eq!(Norm::Ortho.factor::<f64>(Direction::Forward, 4), 0.5);
    /// assert_eq!(Norm::Forward.factor::<f32>(Direction::Inverse, 4), 1.0);
    /// ```
    pub fn factor<T: Real>(self, dir: Direction, n: usize) -> T {
        let n = n as f64;
        let f = match (self, dir) {
            (Norm::Backward, Direction::Forward) | (Norm::Forward, Direction::Inverse) => 1.0,
            (Norm::Backward, Direction::Inverse) | (Norm::Forward, Direction::Forward) => 1.0 / n,
            (Norm::Ortho, _) => 1.0 / n.sqrt(),
        };
        T::from_f64c(f)
    }

    /// The norm of the adjoint transform: `Backward` ↔ `Forward`, `Ortho` unchanged.
    #[inline]
    fn adjoint(self) -> Self {
        match self {
            Norm::Backward => Norm::Forward,
            Norm::Ortho => Norm::Ortho,
            Norm::Forward => Norm::Backward,
        }
    }
}

/// `(direction, norm)` of the adjoint (conjugate transpose) of the transform `(dir, norm)`.
///
/// The adjoint runs in the opposite direction, with `Backward` and `Forward` swapped and `Ortho`
/// unchanged. This is the reverse rule of the transform: `c_u = Aᴴ c_y`.
///
/// # Normalization
///
/// `(Forward, Backward)` is `F u` (numpy's default `fft`); its adjoint `Fᴴ` is the unnormalised
/// inverse, which in numpy's terms is `ifft` with `norm="forward"`, i.e. `(Inverse, Forward)`.
/// Likewise the adjoint of `ifft` (`Fᴴ u / n`) is `F c / n`, i.e. `(Forward, Forward)`.
///
/// ```
/// use wirtinger::fft::{adjoint, Direction, Norm};
///
/// assert_eq!(adjoint(Direction::Inverse, Norm::Backward), (Direction::Forward, Norm::Forward));
/// assert_eq!(adjoint(Direction::Inverse, Norm::Ortho), (Direction::Forward, Norm::Ortho));
/// ```
#[inline]
#[must_use]
pub fn adjoint(dir: Direction, norm: Norm) -> (Direction, Norm) {
    (dir.reverse(), norm.adjoint())
}

/// Target number of complex elements in one gathered batch of lines (non-contiguous axes).
const BATCH_ELEMS: usize = 1 << 15;
/// Fewest lines gathered per batch when there are that many, so reads stay cache-line friendly.
const MIN_BATCH_LINES: usize = 8;
/// Lines at least this long are gathered [`PAD`] elements apart and transformed one call each.
const PAD_FROM: usize = 128;
/// Elements between gathered lines: with lines back to back, lines of a power-of-two length sit
/// a power-of-two stride apart, so the gather's writes to one element of each line (and the
/// scatter's reads) all fall in the same few sets of the cache and evict each other.
const PAD: usize = 8;
/// A parallel pass is split into at least this many tasks per thread when the lines allow it, so
/// that a thread slowed down by other work does not hold up the others.
#[cfg(feature = "parallel")]
const TASKS_PER_THREAD: usize = 4;

/// Whether `T` is `U` (the column FFT takes `f64` and `f32`).
#[cfg(target_arch = "x86_64")]
fn is<T: 'static, U: 'static>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>()
}

/// The block `(from, to, base, stride, shift)` of a column FFT task, as arrays of `E`, which
/// the caller has checked the element type of the arrays is.
#[cfg(target_arch = "x86_64")]
fn block_of<E, U>(
    (from, to, base, stride, shift): (*const U, *mut U, usize, usize, usize),
) -> columns::Block<E> {
    columns::Block {
        from: from.cast(),
        to: to.cast(),
        base,
        stride,
        shift,
    }
}

/// Work buffers of one pass (one per task of a parallel pass), taken out of the cache while it runs
/// and put back afterwards.
struct Buffers<T> {
    scratch: Vec<Complex<T>>,
    lines: Vec<Complex<T>>,
    /// The column FFT's work buffer (`f64` for `f32` arrays too).
    kernel: Vec<f64>,
}

impl<T> Default for Buffers<T> {
    fn default() -> Self {
        Buffers {
            scratch: Vec::new(),
            lines: Vec::new(),
            kernel: Vec::new(),
        }
    }
}

impl<T> Buffers<T> {
    fn capacity(&self) -> usize {
        // Roughly, in complex numbers (`kernel` counted as complex `f64`): only used to pick the
        // biggest set.
        self.scratch.capacity() + self.lines.capacity() + self.kernel.capacity() / 2
    }
}

struct State<T: Real> {
    planner: FftPlanner<T>,
    plans: HashMap<(usize, Direction), Arc<dyn Fft<T>>>,
    /// Plans of long lines split in two halves (see `halves.rs`), by full length.
    #[cfg(feature = "parallel")]
    halves: HashMap<(usize, Direction), Arc<Halves<T>>>,
    /// Plans of strided `f64` and `f32` lines transformed with no transpose (see `columns.rs`).
    #[cfg(target_arch = "x86_64")]
    columns: HashMap<(usize, Direction), Arc<ColumnPlan>>,
    /// Spare work buffers, at most one set per thread (see [`FftPlans::lease`]).
    buffers: Vec<Buffers<T>>,
}

/// A set of work buffers taken from an [`FftPlans`] cache, returned to it when dropped.
struct Lease<'a, T: Real> {
    plans: &'a FftPlans<T>,
    bufs: Buffers<T>,
}

impl<T: Real> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        let bufs = std::mem::take(&mut self.bufs);
        let mut state = self.plans.lock();
        // Keep one set per thread that may run a pass at once (and the caller's); beyond that,
        // keep the bigger ones.
        #[cfg(feature = "parallel")]
        let limit = rayon::current_num_threads() + 1;
        #[cfg(not(feature = "parallel"))]
        let limit = 1;
        if state.buffers.len() < limit {
            state.buffers.push(bufs);
        } else if let Some(smallest) = state.buffers.iter_mut().min_by_key(|b| b.capacity()) {
            if smallest.capacity() < bufs.capacity() {
                *smallest = bufs;
            }
        }
    }
}

/// A cache of FFT plans and work buffers, for transforms of any length and shape.
///
/// Plans are made once per `(length, direction)` by [`rustfft`] and reused; scratch and gather
/// buffers are kept between calls. Lines along an axis that is not the last are gathered into
/// contiguous batches for rustfft and scattered back, except for `f64` and `f32` lines of a
/// power-of-two length (8 points or more) on an x86-64 CPU with AVX2 and FMA: those are
/// transformed across the columns by the crate's own radix-4 FFT, four columns to an AVX2 vector,
/// with no gather (see [`transform`](FftPlans::transform) on what that means for the bits of the
/// result). The cache is `Send + Sync` (it uses a `Mutex` internally, held only to look up plans
/// and to take or return the buffers), so one cache can be shared.
///
/// # Normalization
///
/// [`transform`](FftPlans::transform) applies numpy's scaling: after the unnormalised transform
/// along all requested axes it multiplies by [`Norm::factor`] of the product of those axis
/// lengths, so `transform(.., Direction::Forward, Norm::Backward)` is numpy's `fftn` and
/// `transform(.., Direction::Inverse, Norm::Backward)` is numpy's `ifftn`.
///
/// ```
/// use wirtinger::fft::{Direction, FftPlans, Norm};
/// use wirtinger::c64;
///
/// let plans = FftPlans::<f64>::new();
/// let mut x = vec![c64(1.0, 0.0), c64(2.0, 0.0), c64(3.0, 0.0), c64(4.0, 0.0)];
/// plans.transform(&mut x, &[4], &[0], Direction::Forward, Norm::Backward);
/// assert_eq!(x[0], c64(10.0, 0.0)); // the sum
/// plans.transform(&mut x, &[4], &[0], Direction::Inverse, Norm::Backward);
/// assert!((x[3] - c64(4.0, 0.0)).norm() < 1e-12);
/// ```
pub struct FftPlans<T: Real> {
    state: Mutex<State<T>>,
}

impl<T: Real> Default for FftPlans<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Real> fmt::Debug for FftPlans<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        let mut plans: Vec<_> = state.plans.keys().copied().collect();
        plans.sort_by_key(|&(n, d)| (n, d == Direction::Inverse));
        let mut d = f.debug_struct("FftPlans");
        d.field("plans", &plans);
        #[cfg(feature = "parallel")]
        {
            let mut split: Vec<_> = state.halves.keys().copied().collect();
            split.sort_by_key(|&(n, d)| (n, d == Direction::Inverse));
            d.field("split_plans", &split);
        }
        #[cfg(target_arch = "x86_64")]
        {
            let mut columns: Vec<_> = state.columns.keys().copied().collect();
            columns.sort_by_key(|&(n, d)| (n, d == Direction::Inverse));
            d.field("column_plans", &columns);
        }
        d.field(
            "buffer_capacity",
            &state.buffers.iter().map(Buffers::capacity).sum::<usize>(),
        )
        .finish()
    }
}

impl<T: Real> FftPlans<T> {
    /// The process-wide cache for `T`, shared by every tape, so that plans made for one tape (one
    /// optimizer iteration, say) serve the next.
    pub fn global() -> &'static FftPlans<T> {
        T::fft_plans()
    }

    /// An empty cache; plans are made on first use.
    pub fn new() -> Self {
        FftPlans {
            state: Mutex::new(State {
                planner: FftPlanner::new(),
                plans: HashMap::new(),
                #[cfg(feature = "parallel")]
                halves: HashMap::new(),
                #[cfg(target_arch = "x86_64")]
                columns: HashMap::new(),
                buffers: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock cannot leave the state inconsistent (plans are inserted
        // whole, buffers are plain storage), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A set of work buffers (the biggest spare one, or a new one), returned when dropped.
    fn lease(&self) -> Lease<'_, T> {
        let mut state = self.lock();
        let best = (0..state.buffers.len()).max_by_key(|&i| state.buffers[i].capacity());
        let bufs = best.map_or_else(Buffers::default, |i| state.buffers.swap_remove(i));
        Lease { plans: self, bufs }
    }

    /// Transforms `data` in place along each axis in `axes`, then applies numpy's scaling.
    ///
    /// `data` is a row-major array of shape `shape`. For each axis in `axes`, in order, every line
    /// along that axis gets the unnormalised 1-D DFT of length `shape[axis]` in direction `dir`;
    /// then everything is multiplied by `norm.factor(dir, n)` with `n` the product of
    /// `shape[axis]` over `axes` (an axis listed twice is transformed, and counted, twice, as in
    /// numpy). Any lengths work, primes included; length-1 axes and empty arrays are fine, and an
    /// empty `axes` leaves `data` unchanged.
    ///
    /// # Normalization
    ///
    /// See [`Norm`]: with `Norm::Backward`, `Direction::Forward` is numpy's `fftn(x, axes=axes)`
    /// and `Direction::Inverse` is `ifftn(x, axes=axes)`; other norms match numpy's `norm=`.
    /// The adjoint of this call is the same call with `(dir, norm)` replaced by
    /// [`adjoint(dir, norm)`](adjoint).
    ///
    /// # Threads
    ///
    /// With the `parallel` feature, large arrays are transformed on rayon's pool (see
    /// [`crate::parallel`]), with the same result bit for bit on any number of threads, except for
    /// one case: a single line (every other axis of length 1) of at least
    /// [`THRESHOLD`](crate::parallel::THRESHOLD) points, of even length, is transformed as two
    /// half-length transforms at once when the pool has more than one thread. Its result then
    /// differs from the one-thread result by rounding only (the same on 2 threads as on 3). The
    /// split is chosen by the pool's size, not by how busy it is: many such FFTs run at once on
    /// a busy pool, each from a task of your own `par_iter`, say, would each be split, and a split
    /// FFT costs about a third more work than a whole one; run those on a pool of one thread.
    ///
    /// # Strided axes
    ///
    /// Along an axis that is not the last, `f64` and `f32` lines of a power-of-two length of at
    /// least 8 are transformed by the crate's own FFT when the CPU has AVX2 and FMA (x86-64;
    /// checked at run time), which works on four columns to an AVX2 vector and needs no gather
    /// (fewer than four columns, the product of the later axes, still go to rustfft). Every
    /// column goes through the same arithmetic, so the result does not depend on where the array
    /// sits in memory. It and rustfft agree to rounding (a few units in the last place relative
    /// to the largest element), not bit for bit: the same program on a CPU without AVX2 gives
    /// results that differ by rounding. For `f32` its arithmetic (and the norm's factor) is
    /// `f64`, rounded to `f32` once as it writes the array: the `f64` transform of the same
    /// numbers, rounded (measured at 256², about `4e-8` of the largest element, against `1.3e-7`
    /// for rustfft's `f32` transform). When every strided axis in `axes` takes it, the last axis,
    /// if listed, is transformed first, whatever its place in `axes` (faster, and equal to the
    /// listed order up to rounding). On one machine, results do not depend on the thread count.
    ///
    /// # Panics
    ///
    /// If `data.len()` is not the product of `shape`, or an axis is out of range for `shape`.
    pub fn transform(
        &self,
        data: &mut [Complex<T>],
        shape: &[usize],
        axes: &[usize],
        dir: Direction,
        norm: Norm,
    ) {
        check_args("transform", data.len(), shape, axes);
        self.run(None, data, shape, axes, dir, norm);
    }

    /// [`transform`](Self::transform) out of place: `output` becomes the transform of `input`,
    /// which is left as it was. The first pass reads `input` directly, so this costs no copy of
    /// the array on top of the transform.
    /// `output`'s previous contents are ignored. Same scaling and adjoint as `transform`.
    ///
    /// ```
    /// use wirtinger::fft::{Direction, FftPlans, Norm};
    /// use wirtinger::c64;
    ///
    /// let plans = FftPlans::<f64>::new();
    /// let x = [c64(1.0, 0.0), c64(2.0, 0.0), c64(3.0, 0.0), c64(4.0, 0.0)];
    /// let mut y = [c64(0.0, 0.0); 4];
    /// plans.transform_outofplace(&x, &mut y, &[2, 2], &[0, 1], Direction::Forward, Norm::Backward);
    /// assert_eq!(y[0], c64(10.0, 0.0)); // the sum
    /// ```
    ///
    /// # Panics
    ///
    /// If `input` or `output` does not have the product of `shape` elements, or an axis is out of
    /// range for `shape`.
    pub fn transform_outofplace(
        &self,
        input: &[Complex<T>],
        output: &mut [Complex<T>],
        shape: &[usize],
        axes: &[usize],
        dir: Direction,
        norm: Norm,
    ) {
        check_args("transform_outofplace", input.len(), shape, axes);
        check_args("transform_outofplace", output.len(), shape, axes);
        self.run(Some(input), output, shape, axes, dir, norm);
    }

    /// The transform of `src` (or of `data` itself when `src` is `None`) into `data`; the
    /// arguments are checked.
    fn run(
        &self,
        src: Option<&[Complex<T>]>,
        data: &mut [Complex<T>],
        shape: &[usize],
        axes: &[usize],
        dir: Direction,
        norm: Norm,
    ) {
        if data.is_empty() {
            return;
        }

        // Axes of length 1 are the identity; only the others need plans and passes.
        #[allow(unused_mut)]
        let mut active: Vec<usize> = axes.iter().copied().filter(|&a| shape[a] > 1).collect();
        // When the column FFT takes every strided axis, the last axis goes first, then the others
        // from the innermost out: the strided passes then read the output buffer, warm from the
        // contiguous pass, rather than the caller's input (the phase-retrieval gradient measured
        // 6–16% faster at 256² and 1024², its value 9–30%; with the gather it was slower). The
        // order changes only the rounding.
        #[cfg(target_arch = "x86_64")]
        if self.columns_take_all(&active, shape) {
            active.sort_unstable_by_key(|&a| std::cmp::Reverse(a));
        }
        let n_total: usize = active.iter().map(|&a| shape[a]).product();
        let factor: T = norm.factor(dir, n_total);
        let scale = if factor == T::one() {
            None
        } else {
            Some(factor)
        };
        if active.is_empty() {
            // n_total = 1: every factor is 1, the transform is the identity.
            if let Some(src) = src {
                par::for_chunks(data, |off, d| d.copy_from_slice(&src[off..off + d.len()]));
            }
            return;
        }

        // One long line, and threads to share it: transformed as two halves at once, the
        // scaling folded into the pass that combines them.
        #[cfg(feature = "parallel")]
        if let [axis] = active[..] {
            let n = shape[axis];
            if n == data.len() && Halves::<T>::applies(n) {
                let plan = self.halves(n, dir);
                let mut lease = self.lease();
                let need = plan.scratch_len(src.is_none());
                ensure_len(&mut lease.bufs.scratch, need);
                plan.process(src, data, &mut lease.bufs.scratch[..need], scale);
                return;
            }
        }

        let plans = {
            let mut state = self.lock();
            let state = &mut *state;
            let plans: Vec<Arc<dyn Fft<T>>> = active
                .iter()
                .map(|&a| {
                    let n = shape[a];
                    Arc::clone(
                        state
                            .plans
                            .entry((n, dir))
                            .or_insert_with(|| state.planner.plan_fft(n, dir.to_rustfft())),
                    )
                })
                .collect();
            plans
        };

        // The scaling commutes with the transforms, so the first pass over a strided axis folds
        // it into its scatter; only when all passes are contiguous is a separate pass needed.
        // Only the first pass reads `src`; the others work on `data` in place.
        let mut pending_scale = scale;
        let mut src = src;
        for (&axis, fft) in active.iter().zip(&plans) {
            let stride: usize = shape[axis + 1..].iter().product();
            if stride == 1 {
                self.contiguous_pass(src.take(), data, fft.as_ref());
            } else {
                // The factor in `T`, and in `f64` for the column FFT, whose arithmetic is `f64`
                // (so an `f32` result is rounded once, scaled or not).
                let s = pending_scale
                    .take()
                    .map(|s| (s, norm.factor::<f64>(dir, n_total)));
                self.strided_pass(src.take(), data, shape[axis], stride, fft.as_ref(), dir, s);
            }
        }
        if let Some(s) = pending_scale {
            par::scale(data, s);
        }
    }

    /// The plan of a line of length `n` split in two halves (made on first use).
    #[cfg(feature = "parallel")]
    fn halves(&self, n: usize, dir: Direction) -> Arc<Halves<T>> {
        let mut state = self.lock();
        let state = &mut *state;
        let planner = &mut state.planner;
        Arc::clone(state.halves.entry((n, dir)).or_insert_with(|| {
            let half = planner.plan_fft(n / 2, dir.to_rustfft());
            Arc::new(Halves::new(half))
        }))
    }

    /// Whether `active` has the last axis and every other axis in it is transformed with no
    /// transpose (see [`strided_pass`](Self::strided_pass)).
    #[cfg(target_arch = "x86_64")]
    fn columns_take_all(&self, active: &[usize], shape: &[usize]) -> bool {
        let Some(last) = shape.len().checked_sub(1) else {
            return false;
        };
        active.contains(&last)
            && active.iter().all(|&a| {
                a == last || Self::takes_columns(shape[a], shape[a + 1..].iter().product())
            })
    }

    /// Whether lines of length `n`, `stride` elements apart, are transformed with no transpose
    /// (`columns.rs`): `f64` or `f32`, at least four columns, a power-of-two length of at least 8,
    /// a CPU with AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    fn takes_columns(n: usize, stride: usize) -> bool {
        (is::<T, f64>() || is::<T, f32>()) && stride >= columns::LANES && columns::applies(n)
    }

    /// The plan of lines of length `n`, `stride` elements apart, transformed with no transpose,
    /// when [`takes_columns`](Self::takes_columns) (made on first use).
    #[cfg(target_arch = "x86_64")]
    fn column_plan(&self, n: usize, stride: usize, dir: Direction) -> Option<Arc<ColumnPlan>> {
        if !Self::takes_columns(n, stride) {
            return None;
        }
        let mut state = self.lock();
        let plan = state
            .columns
            .entry((n, dir))
            .or_insert_with(|| Arc::new(ColumnPlan::new(n, dir)));
        Some(Arc::clone(plan))
    }

    /// The last axis: lines are contiguous, so runs of lines go to rustfft in one call each (one
    /// run per task for a large array). With a `src`, rustfft reads each run from it and writes
    /// `data` (`process_immutable_with_scratch`), rather than a copy of the run transformed in
    /// place: the same bits, and on one core 0.71–0.98× the time for lines of 128 to 4096 and one
    /// line of 2¹⁶, except 1.04–1.07× for lines of 512.
    fn contiguous_pass(
        &self,
        src: Option<&[Complex<T>]>,
        data: &mut [Complex<T>],
        fft: &dyn Fft<T>,
    ) {
        let n = fft.len();
        let need = if src.is_some() {
            fft.get_immutable_scratch_len()
        } else {
            fft.get_inplace_scratch_len()
        };
        let lines = data.len() / n;
        let per_task = (BATCH_ELEMS / n).max(1);
        let parallel = par::parallel(data.len()) && lines > 1;
        #[cfg(feature = "parallel")]
        let per_task = if parallel {
            let tasks = TASKS_PER_THREAD * rayon::current_num_threads();
            per_task.min(lines.div_ceil(tasks))
        } else {
            per_task
        };
        let run = |lease: &mut Lease<'_, T>, (k, run): (usize, &mut [Complex<T>])| {
            ensure_len(&mut lease.bufs.scratch, need);
            let scratch = &mut lease.bufs.scratch[..need];
            match src {
                Some(src) => {
                    let off = k * per_task * n;
                    fft.process_immutable_with_scratch(&src[off..off + run.len()], run, scratch);
                }
                None => fft.process_with_scratch(run, scratch),
            }
        };
        #[cfg(feature = "parallel")]
        if parallel {
            data.par_chunks_mut(per_task * n)
                .enumerate()
                .for_each_init(|| self.lease(), run);
            return;
        }
        let _ = parallel;
        let mut lease = self.lease();
        for chunk in data.chunks_mut(per_task * n).enumerate() {
            run(&mut lease, chunk);
        }
    }

    /// An axis of length `n` with element stride `stride > 1`: gather batches of lines into a
    /// buffer (lines of [`PAD_FROM`] elements or more [`PAD`] elements apart), transform them in
    /// place, scatter back (scaled by `scale`, if any). For a large array, the batches are the
    /// tasks. (Against rows, transpose, rows, transpose back, this measured faster at 1024², on
    /// one thread and on two: `fft2_1024x1024` in `benches/reverse.rs`.)
    ///
    /// For `f64` and `f32` lines of a power-of-two length on a CPU with AVX2 and FMA, a batch's
    /// columns go through the transform with no gather instead (`columns.rs`), in segments of 8
    /// (or 4) columns, masked where a segment sticks out of a task's columns. When every row
    /// starts at the same place in a cache line (`stride` a multiple of 4 for `f64`, of 8 for
    /// `f32`), the segments and the tasks' columns are split on the 64-byte grid of `data`.
    #[allow(clippy::too_many_arguments)]
    fn strided_pass(
        &self,
        src: Option<&[Complex<T>]>,
        data: &mut [Complex<T>],
        n: usize,
        stride: usize,
        fft: &dyn Fft<T>,
        dir: Direction,
        scale: Option<(T, f64)>,
    ) {
        #[cfg(target_arch = "x86_64")]
        let column_plan = self.column_plan(n, stride, dir);
        #[cfg(not(target_arch = "x86_64"))]
        let _ = dir;
        let blocks = data.len() / (n * stride);
        #[allow(unused_mut)]
        let mut batch = (BATCH_ELEMS / n).max(MIN_BATCH_LINES).min(stride);
        let parallel = par::parallel(data.len());
        #[cfg(feature = "parallel")]
        if parallel {
            // Enough batches to keep every thread busy, unless they would get too thin.
            let tasks = TASKS_PER_THREAD * rayon::current_num_threads();
            let per_block = tasks.div_ceil(blocks);
            batch = batch
                .min(stride.div_ceil(per_block))
                .max(MIN_BATCH_LINES.min(stride));
        }
        // Columns are counted from `shift` columns before column 0: for the column FFT, the
        // 64-byte boundary before it, so that tasks split the rows at cache-line boundaries.
        #[allow(unused_mut)]
        let mut shift = 0;
        #[cfg(target_arch = "x86_64")]
        if column_plan.is_some() {
            // Whole row segments of the column kernel per batch.
            batch = batch.next_multiple_of(columns::SEGMENT).min(stride);
            shift = if is::<T, f32>() {
                columns::shift::<f32>(data.as_ptr().cast(), stride)
            } else {
                columns::shift::<f64>(data.as_ptr().cast(), stride)
            };
        }
        let per_block = (stride + shift).div_ceil(batch);
        let need = fft.get_inplace_scratch_len();
        let pitch = if n >= PAD_FROM { n + PAD } else { n };
        let data = Shared::new(data);
        // The lines are read from `src` when there is one, else from `data`.
        let from = src.map_or(data, Shared::reading);
        // Task `t`: the columns `c0 .. c0 + b` of block `t / per_block`.
        let run = |lease: &mut Lease<'_, T>, t: usize| {
            let (block, v0) = (t / per_block, (t % per_block) * batch);
            let c0 = v0.saturating_sub(shift);
            let b = (v0 + batch).min(stride + shift) - shift - c0;
            let bufs = &mut lease.bufs;
            #[cfg(target_arch = "x86_64")]
            if let Some(plan) = &column_plan {
                let len = plan.buffer_len(b);
                if bufs.kernel.len() < len {
                    bufs.kernel.resize(len, 0.0);
                }
                let buf = &mut bufs.kernel[..len];
                let (base, s) = (block * n * stride, scale.map(|s| s.1));
                let at = (from.ptr.cast_const(), data.ptr, base, stride, shift);
                // SAFETY: `T` is `f64` or `f32` (`column_plan` checked it, and the cast is to
                // that type), so `from` and `data` are arrays of interleaved numbers of it. The
                // tasks' columns are disjoint, and nothing else uses `data` during the pass;
                // `src` is only read.
                unsafe {
                    if is::<T, f32>() {
                        plan.process(block_of::<f32, _>(at), c0, b, buf, s);
                    } else {
                        plan.process(block_of::<f64, _>(at), c0, b, buf, s);
                    }
                }
                return;
            }
            ensure_len(&mut bufs.scratch, need);
            ensure_len(&mut bufs.lines, b * pitch);
            let lines = &mut bufs.lines[..b * pitch];
            let cols = Columns {
                data,
                base: block * n * stride,
                n,
                stride,
                c0,
                b,
            };
            let read = Columns { data: from, ..cols };
            // SAFETY: tasks are distinct `(block, c0)` pairs, so no two touch the same element,
            // and nothing else uses `data` during the pass; `src` is only read.
            unsafe { read.gather(lines, pitch) };
            // In place: one buffer of lines, not two, stays in the cache.
            let scratch = &mut bufs.scratch[..need];
            if pitch == n {
                fft.process_with_scratch(lines, scratch);
            } else {
                for l in lines.chunks_exact_mut(pitch) {
                    fft.process_with_scratch(&mut l[..n], scratch);
                }
            }
            // SAFETY: as for the gather.
            unsafe {
                match scale {
                    None => cols.scatter(lines, pitch, |z| z),
                    Some((s, _)) => cols.scatter(lines, pitch, |z| z.scale(s)),
                }
            }
        };
        let tasks = blocks * per_block;
        #[cfg(feature = "parallel")]
        if parallel {
            (0..tasks)
                .into_par_iter()
                .for_each_init(|| self.lease(), run);
            return;
        }
        let _ = parallel;
        let mut lease = self.lease();
        for t in 0..tasks {
            run(&mut lease, t);
        }
    }
}

/// Panics unless an array of `len` elements has shape `shape` and every axis is in range.
fn check_args(op: &str, len: usize, shape: &[usize], axes: &[usize]) {
    let need: usize = shape.iter().product();
    assert!(
        len == need,
        "FftPlans::{op}: data has {len} elements but shape {shape:?} needs {need}"
    );
    for &axis in axes {
        assert!(
            axis < shape.len(),
            "FftPlans::{op}: axis {axis} out of range for shape {shape:?} ({} dimensions)",
            shape.len()
        );
    }
}

/// Grows `v` to at least `n` elements (never shrinks, never reallocates needlessly).
fn ensure_len<T: Real>(v: &mut Vec<Complex<T>>, n: usize) {
    if v.capacity() < n {
        // Work buffers hold nothing between uses; a new one may get huge pages.
        *v = crate::pages::with_capacity(n);
    }
    if v.len() < n {
        v.resize(n, Complex::new(T::zero(), T::zero()));
    }
}

/// An array being transformed, shared by the tasks of a pass, each of which reads and writes only
/// its own elements (see [`Columns`]).
#[derive(Clone, Copy)]
struct Shared<'a, T> {
    ptr: *mut T,
    len: usize,
    _data: PhantomData<&'a mut [T]>,
}

// SAFETY: a `Shared` is only used through `Columns`, whose users guarantee that no two threads
// touch the same element; it is then as good as `&mut [T]` split into disjoint parts.
unsafe impl<T: Send> Send for Shared<'_, T> {}
unsafe impl<T: Send> Sync for Shared<'_, T> {}

impl<'a, T> Shared<'a, T> {
    fn new(data: &'a mut [T]) -> Self {
        Shared {
            ptr: data.as_mut_ptr(),
            len: data.len(),
            _data: PhantomData,
        }
    }

    /// A `Shared` over data that is only read (by [`Columns::gather`]), never written.
    fn reading(data: &'a [T]) -> Self {
        Shared {
            ptr: data.as_ptr().cast_mut(),
            len: data.len(),
            _data: PhantomData,
        }
    }

    /// `data[start .. start + len]`, to read.
    ///
    /// # Safety
    /// While the slice lives, nothing may write those elements.
    #[inline(always)]
    unsafe fn slice_ref(self, start: usize, len: usize) -> &'a [T] {
        assert!(start <= self.len && len <= self.len - start);
        // SAFETY: in bounds (checked above); not written meanwhile by the caller's promise.
        unsafe { std::slice::from_raw_parts(self.ptr.add(start), len) }
    }

    /// `data[start .. start + len]`.
    ///
    /// # Safety
    /// While the slice lives, no other reference to those elements may be used.
    #[inline(always)]
    unsafe fn slice(self, start: usize, len: usize) -> &'a mut [T] {
        assert!(start <= self.len && len <= self.len - start);
        // SAFETY: in bounds (checked above); exclusive by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// Columns `c0 .. c0 + b` of the `n × stride` row-major block at `base` of an array: `b` lines of
/// length `n` along a strided axis.
#[derive(Clone, Copy)]
struct Columns<'a, T> {
    data: Shared<'a, T>,
    base: usize,
    n: usize,
    stride: usize,
    c0: usize,
    b: usize,
}

impl<'a, T: Copy> Columns<'a, T> {
    /// Row `k` of the columns: `b` contiguous elements.
    ///
    /// # Safety
    /// As [`Shared::slice`].
    #[inline(always)]
    unsafe fn row(self, k: usize) -> &'a mut [T] {
        // SAFETY: passed on to the caller.
        unsafe {
            self.data
                .slice(self.base + k * self.stride + self.c0, self.b)
        }
    }

    /// Row `k` of the columns, to read.
    ///
    /// # Safety
    /// While the slice lives, nothing may write those elements.
    #[inline(always)]
    unsafe fn row_ref(self, k: usize) -> &'a [T] {
        // SAFETY: passed on to the caller.
        unsafe {
            self.data
                .slice_ref(self.base + k * self.stride + self.c0, self.b)
        }
    }

    /// Copies the lines into `lines`, line `j` at `j·pitch` (`pitch ≥ n`): `lines[j*pitch + k] =
    /// row(k)[j]`. Rows are read contiguously, [`TILE`] at a time.
    ///
    /// # Safety
    /// Nothing else may use these elements of the array meanwhile.
    unsafe fn gather(self, lines: &mut [T], pitch: usize) {
        let n = self.n;
        // SAFETY: the caller's promise; the rows are only read.
        let row = |k: usize| -> &'a [T] { unsafe { self.row_ref(k) } };
        let mut k = 0;
        while k + TILE <= n {
            let (r0, r1, r2, r3) = (row(k), row(k + 1), row(k + 2), row(k + 3));
            for (j, line) in lines.chunks_exact_mut(pitch).enumerate() {
                let d = &mut line[k..k + TILE];
                d[0] = r0[j];
                d[1] = r1[j];
                d[2] = r2[j];
                d[3] = r3[j];
            }
            k += TILE;
        }
        for k in k..n {
            for (line, &v) in lines.chunks_exact_mut(pitch).zip(row(k)) {
                line[k] = v;
            }
        }
    }

    /// The inverse of [`gather`](Self::gather), applying `f` on the way: `row(k)[j] =
    /// f(lines[j*pitch + k])`. Rows are written contiguously, [`TILE`] at a time.
    ///
    /// # Safety
    /// As [`gather`](Self::gather).
    unsafe fn scatter(self, lines: &[T], pitch: usize, f: impl Fn(T) -> T) {
        let n = self.n;
        let mut k = 0;
        while k + TILE <= n {
            // SAFETY: the caller's promise; four distinct rows.
            let (r0, r1, r2, r3) = unsafe {
                (
                    self.row(k),
                    self.row(k + 1),
                    self.row(k + 2),
                    self.row(k + 3),
                )
            };
            for (j, line) in lines.chunks_exact(pitch).enumerate() {
                let src = &line[k..k + TILE];
                r0[j] = f(src[0]);
                r1[j] = f(src[1]);
                r2[j] = f(src[2]);
                r3[j] = f(src[3]);
            }
            k += TILE;
        }
        for k in k..n {
            // SAFETY: the caller's promise.
            let row = unsafe { self.row(k) };
            for (d, line) in row.iter_mut().zip(lines.chunks_exact(pitch)) {
                *d = f(line[k]);
            }
        }
    }
}

/// Rows handled together by [`Columns::gather`] and [`Columns::scatter`], so that each visit to a
/// line touches a whole cache line (4 × `Complex<f64>` = 64 bytes).
const TILE: usize = 4;

/// numpy's `fftshift` (`inverse = false`) or `ifftshift` (`inverse = true`) along `axes`.
///
/// `data` is a row-major array of shape `shape`; the result is a new array of the same shape.
/// `fftshift` rolls each listed axis of length `n` forward by `⌊n/2⌋`, moving the zero frequency
/// to the centre; `ifftshift` rolls back by `⌊n/2⌋` and undoes it (the two differ for odd `n`).
/// An axis listed twice is rolled twice, as numpy's `roll` would. The shift is a permutation, so
/// its adjoint (and inverse) is the opposite shift: `shift(.., !inverse)`.
///
/// ```
/// use wirtinger::fft::shift;
///
/// let x = [0, 1, 2, 3, 4];
/// let y = shift(&x, &[5], &[0], false);
/// assert_eq!(y, [3, 4, 0, 1, 2]);
/// assert_eq!(shift(&y, &[5], &[0], true), x);
/// ```
///
/// # Panics
///
/// If `data.len()` is not the product of `shape`, or an axis is out of range for `shape`.
pub fn shift<T: Copy>(data: &[T], shape: &[usize], axes: &[usize], inverse: bool) -> Vec<T> {
    let len: usize = shape.iter().product();
    assert!(
        data.len() == len,
        "fft::shift: data has {} elements but shape {:?} needs {}",
        data.len(),
        shape,
        len
    );
    // Forward roll per dimension, in 0..n.
    let mut roll = vec![0usize; shape.len()];
    for &axis in axes {
        assert!(
            axis < shape.len(),
            "fft::shift: axis {} out of range for shape {:?} ({} dimensions)",
            axis,
            shape,
            shape.len()
        );
        let n = shape[axis];
        let half = n / 2;
        let r = if inverse { n - half } else { half };
        roll[axis] = (roll[axis] + r) % n.max(1);
    }
    if len == 0 {
        return Vec::new();
    }
    if shape.is_empty() {
        return data.to_vec();
    }
    let mut out = data.to_vec();
    roll_into(data, &mut out, shape, &roll);
    out
}

/// `out[.., i, ..] = src[.., (i − roll) mod n, ..]` along every dimension; the last dimension is
/// done with (at most) two slice copies per line.
fn roll_into<T: Copy>(src: &[T], out: &mut [T], shape: &[usize], roll: &[usize]) {
    let n = shape[0];
    let r = roll[0];
    if shape.len() == 1 {
        // out[r..] = src[..n-r], out[..r] = src[n-r..]
        out[r..].copy_from_slice(&src[..n - r]);
        out[..r].copy_from_slice(&src[n - r..]);
        return;
    }
    let sub = src.len() / n;
    for (i, dst) in out.chunks_exact_mut(sub).enumerate() {
        let j = (i + n - r) % n;
        roll_into(&src[j * sub..(j + 1) * sub], dst, &shape[1..], &roll[1..]);
    }
}

#[cfg(test)]
pub(crate) mod tests;
