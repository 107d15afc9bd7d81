//! Optimizers for real losses of complex (and real) parameters, driven by the Wirtinger gradient.
//!
//! For a real loss `L` of complex parameters `z`, the direction of steepest ascent is
//! `g = 2 ∂L/∂z̄` ([`Gradients::grad`](crate::reverse::Gradients::grad)): to first order
//! `L(z + d) = L(z) + Re⟨g, d⟩` with `⟨a, b⟩ = Σ āᵢ bᵢ`, so every optimizer here works with the
//! real inner product `Re⟨a, b⟩` between complex vectors, the one that makes `ℂⁿ` the Euclidean
//! space `ℝ²ⁿ`. Real parameters get the real derivative `dL/dp` (imaginary part 0) and stay real.
//!
//! - [`GradientDescent`]: `z ← z − η g`, with optional momentum.
//! - [`Adam`]: Adam with the second moment taken on `|g|²` per complex element, so its steps do
//!   not depend on the global phase of the parameters.
//! - [`Lbfgs`]: limited-memory BFGS with a strong-Wolfe line search; usually the fewest
//!   evaluations on smooth problems.
//!
//! [`Minimize`] runs any of them: give it the starting [`Params`] and a closure that builds the
//! loss on a tape from [`Leaves`]; it returns a [`Minimum`] with the parameters, the final loss,
//! the counts, the reason it stopped ([`Stop`]) and the loss history.
//!
//! ```
//! use wirtinger::optim::{Lbfgs, Minimize, Params};
//! use wirtinger::prelude::*;
//!
//! // Fit a complex gain c and a real offset b so that c·x + b matches y.
//! let x = [c64(1.0, 0.0), c64(0.0, 1.0), c64(-1.0, 0.5)];
//! let y: Vec<Complex64> = x.iter().map(|x| c64(2.0, -1.0) * x + 0.25).collect();
//! let mut p = Params::new();
//! let c = p.scalar(c64(0.0, 0.0));
//! let b = p.real_scalar(0.0);
//! let fit = Minimize::new(Lbfgs::new()).gtol(1e-12).run(p, |p| {
//!     let xs = p.tape().constant_array(x.to_vec(), &[3]);
//!     let r = xs * p.var(c) + p.var(b) - y.as_slice();
//!     r.norm_sqr_sum()
//! });
//! assert!((fit.params.get(c) - c64(2.0, -1.0)).norm() < 1e-9);
//! assert!((fit.params.get(b).re - 0.25).abs() < 1e-9);
//! assert_eq!(fit.params.get(b).im, 0.0); // real parameters stay real
//! println!("{} iterations, {} evaluations, stopped: {}", fit.iterations, fit.evaluations, fit.stop);
//! ```

mod adam;
mod driver;
mod gd;
mod lbfgs;
mod params;

pub use adam::Adam;
pub use driver::{minimize, Iteration, Minimize, Minimum, Progress, Stop};
pub use gd::GradientDescent;
pub use lbfgs::Lbfgs;
pub use params::{Array, Leaves, Params, Scalar};

use crate::Real;
use num_complex::Complex;

/// A loss and its gradient, as an optimizer sees it: a flat vector of complex parameters.
pub trait Objective<T: Real> {
    /// Returns `L(x)` and writes the gradient `2 ∂L/∂x̄` into `grad` (same length as `x`): every
    /// element, since `grad` holds anything on entry (an older gradient, in [`Minimize`]).
    fn evaluate(&mut self, x: &[Complex<T>], grad: &mut [Complex<T>]) -> T;
}

/// Why an [`Optimizer::step`] or [`Optimizer::step_into`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepError {
    /// No step along any direction tried met the line search's conditions.
    LineSearchFailed,
}

/// One iteration of an optimization method. [`Minimize`] calls [`reset`](Self::reset) once and then
/// [`step_into`](Self::step_into) until a stopping rule holds.
///
/// An optimizer of your own need not implement [`step_into`](Self::step_into): the provided one
/// copies the parameters and the gradient and calls [`step`](Self::step).
pub trait Optimizer<T: Real> {
    /// A short name, for progress lines.
    fn name(&self) -> &'static str;

    /// Forgets the state of a previous run (moments, curvature pairs, step counts).
    fn reset(&mut self);

    /// Moves `x` from the point where the loss is `loss` and the gradient `grad` to the next
    /// iterate, updating all three (`loss`, `grad` evaluated at the new `x`).
    ///
    /// # Errors
    /// [`StepError::LineSearchFailed`] if no acceptable step was found; `x`, `loss`, `grad` are then
    /// left unchanged.
    fn step(
        &mut self,
        objective: &mut dyn Objective<T>,
        x: &mut [Complex<T>],
        loss: &mut T,
        grad: &mut [Complex<T>],
    ) -> Result<(), StepError>;

