//! The one table of elementary derivative rules.
//!
//! Every elementary operation of the crate is defined here once, as its value and its two Wirtinger
//! partials `(g_a, g_ā) = (∂g/∂a, ∂g/∂ā)`. Forward mode ([`crate::forward::Dual`]) applies the
//! chain rule to them; reverse mode ([`crate::reverse::Tape`]) records them on the edges of the tape.
//! Neither keeps a second copy of a rule.
//!
//! A holomorphic rule has `g_ā = 0`; the table says so with `da_conj: None`, which lets both modes
//! skip the zero. Binary rules are all holomorphic in each argument.
//!
//! Conventions at non-differentiable and singular points (see each function):
//! - `norm` and `arg` at `a = 0` give both partials `0` (as PyTorch's `abs`).
//! - `norm` stays finite and accurate for tiny (even subnormal) and huge `|a|`.
//! - True singularities (`ln 0`, `1/0`, `sqrt` and `cbrt` at 0, `powf` with exponent below 1 at 0)
//!   pass the IEEE values (inf, NaN) through; nothing is hidden.
//! - Branch cuts are those of `num-complex` (principal values); on a cut the derivative is that of the
//!   branch `num-complex` evaluates.
//!
//! These functions are public so that users writing their own rules (see
//! [`Dual::chain`](crate::forward::Dual::chain)) can reuse them.

use crate::Real;
use num_complex::Complex;

/// Whether the result of an operation is real-valued, used by reverse mode to choose the cheap
/// single-cotangent pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Realness {
    /// The result is real for every input (`re`, `norm`, …).
    Real,
    /// The result is real when the input is real (`exp`, `sin`, negation, …).
    Preserves,
    /// The result may be complex even for a real input (`ln`, `sqrt`, …).
    Complex,
}

impl Realness {
    /// Whether the result is real given whether the input is.
    #[inline(always)]
    pub fn of(self, input_real: bool) -> bool {
        match self {
            Realness::Real => true,
            Realness::Preserves => input_real,
            Realness::Complex => false,
        }
    }
}

/// Value and partials of a unary elementary function `w = g(a)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unary<T> {
    /// `g(a)`; its imaginary part is exactly 0 for real-valued functions.
    pub value: Complex<T>,
    /// `∂g/∂a`.
    pub da: Complex<T>,
    /// `∂g/∂ā`; `None` means exactly zero (a holomorphic function).
    pub da_conj: Option<Complex<T>>,
    /// Whether the result is real-valued.
    pub real: Realness,
}

/// Value and partials of a binary elementary function `w = g(a, b)`, holomorphic in each argument
/// (`∂g/∂ā = ∂g/∂b̄ = 0`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Binary<T> {
    /// `g(a, b)`.
    pub value: Complex<T>,
    /// `∂g/∂a`.
    pub da: Complex<T>,
    /// `∂g/∂b`.
    pub db: Complex<T>,
    /// Whether the result is real when both inputs are.
    pub preserves_real: bool,
}

#[inline(always)]
fn c<T: Real>(re: T, im: T) -> Complex<T> {
    Complex::new(re, im)
}

#[inline(always)]
fn one<T: Real>() -> Complex<T> {
    Complex::new(T::one(), T::zero())
}

#[inline(always)]
fn half<T: Real>() -> T {
    T::from_f64c(0.5)
}

#[inline(always)]
fn holo<T>(value: Complex<T>, da: Complex<T>, real: Realness) -> Unary<T> {
    Unary {
        value,
        da,
        da_conj: None,
        real,
    }
}

#[inline(always)]
fn general<T>(value: Complex<T>, da: Complex<T>, da_conj: Complex<T>, real: Realness) -> Unary<T> {
    Unary {
        value,
        da,
        da_conj: Some(da_conj),
        real,
    }
}

/// `−a`: `(−1, 0)`.
#[inline(always)]
pub fn neg<T: Real>(a: Complex<T>) -> Unary<T> {
    holo(-a, c(-T::one(), T::zero()), Realness::Preserves)
}

/// `ā`: `(0, 1)`.
#[inline(always)]
pub fn conj<T: Real>(a: Complex<T>) -> Unary<T> {
    general(
        a.conj(),
        Complex::new(T::zero(), T::zero()),
        c(T::one(), T::zero()),
        Realness::Preserves,
    )
}

