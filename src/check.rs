//! Numerical derivative checks: finite-difference Wirtinger derivatives and assertions that compare
//! automatic derivatives with them.
//!
//! The derivatives are central differences along `x` and `y`, combined as
//! `∂f/∂z = ½(∂f/∂x − i ∂f/∂y)`, `∂f/∂z̄ = ½(∂f/∂x + i ∂f/∂y)`, with one Richardson extrapolation
//! step (error `O(h⁴)`), which gives about `1e-10` relative in `f64` for smooth functions.
//!
//! ```
//! use wirtinger::prelude::*;
//!
//! // Test your own expression (or your own rule) against finite differences:
//! wirtinger::check::assert_dual(|z| (z.conj() * z.sin()).exp(), c64(0.3, -0.2), 1e-8);
//! ```

use crate::forward::{Derivative, Dual};
use crate::Real;
use core::fmt;
use num_complex::Complex;

/// The default finite-difference step, relative to `max(1, |z|)`: about `ε^{1/5}`, the step that
/// balances truncation (`h⁴`) against rounding (`ε/h`) after Richardson extrapolation.
pub fn default_step<T: Real>() -> T {
    T::epsilon().powf(T::from_f64c(0.2))
}

/// `(∂f/∂x, ∂f/∂y)` by central differences with step `h`, extrapolated from `h` and `h/2`.
fn partials_xy<T: Real, F: Fn(Complex<T>) -> Complex<T>>(
    f: &F,
    z: Complex<T>,
    h: T,
) -> (Complex<T>, Complex<T>) {
    let d = |dir: Complex<T>, h: T| {
        let step = dir.scale(h);
        (f(z + step) - f(z - step)).unscale(h + h)
    };
    let rich = |dir: Complex<T>| {
        let coarse = d(dir, h);
        let fine = d(dir, h * T::from_f64c(0.5));
        (fine.scale(T::from_f64c(4.0)) - coarse).unscale(T::from_f64c(3.0))
    };
    let one = T::one();
    (
        rich(Complex::new(one, T::zero())),
        rich(Complex::new(T::zero(), one)),
    )
}

/// Finite-difference value and Wirtinger derivatives of `f` at `z`, with step
/// `h = default_step() · max(1, |z|)`.
///
/// ```
/// use wirtinger::prelude::*;
///
/// let d = wirtinger::check::finite_difference(|z: Complex64| z.norm_sqr().into(), c64(3.0, 4.0));
/// assert!((d.dz - c64(3.0, -4.0)).norm() < 1e-9);
/// assert!((d.dzbar - c64(3.0, 4.0)).norm() < 1e-9);
/// ```
pub fn finite_difference<T: Real, F: Fn(Complex<T>) -> Complex<T>>(
    f: F,
    z: Complex<T>,
) -> Derivative<T> {
    let h = default_step::<T>() * z.norm().max(T::one());
    finite_difference_with_step(f, z, h)
}

/// As [`finite_difference`] with an explicit step `h`.
pub fn finite_difference_with_step<T: Real, F: Fn(Complex<T>) -> Complex<T>>(
    f: F,
    z: Complex<T>,
    h: T,
) -> Derivative<T> {
    let (fx, fy) = partials_xy(&f, z, h);
    let i = Complex::new(T::zero(), T::one());
    let half = T::from_f64c(0.5);
    Derivative {
        value: f(z),
        dz: (fx - i * fy).scale(half),
        dzbar: (fx + i * fy).scale(half),
    }
}

/// Automatic derivatives side by side with finite differences, as returned by [`compare`].
///
/// Its `Display` prints the point, the value, both derivatives from each method and the error;
/// [`assert_dual`] prints it on failure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison<T = f64> {
    /// The point `z`.
    pub z: Complex<T>,
    /// The automatic value and derivatives.
    pub ad: Derivative<T>,
    /// The finite-difference value and derivatives.
    pub fd: Derivative<T>,
    /// `max(|Δ∂f/∂z|, |Δ∂f/∂z̄|) / max(1, |∂f/∂z|, |∂f/∂z̄|)` (finite-difference values in the
    /// denominator): a relative error for large derivatives, an absolute one for small.
    pub error: T,
}

impl<T: Real> Comparison<T> {
    /// Whether the values agree and the derivative error is at most `rtol` (NaN fails).
    pub fn passes(&self, rtol: T) -> bool {
        let scale = T::one().max(self.fd.value.norm());
        let value_ok = (self.ad.value - self.fd.value).norm() <= rtol * scale;
        value_ok && self.error <= rtol
    }
}