    /// The step of [`step`](Self::step) from `x` (loss `loss`, gradient `grad`), with the next
    /// iterate written into `x_next` and its gradient into `grad_next` (all four the same length);
    /// `x` and `grad` stay as they are, `loss` becomes the loss at `x_next`.
    ///
    /// [`Minimize`] calls this one and swaps the buffers after a step it accepts, so it can go
    /// back to the last point without having copied it (a copy of a 1024² field takes a few
    /// milliseconds). The provided method copies `x` and `grad` into the `_next` buffers and
    /// calls `step`; the optimizers of this module compute the next iterate into `x_next`
    /// directly, with the same numbers as their `step`.
    ///
    /// `x_next` and `grad_next` hold anything on entry (in [`Minimize`], the point two steps
    /// back): write every element, do not update them in place.
    ///
    /// # Errors
    /// As `step`; `loss` is then unchanged and the `_next` buffers hold anything.
    fn step_into(
        &mut self,
        objective: &mut dyn Objective<T>,
        x: &[Complex<T>],
        grad: &[Complex<T>],
        loss: &mut T,
        x_next: &mut [Complex<T>],
        grad_next: &mut [Complex<T>],
    ) -> Result<(), StepError> {
        x_next.copy_from_slice(x);
        grad_next.copy_from_slice(grad);
        self.step(objective, x_next, loss, grad_next)
    }
}

/// A boxed optimizer, so that one chosen at run time (`Box<dyn Optimizer<T>>`) can drive
/// [`Minimize`]. Every method is forwarded, `step_into` too.
impl<T: Real, O: Optimizer<T> + ?Sized> Optimizer<T> for Box<O> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn reset(&mut self) {
        (**self).reset()
    }

    fn step(
        &mut self,
        objective: &mut dyn Objective<T>,
        x: &mut [Complex<T>],
        loss: &mut T,
        grad: &mut [Complex<T>],
    ) -> Result<(), StepError> {
        (**self).step(objective, x, loss, grad)
    }

    fn step_into(
        &mut self,
        objective: &mut dyn Objective<T>,
        x: &[Complex<T>],
        grad: &[Complex<T>],
        loss: &mut T,
        x_next: &mut [Complex<T>],
        grad_next: &mut [Complex<T>],
    ) -> Result<(), StepError> {
        (**self).step_into(objective, x, grad, loss, x_next, grad_next)
    }
}

/// `step` and `step_into` of an optimizer whose step is one update of the parameters by its
/// `update(start, out, grad)` followed by one evaluation there (gradient descent, Adam); used
/// inside `impl<T: Real> Optimizer<T> for …`.
macro_rules! update_then_evaluate {
    () => {
        fn step(
            &mut self,
            objective: &mut dyn $crate::optim::Objective<T>,
            x: &mut [$crate::Complex<T>],
            loss: &mut T,
            grad: &mut [$crate::Complex<T>],
        ) -> Result<(), $crate::optim::StepError> {
            self.update($crate::optim::Start::InPlace, x, grad);
            *loss = objective.evaluate(x, grad);
            Ok(())
        }

        fn step_into(
            &mut self,
            objective: &mut dyn $crate::optim::Objective<T>,
            x: &[$crate::Complex<T>],
            grad: &[$crate::Complex<T>],
            loss: &mut T,
            x_next: &mut [$crate::Complex<T>],
            grad_next: &mut [$crate::Complex<T>],
        ) -> Result<(), $crate::optim::StepError> {
            self.update($crate::optim::Start::From(x), x_next, grad);
            *loss = objective.evaluate(x_next, grad_next);
            Ok(())
        }
    };
}
use update_then_evaluate;

/// Where an update reads the current parameters: its output buffer itself ([`Optimizer::step`]),
/// or another buffer ([`Optimizer::step_into`]).
#[derive(Clone, Copy)]
enum Start<'a, T: Real> {
    InPlace,
    From(&'a [Complex<T>]),
}

impl<'a, T: Real> Start<'a, T> {
    /// The start of the elements `off..off + len`.
    fn chunk(self, off: usize, len: usize) -> Start<'a, T> {
        match self {
            Start::InPlace => Start::InPlace,
            Start::From(x) => Start::From(&x[off..off + len]),
        }
    }
}

/// `Re⟨a, b⟩ = Re Σ āᵢ bᵢ`: the real inner product that makes `ℂⁿ` the Euclidean `ℝ²ⁿ`.
///
/// Summed in chunks of [`REDUCE_CHUNK`](crate::parallel::REDUCE_CHUNK) elements, the chunk sums
/// then added left to right, on the thread pool for long vectors: the same bits for any number of
/// threads.
pub fn re_dot<T: Real>(a: &[Complex<T>], b: &[Complex<T>]) -> T {
    let n = a.len().min(b.len());
    crate::parallel::chunked_sum(n, |r| re_dot_serial(&a[r.clone()], &b[r]), |x, y| x + y)
        .unwrap_or_else(T::zero)
}

