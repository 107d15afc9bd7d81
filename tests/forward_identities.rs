//! Identities of Wirtinger calculus that forward mode must satisfy, at random points:
//!
//! - conjugation: `∂f̄/∂z = conj(∂f/∂z̄)` and `∂f̄/∂z̄ = conj(∂f/∂z)`;
//! - a real-valued `f` has `∂f/∂z̄ = conj(∂f/∂z)` (and a value with imaginary part exactly 0);
//! - a holomorphic `f` has `∂f/∂z̄ = 0` exactly;
//! - `powi(z, n)` equals repeated multiplication;
//! - `forward::gradient` equals `forward::derivative` taken input by input;
//! - `Sum` and `Product` of `Dual`s equal the folded `+` and `×`.

use proptest::prelude::*;
use wirtinger::check;
use wirtinger::forward::{derivative, gradient};
use wirtinger::prelude::*;
use wirtinger::rules;

type F = fn(Dual) -> Dual;

/// Functions of `z` without singularities or cuts in `[−2, 2]²` (every argument of `ln`, `sqrt`
/// or a division has a positive real part there, and `powc` bases stay off `(−∞, 0]`).
const GENERAL: &[(&str, F)] = &[
    ("z", |z| z),
    ("z̄", |z| z.conj()),
    ("z² z̄", |z| z * z * z.conj()),
    ("exp(z̄) sin z", |z| z.conj().exp() * z.sin()),
    ("z ln(1 + |z|²)", |z| z * (z.norm_sqr() + 1.0).ln()),
    ("√(|z|² + z + 1) / (z̄ + 4)", |z| {
        (z.norm_sqr() + z + 1.0).sqrt() / (z.conj() + 4.0)
    }),
    ("|z − 3| cis(arg(z + 3))", |z| {
        (z - 3.0).norm() * (z + 3.0).arg().cis()
    }),
    ("(z̄ + 3)^(z/2 + i)", |z| {
        (z.conj() + 3.0).powc(z * 0.5 + c64(0.0, 1.0))
    }),
    ("tanh(z z̄ / 4) + cosh(re z)", |z| {
        (z * z.conj() / 4.0).tanh() + z.re().cosh()
    }),
    ("asinh(re z + i im z / 3) − atan(z / 3)", |z| {
        (z.re() + z.im() * c64(0.0, 1.0 / 3.0)).asinh() - (z / 3.0).atan()
    }),
    ("cbrt(z̄ + 5) · acos(z / 4)", |z| {
        (z.conj() + 5.0).cbrt() * (z / 4.0).acos()
    }),
    ("(z + 4)^1.5 · tan(z̄ / 3)", |z| {
        (z + 4.0).powf(1.5) * (z.conj() / 3.0).tan()
    }),
    ("(z̄ + 3)⁻³ + (0.5 − 0.25i) z²", |z| {
        (z.conj() + 3.0).powi(-3) + z.powi(2) * c64(0.5, -0.25)
    }),
    ("asin(z/3) acosh(z̄ + 4) atanh(z/3)", |z| {
        (z / 3.0).asin() * (z.conj() + 4.0).acosh() * (z / 3.0).atanh()
    }),
    ("sinh(z) cos(z̄) − exp(i z)", |z| {
        z.sinh() * z.conj().cos() - z.cis()
    }),
];

/// Real-valued functions: the elementary ones and compositions. `norm` is not differentiable at 0
/// and `|z ∓ 1|` at ±1, so the points stay 0.25 away from 0 and ±1.
const REAL: &[(&str, F)] = &[
    ("re", |z| z.re()),
    ("im", |z| z.im()),
    ("norm", |z| z.norm()),
    ("abs", |z| z.abs()),
    ("norm_sqr", |z| z.norm_sqr()),
    ("abs2", |z| z.abs2()),
    ("arg(z + 3)", |z| (z + 3.0).arg()),
    ("|z²|² + re z", |z| (z * z).norm_sqr() + z.re()),
    ("|sin z| · im z", |z| z.sin().norm() * z.im()),
    ("arg(exp z)", |z| z.exp().arg()),
    ("re(z̄ cos z)", |z| (z.conj() * z.cos()).re()),
    ("exp|z| · arg(z + 3)", |z| z.norm().exp() * (z + 3.0).arg()),
    ("ln(|z − 1| + |z + 1|)", |z| {
        ((z - 1.0).norm() + (z + 1.0).norm()).ln()
    }),
    ("z z̄ − 2 re z · im z", |z| {
        z * z.conj() - z.re() * z.im() * 2.0
    }),
];

