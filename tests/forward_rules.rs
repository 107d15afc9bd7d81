//! Every elementary operation of forward mode checked against finite differences.
//!
//! Each op is evaluated on `Dual<f64>` at 256 random points (away from its branch cuts, zeros and
//! poles) and compared with `check::finite_difference` to `1e-8`; the same op on `Dual<f32>` is
//! compared with the `f64` finite differences to `1e-3`. Unary ops are also applied to the
//! non-holomorphic argument `u(z) = z + (0.3 + 0.2i) z̄`, so that both chain-rule terms (through
//! `∂u/∂z` and `∂u/∂z̄`) are exercised. Binary operators act on two different non-holomorphic
//! functions of `z`.
//!
//! The second half pins down the conventions of `rules.rs` at special points (`norm`/`arg` at 0,
//! subnormal and huge `|z|`, IEEE values at singularities, `powi` at extreme exponents) and the
//! branch-cut convention ("on a cut the derivative is that of the branch `num-complex` evaluates").

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::Cell;
use std::f64::consts::{FRAC_PI_2, PI};
use wirtinger::check;
use wirtinger::prelude::*;

type D64 = Dual<f64>;
type D32 = Dual<f32>;

/// Tolerance of `Comparison::passes` for `f64` (relative for derivatives above 1, else absolute).
const TOL64: f64 = 1e-8;
/// Tolerance of the `f32` evaluation against the `f64` finite differences.
const TOL32: f64 = 1e-3;
/// Accepted random points per op.
const CASES: u32 = 256;
/// Points closer than `MARGIN · max(1, |w|)` to a cut, zero or pole of the op are not sampled.
const MARGIN: f64 = 0.2;
const INF: f64 = f64::INFINITY;

/// A complex constant of either precision.
fn k<T: Real>(re: f64, im: f64) -> Complex<T> {
    Complex::new(T::from_f64c(re), T::from_f64c(im))
}

/// A real constant of either precision.
fn r<T: Real>(x: f64) -> T {
    T::from_f64c(x)
}

/// The non-holomorphic argument `u(z) = z + (0.3 + 0.2i) z̄` (an invertible real-linear map).
fn u<T: Real>(z: Dual<T>) -> Dual<T> {
    z + z.conj() * k::<T>(0.3, 0.2)
}

fn u_at(z: Complex64) -> Complex64 {
    z + z.conj() * c64(0.3, 0.2)
}

/// First operand of the binary-operator tests: `sin z · z̄ + ½`.
fn a<T: Real>(z: Dual<T>) -> Dual<T> {
    z.sin() * z.conj() + r::<T>(0.5)
}

/// Second operand: `|z|² + (½ + ½i) z + 1`, whose real part is at least 7/8, so dividing by it is
/// safe everywhere.
fn b<T: Real>(z: Dual<T>) -> Dual<T> {
    z.norm_sqr() + z * k::<T>(0.5, 0.5) + r::<T>(1.0)
}

// ---------------------------------------------------------------------------------------------
// Domains: distance to the singular sets listed in the doc comments of `rules.rs`.

fn margin(w: Complex64) -> f64 {
    MARGIN * w.norm().max(1.0)
}

/// Distance from `w` to the real segment `[lo, hi]` (the ends may be infinite).
fn dist_real(w: Complex64, lo: f64, hi: f64) -> f64 {
    let dx = if w.re < lo {
        lo - w.re
    } else if w.re > hi {
        w.re - hi
    } else {
        0.0
    };
    dx.hypot(w.im)
}

/// Distance from `w` to the segment `[lo·i, hi·i]` of the imaginary axis.
fn dist_imag(w: Complex64, lo: f64, hi: f64) -> f64 {
    dist_real(c64(w.im, w.re), lo, hi)
}

fn away_real(w: Complex64, lo: f64, hi: f64) -> bool {
    dist_real(w, lo, hi) > margin(w)
}

fn away_imag(w: Complex64, lo: f64, hi: f64) -> bool {
    dist_imag(w, lo, hi) > margin(w)
}

fn anywhere(_: Complex64) -> bool {
    true
}

/// Away from 0 (`norm`, `inv`, negative powers).
fn nonzero(w: Complex64) -> bool {
    w.norm() > margin(w)
}

/// Twice as far from 0, for `z⁻⁶` whose high derivatives make finite differences less accurate.
fn far_from_zero(w: Complex64) -> bool {
    w.norm() > 2.0 * margin(w)
}

