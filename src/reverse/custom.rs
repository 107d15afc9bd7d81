//! Custom rules: a user's own function on the tape, from its value and its VJP.

use super::tape::{Tape, Vjp};
use super::{Var, VarArray};
use crate::rules::Name;
use crate::Real;
use num_complex::Complex;
use std::rc::Rc;

impl<T: Real> Tape<T> {
    /// Records a user's array function `y = f(x₀, x₁, …)` from its output value and its VJP.
    ///
    /// The convention is that of the whole tape: `vjp` receives the conjugate cotangent `c_y` of
    /// the output and returns those of the inputs, `c_{x_k}`, one vector per input in order. The
    /// backward pass scales them all alike: `c_y = 2 ∂L/∂ȳ` for a real-valued `L` (the seed `1`,
    /// as PyTorch's `grad_output`; see [`Var::backward`]), `∂Re f/∂ȳ` and `∂Im f/∂ȳ` in the two
    /// walks of a complex `f`. A VJP is linear in `c_y`, so the one formula serves every scale.
    /// For a holomorphic (complex-linear, say) `f` with Jacobian `J_k = ∂y/∂x_k` that is
    /// `c_{x_k} = J_kᴴ c_y`; in general
    /// `c_x = (∂y/∂x)ᴴ c_y + (∂y/∂x̄)ᵀ conj(c_y)`.
    /// Use [`check::test_vjp`](crate::check::test_vjp) to test a VJP against finite differences.
    ///
    /// Example: a dense linear solve `x = A⁻¹ b` by Gaussian elimination, whose VJP is one adjoint
    /// solve: `c_b = A⁻ᴴ c_x`, `c_A = −c_b x̄ᵀ`.
    ///
    /// ```
    /// use wirtinger::prelude::*;
    ///
    /// /// Solves `A x = b` (A row-major n×n) by Gaussian elimination with partial pivoting.
    /// fn solve(a: &[Complex64], b: &[Complex64]) -> Vec<Complex64> {
    ///     let n = b.len();
    ///     let (mut m, mut x) = (a.to_vec(), b.to_vec());
    ///     for k in 0..n {
    ///         let p = (k..n).max_by(|&i, &j| m[i * n + k].norm().total_cmp(&m[j * n + k].norm())).unwrap();
    ///         for j in 0..n { m.swap(k * n + j, p * n + j); }
    ///         x.swap(k, p);
    ///         for i in k + 1..n {
    ///             let f = m[i * n + k] / m[k * n + k];
    ///             for j in k..n { let t = m[k * n + j]; m[i * n + j] -= f * t; }
    ///             let t = x[k];
    ///             x[i] -= f * t;
    ///         }
    ///     }
    ///     for k in (0..n).rev() {
    ///         let s: Complex64 = (k + 1..n).map(|j| m[k * n + j] * x[j]).sum();
    ///         x[k] = (x[k] - s) / m[k * n + k];
    ///     }
    ///     x
    /// }
    /// /// Aᴴ, row-major.
    /// fn adjoint(a: &[Complex64], n: usize) -> Vec<Complex64> {
    ///     (0..n * n).map(|k| a[(k % n) * n + k / n].conj()).collect()
    /// }
    ///
    /// fn solve_on_tape<'t>(a: &VarArray<'t>, b: &VarArray<'t>) -> VarArray<'t> {
    ///     let n = b.len();
    ///     let (av, bv) = (a.value(), b.value());
    ///     let x = solve(&av, &bv);
    ///     let xv = x.clone();
    ///     a.tape().custom("solve", &[a, b], x, &[n], move |c_x| {
    ///         let c_b = solve(&adjoint(&av, n), c_x); // one adjoint solve
    ///         let c_a = (0..n * n).map(|k| -c_b[k / n] * xv[k % n].conj()).collect();
    ///         vec![c_a, c_b]
    ///     })
    /// }
    ///
    /// let tape = Tape::new();
    /// let a = tape.array(vec![c64(4.0, 1.0), c64(1.0, 0.0), c64(0.5, -1.0), c64(3.0, 0.5)], &[2, 2]);
    /// let b = tape.vector(vec![c64(1.0, 0.0), c64(0.0, 2.0)]);
    /// let loss = solve_on_tape(&a, &b).norm_sqr_sum();
    /// let g = loss.backward();
    /// // Compare with finite differences of the same loss.
    /// let f = |bv: &[Complex64]| {
    ///     let t = Tape::new();
    ///     let a2 = t.array(a.value().to_vec(), &[2, 2]);
    ///     solve_on_tape(&a2, &t.vector(bv.to_vec())).norm_sqr_sum().value()
    /// };
    /// let fd = wirtinger::check::finite_difference_gradient(f, &b.value());
    /// for (ad, fd) in g.dzbar(&b).iter().zip(&fd.dzbar) {
    ///     assert!((ad - fd).norm() < 1e-8);
    /// }
    /// ```
    ///
    /// # Panics
    /// During the backward pass, if `vjp` returns the wrong number of cotangents or one of the
    /// wrong length.
    pub fn custom<'t, F>(
        &'t self,
        name: &'static str,
        inputs: &[&VarArray<'t, T>],
        value: Vec<Complex<T>>,
        shape: &[usize],
        vjp: F,
    ) -> VarArray<'t, T>
    where
        F: Fn(&[Complex<T>]) -> Vec<Vec<Complex<T>>> + 'static,
    {
        for x in inputs {
            super::var::same_tape(self, x.tape, name);
        }
        let lens: Vec<usize> = inputs.iter().map(|x| x.len()).collect();
        let vjp: Vjp<T> = Box::new(move |c, acc| {
            let cots = vjp(&c);
            assert!(
                cots.len() == lens.len(),
                "wirtinger: custom rule `{name}`: the VJP returned {} cotangents for {} inputs",
                cots.len(),
                lens.len()
            );
            for (k, (cot, &n)) in cots.into_iter().zip(&lens).enumerate() {
                assert!(
                    cot.len() == n,
                    "wirtinger: custom rule `{name}`: cotangent {k} has length {}, input {k} has {n} elements",
                    cot.len()
                );
                acc.give(k, cot);
            }
        });
        self.array_op(
            name,
            Rc::new(value),
            shape.into(),
            false,
            inputs.iter().map(|x| x.id()).collect(),
            vjp,
        )
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// Records a user's elementary function `w = g(self)` from its value and partials
    /// `g_a = ∂g/∂a`, `g_ā = ∂g/∂ā` at `a = self.value()`: the reverse-mode twin of
    /// [`Dual::chain`](crate::forward::Dual::chain). Pass `g_ā = 0` for a holomorphic `g`.
    ///
    /// ```
    /// use wirtinger::prelude::*;
    ///
    /// let tape = Tape::new();
    /// let z = tape.var(c64(0.5, 0.25));
    /// // g(a) = a² ā written as a black box: g_a = 2aā, g_ā = a²
    /// let a = z.value();
    /// let w = z.chain(a * a * a.conj(), 2.0 * a * a.conj(), a * a);
    /// let g = w.backward();
    /// assert_eq!(g.dz(&z), 2.0 * a * a.conj());
    /// assert_eq!(g.dzbar(&z), a * a);
    /// ```
    pub fn chain(self, value: Complex<T>, g_a: Complex<T>, g_abar: Complex<T>) -> Self {
        self.chain_n(Name::chain, value, &[(self, g_a, g_abar)])
    }

    /// Records a user's real-valued function `w = g(self)` (so `∂g/∂ā = conj(∂g/∂a)`) from its real
    /// value and `g_a = ∂g/∂a`; the result counts as real-valued, so a loss built from it has
    /// [`Gradients::grad`](super::Gradients::grad).
    ///
    /// ```
    /// use wirtinger::prelude::*;
    ///
    /// let tape = Tape::new();
    /// let z = tape.var(c64(0.5, 0.25));
    /// // |a|² written as a black box: g_a = ā
    /// let a = z.value();
    /// let w = z.chain_real(a.norm_sqr(), a.conj());
    /// assert_eq!(w.backward().grad(&z), c64(1.0, 0.5));
    /// ```
    pub fn chain_real(self, value: T, g_a: Complex<T>) -> Self {
        let v = Complex::new(value, T::zero());
        self.record_parts(
            Name::chain_real,
            v,
            true,
            [Some((self, g_a, Some(g_a.conj()))), None],
        )
    }

    /// Records a user's binary function `w = g(self, other)` from its value and the partials
    /// `(∂g/∂a, ∂g/∂ā)` and `(∂g/∂b, ∂g/∂b̄)`.
    pub fn chain2(
        self,
        other: Self,
        value: Complex<T>,
        (g_a, g_abar): (Complex<T>, Complex<T>),
        (g_b, g_bbar): (Complex<T>, Complex<T>),
    ) -> Self {
        super::var::same_tape(self.tape, other.tape, "chain2");
        self.chain_n(
            Name::chain2,
            value,
            &[(self, g_a, g_abar), (other, g_b, g_bbar)],
        )
    }

    fn chain_n(
        self,
        name: Name,
        value: Complex<T>,
        parts: &[(Self, Complex<T>, Complex<T>)],
    ) -> Self {
        let mut p = [None, None];
        for (slot, &(x, da, dac)) in p.iter_mut().zip(parts) {
            *slot = Some((x, da, Some(dac)));
        }
        self.record_parts(name, value, false, p)
    }
}