/// `Re a`: `(½, ½)`, real-valued.
#[inline(always)]
pub fn re<T: Real>(a: Complex<T>) -> Unary<T> {
    let h = c(half(), T::zero());
    general(c(a.re, T::zero()), h, h, Realness::Real)
}

/// `Im a`: `(−i/2, i/2)`, real-valued.
#[inline(always)]
pub fn im<T: Real>(a: Complex<T>) -> Unary<T> {
    general(
        c(a.im, T::zero()),
        c(T::zero(), -half::<T>()),
        c(T::zero(), half()),
        Realness::Real,
    )
}

/// `|a|²`: `(ā, a)`, real-valued.
#[inline(always)]
pub fn norm_sqr<T: Real>(a: Complex<T>) -> Unary<T> {
    general(c(a.norm_sqr(), T::zero()), a.conj(), a, Realness::Real)
}

/// `|a|`: `(ā/(2|a|), a/(2|a|))`, real-valued; both partials are 0 at `a = 0`.
///
/// The unit vector `a/|a|` is computed after rescaling `a` when `|a|` is tiny (subnormal) or
/// overflows, so the partials stay finite and accurate there.
#[inline(always)]
pub fn norm<T: Real>(a: Complex<T>) -> Unary<T> {
    let r = a.norm();
    let zero = Complex::new(T::zero(), T::zero());
    if r == T::zero() {
        return general(zero, zero, zero, Realness::Real);
    }
    let dir = if r >= T::min_positive_value() / T::epsilon() && r.is_finite() {
        a.unscale(r)
    } else {
        // Rescale by the larger component so both parts are normal numbers again.
        let s = a.re.abs().max(a.im.abs());
        let u = a.unscale(s);
        u.unscale(u.norm())
    };
    let h = half::<T>();
    general(
        c(r, T::zero()),
        dir.conj().scale(h),
        dir.scale(h),
        Realness::Real,
    )
}

/// `arg a` (the principal argument, in `(−π, π]`): `(−i/(2a), i/(2ā))`, real-valued; both partials
/// are 0 at `a = 0`. The value jumps by `2π` across the negative real axis; the partials are those of
/// the continuous branch on either side.
#[inline(always)]
pub fn arg<T: Real>(a: Complex<T>) -> Unary<T> {
    let zero = Complex::new(T::zero(), T::zero());
    if a.re == T::zero() && a.im == T::zero() {
        return general(zero, zero, zero, Realness::Real);
    }
    // −i/(2a), with 1/a computed after scaling by the larger component so that it neither
    // underflows nor overflows through |a|² (at 1e-200 or 1e200, say).
    let sc = a.re.abs().max(a.im.abs());
    let u = a.unscale(sc);
    let inv = u.conj().unscale(u.norm_sqr() * sc);
    let da = c(inv.im, -inv.re).scale(half());
    general(c(a.arg(), T::zero()), da, da.conj(), Realness::Real)
}

/// `1/a`: `(−1/a², 0)`. At `a = 0` the IEEE values of complex division pass through.
#[inline(always)]
pub fn inv<T: Real>(a: Complex<T>) -> Unary<T> {
    let v = a.inv();
    holo(v, -(v * v), Realness::Preserves)
}

/// `exp a`: `(exp a, 0)`.
#[inline(always)]
pub fn exp<T: Real>(a: Complex<T>) -> Unary<T> {
    // A real argument (common: `exp(−|z|²)`) needs no sine and cosine.
    let v = if a.im == T::zero() {
        c(a.re.exp(), a.im)
    } else {
        a.exp()
    };
    holo(v, v, Realness::Preserves)
}

/// `ln a` (principal branch, cut along `(−∞, 0]`, continuous from above): `(1/a, 0)`.
#[inline]
pub fn ln<T: Real>(a: Complex<T>) -> Unary<T> {
    holo(a.ln(), a.inv(), Realness::Complex)
}

/// `√a` (principal branch, cut along `(−∞, 0)`): `(1/(2√a), 0)`; at 0 the derivative is not finite.
#[inline]
pub fn sqrt<T: Real>(a: Complex<T>) -> Unary<T> {
    let s = a.sqrt();
    holo(s, (s + s).inv(), Realness::Complex)
}