impl<T: Real> fmt::Display for Comparison<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "at z = {:e}", self.z)?;
        writeln!(
            f,
            "  value      ad {:e}   fd {:e}",
            self.ad.value, self.fd.value
        )?;
        writeln!(f, "  ∂f/∂z      ad {:e}   fd {:e}", self.ad.dz, self.fd.dz)?;
        writeln!(
            f,
            "  ∂f/∂z̄      ad {:e}   fd {:e}",
            self.ad.dzbar, self.fd.dzbar
        )?;
        write!(f, "  error {:e}", self.error)
    }
}

/// Compares automatic derivatives `ad` of `f` at `z` with finite differences of `f`.
pub fn compare<T: Real, F: Fn(Complex<T>) -> Complex<T>>(
    ad: Derivative<T>,
    f: F,
    z: Complex<T>,
) -> Comparison<T> {
    let fd = finite_difference(f, z);
    let scale = T::one().max(fd.dz.norm()).max(fd.dzbar.norm());
    let err = (ad.dz - fd.dz).norm().max((ad.dzbar - fd.dzbar).norm()) / scale;
    // NaN anywhere must fail, so it is propagated rather than lost in `max`.
    let nan = |c: Complex<T>| c.re.is_nan() || c.im.is_nan();
    let error = if nan(ad.dz) || nan(ad.dzbar) || err.is_nan() {
        T::nan()
    } else {
        err
    };
    Comparison { z, ad, fd, error }
}

/// Compares the forward-mode derivatives of `f` at `z` with finite differences of the same `f`
/// (evaluated on constants).
pub fn compare_dual<T: Real, F: Fn(Dual<T>) -> Dual<T>>(f: F, z: Complex<T>) -> Comparison<T> {
    let ad = crate::forward::derivative(&f, z);
    compare(ad, |w| f(Dual::constant(w)).value(), z)
}

/// Panics, printing value, both derivatives and the error, unless forward mode and finite
/// differences agree at `z` to `rtol` (see [`Comparison::error`]).
#[track_caller]
pub fn assert_dual<T: Real, F: Fn(Dual<T>) -> Dual<T>>(f: F, z: Complex<T>, rtol: T) {
    let cmp = compare_dual(f, z);
    assert!(
        cmp.passes(rtol),
        "derivative check failed (rtol {rtol:e}):\n{cmp}"
    );
}

/// Finite-difference value and Wirtinger derivatives of a function of several complex variables,
/// one input at a time (as [`finite_difference`]).
pub fn finite_difference_gradient<T: Real, F: Fn(&[Complex<T>]) -> Complex<T>>(
    f: F,
    z: &[Complex<T>],
) -> crate::forward::Gradient<T> {
    let mut args = z.to_vec();
    let mut dz = Vec::with_capacity(z.len());
    let mut dzbar = Vec::with_capacity(z.len());
    for k in 0..z.len() {
        let d = finite_difference(
            |w| {
                let mut a = args.clone();
                a[k] = w;
                f(&a)
            },
            z[k],
        );
        dz.push(d.dz);
        dzbar.push(d.dzbar);
    }
    args.copy_from_slice(z);
    crate::forward::Gradient {
        value: f(&args),
        dz,
        dzbar,
    }
}

/// Relative disagreement of two derivative vectors: `max_k |a_k − b_k| / max(1, max_k |b_k|)`
/// (NaN if either holds a NaN).
fn vec_error<T: Real>(a: &[Complex<T>], b: &[Complex<T>]) -> T {
    let scale = b.iter().fold(T::one(), |m, x| m.max(x.norm()));
    let mut err = T::zero();
    for (x, y) in a.iter().zip(b) {
        let e = (x - y).norm();
        if e.is_nan() {
            return T::nan();
        }
        err = err.max(e);
    }
    err / scale
}