/// Holomorphic functions: every holomorphic op on `z`, and compositions.
const HOLOMORPHIC: &[(&str, F)] = &[
    ("−z", |z| -z),
    ("1/z", |z| z.inv()),
    ("exp", |z| z.exp()),
    ("ln", |z| z.ln()),
    ("sqrt", |z| z.sqrt()),
    ("cbrt", |z| z.cbrt()),
    ("cis", |z| z.cis()),
    ("sin", |z| z.sin()),
    ("cos", |z| z.cos()),
    ("tan", |z| z.tan()),
    ("sinh", |z| z.sinh()),
    ("cosh", |z| z.cosh()),
    ("tanh", |z| z.tanh()),
    ("asin", |z| z.asin()),
    ("acos", |z| z.acos()),
    ("atan", |z| z.atan()),
    ("asinh", |z| z.asinh()),
    ("acosh", |z| z.acosh()),
    ("atanh", |z| z.atanh()),
    ("z⁵", |z| z.powi(5)),
    ("z⁻²", |z| z.powi(-2)),
    ("z^0.7", |z| z.powf(0.7)),
    ("z^(z/2 + 1)", |z| z.powc(z * 0.5 + 1.0)),
    ("(1+i)^z", |z| Dual::constant(c64(1.0, 1.0)).powc(z)),
    ("z + 1, z − c, c − z", |z| {
        (z + 1.0) * (z - c64(0.5, 1.0)) * (c64(2.0, 0.0) - z)
    }),
    ("z·z / (z + 3) + 2/z", |z| z * z / (z + 3.0) + 2.0 / z),
    ("Σ and Π", |z| {
        [z, z.sin(), z.exp()].iter().sum::<Dual>() * [z, z + 1.0].into_iter().product::<Dual>()
    }),
    ("ln(sin z + 2) · atanh(z/3)^3", |z| {
        (z.sin() + 2.0).ln() * (z / 3.0).atanh().powi(3)
    }),
];

/// Non-holomorphic elementary ops (the contrast: ∂f/∂z̄ ≠ 0 at generic points).
const NON_HOLOMORPHIC: &[(&str, F)] = &[
    ("conj", |z| z.conj()),
    ("re", |z| z.re()),
    ("im", |z| z.im()),
    ("norm", |z| z.norm()),
    ("norm_sqr", |z| z.norm_sqr()),
    ("arg", |z| z.arg()),
];

fn point() -> impl Strategy<Value = Complex64> {
    (-2.0..2.0f64, -2.0..2.0f64).prop_map(|(x, y)| c64(x, y))
}

/// `|a − b| ≤ tol · max(1, |b|)`.
fn close(a: Complex64, b: Complex64, tol: f64) -> bool {
    (a - b).norm() <= tol * b.norm().max(1.0)
}