/// `∛a` (principal branch of `num-complex`, cut along `(−∞, 0)`; `∛−8 = 1 + i√3`):
/// `(1/(3 ∛a²), 0)`.
#[inline]
pub fn cbrt<T: Real>(a: Complex<T>) -> Unary<T> {
    let s = a.cbrt();
    holo(s, (s * s).scale(T::from_f64c(3.0)).inv(), Realness::Complex)
}

/// `aⁿ` for an integer `n`: `(n aⁿ⁻¹, 0)`.
#[inline(always)]
pub fn powi<T: Real>(a: Complex<T>, n: i32) -> Unary<T> {
    if n == 2 {
        // Squares are common (losses); skip the generic power loop, and keep this function small
        // enough to inline into elementwise loops.
        return holo(a * a, a + a, Realness::Preserves);
    }
    powi_general(a, n)
}

#[inline(never)]
fn powi_general<T: Real>(a: Complex<T>, n: i32) -> Unary<T> {
    if n == 0 {
        return holo(
            c(T::one(), T::zero()),
            c(T::zero(), T::zero()),
            Realness::Preserves,
        );
    }
    let nn = T::from_i32(n).unwrap_or_else(T::nan);
    if n == i32::MIN {
        // n − 1 does not exist as an i32.
        let v = a.powi(n);
        return holo(v, (v / a).scale(nn), Realness::Preserves);
    }
    let p = a.powi(n - 1);
    holo(p * a, p.scale(nn), Realness::Preserves)
}

/// `aˣ` for a real `x` (principal branch, `exp(x ln a)`): `(x aˣ/a, 0)`.
#[inline]
pub fn powf<T: Real>(a: Complex<T>, x: T) -> Unary<T> {
    let v = a.powf(x);
    let da = if a.re == T::zero() && a.im == T::zero() {
        // x·0^(x−1): 0 for x > 1, x for x = 1, not finite for x < 1.
        a.powf(x - T::one()).scale(x)
    } else {
        (v / a).scale(x)
    };
    holo(v, da, Realness::Complex)
}

/// `exp(i a)`, i.e. `cos a + i sin a`, the unit phasor for a real `a`: `(i exp(i a), 0)`.
#[inline]
pub fn cis<T: Real>(a: Complex<T>) -> Unary<T> {
    let v = c(-a.im, a.re).exp();
    holo(v, c(-v.im, v.re), Realness::Complex)
}

/// `sin a` and `cos a` from one evaluation of `sin`, `cos` of `Re a` and `sinh`, `cosh` of `Im a`.
#[inline(always)]
fn sin_cos<T: Real>(a: Complex<T>) -> (Complex<T>, Complex<T>) {
    let (s, co) = a.re.sin_cos();
    let (sh, ch) = (a.im.sinh(), a.im.cosh());
    (c(s * ch, co * sh), c(co * ch, -(s * sh)))
}

/// `sinh a` and `cosh a` sharing their transcendental work.
#[inline(always)]
fn sinh_cosh<T: Real>(a: Complex<T>) -> (Complex<T>, Complex<T>) {
    let (s, co) = a.im.sin_cos();
    let (sh, ch) = (a.re.sinh(), a.re.cosh());
    (c(sh * co, ch * s), c(ch * co, sh * s))
}

/// `sin a`: `(cos a, 0)`.
#[inline]
pub fn sin<T: Real>(a: Complex<T>) -> Unary<T> {
    let (s, co) = sin_cos(a);
    holo(s, co, Realness::Preserves)
}

/// `cos a`: `(−sin a, 0)`.
#[inline]
pub fn cos<T: Real>(a: Complex<T>) -> Unary<T> {
    let (s, co) = sin_cos(a);
    holo(co, -s, Realness::Preserves)
}

/// `tan a`: `(1/cos² a = 1 + tan² a, 0)`.
#[inline]
pub fn tan<T: Real>(a: Complex<T>) -> Unary<T> {
    let t = a.tan();
    holo(t, t * t + T::one(), Realness::Preserves)
}

/// `sinh a`: `(cosh a, 0)`.
#[inline]
pub fn sinh<T: Real>(a: Complex<T>) -> Unary<T> {
    let (s, co) = sinh_cosh(a);
    holo(s, co, Realness::Preserves)
}

