//! The loss shapes give the general pass's bits, run where they should and only there.

use super::{ENABLED, RUNS};
use crate::prelude::*;
use crate::Real;

type C = Complex64;

/// `f()` with the shapes on, then off: both results, and the passes the shapes ran.
fn on_and_off<R>(f: impl Fn() -> R) -> (R, R, usize) {
    let runs = || RUNS.with(|n| n.get());
    let before = runs();
    let on = f();
    let ran = runs() - before;
    ENABLED.with(|e| e.set(false));
    let off = f();
    ENABLED.with(|e| e.set(true));
    assert_eq!(runs(), before + ran, "a shape ran while turned off");
    (on, off, ran)
}

/// The bits of complex numbers, every NaN as one (which NaN an operation passes on may depend
/// on the order the compiler gives the operands of a product).
fn bits<T: Real>(v: &[Complex<T>]) -> Vec<(u64, u64)> {
    let b = |x: T| {
        if x.is_nan() {
            u64::MAX
        } else {
            x.to_f64().unwrap_or(f64::NAN).to_bits()
        }
    };
    v.iter().map(|z| (b(z.re), b(z.im))).collect()
}

/// `n` values, smooth and of both signs; with `special`, the first ones are 0, −0, infinities,
/// NaN, and values whose squares overflow or underflow.
fn field(n: usize, seed: f64, special: bool) -> Vec<C> {
    let odd = [
        c64(0.0, 0.0),
        c64(-0.0, 0.0),
        c64(0.0, -0.0),
        c64(f64::INFINITY, 1.0),
        c64(-2.0, f64::NEG_INFINITY),
        c64(f64::NAN, 0.5),
        c64(1e200, -3.0),
        c64(1e-200, -1e-170),
    ];
    (0..n)
        .map(|j| match odd.get(j) {
            Some(&z) if special => z,
            _ => {
                let s = (j as f64 + 1.0) * (0.37 + 0.11 * seed);
                c64((1.3 * s).sin() * 1.5, (0.7 * s).cos() - 0.2)
            }
        })
        .collect()
}

/// How `t` enters `Σ (|x|² − t)²`, or `y` enters `Σ |x − y|²`.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// `real_constant_array` (stored as real numbers).
    Real,
    /// `constant_array` with imaginary parts 0 (stored as complex numbers, known real).
    Complex,
    /// A constant slice of reals; for `y`, of complex numbers.
    Slice,
    /// A real scalar; for `y`, a complex one.
    Scalar,
    /// For `y` only: a complex `constant_array`.
    Field,
}

/// One loss of the shape and what the tests read of it.
#[derive(Clone, Copy, Debug)]
struct Case {
    n: usize,
    t: Target,
    /// `|x|² − t` rather than `t − |x|²`.
    x_first: bool,
    /// `powi(2)` rather than `norm_sqr_sum`; for `Σ |x − y|²`, `norm_sqr().sum()` rather than
    /// `norm_sqr_sum`.
    square: bool,
    /// `Σ |x − y|²` rather than `Σ (|x|² − t)²`.
    field: bool,
    /// The loss of `fft(x)` rather than of `x`.
    fft: bool,
    special: bool,
}

/// Everything read: the loss; the gradient of the loss (from the VJP computed with the value);
/// of `2.5·loss + Σ|y|²` (`y` the array inside), recomputed with `y`'s adjoint already started;
/// and `∂/∂x̄` of a complex multiple of the loss (not a shape's pass).
type Read = (
    Vec<(u64, u64)>,
    Vec<(u64, u64)>,
    Vec<(u64, u64)>,
    Vec<(u64, u64)>,
);