/// [`re_dot`] of one chunk.
fn re_dot_serial<T: Real>(a: &[Complex<T>], b: &[Complex<T>]) -> T {
    // Four independent sums, so the loop is not one long dependency chain (and vectorizes).
    let mut s = [T::zero(); 4];
    for (x, y) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for k in 0..4 {
            s[k] = s[k] + x[k].re * y[k].re + x[k].im * y[k].im;
        }
    }
    let tail = a.len() - a.len() % 4;
    let rest = a[tail..]
        .iter()
        .zip(&b[tail..])
        .fold(T::zero(), |s, (x, y)| s + x.re * y.re + x.im * y.im);
    (s[0] + s[1]) + (s[2] + s[3]) + rest
}

/// The largest modulus `maxᵢ |aᵢ|`, to within rounding (0 for an empty vector; NaN if a real or
/// imaginary part is NaN).
pub fn norm_inf<T: Real>(a: &[Complex<T>]) -> T {
    let part = |r: core::ops::Range<usize>| norm_inf_serial(&a[r]);
    let max = |m: T, n: T| if n > m || n.is_nan() { n } else { m };
    crate::parallel::chunked_sum(a.len(), part, max).unwrap_or_else(T::zero)
}

/// [`norm_inf`] of one chunk: the square root of the largest `|aᵢ|²`, which is the largest
/// `|aᵢ|` to within rounding and far cheaper than `hypot` for each element (which took a fifth
/// of an Adam iteration on a 1024² field); where a square overflows or is near the subnormals,
/// the chunk takes `hypot` for each element instead.
fn norm_inf_serial<T: Real>(a: &[Complex<T>]) -> T {
    let (m, nan) = crate::wide::wide(|| max_norm_sqr(a));
    if nan {
        return T::nan();
    }
    if m == T::zero() && a.iter().all(|z| z.re == T::zero() && z.im == T::zero()) {
        // A chunk of zeros (a masked region of a gradient) needs no `hypot`.
        return T::zero();
    }
    // Where no square overflowed and the largest is far above the subnormals, its root is the
    // largest modulus to within rounding.
    if m.is_finite() && m >= T::min_positive_value() / T::epsilon() {
        return m.sqrt();
    }
    a.iter().fold(T::zero(), |m, z| {
        let n = z.norm();
        if n > m {
            n
        } else {
            m
        }
    })
}

/// The largest `|aᵢ|²` (0 for an empty slice), and whether any is NaN. Four lanes, so the loop
/// vectorizes (a maximum does not depend on the order it is taken in).
#[inline(always)]
fn max_norm_sqr<T: Real>(a: &[Complex<T>]) -> (T, bool) {
    let (mut m, mut nan) = ([T::zero(); 4], [false; 4]);
    let mut lanes = a.chunks_exact(4);
    for c in &mut lanes {
        for k in 0..4 {
            let s = c[k].norm_sqr();
            nan[k] |= s.is_nan();
            m[k] = if s > m[k] { s } else { m[k] };
        }
    }
    for (k, z) in lanes.remainder().iter().enumerate() {
        let s = z.norm_sqr();
        nan[k] |= s.is_nan();
        m[k] = if s > m[k] { s } else { m[k] };
    }
    let max = |x: T, y: T| if y > x { y } else { x };
    (
        max(max(m[0], m[1]), max(m[2], m[3])),
        nan.iter().any(|&n| n),
    )
}

/// `y ← y + α x` on one chunk (`x` may be longer).
#[inline]
fn axpy_chunk<T: Real>(alpha: T, x: &[Complex<T>], y: &mut [Complex<T>]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += x.scale(alpha);
    }
}

/// One pass over `v` in the chunks of [`re_dot`]: `update(offset, chunk)` on each chunk, then
/// `Re⟨w, ·⟩` of the updated chunk. The same bits as the update over the whole
/// vector followed by `re_dot(w, v)`, for any number of threads, with one pass instead of two.
fn update_dot<T: Real>(
    v: &mut [Complex<T>],
    w: &[Complex<T>],
    update: impl Fn(usize, &mut [Complex<T>]) + Sync + Send,
) -> T {
    debug_assert_eq!(w.len(), v.len());
    let part = |off: usize, chunk: &mut [Complex<T>]| {
        update(off, chunk);
        re_dot_serial(&w[off..off + chunk.len()], chunk)
    };
    crate::parallel::chunked_sum_mut(v, part, |x, y| x + y).unwrap_or_else(T::zero)
}