/// `cosh a`: `(sinh a, 0)`.
#[inline]
pub fn cosh<T: Real>(a: Complex<T>) -> Unary<T> {
    let (s, co) = sinh_cosh(a);
    holo(co, s, Realness::Preserves)
}

/// `tanh a`: `(1 − tanh² a, 0)`.
#[inline]
pub fn tanh<T: Real>(a: Complex<T>) -> Unary<T> {
    let t = a.tanh();
    holo(t, -(t * t) + T::one(), Realness::Preserves)
}

/// `asin a` (principal branch, cuts `(−∞, −1)` and `(1, ∞)`): `(1/√(1−a²), 0)`.
#[inline]
pub fn asin<T: Real>(a: Complex<T>) -> Unary<T> {
    // `1 − a²` formed as num-complex forms it, so a zero imaginary part has the same sign and the
    // derivative is that of the branch the value is on (on the cuts too).
    let d = (one::<T>() - a * a).sqrt().inv();
    holo(a.asin(), d, Realness::Complex)
}

/// `acos a` (principal branch, cuts `(−∞, −1)` and `(1, ∞)`): `(−1/√(1−a²), 0)`.
#[inline]
pub fn acos<T: Real>(a: Complex<T>) -> Unary<T> {
    let d = (one::<T>() - a * a).sqrt().inv();
    holo(a.acos(), -d, Realness::Complex)
}

/// `atan a` (principal branch, cuts `(−i∞, −i)` and `(i, i∞)`): `(1/(1+a²), 0)`.
#[inline]
pub fn atan<T: Real>(a: Complex<T>) -> Unary<T> {
    holo(a.atan(), (a * a + T::one()).inv(), Realness::Preserves)
}

/// `asinh a` (principal branch, cuts `(−i∞, −i)` and `(i, i∞)`): `(1/√(a²+1), 0)`.
#[inline]
pub fn asinh<T: Real>(a: Complex<T>) -> Unary<T> {
    holo(
        a.asinh(),
        (one::<T>() + a * a).sqrt().inv(),
        Realness::Preserves,
    )
}

/// `acosh a` (principal branch, cut `(−∞, 1)`): `(1/(√(a−1)√(a+1)), 0)`.
#[inline]
pub fn acosh<T: Real>(a: Complex<T>) -> Unary<T> {
    // num-complex evaluates √((a+1)/2) and √((a−1)/2); using the same square roots keeps the
    // derivative on the value's branch: 1/(√(a−1)√(a+1)) = 1/(2 √((a−1)/2) √((a+1)/2)).
    let two = one::<T>() + one::<T>();
    let s = ((a + one::<T>()) / two).sqrt() * ((a - one::<T>()) / two).sqrt();
    holo(a.acosh(), (s * two).inv(), Realness::Complex)
}

/// `atanh a` (principal branch, cuts `(−∞, −1]` and `[1, ∞)`): `(1/(1−a²), 0)`.
#[inline]
pub fn atanh<T: Real>(a: Complex<T>) -> Unary<T> {
    holo(a.atanh(), (-(a * a) + T::one()).inv(), Realness::Complex)
}

/// `a + b`: `(1, 1)`.
#[inline(always)]
pub fn add<T: Real>(a: Complex<T>, b: Complex<T>) -> Binary<T> {
    let one = c(T::one(), T::zero());
    Binary {
        value: a + b,
        da: one,
        db: one,
        preserves_real: true,
    }
}

/// `a − b`: `(1, −1)`.
#[inline(always)]
pub fn sub<T: Real>(a: Complex<T>, b: Complex<T>) -> Binary<T> {
    Binary {
        value: a - b,
        da: c(T::one(), T::zero()),
        db: c(-T::one(), T::zero()),
        preserves_real: true,
    }
}

/// `a · b`: `(b, a)`.
#[inline(always)]
pub fn mul<T: Real>(a: Complex<T>, b: Complex<T>) -> Binary<T> {
    Binary {
        value: a * b,
        da: b,
        db: a,
        preserves_real: true,
    }
}

/// `a / b`: `(1/b, −a/b²)`.
#[inline(always)]
pub fn div<T: Real>(a: Complex<T>, b: Complex<T>) -> Binary<T> {
    let ib = b.inv();
    let v = a * ib;
    Binary {
        value: v,
        da: ib,
        db: -(v * ib),
        preserves_real: true,
    }
}