/// The loss `c` describes, of a fresh leaf, and what [`read`] reads of it.
fn run<T: Real>(c: Case) -> Read {
    let n = c.n;
    let cast = |z: C| Complex::new(T::from_f64(z.re).unwrap(), T::from_f64(z.im).unwrap());
    let xv: Vec<Complex<T>> = field(n, 1.0, c.special).into_iter().map(cast).collect();
    let tv: Vec<T> = field(n, 2.0, c.special)
        .iter()
        .map(|z| T::from_f64(z.norm_sqr()).unwrap())
        .collect();
    let tc: Vec<Complex<T>> = tv.iter().map(|&t| Complex::new(t, T::zero())).collect();
    let tape: Tape<T> = Tape::new();
    let x = tape.vector(&xv);
    let y = if c.fft { x.fft() } else { x.clone() };
    let s = T::from_f64(0.7).unwrap();
    if c.field {
        let yv: Vec<Complex<T>> = field(n, 3.0, c.special).into_iter().map(cast).collect();
        let z = Complex::new(s, T::from_f64(-0.3).unwrap());
        let d = match (c.t, c.x_first) {
            (Target::Real, true) => &y - &tape.real_constant_array(&tv, &[n]),
            (Target::Real, false) => &tape.real_constant_array(&tv, &[n]) - &y,
            (Target::Complex, true) => &y - &tape.constant_array(&tc, &[n]),
            (Target::Complex, false) => &tape.constant_array(&tc, &[n]) - &y,
            (Target::Field, true) => &y - &tape.constant_array(&yv, &[n]),
            (Target::Field, false) => &tape.constant_array(&yv, &[n]) - &y,
            (Target::Slice, true) => &y - &yv[..],
            (Target::Slice, false) => &yv[..] - &y,
            (Target::Scalar, true) => &y - z,
            (Target::Scalar, false) => z - &y,
        };
        let loss = if c.square {
            d.norm_sqr().sum()
        } else {
            d.norm_sqr_sum()
        };
        return read(loss, &x, &y);
    }
    let i = y.norm_sqr();
    let d = match (c.t, c.x_first) {
        (Target::Real, first) | (Target::Complex, first) => {
            let t = match c.t {
                Target::Real => tape.real_constant_array(&tv, &[n]),
                _ => tape.constant_array(&tc, &[n]),
            };
            assert!(t.is_real());
            if first {
                &i - &t
            } else {
                &t - &i
            }
        }
        (Target::Slice, true) => &i - &tv[..],
        (Target::Slice, false) => &tv[..] - &i,
        (Target::Scalar, true) => &i - s,
        (Target::Scalar, false) => Complex::new(s, T::zero()) - &i,
        (Target::Field, _) => unreachable!("not a real target"),
    };
    let loss = if c.square {
        d.powi(2).sum()
    } else {
        d.norm_sqr_sum()
    };
    read(loss, &x, &y)
}

/// What [`run`] reads of `loss`, a loss of `y`, `y` a function of the leaf `x`.
fn read<'t, T: Real>(loss: Var<'t, T>, x: &VarArray<'t, T>, y: &VarArray<'t, T>) -> Read {
    let first = loss.backward().grad(x);
    let more = loss * T::from_f64(2.5).unwrap() + y.norm_sqr_sum();
    let second = more.backward().grad(x);
    let z = loss * Complex::new(T::from_f64(0.5).unwrap(), T::from_f64(2.0).unwrap());
    let third = z.backward().dzbar(x);
    (
        bits(&[loss.value()]),
        bits(&first),
        bits(&second),
        bits(&third),
    )
}

