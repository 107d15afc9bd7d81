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
    /// Returns `L(x)` and writes the gradient `2 ∂L/∂x̄` into `grad` (same length as `x`).
    fn evaluate(&mut self, x: &[Complex<T>], grad: &mut [Complex<T>]) -> T;
}

/// Why an [`Optimizer::step`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepError {
    /// No step along any direction tried met the line search's conditions.
    LineSearchFailed,
}

/// One iteration of an optimization method. [`Minimize`] calls [`reset`](Self::reset) once and then
/// [`step`](Self::step) until a stopping rule holds.
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
}

/// `Re⟨a, b⟩ = Re Σ āᵢ bᵢ`: the real inner product that makes `ℂⁿ` the Euclidean `ℝ²ⁿ`.
pub fn re_dot<T: Real>(a: &[Complex<T>], b: &[Complex<T>]) -> T {
    // Four independent sums, so the loop is not one long dependency chain (and vectorizes).
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [T::zero(); 4];
    for (x, y) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for k in 0..4 {
            s[k] = s[k] + x[k].re * y[k].re + x[k].im * y[k].im;
        }
    }
    let tail = n - n % 4;
    let rest = a[tail..]
        .iter()
        .zip(&b[tail..])
        .fold(T::zero(), |s, (x, y)| s + x.re * y.re + x.im * y.im);
    (s[0] + s[1]) + (s[2] + s[3]) + rest
}

/// The largest modulus `maxᵢ |aᵢ|` (0 for an empty vector).
pub fn norm_inf<T: Real>(a: &[Complex<T>]) -> T {
    a.iter().fold(T::zero(), |m, z| {
        let n = z.norm();
        if n > m || n.is_nan() {
            n
        } else {
            m
        }
    })
}

/// `y ← y + α x`.
fn axpy<T: Real>(alpha: T, x: &[Complex<T>], y: &mut [Complex<T>]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += x.scale(alpha);
    }
}