/// `aᵇ = exp(b ln a)` (principal branch): `(b aᵇ/a, aᵇ ln a)`. As in `num-complex`, `a⁰ = 1`.
/// At `a = 0` the limits are taken where they exist: `∂/∂a = b·0^(b−1)` (0 for `Re b > 1`) and
/// `∂/∂b = 0` when `0^b = 0`.
#[inline]
pub fn powc<T: Real>(a: Complex<T>, b: Complex<T>) -> Binary<T> {
    let l = a.ln();
    let zero = c(T::zero(), T::zero());
    let v = if b == zero { one() } else { (b * l).exp() };
    let (da, db) = if a == zero {
        let dv = if b == zero {
            zero
        } else {
            b * a.powc(b - one::<T>())
        };
        (dv, if v == zero { zero } else { v * l })
    } else {
        (b * v / a, v * l)
    };
    Binary {
        value: v,
        da,
        db,
        preserves_real: false,
    }
}

/// Declares [`Name`] from a list of variants, each written as its name unless a `=> "name"`
/// follows it.
macro_rules! names {
    (@str $v:ident) => { stringify!($v) };
    (@str $v:ident $s:literal) => { $s };
    ($($v:ident $(=> $s:literal)?),* $(,)?) => {
        /// The name of a scalar operation, as a tape records it (one byte per op instead of a
        /// string) and shows it in errors and in the picture of the graph.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub(crate) enum Name {
            $(#[doc = names!(@str $v $($s)?)] $v),*
        }

        impl Name {
            /// The name as written in errors and in the picture of the graph.
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(Name::$v => names!(@str $v $($s)?)),*
                }
            }
        }
    };
}

// The unary ops repeat `unary_methods!`'s list: an op missing here does not compile there.
names! {
    conj, re, im, norm, norm_sqr, arg, inv, exp, ln, sqrt, cbrt, cis, sin, cos, tan, sinh, cosh,
    tanh, asin, acos, atan, asinh, acosh, atanh, neg, powi, powf, powc, add, sub, mul, div, chain,
    chain_real, chain2, var, real_var => "real var", constant,
}