/// Away from the cut `(−∞, 0]` of `ln`, `sqrt`, `cbrt`, `arg`, `powf`, `powc`.
fn off_neg_axis(w: Complex64) -> bool {
    away_real(w, -INF, 0.0)
}

/// Away from the cuts `(−∞, −1]`, `[1, ∞)` of `asin`, `acos`, `atanh`.
fn off_outer_real(w: Complex64) -> bool {
    away_real(w, -INF, -1.0) && away_real(w, 1.0, INF)
}

/// Away from the cuts `(−i∞, −i]`, `[i, i∞)` of `atan`, `asinh`.
fn off_outer_imag(w: Complex64) -> bool {
    away_imag(w, -INF, -1.0) && away_imag(w, 1.0, INF)
}

/// Away from the cut `(−∞, 1]` of `acosh`.
fn off_acosh_cut(w: Complex64) -> bool {
    away_real(w, -INF, 1.0)
}

/// Away from the poles `π/2 + kπ` of `tan`.
fn off_tan_poles(w: Complex64) -> bool {
    let n = ((w.re - FRAC_PI_2) / PI).round();
    (w - c64(FRAC_PI_2 + n * PI, 0.0)).norm() > margin(w)
}

/// Away from the poles `i(π/2 + kπ)` of `tanh`.
fn off_tanh_poles(w: Complex64) -> bool {
    off_tan_poles(c64(w.im, w.re))
}

// ---------------------------------------------------------------------------------------------
// The runner.

#[derive(Clone, Copy)]
enum Sample {
    /// Uniform in `[−s, s]²` (for exponentially growing ops).
    Square(f64),
    /// `|z|` log-uniform in `[r0, r1]`, any phase (small and large magnitudes).
    Polar(f64, f64),
}

/// Ops of exponential growth stay within `[−3, 3]²`.
const SQUARE: Sample = Sample::Square(3.0);
/// For a fast-growing composite (`z̄^sin z`), whose finite differences lose accuracy further out.
const SMALL_SQUARE: Sample = Sample::Square(2.0);
/// Algebraic and inverse functions are checked for `|z|` from 0.02 to 50.
const WIDE: Sample = Sample::Polar(0.02, 50.0);

impl Sample {
    fn strategy(self) -> BoxedStrategy<Complex64> {
        match self {
            Sample::Square(s) => (-s..s, -s..s).prop_map(|(x, y)| c64(x, y)).boxed(),
            Sample::Polar(r0, r1) => (r0.ln()..r1.ln(), -PI..PI)
                .prop_map(|(lr, t)| Complex64::from_polar(lr.exp(), t))
                .boxed(),
        }
    }
}

struct Op {
    name: &'static str,
    f64: fn(D64) -> D64,
    f32: fn(D32) -> D32,
    /// Where the op may be evaluated on the variable (and, with `compose`, on `u(z)`).
    ok: fn(Complex64) -> bool,
    sample: Sample,
    /// Also check the op applied to `u(z)`.
    compose: bool,
}

fn check64(name: &str, f: &dyn Fn(D64) -> D64, z: Complex64) -> Result<f64, TestCaseError> {
    let cmp = check::compare_dual(f, z);
    prop_assert!(
        cmp.passes(TOL64),
        "{} (f64), tolerance {:e}:\n{}",
        name,
        TOL64,
        cmp
    );
    Ok(cmp.error)
}

/// Forward mode in `f32` at `z` rounded to `f32`, against `f64` finite differences at that point.
fn check32(
    name: &str,
    f32f: &dyn Fn(D32) -> D32,
    f64f: &dyn Fn(D64) -> D64,
    z: Complex64,
) -> Result<f64, TestCaseError> {
    let z32 = c32(z.re as f32, z.im as f32);
    let up = |c: Complex32| c64(c.re.into(), c.im.into());
    let d = f32f(Dual::var(z32));
    let ad = Derivative {
        value: up(d.value()),
        dz: up(d.dz()),
        dzbar: up(d.dzbar()),
    };
    let cmp = check::compare(ad, |w| f64f(Dual::constant(w)).value(), up(z32));
    prop_assert!(
        cmp.passes(TOL32),
        "{} (f32), tolerance {:e}:\n{}",
        name,
        TOL32,
        cmp
    );
    Ok(cmp.error)
}

