//! Gradient descent with a fixed step and optional momentum.

use super::{Objective, Optimizer, StepError};
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

    fn step(
        &mut self,
        objective: &mut dyn Objective<T>,
        x: &mut [Complex<T>],
        loss: &mut T,
        grad: &mut [Complex<T>],
    ) -> Result<(), StepError> {
        if self.momentum == T::zero() {
            for (x, g) in x.iter_mut().zip(grad.iter()) {
                *x -= g.scale(self.lr);
            }
        } else {
            self.velocity
                .resize(x.len(), Complex::new(T::zero(), T::zero()));
            for ((x, g), v) in x.iter_mut().zip(grad.iter()).zip(&mut self.velocity) {
                *v = v.scale(self.momentum) + g;
                *x -= v.scale(self.lr);
            }
        }
        *loss = objective.evaluate(x, grad);
        Ok(())
    }
}