/// Writes one method per unary rule of this table (`conj`, `re`, …, `atanh`) on a value type that
/// has `fn apply_rule(self, name: Name, rule) -> Self`. `by_value` gives `fn exp(self)`, `by_ref` gives
/// `fn exp(&self)`; the list of operations lives here, beside the rules (and, as names only, in
/// [`Name`], which the methods use: an op missing there does not compile).
macro_rules! unary_methods {
    ($mode:ident) => {
        $crate::rules::unary_methods!(@def $mode, conj, "Complex conjugate `ā`; not holomorphic: `(g_a, g_ā) = (0, 1)`.");
        $crate::rules::unary_methods!(@def $mode, re, "Real part `Re a` (a real-valued result): `(½, ½)`.");
        $crate::rules::unary_methods!(@def $mode, im, "Imaginary part `Im a` (a real-valued result): `(−i/2, i/2)`.");
        $crate::rules::unary_methods!(@def $mode, norm, "Modulus `|a|` (real-valued): `(ā/(2|a|), a/(2|a|))`; both partials are 0 at `a = 0`, and they stay finite and accurate for subnormal `|a|`.");
        $crate::rules::unary_methods!(@def $mode, norm_sqr, "Squared modulus `|a|²` (real-valued): `(ā, a)`.");
        $crate::rules::unary_methods!(@def $mode, arg, "Principal argument `arg a ∈ (−π, π]` (real-valued): `(−i/(2a), i/(2ā))`; both partials are 0 at `a = 0`. The value jumps across the negative real axis.");
        $crate::rules::unary_methods!(@def $mode, inv, "Reciprocal `1/a`: `(−1/a², 0)`; at 0 the IEEE values of complex division (NaN) pass through.");
        $crate::rules::unary_methods!(@def $mode, exp, "Exponential `eᵃ`: `(eᵃ, 0)`.");
        $crate::rules::unary_methods!(@def $mode, ln, "Natural logarithm, principal branch (cut `(−∞, 0]`, continuous from above): `(1/a, 0)`; `ln 0 = −∞`.");
        $crate::rules::unary_methods!(@def $mode, sqrt, "Principal square root (cut `(−∞, 0)`): `(1/(2√a), 0)`; the derivative at 0 is not finite.");
        $crate::rules::unary_methods!(@def $mode, cbrt, "Principal cube root of `num-complex` (cut `(−∞, 0)`, so `∛−8 = 1 + i√3`): `(1/(3∛a²), 0)`.");
        $crate::rules::unary_methods!(@def $mode, cis, "`exp(i a)` = `cos a + i sin a`, the unit phasor `e^{iθ}` for a real-valued `θ`: `(i e^{ia}, 0)`.");
        $crate::rules::unary_methods!(@def $mode, sin, "Sine: `(cos a, 0)`.");
        $crate::rules::unary_methods!(@def $mode, cos, "Cosine: `(−sin a, 0)`.");
        $crate::rules::unary_methods!(@def $mode, tan, "Tangent: `(1/cos² a, 0)`.");
        $crate::rules::unary_methods!(@def $mode, sinh, "Hyperbolic sine: `(cosh a, 0)`.");
        $crate::rules::unary_methods!(@def $mode, cosh, "Hyperbolic cosine: `(sinh a, 0)`.");
        $crate::rules::unary_methods!(@def $mode, tanh, "Hyperbolic tangent: `(1 − tanh² a, 0)`.");
        $crate::rules::unary_methods!(@def $mode, asin, "Inverse sine, principal branch (cuts `(−∞, −1)`, `(1, ∞)`): `(1/√(1−a²), 0)`.");
        $crate::rules::unary_methods!(@def $mode, acos, "Inverse cosine, principal branch (cuts `(−∞, −1)`, `(1, ∞)`): `(−1/√(1−a²), 0)`.");
        $crate::rules::unary_methods!(@def $mode, atan, "Inverse tangent, principal branch (cuts `(−i∞, −i)`, `(i, i∞)`): `(1/(1+a²), 0)`.");
        $crate::rules::unary_methods!(@def $mode, asinh, "Inverse hyperbolic sine, principal branch (cuts `(−i∞, −i)`, `(i, i∞)`): `(1/√(a²+1), 0)`.");
        $crate::rules::unary_methods!(@def $mode, acosh, "Inverse hyperbolic cosine, principal branch (cut `(−∞, 1)`): `(1/(√(a−1)√(a+1)), 0)`.");
        $crate::rules::unary_methods!(@def $mode, atanh, "Inverse hyperbolic tangent, principal branch (cuts `(−∞, −1]`, `[1, ∞)`): `(1/(1−a²), 0)`.");
    };
    (@def by_value, $name:ident, $doc:expr) => {
        #[doc = $doc]
        #[inline]
        #[must_use]
        pub fn $name(self) -> Self {
            self.apply_rule($crate::rules::Name::$name, $crate::rules::$name)
        }
    };
    (@def by_ref, $name:ident, $doc:expr) => {
        #[doc = $doc]
        #[must_use]
        pub fn $name(&self) -> Self {
            self.apply_rule($crate::rules::Name::$name, $crate::rules::$name)
        }
    };
}

pub(crate) use unary_methods;

/// Value and partial of `a·x` or `a/x` for a real constant `x`: the partial `∂/∂a` is real, so
/// applying it costs two real multiplications instead of a complex one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scaled<T> {
    /// `a·x` (or `a/x`).
    pub value: Complex<T>,
    /// `∂/∂a`: `x` (or `1/x`); `∂/∂ā = 0`.
    pub da: T,
}

/// `a·x` for a real `x`: `(x, 0)`; the same as [`mul`] with `b = x + 0i`, without the products by
/// the zero imaginary part.
#[inline(always)]
pub fn scale<T: Real>(a: Complex<T>, x: T) -> Scaled<T> {
    Scaled {
        value: a * x,
        da: x,
    }
}

/// `a/x` for a real `x`: `(1/x, 0)`; the same as [`div`] with `b = x + 0i`. At `x = 0` the IEEE
/// values of real division (±inf, NaN) pass through.
#[inline(always)]
pub fn unscale<T: Real>(a: Complex<T>, x: T) -> Scaled<T> {
    Scaled {
        value: a / x,
        da: x.recip(),
    }
}
