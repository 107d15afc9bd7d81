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