/// Every combination of the shapes' variants (`Σ (|x|² − t)²` and `Σ |x − y|²`, each operand
/// kind on either side) gives the general pass's bits, values and gradients, for `f64` and
/// `f32`, at lengths that end in a partial chunk and past the parallel
/// threshold, with NaN, infinities, signed zeros, overflow and underflow among the values; and
/// the shape runs for the value with its VJP and for the recomputed VJP (twice per case).
#[test]
fn shapes_give_the_general_passs_bits() {
    let mut cases = Vec::new();
    let all = [
        Target::Real,
        Target::Complex,
        Target::Slice,
        Target::Scalar,
        Target::Field,
    ];
    for field in [false, true] {
        for t in all
            .into_iter()
            .filter(|t| field || !matches!(t, Target::Field))
        {
            for x_first in [true, false] {
                for square in [true, false] {
                    for (n, fft, special) in
                        [(1, false, false), (203, true, false), (700, false, true)]
                    {
                        cases.push(Case {
                            n,
                            t,
                            x_first,
                            square,
                            field,
                            fft,
                            special,
                        });
                    }
                }
            }
        }
    }
    // Past the parallel threshold, and a length that ends in a partial chunk of a partial range.
    for n in [(1 << 15) + 3, 5 * 256 + 17] {
        for (t, field) in [(Target::Real, false), (Target::Field, true)] {
            cases.push(Case {
                n,
                t,
                x_first: true,
                square: true,
                field,
                fft: false,
                special: true,
            });
        }
    }
    for c in cases {
        let (on, off, ran) = on_and_off(|| run::<f64>(c));
        assert_eq!(on, off, "{c:?}");
        assert_eq!(ran, 2, "{c:?}");
        if c.n < 1000 {
            let (on, off, ran) = on_and_off(|| run::<f32>(c));
            assert_eq!(on, off, "f32 {c:?}");
            assert_eq!(ran, 2, "f32 {c:?}");
        }
    }
}

/// Against the closed forms `grad Σ(|x|² − t)² = 4(|x|² − t)·x`, `grad Σ|x − y|² = 2(x − y)`
/// and the values, on a leaf (for the peers' phase-retrieval loss `Σ (|fft2 u|² − T)²` the
/// gradient with respect to `fft2 u` is read through `fft2`'s adjoint, so only check that the
/// shape runs), and the value alone when no input needs a gradient (`Expr::sum`); the
/// holography example's loss is the shape too.
#[test]
fn the_shape_is_the_loss() {
    let n = 3000;
    let (xv, tv): (Vec<C>, Vec<f64>) = (
        field(n, 3.0, false),
        field(n, 4.0, false).iter().map(|z| z.norm()).collect(),
    );
    let d: Vec<f64> = xv.iter().zip(&tv).map(|(x, t)| x.norm_sqr() - t).collect();
    let value: f64 = d.iter().map(|d| d * d).sum();

    let (got, _, ran) = on_and_off(|| {
        let tape = Tape::new();
        let x = tape.vector(&xv);
        let t = tape.real_constant_array(&tv, &[n]);
        let loss = (x.norm_sqr() - &t).powi(2).sum();
        (loss.value().re, loss.backward().grad(&x))
    });
    assert_eq!(ran, 1);
    assert!(
        (got.0 - value).abs() <= 1e-12 * value,
        "{} vs {value}",
        got.0
    );
    for ((g, x), d) in got.1.iter().zip(&xv).zip(&d) {
        let want = x * (4.0 * d);
        assert!(
            (g - want).norm() <= 1e-13 * (1.0 + want.norm()),
            "{g} vs {want}"
        );
    }

    let (alone, _, ran) = on_and_off(|| {
        let tape = Tape::new();
        let x = tape.constant_array(&xv, &[n]);
        (&tv[..] - x.norm_sqr()).powi(2).sum().value().re
    });
    assert_eq!(ran, 1);
    assert!((alone - value).abs() <= 1e-12 * value, "{alone} vs {value}");

    // The holography example's loss: a complex target with imaginary parts 0, `norm_sqr_sum`.
    let tc: Vec<C> = tv.iter().map(|&t| c64(t, 0.0)).collect();
    let (_, _, ran) = on_and_off(|| {
        let tape = Tape::new();
        let phi = tape.real_array(&tv, &[n]);
        let loss = (phi.cis().fft_with(Norm::Ortho).abs2() - &tc).norm_sqr_sum();
        loss.backward().grad(&phi)
    });
    assert_eq!(ran, 1);

    // `Σ |x − y|²`: the gradient `2(x − y)`, also when the leaf is the second operand and the
    // first a constant (the shape takes the leaf as its `x`).
    let yv = field(n, 7.0, false);
    let value: f64 = xv.iter().zip(&yv).map(|(x, y)| (x - y).norm_sqr()).sum();
    for leaf_first in [true, false] {
        let (got, off, ran) = on_and_off(|| {
            let tape = Tape::new();
            let (x, y) = (tape.vector(&xv), tape.constant_array(&yv, &[n]));
            let loss = if leaf_first { &x - &y } else { &y - &x }.norm_sqr_sum();
            (loss.value().re, loss.backward().grad(&x))
        });
        assert_eq!(ran, 1);
        assert_eq!(bits(&got.1), bits(&off.1));
        assert_eq!(got.0.to_bits(), off.0.to_bits());
        assert!(
            (got.0 - value).abs() <= 1e-12 * value,
            "{} vs {value}",
            got.0
        );
        for ((g, x), y) in got.1.iter().zip(&xv).zip(&yv) {
            let want = (x - y) * 2.0;
            assert!(
                (g - want).norm() <= 1e-14 * (1.0 + want.norm()),
                "{g} vs {want}"
            );
        }
    }
    let (alone, off, ran) = on_and_off(|| {
        let tape = Tape::new();
        let (x, y) = (
            tape.constant_array(&xv, &[n]),
            tape.constant_array(&yv, &[n]),
        );
        (&y - &x).norm_sqr_sum().value().re
    });
    assert_eq!((ran, alone.to_bits()), (1, off.to_bits()));
    assert!((alone - value).abs() <= 1e-12 * value, "{alone} vs {value}");

    // The bench's loss, fft2 of a leaf.
    let (_, _, ran) = on_and_off(|| {
        let tape = Tape::new();
        let u = tape.array(&xv[..2500], &[50, 50]);
        let t = tape.real_constant_array(&tv[..2500], &[50, 50]);
        let loss = (u.fft2().norm_sqr() - &t).powi(2).sum();
        loss.backward().grad(&u)
    });
    assert_eq!(ran, 1);
}

