//! Adam, with a phase-invariant second moment.

use super::{Objective, Optimizer, StepError};
use crate::Real;
use num_complex::Complex;

/// Adam (Kingma & Ba) for complex parameters, with the second moment on `|g|²`:
///
/// ```text
/// m ← β₁ m + (1 − β₁) g            (complex)
/// v ← β₂ v + (1 − β₂) |g|²         (real, one per complex element)
/// z ← z − η · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
/// ```
///
/// with `g = 2 ∂L/∂z̄`. Because `v` is built from `|g|²`, each complex element is scaled by one
/// real factor: the step is a real multiple of the momentum, so rotating every parameter by a
/// common phase `e^{iθ}` (a symmetry of most physical losses) rotates the whole trajectory by the
/// same phase. PyTorch's `Adam` on complex tensors instead treats the real and imaginary parts as
/// two independent real parameters, each with its own second moment, so its steps depend on the
/// global phase (a parameter on the real axis moves differently from the same one rotated by
/// 45°). For real parameters the two agree, and this is the usual Adam.
#[derive(Clone, Debug)]
pub struct Adam<T: Real = f64> {
    lr: T,
    beta1: T,
    beta2: T,
    eps: T,
    t: i32,
    m: Vec<Complex<T>>,
    v: Vec<T>,
}

impl<T: Real> Adam<T> {
    /// Adam with step size `lr` and the usual `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-8`.
    pub fn new(lr: T) -> Self {
        let c = |x: f64| T::from_f64(x).expect("Adam: constant fits the float type");
        Adam {
            lr,
            beta1: c(0.9),
            beta2: c(0.999),
            eps: c(1e-8),
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// The decay rates `β₁` (first moment) and `β₂` (second moment), each in `[0, 1)`.
    pub fn betas(mut self, beta1: T, beta2: T) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// The `ε` added to `√v̂` in the denominator.
    pub fn eps(mut self, eps: T) -> Self {
        self.eps = eps;
        self
    }
}

impl<T: Real> Optimizer<T> for Adam<T> {
    fn name(&self) -> &'static str {
        "adam"
    }

    fn reset(&mut self) {
        self.t = 0;
        self.m.clear();
        self.v.clear();
    }

    fn step(
        &mut self,
        objective: &mut dyn Objective<T>,
        x: &mut [Complex<T>],
        loss: &mut T,
        grad: &mut [Complex<T>],
    ) -> Result<(), StepError> {
        let one = T::one();
        self.m.resize(x.len(), Complex::new(T::zero(), T::zero()));
        self.v.resize(x.len(), T::zero());
        self.t = self.t.saturating_add(1);
        let c1 = one - self.beta1.powi(self.t);
        let c2 = one - self.beta2.powi(self.t);
        let (b1, b2) = (self.beta1, self.beta2);
        for (((x, g), m), v) in x
            .iter_mut()
            .zip(grad.iter())
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            *m = m.scale(b1) + g.scale(one - b1);
            *v = *v * b2 + g.norm_sqr() * (one - b2);
            let denom = (*v / c2).sqrt() + self.eps;
            *x -= m.scale(self.lr / (c1 * denom));
        }
        *loss = objective.evaluate(x, grad);
        Ok(())
    }
}
