//! Adam, with a phase-invariant second moment.

use super::{update_then_evaluate, Optimizer, Start};
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

    update_then_evaluate!();
}

impl<T: Real> Adam<T> {
    /// Updates the moments with `grad` and writes the new parameters into `out`, from `start`.
    fn update(&mut self, start: Start<'_, T>, out: &mut [Complex<T>], grad: &[Complex<T>]) {
        let one = T::one();
        self.m.resize(out.len(), Complex::new(T::zero(), T::zero()));
        self.v.resize(out.len(), T::zero());
        self.t = self.t.saturating_add(1);
        let c1 = one - self.beta1.powi(self.t);
        let c2 = one - self.beta2.powi(self.t);
        let (b1, b2, lr, eps) = (self.beta1, self.beta2, self.lr, self.eps);
        crate::parallel::for_chunks3(out, &mut self.m, &mut self.v, |off, out, m, v| {
            let n = out.len();
            let (grad, m, v) = (&grad[off..off + n], &mut m[..n], &mut v[..n]);
            let k = Consts {
                b1,
                b2,
                c1,
                c2,
                lr,
                eps,
            };
            // One loop per start, so each vectorizes.
            match start.chunk(off, n) {
                Start::InPlace => {
                    for i in 0..n {
                        out[i] -= k.step(&mut m[i], &mut v[i], grad[i]);
                    }
                }
                Start::From(src) => {
                    let src = &src[..n];
                    for i in 0..n {
                        out[i] = src[i] - k.step(&mut m[i], &mut v[i], grad[i]);
                    }
                }
            }
        });
    }
}

/// The constants of one Adam step.
#[derive(Clone, Copy)]
struct Consts<T> {
    b1: T,
    b2: T,
    c1: T,
    c2: T,
    lr: T,
    eps: T,
}

impl<T: Real> Consts<T> {
    /// Updates one element's moments with its gradient `g`; returns its step.
    #[inline(always)]
    fn step(self, m: &mut Complex<T>, v: &mut T, g: Complex<T>) -> Complex<T> {
        let one = T::one();
        *m = m.scale(self.b1) + g.scale(one - self.b1);
        *v = *v * self.b2 + g.norm_sqr() * (one - self.b2);
        let denom = (*v / self.c2).sqrt() + self.eps;
        m.scale(self.lr / (self.c1 * denom))
    }
}