fn run(op: &Op) {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let (ok, compose) = (op.ok, op.compose);
    let points = op
        .sample
        .strategy()
        .prop_filter("near a cut, zero or pole", move |&z| {
            ok(z) && (!compose || ok(u_at(z)))
        });
    let checked = Cell::new(0u32);
    let (worst64, worst32) = (Cell::new(0.0f64), Cell::new(0.0f64));
    let (f64f, f32f) = (op.f64, op.f32);
    let result = runner.run(&points, |z| {
        let mut e64 = check64(op.name, &f64f, z)?;
        let mut e32 = check32(op.name, &f32f, &f64f, z)?;
        if compose {
            let name = format!("{} of u(z) = z + (0.3+0.2i) z̄", op.name);
            e64 = e64.max(check64(&name, &|w| f64f(u(w)), z)?);
            e32 = e32.max(check32(&name, &|w| f32f(u(w)), &|w| f64f(u(w)), z)?);
        }
        checked.set(checked.get() + 1);
        worst64.set(worst64.get().max(e64));
        worst32.set(worst32.get().max(e32));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{}: {}", op.name, e);
    }
    assert!(
        checked.get() >= CASES,
        "{}: only {} points",
        op.name,
        checked.get()
    );
    eprintln!(
        "{}: {} points, worst error f64 {:.1e}, f32 {:.1e}",
        op.name,
        checked.get(),
        worst64.get(),
        worst32.get()
    );
}

/// One `#[test]` per op: `name: |z| expression, domain, sampling, compose;`. The expression is
/// written once and instantiated for `f64` and `f32`; `R` is the real type inside it.
macro_rules! op_tests {
    ($($test:ident: |$z:ident| $e:expr, $ok:expr, $sample:expr, $compose:expr;)*) => {$(
        #[test]
        fn $test() {
            run(&Op {
                name: stringify!($test),
                f64: |$z: D64| {
                    #[allow(dead_code)]
                    type R = f64;
                    $e
                },
                f32: |$z: D32| {
                    #[allow(dead_code)]
                    type R = f32;
                    $e
                },
                ok: $ok,
                sample: $sample,
                compose: $compose,
            });
        }
    )*};
}

// Unary ops, on z and on u(z).
op_tests! {
    neg: |z| -z, anywhere, WIDE, true;
    conj: |z| z.conj(), anywhere, WIDE, true;
    re: |z| z.re(), anywhere, WIDE, true;
    im: |z| z.im(), anywhere, WIDE, true;
    norm: |z| z.norm(), nonzero, WIDE, true;
    abs: |z| z.abs(), nonzero, WIDE, true;
    norm_sqr: |z| z.norm_sqr(), anywhere, WIDE, true;
    abs2: |z| z.abs2(), anywhere, WIDE, true;
    arg: |z| z.arg(), off_neg_axis, WIDE, true;
    inv: |z| z.inv(), nonzero, WIDE, true;
    exp: |z| z.exp(), anywhere, SQUARE, true;
    ln: |z| z.ln(), off_neg_axis, WIDE, true;
    sqrt: |z| z.sqrt(), off_neg_axis, WIDE, true;
    cbrt: |z| z.cbrt(), off_neg_axis, WIDE, true;
    cis: |z| z.cis(), anywhere, SQUARE, true;
    sin: |z| z.sin(), anywhere, SQUARE, true;
    cos: |z| z.cos(), anywhere, SQUARE, true;
    tan: |z| z.tan(), off_tan_poles, SQUARE, true;
    sinh: |z| z.sinh(), anywhere, SQUARE, true;
    cosh: |z| z.cosh(), anywhere, SQUARE, true;
    tanh: |z| z.tanh(), off_tanh_poles, SQUARE, true;
    asin: |z| z.asin(), off_outer_real, WIDE, true;
    acos: |z| z.acos(), off_outer_real, WIDE, true;
    atan: |z| z.atan(), off_outer_imag, WIDE, true;
    asinh: |z| z.asinh(), off_outer_imag, WIDE, true;
    acosh: |z| z.acosh(), off_acosh_cut, WIDE, true;
    atanh: |z| z.atanh(), off_outer_real, WIDE, true;
}

// Integer powers, including 0 and negative exponents.
op_tests! {
    powi_m6: |z| z.powi(-6), far_from_zero, WIDE, true;
    powi_m3: |z| z.powi(-3), nonzero, WIDE, true;
    powi_m1: |z| z.powi(-1), nonzero, WIDE, true;
    powi_0: |z| z.powi(0), anywhere, WIDE, true;
    powi_1: |z| z.powi(1), anywhere, WIDE, true;
    powi_2: |z| z.powi(2), anywhere, WIDE, true;
    powi_3: |z| z.powi(3), anywhere, WIDE, true;
    powi_7: |z| z.powi(7), anywhere, WIDE, true;
}

// Real powers (principal branch).
op_tests! {
    powf_half: |z| z.powf(r::<R>(0.5)), off_neg_axis, WIDE, true;
    powf_third: |z| z.powf(r::<R>(1.0 / 3.0)), off_neg_axis, WIDE, true;
    powf_minus_half: |z| z.powf(r::<R>(-0.5)), off_neg_axis, WIDE, true;
    powf_minus_1_3: |z| z.powf(r::<R>(-1.3)), off_neg_axis, WIDE, true;
    powf_1: |z| z.powf(r::<R>(1.0)), off_neg_axis, WIDE, true;
    powf_2: |z| z.powf(r::<R>(2.0)), off_neg_axis, WIDE, true;
    powf_2_7: |z| z.powf(r::<R>(2.7)), off_neg_axis, WIDE, true;
}

// Complex powers: both arguments depending on z, and either one constant.
op_tests! {
    powc_variable_exponent: |z| z.powc(z * r::<R>(0.5) + r::<R>(1.0)), off_neg_axis, SQUARE, true;
    powc_conj_base_sin_exponent: |z| z.conj().powc(z.sin()), off_neg_axis, SMALL_SQUARE, false;
    powc_constant_exponent: |z| z.powc(Dual::constant(k::<R>(0.3, -0.7))), off_neg_axis, WIDE, true;
    powc_constant_real_exponent: |z| z.powc(Dual::constant(k::<R>(2.5, 0.0))), off_neg_axis, WIDE, true;
    powc_constant_base: |z| Dual::constant(k::<R>(1.5, 0.5)).powc(z), anywhere, SQUARE, true;
}

// Binary operators between two different non-holomorphic functions of z, and with constants on
// either side.
op_tests! {
    dual_add_dual: |z| a(z) + b(z), anywhere, SQUARE, false;
    dual_sub_dual: |z| a(z) - b(z), anywhere, SQUARE, false;
    dual_mul_dual: |z| a(z) * b(z), anywhere, SQUARE, false;
    dual_div_dual: |z| a(z) / b(z), anywhere, SQUARE, false;
    dual_add_complex: |z| a(z) + k::<R>(0.7, -1.2), anywhere, SQUARE, false;
    dual_sub_complex: |z| a(z) - k::<R>(0.7, -1.2), anywhere, SQUARE, false;
    dual_mul_complex: |z| a(z) * k::<R>(0.7, -1.2), anywhere, SQUARE, false;
    dual_div_complex: |z| a(z) / k::<R>(0.7, -1.2), anywhere, SQUARE, false;
    dual_add_real: |z| a(z) + r::<R>(1.7), anywhere, SQUARE, false;
    dual_sub_real: |z| a(z) - r::<R>(1.7), anywhere, SQUARE, false;
    dual_mul_real: |z| a(z) * r::<R>(1.7), anywhere, SQUARE, false;
    dual_div_real: |z| a(z) / r::<R>(1.7), anywhere, SQUARE, false;
    real_add_dual: |z| r::<R>(1.7) + b(z), anywhere, SQUARE, false;
    real_sub_dual: |z| r::<R>(1.7) - b(z), anywhere, SQUARE, false;
    real_mul_dual: |z| r::<R>(1.7) * b(z), anywhere, SQUARE, false;
    real_div_dual: |z| r::<R>(1.7) / b(z), anywhere, SQUARE, false;
    complex_add_dual: |z| k::<R>(0.7, -1.2) + b(z), anywhere, SQUARE, false;
    complex_sub_dual: |z| k::<R>(0.7, -1.2) - b(z), anywhere, SQUARE, false;
    complex_mul_dual: |z| k::<R>(0.7, -1.2) * b(z), anywhere, SQUARE, false;
    complex_div_dual: |z| k::<R>(0.7, -1.2) / b(z), anywhere, SQUARE, false;
}

// The assign forms, with a Dual, a Complex and a real on the right.
op_tests! {
    add_assign_dual: |z| { let mut w = a(z); w += b(z); w }, anywhere, SQUARE, false;
    sub_assign_dual: |z| { let mut w = a(z); w -= b(z); w }, anywhere, SQUARE, false;
    mul_assign_dual: |z| { let mut w = a(z); w *= b(z); w }, anywhere, SQUARE, false;
    div_assign_dual: |z| { let mut w = a(z); w /= b(z); w }, anywhere, SQUARE, false;
    add_assign_complex: |z| { let mut w = a(z); w += k::<R>(0.7, -1.2); w }, anywhere, SQUARE, false;
    sub_assign_complex: |z| { let mut w = a(z); w -= k::<R>(0.7, -1.2); w }, anywhere, SQUARE, false;
    mul_assign_complex: |z| { let mut w = a(z); w *= k::<R>(0.7, -1.2); w }, anywhere, SQUARE, false;
    div_assign_complex: |z| { let mut w = a(z); w /= k::<R>(0.7, -1.2); w }, anywhere, SQUARE, false;
    add_assign_real: |z| { let mut w = a(z); w += r::<R>(1.7); w }, anywhere, SQUARE, false;
    sub_assign_real: |z| { let mut w = a(z); w -= r::<R>(1.7); w }, anywhere, SQUARE, false;
    mul_assign_real: |z| { let mut w = a(z); w *= r::<R>(1.7); w }, anywhere, SQUARE, false;
    div_assign_real: |z| { let mut w = a(z); w /= r::<R>(1.7); w }, anywhere, SQUARE, false;
}

// ---------------------------------------------------------------------------------------------
// Conventions at special points.

fn zero64() -> Complex64 {
    c64(0.0, 0.0)
}

fn is_nan(c: Complex64) -> bool {
    c.re.is_nan() && c.im.is_nan()
}

/// `norm` and `arg` at 0 have both partials exactly 0 (and value 0), for every signed zero, in both
/// precisions, and through the chain rule.
#[test]
fn norm_and_arg_at_zero_have_zero_partials() {
    for z in [
        c64(0.0, 0.0),
        c64(-0.0, 0.0),
        c64(0.0, -0.0),
        c64(-0.0, -0.0),
    ] {
        for (name, f) in [
            ("norm", D64::norm as fn(D64) -> D64),
            ("abs", D64::abs),
            ("arg", D64::arg),
        ] {
            let d = f(Dual::var(z));
            assert_eq!(d.value(), zero64(), "{name} at {z}");
            assert_eq!(d.dz(), zero64(), "{name} at {z}: ∂/∂z");
            assert_eq!(d.dzbar(), zero64(), "{name} at {z}: ∂/∂z̄");
            let d32 = Dual::var(c32(z.re as f32, z.im as f32));
            for d in [d32.norm(), d32.abs(), d32.arg()] {
                assert_eq!(d.value(), c32(0.0, 0.0), "f32 {name} at {z}");
                assert_eq!(d.dz(), c32(0.0, 0.0), "f32 {name} at {z}");
                assert_eq!(d.dzbar(), c32(0.0, 0.0), "f32 {name} at {z}");
            }
        }
    }
    // At z = 1+2i the argument (z − (1+2i))·(2 − i z̄) is 0 while its derivatives are not.
    let w = c64(1.0, 2.0);
    let inner = |z: D64| (z - w) * (2.0 - z.conj() * c64(0.0, 1.0));
    for d in [inner(Dual::var(w)).norm(), inner(Dual::var(w)).arg()] {
        assert_eq!(d.value(), zero64());
        assert_eq!((d.dz(), d.dzbar()), (zero64(), zero64()));
    }
    assert_ne!(inner(Dual::var(w)).dz(), zero64());
}

/// `conj(z/|z|)/2` and `(z/|z|)/2`, computed after scaling `z` by the exact power of two
/// `2^scale` (which brings subnormal or huge numbers into the normal range without rounding).
fn unit_halves(z: Complex64, scale: i32) -> (Complex64, Complex64) {
    let s = 2f64.powi(scale);
    let zs = c64(z.re * s, z.im * s);
    let dir = zs / zs.norm();
    (dir.conj() / 2.0, dir / 2.0)
}

fn assert_close(actual: Complex64, expected: Complex64, tol: f64, what: &str) {
    assert!(
        (actual - expected).norm() <= tol * expected.norm(),
        "{what}: got {actual:e}, expected {expected:e}"
    );
}

#[test]
fn norm_at_subnormal_z_has_accurate_partials() {
    for z in [
        c64(3e-310, 4e-310),
        c64(1e-320, 0.0),
        c64(-1e-320, 5e-321),
        c64(0.0, -4.9e-324),
    ] {
        assert!(z.re.abs() < f64::MIN_POSITIVE && z.im.abs() < f64::MIN_POSITIVE);
        let d = Dual::var(z).norm();
        let (dz, dzbar) = unit_halves(z, 600);
        assert!(d.dz().is_finite() && d.dzbar().is_finite(), "{d:?}");
        assert_close(d.dz(), dz, 1e-12, &format!("∂|z|/∂z at {z:e}"));
        assert_close(d.dzbar(), dzbar, 1e-12, &format!("∂|z|/∂z̄ at {z:e}"));
        let r = c64(z.re * 2f64.powi(600), z.im * 2f64.powi(600)).norm() * 2f64.powi(-600);
        assert_eq!(d.value().im, 0.0);
        assert!(
            (d.value().re - r).abs() <= 1e-12 * r,
            "|{z:e}| = {:e}",
            d.value()
        );
    }
    // The example from the brief, written out: z/|z| = 0.6 + 0.8i.
    let d = Dual::var(c64(3e-310, 4e-310)).norm();
    assert_close(d.dz(), c64(0.3, -0.4), 1e-12, "∂|z|/∂z at 3e-310+4e-310i");
    assert_close(d.dzbar(), c64(0.3, 0.4), 1e-12, "∂|z|/∂z̄ at 3e-310+4e-310i");
    let d = Dual::var(c64(1e-320, 0.0)).norm();
    assert_close(d.dz(), c64(0.5, 0.0), 1e-12, "∂|z|/∂z at 1e-320");
    assert_close(d.dzbar(), c64(0.5, 0.0), 1e-12, "∂|z|/∂z̄ at 1e-320");

    // f32 subnormals: 3e-40 + 4e-40i.
    let z = c32(3e-40, 4e-40);
    let d = Dual::var(z).norm();
    let s = 2f32.powi(100);
    let dir = c32(z.re * s, z.im * s) / c32(z.re * s, z.im * s).norm();
    assert!((d.dz() - dir.conj() / 2.0).norm() < 1e-6, "{d:?}");
    assert!((d.dzbar() - dir / 2.0).norm() < 1e-6, "{d:?}");
}

#[test]
fn norm_at_huge_z_has_accurate_partials() {
    let z = c64(1e300, 1e300);
    let d = Dual::var(z).norm();
    let h = std::f64::consts::SQRT_2 / 4.0;
    assert_close(
        d.value(),
        c64(std::f64::consts::SQRT_2 * 1e300, 0.0),
        1e-15,
        "|1e300(1+i)|",
    );
    assert_close(d.dz(), c64(h, -h), 1e-12, "∂|z|/∂z at 1e300(1+i)");
    assert_close(d.dzbar(), c64(h, h), 1e-12, "∂|z|/∂z̄ at 1e300(1+i)");
    // Finite differences agree there too (the step is relative to |z|).
    assert!(check::compare_dual(|z| z.norm(), z).passes(1e-8));

    // |z| overflows: the value is +inf (IEEE), the partials stay finite and correct.
    for z in [c64(1.5e308, 1.5e308), c64(-1.7e308, 1.7e308)] {
        let d = Dual::var(z).norm();
        assert_eq!(d.value().re, f64::INFINITY, "|{z:e}|");
        let (dz, dzbar) = unit_halves(z, -600);
        assert_close(d.dz(), dz, 1e-12, &format!("∂|z|/∂z at {z:e}"));
        assert_close(d.dzbar(), dzbar, 1e-12, &format!("∂|z|/∂z̄ at {z:e}"));
    }
}

/// The IEEE values at true singularities, as observed: they pass through and are not replaced.
#[test]
fn singular_points_pass_ieee_values_through() {
    let z0 = Dual::var(zero64());

    // ln 0 = −∞ (+0i); its derivative 1/0 comes out of num-complex's `inv` as NaN + NaN i.
    let l = z0.ln();
    assert_eq!(l.value().re, f64::NEG_INFINITY);
    assert_eq!(l.value().im, 0.0);
    assert!(is_nan(l.dz()) && is_nan(l.dzbar()), "ln'(0): {l:?}");

    // √0 = 0, ∛0 = 0; the derivatives 1/(2·0), 1/(3·0²) are not finite: NaN + NaN i.
    for (name, d) in [("sqrt", z0.sqrt()), ("cbrt", z0.cbrt())] {
        assert_eq!(d.value(), zero64(), "{name}(0)");
        assert!(!d.dz().is_finite(), "{name}'(0): {d:?}");
        assert!(is_nan(d.dz()) && is_nan(d.dzbar()), "{name}'(0): {d:?}");
    }

    // 1/0 and 0^−1: NaN + NaN i everywhere (num-complex divides 0 by |0|²).
    for d in [z0.inv(), z0.powi(-1), 1.0 / z0] {
        assert!(is_nan(d.value()) && is_nan(d.dz()), "1/0: {d:?}");
    }

    // powf at 0: x·0^(x−1) is 0 for x > 1, x for x = 1, not finite (NaN) for x < 1.
    assert_eq!(z0.powf(2.0).dz(), zero64());
    assert_eq!(z0.powf(1.0).dz(), c64(1.0, 0.0));
    assert_eq!(z0.powf(1.0).value(), zero64());
    let p = z0.powf(0.5);
    assert_eq!(p.value(), zero64());
    assert!(is_nan(p.dz()), "d/dz z^0.5 at 0: {p:?}");

    // powi(0) is the constant 1, also at 0.
    let p = z0.powi(0);
    assert_eq!(
        (p.value(), p.dz(), p.dzbar()),
        (c64(1.0, 0.0), zero64(), zero64())
    );
}

/// `powi` for the extreme exponents `i32::MAX`, `i32::MIN + 1` and `i32::MIN`, at the points
/// `±1, ±i` where every power is exact: value `zⁿ` and `∂/∂z = n zⁿ⁻¹`.
#[test]
fn powi_extreme_exponents() {
    for n in [i32::MAX, i32::MIN + 1, i32::MIN] {
        for z in [c64(1.0, 0.0), c64(-1.0, 0.0), c64(0.0, 1.0), c64(0.0, -1.0)] {
            let d = std::panic::catch_unwind(|| Dual::var(z).powi(n))
                .unwrap_or_else(|_| panic!("powi({n}) at {z} panicked"));
            let value = z.powi(n);
            let dz = value / z * f64::from(n);
            assert_eq!(d.value(), value, "powi({n}) at {z}");
            assert_eq!(d.dz(), dz, "d/dz powi({n}) at {z}");
            assert_eq!(d.dzbar(), zero64(), "powi({n}) at {z}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Branch-cut convention: on a cut, the derivative is that of the branch num-complex evaluates.
//
// On a real-axis cut, moving `z` along the real axis with the imaginary part held at exactly +0 (or
// −0) stays on the cut, and num-complex's values there form a smooth function whose derivative is
// `f'` of the branch it evaluates; likewise along the imaginary axis for the cuts of `atan` and
// `asinh`. So `∂f/∂z` of the rule must match this one-sided difference.

/// `f'` on a cut from differences along the cut (real direction if `along_real`, else imaginary),
/// keeping the other coordinate's bits, including the sign of a zero, fixed. Richardson-extrapolated.
fn derivative_along_cut(f: fn(D64) -> D64, z: Complex64, along_real: bool) -> Complex64 {
    let g = |t: f64| {
        let w = if along_real {
            c64(z.re + t, z.im)
        } else {
            c64(z.re, z.im + t)
        };
        f(Dual::constant(w)).value()
    };
    let h = 1e-3 * z.norm().max(1.0);
    let d = |h: f64| (g(h) - g(-h)) / (2.0 * h);
    let dt = (d(h / 2.0) * 4.0 - d(h)) / 3.0;
    if along_real {
        dt
    } else {
        dt * c64(0.0, -1.0) // ∂f/∂y = i f'
    }
}

/// Checks `f` at points `t ± 0i` (or `±0 + ti` for cuts on the imaginary axis) for each `t`, and
/// reports every mismatch at once.
fn on_cut(name: &str, f: fn(D64) -> D64, along_real: bool, ts: &[f64]) {
    let mut failures = Vec::new();
    for &t in ts {
        for zero in [0.0, -0.0] {
            let z = if along_real {
                c64(t, zero)
            } else {
                c64(zero, t)
            };
            let d = f(Dual::var(z));
            let expected = derivative_along_cut(f, z, along_real);
            let tol = 1e-7 * expected.norm().max(1.0);
            let agrees = (d.dz() - expected).norm() <= tol; // false for NaN
            if !agrees {
                failures.push(format!(
                    "  {name} at {:?}: value {}, ∂f/∂z = {} but the branch num-complex evaluates has {}",
                    z,
                    d.value(),
                    d.dz(),
                    expected
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "derivative on the branch cut is not that of the evaluated branch:\n{}",
        failures.join("\n")
    );
}

const NEG_AXIS: &[f64] = &[-3.0, -2.0, -0.5];
const OUTER_AXIS: &[f64] = &[-3.0, -2.0, -1.5, 1.5, 2.0, 3.0];

#[test]
fn on_cut_ln() {
    on_cut("ln", |z| z.ln(), true, NEG_AXIS);
}

#[test]
fn on_cut_sqrt() {
    on_cut("sqrt", |z| z.sqrt(), true, NEG_AXIS);
}

#[test]
fn on_cut_cbrt() {
    on_cut("cbrt", |z| z.cbrt(), true, NEG_AXIS);
}

#[test]
fn on_cut_powf() {
    on_cut("powf(0.3)", |z| z.powf(0.3), true, NEG_AXIS);
}

#[test]
fn on_cut_powc() {
    on_cut(
        "powc(0.3+0.2i)",
        |z| z.powc(Dual::constant(c64(0.3, 0.2))),
        true,
        NEG_AXIS,
    );
}

#[test]
fn on_cut_asin() {
    on_cut("asin", |z| z.asin(), true, OUTER_AXIS);
}

#[test]
fn on_cut_acos() {
    on_cut("acos", |z| z.acos(), true, OUTER_AXIS);
}

#[test]
fn on_cut_atanh() {
    on_cut("atanh", |z| z.atanh(), true, OUTER_AXIS);
}

#[test]
fn on_cut_acosh() {
    on_cut("acosh", |z| z.acosh(), true, &[-3.0, -2.0, -0.5, 0.5]);
}

#[test]
fn on_cut_atan() {
    on_cut("atan", |z| z.atan(), false, OUTER_AXIS);
}

#[test]
fn on_cut_asinh() {
    on_cut("asinh", |z| z.asinh(), false, OUTER_AXIS);
}

/// `powc` at a zero base takes the limits: `∂(0^b)/∂a = b·0^(b−1)` and `∂/∂b = 0` where `0^b = 0`.
#[test]
fn powc_at_zero_base_takes_the_limits() {
    let a = Dual::var(c64(0.0, 0.0));
    let two = a.powc(Dual::constant(c64(2.0, 0.0)));
    assert_eq!(two.value(), c64(0.0, 0.0));
    assert_eq!(two.dz(), c64(0.0, 0.0));
    assert_eq!(two.dzbar(), c64(0.0, 0.0));
    let one = a.powc(Dual::constant(c64(1.0, 0.0)));
    assert_eq!(one.dz(), c64(1.0, 0.0));
    // ∂/∂b of 0^b at b = 2 is 0 (0^b ln 0 → 0).
    let b = Dual::var(c64(2.0, 0.0));
    let w = Dual::constant(c64(0.0, 0.0)).powc(b);
    assert_eq!(w.dz(), c64(0.0, 0.0));
    // 0^0 = 1 as in num-complex.
    assert_eq!(a.powc(Dual::constant(c64(0.0, 0.0))).value(), c64(1.0, 0.0));
}

/// `arg` stays finite and accurate at tiny and huge moduli (no underflow through |a|²).
#[test]
fn arg_partials_at_extreme_moduli() {
    for s in [1e-200, 1e-300, 1e200, 1e300] {
        let z = c64(s, s);
        let d = Dual::var(z).arg();
        // −i/(2z)
        let expected = c64(0.0, -0.5) * (c64(1.0, 0.0) / c64(1.0, 1.0)) / s;
        assert!(
            (d.dz() - expected).norm() <= 1e-14 * expected.norm(),
            "{s}: {} vs {expected}",
            d.dz()
        );
        assert!((d.dzbar() - expected.conj()).norm() <= 1e-14 * expected.norm());
    }
}

/// `powi(i32::MIN)` does not overflow the exponent arithmetic.
#[test]
fn powi_min_exponent() {
    let d = Dual::var(c64(1.0, 0.0)).powi(i32::MIN);
    assert_eq!(d.value(), c64(1.0, 0.0));
    assert_eq!(d.dz(), c64(i32::MIN as f64, 0.0));
}