/// Chains that are not the shape, or uses of it that need what it does not compute (a share
/// for `t`, a complex seed), take the general pass.
#[test]
fn other_chains_take_the_general_pass() {
    let n = 300;
    let (xv, tv): (Vec<C>, Vec<f64>) = (
        field(n, 5.0, false),
        field(n, 6.0, false).iter().map(|z| z.norm()).collect(),
    );
    let tape = Tape::new();
    let x = tape.vector(&xv);
    let t = tape.real_constant_array(&tv, &[n]);
    let w = tape.real_constant_array(&tv, &[n]);
    let leaf_t = tape.real_array(&tv, &[n]);
    fn none<'t>(name: &str, loss: impl FnOnce() -> Var<'t>) {
        let before = RUNS.with(|r| r.get());
        let _ = loss().backward();
        assert_eq!(RUNS.with(|r| r.get()), before, "{name}");
    }
    none("cube", || (x.norm_sqr() - &t).powi(3).sum());
    none("plus", || (x.norm_sqr() + &t).powi(2).sum());
    none("weighted", || ((x.norm_sqr() - &t).powi(2) * &w).sum());
    none("modulus", || (x.norm() - &t).powi(2).sum());
    none("complex t", || {
        (x.norm_sqr() - c64(1.0, 0.5)).powi(2).sum().re()
    });
    none("t a leaf", || (x.norm_sqr() - &leaf_t).powi(2).sum());
    none("t a scalar leaf", || {
        (x.norm_sqr() - tape.real_var(0.7)).powi(2).sum()
    });
    none("x real", || (leaf_t.norm_sqr() - &t).powi(2).sum());
    none("plain sum", || x.norm_sqr().sum());
    let y = tape.vector(&xv[..]);
    none("both leaves", || (&x - &y).norm_sqr_sum());
    none("a sum", || (&x + &y).norm_sqr_sum());
    none("x − x", || (&x - &x).norm_sqr_sum());
    none("a product", || (&x - &t).powi(2).sum().re());
    // A complex multiple: the value's pass is the shape's; the backward pass, seeded with a
    // complex number, is not.
    let loss = (x.norm_sqr() - &t).powi(2).sum();
    let before = RUNS.with(|r| r.get());
    let _ = (loss * c64(1.0, 1.0)).backward();
    assert_eq!(RUNS.with(|r| r.get()), before, "complex seed");
}