fn all_finite(d: &Dual) -> bool {
    d.value().is_finite() && d.dz().is_finite() && d.dzbar().is_finite()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn conjugate_swaps_and_conjugates_the_derivatives(z in point()) {
        for &(name, f) in GENERAL {
            let d = f(Dual::var(z));
            let c = f(Dual::var(z)).conj();
            prop_assert!(all_finite(&d), "{}: {:?}", name, d);
            prop_assert_eq!(c.value(), d.value().conj(), "{}", name);
            prop_assert!(close(c.dz(), d.dzbar().conj(), 1e-14), "{}: ∂f̄/∂z = {} but conj(∂f/∂z̄) = {}", name, c.dz(), d.dzbar().conj());
            prop_assert!(close(c.dzbar(), d.dz().conj(), 1e-14), "{}: ∂f̄/∂z̄ = {} but conj(∂f/∂z) = {}", name, c.dzbar(), d.dz().conj());
            // Both against finite differences, so that the identity is not satisfied by two
            // equally wrong derivatives.
            let cmp = check::compare_dual(f, z);
            prop_assert!(cmp.passes(1e-8), "{}:\n{}", name, cmp);
            let cmp = check::compare_dual(|w| f(w).conj(), z);
            prop_assert!(cmp.passes(1e-8), "conj of {}:\n{}", name, cmp);
        }
    }

    #[test]
    fn real_valued_functions_have_conjugate_derivatives(z in point()) {
        prop_assume!([0.0, 1.0, -1.0].iter().all(|&p| (z - p).norm() > 0.25));
        for &(name, f) in REAL {
            let d = f(Dual::var(z));
            prop_assert!(all_finite(&d), "{}: {:?}", name, d);
            prop_assert_eq!(d.value().im, 0.0, "{}: value {}", name, d.value());
            prop_assert!(close(d.dzbar(), d.dz().conj(), 1e-14), "{}: ∂f/∂z̄ = {} but conj(∂f/∂z) = {}", name, d.dzbar(), d.dz().conj());
            let cmp = check::compare_dual(f, z);
            prop_assert!(cmp.passes(1e-8), "{}:\n{}", name, cmp);
            // grad = 2 ∂f/∂z̄ = ∂f/∂x + i ∂f/∂y is the steepest-ascent direction.
            let h = 1e-6;
            let val = |w: Complex64| f(Dual::constant(w)).value().re;
            let fx = (val(z + h) - val(z - h)) / (2.0 * h);
            let fy = (val(z + c64(0.0, h)) - val(z - c64(0.0, h))) / (2.0 * h);
            prop_assert!(close(d.grad(), c64(fx, fy), 1e-6), "{}: grad {} vs ({}, {})", name, d.grad(), fx, fy);
        }
    }

    /// A real operand takes the real forms of the table (`scale`, `unscale`); they must agree with
    /// the complex forms given `x + 0i`, and so must every operator pairing with a real.
    #[test]
    fn real_operands_agree_with_complex_ones(z in point(), x in -3.0..3.0f64) {
        prop_assume!(x.abs() > 1e-3);
        let xc = c64(x, 0.0);
        let (s, m) = (rules::scale(z, x), rules::mul(z, xc));
        prop_assert!(close(s.value, m.value, 1e-15) && close(c64(s.da, 0.0), m.da, 0.0));
        let (s, d) = (rules::unscale(z, x), rules::div(z, xc));
        prop_assert!(close(s.value, d.value, 1e-15) && close(c64(s.da, 0.0), d.da, 1e-15));
        let w = Dual::var(z).sin() * Dual::var(z).conj();
        let pairs = [
            (w * x, w * xc),
            (x * w, xc * w),
            (w / x, w / xc),
            ({ let mut v = w; v *= x; v }, w * xc),
            ({ let mut v = w; v /= x; v }, w / xc),
        ];
        for (k, (r, c)) in pairs.into_iter().enumerate() {
            prop_assert!(
                close(r.value(), c.value(), 1e-15) && close(r.dz(), c.dz(), 1e-15) && close(r.dzbar(), c.dzbar(), 1e-15),
                "pairing {}: {:?} vs {:?}", k, r, c
            );
        }
    }

    /// `conj` swaps the derivatives exactly, even when they are not finite (no `0·∞` enters).
    #[test]
    fn conjugate_of_infinite_derivatives(z in point()) {
        let d = Dual::new(z, c64(f64::INFINITY, 1.0), c64(2.0, -3.0)).conj();
        prop_assert_eq!(d.dz(), c64(2.0, 3.0));
        prop_assert_eq!(d.dzbar(), c64(f64::INFINITY, -1.0));
    }

    #[test]
    fn holomorphic_functions_have_exactly_zero_dzbar(z in point()) {
        for &(name, f) in HOLOMORPHIC {
            let d = f(Dual::var(z));
            prop_assume!(d.dz().is_finite());
            prop_assert!(d.dzbar() == c64(0.0, 0.0), "{}: ∂f/∂z̄ = {:e} at {}", name, d.dzbar(), z);
            prop_assert!(derivative(f, z).dzbar == c64(0.0, 0.0), "{}: derivative()", name);
        }
        for &(name, f) in NON_HOLOMORPHIC {
            let d = f(Dual::var(z));
            prop_assert!(d.dzbar() != c64(0.0, 0.0), "{}: ∂f/∂z̄ = 0 at {}", name, z);
        }
    }

    #[test]
    fn powi_equals_repeated_multiplication(
        (r, t) in (0.5..2.0f64, -3.1..3.1f64),
        non_holomorphic in any::<bool>(),
    ) {
        let z = Complex64::from_polar(r, t);
        // The base: z itself, or z + (0.3 − 0.2i) z̄ (then ∂/∂z̄ is not 0 either).
        let base = |z: Complex64| {
            let v = Dual::var(z);
            if non_holomorphic { v + v.conj() * c64(0.3, -0.2) } else { v }
        };
        for n in -6..=8i32 {
            let w = base(z);
            let p = w.powi(n);
            let product = (0..n.abs()).map(|_| w).product::<Dual>();
            let m = if n < 0 { 1.0 / product } else { product };
            for (what, a, b) in [
                ("value", p.value(), m.value()),
                ("∂/∂z", p.dz(), m.dz()),
                ("∂/∂z̄", p.dzbar(), m.dzbar()),
            ] {
                prop_assert!(
                    (a - b).norm() <= 1e-12 * b.norm(),
                    "powi({}) {} at {}: {:e} vs repeated multiplication {:e}", n, what, w.value(), a, b
                );
            }
        }
    }

    #[test]
    fn gradient_equals_derivative_per_input(
        z0 in point(), z1 in point(), z2 in point(),
    ) {
        // f(z₀, z₁, z₂) = z₀ z̄₁ + sin(z₂ z₀) + |z₁|² z₂ + exp(z₀ + z̄₂) + z₁/(|z₂|² + 1)
        fn f(v: &[Dual]) -> Dual {
            v[0] * v[1].conj() + (v[2] * v[0]).sin() + v[1].norm_sqr() * v[2]
                + (v[0] + v[2].conj()).exp() + v[1] / (v[2].norm_sqr() + 1.0)
        }
        let zs = [z0, z1, z2];
        let g = gradient(f, &zs);
        prop_assert_eq!(g.dz.len(), 3);
        prop_assert_eq!(g.dzbar.len(), 3);
        let constants: Vec<Dual> = zs.iter().map(|&c| Dual::constant(c)).collect();
        prop_assert_eq!(g.value, f(&constants).value());
        for k in 0..3 {
            let one = |w: Dual| {
                let mut args = constants.clone();
                args[k] = w;
                f(&args)
            };
            let d = derivative(one, zs[k]);
            prop_assert_eq!(d.value, g.value);
            prop_assert_eq!(d.dz, g.dz[k], "input {}", k);
            prop_assert_eq!(d.dzbar, g.dzbar[k], "input {}", k);
            prop_assert_eq!(g.grad()[k], d.dzbar * 2.0);
            let cmp = check::compare_dual(one, zs[k]);
            prop_assert!(cmp.passes(1e-8), "input {}:\n{}", k, cmp);
        }
    }

    #[test]
    fn sum_and_product_fold_plus_and_times(z in point(), n in 0usize..7) {
        let terms = |w: Dual| -> Vec<Dual> {
            let all = [w, w.conj() * 0.5, w.sin(), w.norm_sqr(), w.exp() * c64(0.0, 0.3), w.re() + 1.0, w.cis()];
            all[..n].to_vec()
        };
        let v = Dual::var(z);
        let xs = terms(v);

        let sum = xs.iter().copied().sum::<Dual>();
        let sum_ref = xs.iter().sum::<Dual>();
        let folded = xs.iter().fold(Dual::constant(c64(0.0, 0.0)), |a, &b| a + b);
        // Without the neutral element: x₀ + x₁ + … and x₀ · x₁ · ….
        if let (Some(s), Some(p)) = (xs.iter().copied().reduce(|a, b| a + b), xs.iter().copied().reduce(|a, b| a * b)) {
            for (what, a, b) in [
                ("Σ value", sum.value(), s.value()), ("Σ ∂/∂z", sum.dz(), s.dz()), ("Σ ∂/∂z̄", sum.dzbar(), s.dzbar()),
                ("Π value", xs.iter().product::<Dual>().value(), p.value()),
                ("Π ∂/∂z", xs.iter().product::<Dual>().dz(), p.dz()),
                ("Π ∂/∂z̄", xs.iter().product::<Dual>().dzbar(), p.dzbar()),
            ] {
                prop_assert!(close(a, b, 1e-15), "{} of {} terms: {} vs {}", what, n, a, b);
            }
        }
        let product = xs.iter().copied().product::<Dual>();
        let product_ref = xs.iter().product::<Dual>();
        let multiplied = xs.iter().fold(Dual::constant(c64(1.0, 0.0)), |a, &b| a * b);
        prop_assert_eq!(sum, sum_ref);
        prop_assert_eq!(sum, folded);
        prop_assert_eq!(product, product_ref);
        prop_assert_eq!(product, multiplied);
        if n == 0 {
            prop_assert_eq!(sum, Dual::constant(c64(0.0, 0.0)));
            prop_assert_eq!(product, Dual::constant(c64(1.0, 0.0)));
        }
        // And both against finite differences.
        let cmp = check::compare_dual(|w| terms(w).into_iter().sum(), z);
        prop_assert!(cmp.passes(1e-8), "sum of {} terms:\n{}", n, cmp);
        let cmp = check::compare_dual(|w| terms(w).into_iter().product(), z);
        prop_assert!(cmp.passes(1e-8), "product of {} terms:\n{}", n, cmp);
    }
}

/// The identities hold in `f32` too (one fixed point; the random ones above are `f64`).
#[test]
fn identities_in_f32() {
    let z = Dual::var(c32(0.7, -1.3));
    let f = z * z.conj().exp() + z.sin();
    let c = (z * z.conj().exp() + z.sin()).conj();
    assert_eq!(c.dz(), f.dzbar().conj());
    assert_eq!(c.dzbar(), f.dz().conj());
    let r = (z * z).norm_sqr() + z.re();
    assert_eq!(r.value().im, 0.0);
    assert!((r.dzbar() - r.dz().conj()).norm() <= 1e-6 * r.dz().norm());
    let h = (z.sin() * z.exp()).ln().powi(3) / (z + 3.0);
    assert_eq!(h.dzbar(), c32(0.0, 0.0));
}
