//! Gradient descent with a fixed step and optional momentum.

use super::{update_then_evaluate, Optimizer, Start};
use crate::Real;
use num_complex::Complex;

/// Gradient descent: `v ← μ v + g`, `z ← z − η v` with `g = 2 ∂L/∂z̄` (`μ = 0`, no momentum,
/// by default). One loss evaluation per iteration.
///
/// With `L = Σ|z − z₀|²`, `g = 2(z − z₀)`, so `η = ½` reaches the minimum in one step; in general
/// `η` must be below `2/λ_max` of the Hessian in the real coordinates.
#[derive(Clone, Debug)]
pub struct GradientDescent<T: Real = f64> {
    lr: T,
    momentum: T,
    velocity: Vec<Complex<T>>,
}

impl<T: Real> GradientDescent<T> {
    /// Gradient descent with step size (learning rate) `lr`.
    pub fn new(lr: T) -> Self {
        GradientDescent {
            lr,
            momentum: T::zero(),
            velocity: Vec::new(),
        }
    }

    /// Heavy-ball momentum `μ` in `[0, 1)`.
    pub fn momentum(mut self, mu: T) -> Self {
        self.momentum = mu;
        self
    }
}

impl<T: Real> Optimizer<T> for GradientDescent<T> {
    fn name(&self) -> &'static str {
        "gradient descent"
    }

    fn reset(&mut self) {
        self.velocity.clear();
    }

    update_then_evaluate!();
}

impl<T: Real> GradientDescent<T> {
    /// Writes the new parameters into `out`, from `start` (and updates the velocity).
    fn update(&mut self, start: Start<'_, T>, out: &mut [Complex<T>], grad: &[Complex<T>]) {
        let (lr, mu) = (self.lr, self.momentum);
        // One loop per start, so each vectorizes.
        if mu == T::zero() {
            crate::parallel::for_chunks(out, |off, out| {
                let grad = &grad[off..off + out.len()];
                match start.chunk(off, out.len()) {
                    Start::InPlace => {
                        for (x, g) in out.iter_mut().zip(grad) {
                            *x -= g.scale(lr);
                        }
                    }
                    Start::From(src) => {
                        for ((x, s), g) in out.iter_mut().zip(src).zip(grad) {
                            *x = s - g.scale(lr);
                        }
                    }
                }
            });
        } else {
            self.velocity
                .resize(out.len(), Complex::new(T::zero(), T::zero()));
            crate::parallel::for_chunks2(out, &mut self.velocity, |off, out, velocity| {
                let grad = &grad[off..off + out.len()];
                let each = |v: &mut Complex<T>, g: &Complex<T>| {
                    *v = v.scale(mu) + g;
                    v.scale(lr)
                };
                match start.chunk(off, out.len()) {
                    Start::InPlace => {
                        for ((x, v), g) in out.iter_mut().zip(velocity).zip(grad) {
                            *x -= each(v, g);
                        }
                    }
                    Start::From(src) => {
                        for (((x, s), v), g) in out.iter_mut().zip(src).zip(velocity).zip(grad) {
                            *x = s - each(v, g);
                        }
                    }
                }
            });
        }
    }
}