/// Tests a whole tape gradient: builds the output with `build` on a fresh [`Tape`] at `z`, runs
/// [`Var::backward`], and compares `∂f/∂z_k` and `∂f/∂z̄_k` for every input with finite
/// differences of the same `build` (each evaluated on its own fresh tape). Works for real and
/// complex outputs. Panics with both sets of derivatives if they differ by more than `rtol`
/// (relative to `max(1, |derivative|)`).
///
/// ```
/// use wirtinger::prelude::*;
///
/// wirtinger::check::assert_gradient(
///     |_tape, z| (z[0] * z[1].conj()).exp().norm_sqr() + z[1].sin().re(),
///     &[c64(0.3, 0.1), c64(-0.2, 0.4)],
///     1e-8,
/// );
/// ```
///
/// [`Tape`]: crate::reverse::Tape
/// [`Var::backward`]: crate::reverse::Var::backward
#[track_caller]
pub fn assert_gradient<T, F>(build: F, z: &[Complex<T>], rtol: T)
where
    T: Real,
    F: for<'t> Fn(
        &'t crate::reverse::Tape<T>,
        &[crate::reverse::Var<'t, T>],
    ) -> crate::reverse::Var<'t, T>,
{
    let tape = crate::reverse::Tape::new();
    let vars: Vec<_> = z.iter().map(|&w| tape.var(w)).collect();
    let out = build(&tape, &vars);
    let g = out.backward();
    let ad_dz: Vec<_> = vars.iter().map(|v| g.dz(v)).collect();
    let ad_dzbar: Vec<_> = vars.iter().map(|v| g.dzbar(v)).collect();
    let fd = finite_difference_gradient(
        |w| {
            let t = crate::reverse::Tape::new();
            let vs: Vec<_> = w.iter().map(|&x| t.constant(x)).collect();
            build(&t, &vs).value()
        },
        z,
    );
    let err = vec_error(&ad_dz, &fd.dz).max(vec_error(&ad_dzbar, &fd.dzbar));
    let verr = (out.value() - fd.value).norm() / T::one().max(fd.value.norm());
    assert!(
        err <= rtol && verr <= rtol,
        "tape gradient check failed (rtol {rtol:e}, error {err:e}):\n  z     {z:?}\n  value ad {:e} fd {:e}\n  ∂f/∂z  ad {ad_dz:?}\n         fd {:?}\n  ∂f/∂z̄  ad {ad_dzbar:?}\n         fd {:?}",
        out.value(),
        fd.value,
        fd.dz,
        fd.dzbar
    );
}

/// Tests a user's VJP against finite differences of its forward function, as
/// ChainRulesTestUtils' `test_rrule` does.
///
/// `f` maps the inputs (one flat vector) to the outputs; `vjp(x, c_y)` must return the conjugate
/// cotangent of the inputs `c_x = ∂L/∂x̄` given that of the outputs `c_y = ∂L/∂ȳ` (the tape's
/// convention, up to the common scale the backward pass applies, see
/// [`Tape::custom`](crate::reverse::Tape::custom); a VJP is linear, so it does not matter). The
/// test draws a fixed pseudo-random `w`, and compares `vjp(x, w)` with finite differences of the
/// real function `L(x) = 2 Re Σ_k w̄_k f_k(x)`, whose `∂L/∂ȳ = w`. Panics with both vectors if
/// they differ by more than `rtol` (relative to `max(1, |c_x|)`).
///
/// ```
/// use wirtinger::prelude::*;
///
/// // y = x̄ ⊙ x (elementwise |x|²) has c_x = 2 Re(c_y) x.
/// wirtinger::check::test_vjp(
///     |x: &[Complex64]| x.iter().map(|v| v.conj() * v).collect(),
///     |x, c| x.iter().zip(c).map(|(v, c)| v * (2.0 * c.re)).collect(),
///     &[c64(1.0, 2.0), c64(-0.5, 0.3)],
///     1e-8,
/// );
/// ```
#[track_caller]
pub fn test_vjp<T, F, V>(f: F, vjp: V, x: &[Complex<T>], rtol: T)
where
    T: Real,
    F: Fn(&[Complex<T>]) -> Vec<Complex<T>>,
    V: Fn(&[Complex<T>], &[Complex<T>]) -> Vec<Complex<T>>,
{
    let m = f(x).len();
    // A fixed, well-spread cotangent (a small LCG), so failures reproduce.
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        T::from_f64c(((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0)
    };
    let w: Vec<Complex<T>> = (0..m).map(|_| Complex::new(next(), next())).collect();
    let ad = vjp(x, &w);
    assert!(
        ad.len() == x.len(),
        "test_vjp: the VJP returned {} cotangents for {} inputs",
        ad.len(),
        x.len()
    );
    let two = T::from_f64c(2.0);
    let loss = |xs: &[Complex<T>]| {
        let y = f(xs);
        let s = y
            .iter()
            .zip(&w)
            .fold(T::zero(), |s, (y, w)| s + (w.conj() * y).re);
        Complex::new(two * s, T::zero())
    };
    let fd = finite_difference_gradient(loss, x);
    let err = vec_error(&ad, &fd.dzbar);
    assert!(
        err <= rtol,
        "VJP check failed (rtol {rtol:e}, error {err:e}):\n  x       {x:?}\n  c_y     {w:?}\n  vjp     {ad:?}\n  fd      {:?}",
        fd.dzbar
    );
}
