//! Fusion of elementwise array ops (`src/reverse/fused.rs`): pending chains, their sums, fan-out,
//! scalar operands, constants, chains longer than one fused node holds, and lengths that are not
//! a multiple of the chunk, all against the same expression on scalar `Var`s element by element
//! (the scalar tape applies the same rules one node per op).

mod common;
use common::Lcg;
use wirtinger::prelude::*;

/// A random elementwise expression over two arrays `a`, `b`, a scalar variable `s` and a constant
/// array `k`.
#[derive(Clone, Debug)]
enum E {
    A,
    B,
    S,
    K,
    Exp(Box<E>),
    Sin(Box<E>),
    Conj(Box<E>),
    NormSqr(Box<E>),
    Powi(Box<E>),
    Add(Box<E>, Box<E>),
    Sub(Box<E>, Box<E>),
    Mul(Box<E>, Box<E>),
    /// `l / (1.5 + |r|²)`: a division that stays away from 0.
    Div(Box<E>, Box<E>),
    /// `x · 0.5 + 0.25i`: constants on both sides.
    Affine(Box<E>),
}

fn gen(rng: &mut Lcg, depth: u32) -> E {
    let pick = (rng.next() * 0.5 + 0.5) * if depth == 0 { 4.0 } else { 14.0 };
    let sub = |rng: &mut Lcg| Box::new(gen(rng, depth.saturating_sub(1)));
    match pick as u32 {
        0 => E::A,
        1 => E::B,
        2 => E::S,
        3 => E::K,
        4 => E::Exp(sub(rng)),
        5 => E::Sin(sub(rng)),
        6 => E::Conj(sub(rng)),
        7 => E::NormSqr(sub(rng)),
        8 => E::Powi(sub(rng)),
        9 => E::Add(sub(rng), sub(rng)),
        10 => E::Sub(sub(rng), sub(rng)),
        11 => E::Mul(sub(rng), sub(rng)),
        12 => E::Div(sub(rng), sub(rng)),
        _ => E::Affine(sub(rng)),
    }
}

/// Evaluates `e` on arrays, sharing the value of each distinct subtree (`cache` keyed by the
/// subtree's debug string) so repeated subexpressions fan out.
fn on_arrays<'t>(
    e: &E,
    leaves: &(VarArray<'t>, VarArray<'t>, Var<'t>, Vec<Complex64>),
    cache: &mut Vec<(String, VarArray<'t>)>,
) -> VarArray<'t> {
    let key = format!("{e:?}");
    if let Some((_, v)) = cache.iter().find(|(k, _)| *k == key) {
        return v.clone();
    }
    let (a, b, s, k) = leaves;
    let mut go = |x: &E| on_arrays(x, leaves, cache);
    let v = match e {
        E::A => a.clone(),
        E::B => b * 1.0,
        E::S => a * 0.0 + *s,
        E::K => a * 0.0 + k.as_slice(),
        E::Exp(x) => go(x).exp(),
        E::Sin(x) => go(x).sin(),
        E::Conj(x) => go(x).conj(),
        E::NormSqr(x) => go(x).norm_sqr(),
        E::Powi(x) => go(x).powi(2),
        E::Add(x, y) => go(x) + go(y),
        E::Sub(x, y) => go(x) - go(y),
        E::Mul(x, y) => go(x) * go(y),
        E::Div(x, y) => {
            let l = go(x);
            l / (go(y).norm_sqr() + 1.5)
        }
        E::Affine(x) => go(x) * 0.5 + c64(0.0, 0.25),
    };
    cache.push((key, v.clone()));
    v
}

/// The same on scalars.
fn on_scalars<'t>(e: &E, a: Var<'t>, b: Var<'t>, s: Var<'t>, k: Complex64) -> Var<'t> {
    let go = |x: &E| on_scalars(x, a, b, s, k);
    match e {
        E::A => a,
        E::B => b * 1.0,
        E::S => a * 0.0 + s,
        E::K => a * 0.0 + k,
        E::Exp(x) => go(x).exp(),
        E::Sin(x) => go(x).sin(),
        E::Conj(x) => go(x).conj(),
        E::NormSqr(x) => go(x).norm_sqr(),
        E::Powi(x) => go(x).powi(2),
        E::Add(x, y) => go(x) + go(y),
        E::Sub(x, y) => go(x) - go(y),
        E::Mul(x, y) => go(x) * go(y),
        E::Div(x, y) => go(x) / (go(y).norm_sqr() + 1.5),
        E::Affine(x) => go(x) * 0.5 + c64(0.0, 0.25),
    }
}

fn close(x: Complex64, y: Complex64, what: &str) {
    let tol = 1e-11 * (1.0 + y.norm());
    assert!(
        (x - y).norm() <= tol || (x.is_nan() && y.is_nan()),
        "{what}: {x} vs {y}"
    );
}

/// `L = Σ|e|² + Re Σ e·w` (real) and `Σ e·w` (complex) through fused arrays and through scalars.
fn check(e: &E, n: usize, seed: u64, materialize: bool) {
    let mut rng = Lcg(seed);
    let (av, bv, kv, wv) = (rng.vec(n), rng.vec(n), rng.vec(n), rng.vec(n));
    let sv = rng.c();
    let tape = Tape::new();
    let (a, b, s) = (
        tape.vector(av.clone()),
        tape.vector(bv.clone()),
        tape.var(sv),
    );
    let leaves = (a.clone(), b.clone(), s, kv.clone());
    let x = on_arrays(e, &leaves, &mut Vec::new());
    if materialize {
        let _ = x.value();
    }
    let real = x.norm_sqr_sum() + (&x * wv.as_slice()).sum().re();
    let complex = (&x * wv.as_slice()).sum();
    let (gr, gc) = (real.backward(), complex.backward());

    let st = Tape::new();
    let (sa, sb) = (st.vector(av.clone()), st.vector(bv.clone()));
    let ss = st.var(sv);
    let mut lr = st.real_constant(0.0);
    let mut lc = st.constant(c64(0.0, 0.0));
    for i in 0..n {
        let xi = on_scalars(e, sa.get(&[i]), sb.get(&[i]), ss, kv[i]);
        lr += xi.norm_sqr() + (xi * wv[i]).re();
        lc += xi * wv[i];
    }
    close(real.value(), lr.value(), "real loss");
    close(complex.value(), lc.value(), "complex loss");
    let (hr, hc) = (lr.backward(), lc.backward());
    for (what, fused, scalar) in [
        ("grad a", gr.grad(&a), hr.grad(&sa)),
        ("grad b", gr.grad(&b), hr.grad(&sb)),
        ("dz a", gc.dz(&a), hc.dz(&sa)),
        ("dzbar a", gc.dzbar(&a), hc.dzbar(&sa)),
        ("dzbar b", gc.dzbar(&b), hc.dzbar(&sb)),
    ] {
        for i in 0..n {
            close(fused[i], scalar[i], &format!("{what}[{i}] of {e:?}"));
        }
    }
    close(gr.grad(&s), hr.grad(&ss), "grad s");
    close(gc.dz(&s), hc.dz(&ss), "dz s");
    close(gc.dzbar(&s), hc.dzbar(&ss), "dzbar s");
}

#[test]
fn random_fused_expressions_equal_the_scalar_tape() {
    let mut rng = Lcg(42);
    for case in 0..60 {
        let e = gen(&mut rng, 4);
        // Lengths around the chunk size (256) and not multiples of it.
        let n = [1, 7, 255, 256, 257, 600][case % 6];
        check(&e, n, case as u64, case % 3 == 0);
    }
}

#[test]
fn a_chain_longer_than_one_fused_node_holds() {
    // 3 ops per step, 40 steps: several fused nodes in a row.
    let mut e = E::A;
    for k in 0..40 {
        e = match k % 3 {
            0 => E::Affine(Box::new(E::Sin(Box::new(e)))),
            1 => E::Mul(Box::new(e), Box::new(E::S)),
            _ => E::Add(Box::new(E::Conj(Box::new(e))), Box::new(E::B)),
        };
    }
    check(&e, 300, 5, false);
}

#[test]
fn fan_out_of_a_pending_expression() {
    // x used four times: x·x + sin(x)·conj(x).
    let x = E::Exp(Box::new(E::Mul(Box::new(E::A), Box::new(E::B))));
    let e = E::Add(
        Box::new(E::Mul(Box::new(x.clone()), Box::new(x.clone()))),
        Box::new(E::Mul(
            Box::new(E::Sin(Box::new(x.clone()))),
            Box::new(E::Conj(Box::new(x))),
        )),
    );
    check(&e, 513, 9, false);
    check(&e, 513, 9, true);
}

#[test]
fn a_fused_loss_records_one_node_and_stores_no_intermediate_array() {
    let tape = Tape::new();
    let u = tape.array(vec![c64(0.3, -0.2); 1000], &[10, 100]);
    let t = tape.real_constant_array(vec![0.5; 1000], &[10, 100]);
    let n = tape.len();
    let l = (u.norm_sqr() - &t).powi(2).sum();
    assert_eq!(tape.len(), n + 1);
    // u (complex) and t (stored as real numbers).
    assert_eq!(tape.memory().values, 1000 * 16 + 1000 * 8);
    // (0.13 − 0.5)² per element.
    assert!((l.value().re - 1000.0 * 0.37f64.powi(2)).abs() < 1e-9);
    assert_eq!(l.value().im, 0.0);
    let g = l.backward().grad(&u);
    // 2∂/∂ū of (|u|² − t)² = 4(|u|² − t)u.
    let want = c64(0.3, -0.2) * (4.0 * (0.13 - 0.5));
    assert!(g.iter().all(|x| (x - want).norm() < 1e-12));
}

/// Chains over real values (a real leaf `p`, and `|a|²` of a complex leaf) run on real arithmetic
/// when the cotangent is real: for every unary op of the table, `L = Σ |op(r)·0.7 − k|²` (real
/// output, constant real `k`) gives the same `grad`, `dz` and `dzbar` as the scalar tape, also for
/// the real leaf, whose `dz`, `dzbar` keep the imaginary parts that `im` and `arg` give.
#[test]
fn real_valued_chains_equal_the_scalar_tape() {
    use common::{Un, ALL_UN};
    let n = 300;
    let mut rng = Lcg(7);
    let pv: Vec<f64> = (0..n).map(|_| 0.45 + 0.25 * rng.next()).collect();
    let av = rng.vec(n);
    let kv: Vec<f64> = (0..n).map(|_| rng.next()).collect();
    for &op in ALL_UN {
        for from_complex in [false, true] {
            let tape = Tape::new();
            let p = tape.real_array(pv.clone(), &[n]);
            let a = tape.vector(av.clone());
            let k = tape.real_constant_array(kv.clone(), &[n]);
            let r = if from_complex {
                a.norm_sqr() * 0.25 + &p * 0.0 + 0.2
            } else {
                &p * 1.0
            };
            let l = (un!(&r, op) * 0.7 - &k).norm_sqr().sum();
            assert!(l.is_real());
            let g = l.backward();

            let st = Tape::new();
            let (sp, sa) = (st.real_array(pv.clone(), &[n]), st.vector(av.clone()));
            let mut sl = st.real_constant(0.0);
            for (i, &k) in kv.iter().enumerate() {
                let (pi, ai) = (sp.get(&[i]), sa.get(&[i]));
                let ri = if from_complex {
                    ai.norm_sqr() * 0.25 + pi * 0.0 + 0.2
                } else {
                    pi * 1.0
                };
                sl += (un!(ri, op) * 0.7 - k).norm_sqr();
            }
            let what = format!(
                "{op:?} of a real {}",
                if from_complex { "|a|²" } else { "leaf" }
            );
            close(l.value(), sl.value(), &format!("loss, {what}"));
            let h = sl.backward();
            for (name, fused, scalar) in [
                ("grad p", g.grad(&p), h.grad(&sp)),
                ("dz p", g.dz(&p), h.dz(&sp)),
                ("dzbar p", g.dzbar(&p), h.dzbar(&sp)),
                ("grad a", g.grad(&a), h.grad(&sa)),
                ("dzbar a", g.dzbar(&a), h.dzbar(&sa)),
            ] {
                for i in 0..n {
                    close(fused[i], scalar[i], &format!("{name}[{i}], {what}"));
                }
            }
        }
    }
}

/// A real fused sum computes its VJP in the pass that computes its value (`Tape::memory` counts
/// it among the adjoints), and the first backward pass through it uses that; later passes
/// recompute it. Both agree: bit for bit for the loss itself, to rounding for a loss used
/// twice and scaled (the shares for the seed `1` times `Re c`), with two array leaves, one of
/// them read twice, a scalar leaf, and a leaf whose adjoint already has a share when the sum's
/// VJP runs.
#[test]
fn a_real_sum_computes_its_vjp_with_its_value() {
    let n = 700;
    let mut rng = Lcg(11);
    let (av, bv) = (rng.vec(n), rng.vec(n));
    let tape = Tape::new();
    let (a, b, s) = (tape.vector(av.clone()), tape.vector(bv), tape.var(rng.c()));
    let l = ((&a * &b - s).norm_sqr() + (&a * 0.5).sin().re()).sum();
    assert!(l.is_real());
    assert_eq!(tape.memory().adjoints, 2 * n * 16);

    let (first, again) = (l.backward(), l.backward());
    assert_eq!(tape.memory().adjoints, 0);
    assert_eq!(first.grad(&a), again.grad(&a));
    assert_eq!(first.grad(&b), again.grad(&b));
    assert_eq!(first.grad(&s), again.grad(&s));

    // A fresh loss of the same kind, used with seed 2 + 3 = 5, after a share of a's adjoint from
    // a node recorded later.
    let m = ((&a * &b - s).norm_sqr() + (&a * 0.5).sin().re()).sum();
    let total = m * 3.0 + a.norm_sqr_sum() + m * 2.0;
    let (early, late) = (total.backward(), total.backward());
    for (x, y) in early.grad(&a).iter().zip(&late.grad(&a)) {
        assert!((x - y).norm() <= 1e-14 * y.norm(), "{x} vs {y}");
    }
    for (x, y) in early.grad(&b).iter().zip(&late.grad(&b)) {
        assert!((x - y).norm() <= 1e-14 * y.norm(), "{x} vs {y}");
    }
    let (x, y) = (early.grad(&s), late.grad(&s));
    assert!((x - y).norm() <= 1e-14 * y.norm(), "{x} vs {y}");
    // And both are 5 times the loss's own gradient, plus 2a from Σ|a|².
    for ((x, g), a) in late.grad(&a).iter().zip(&first.grad(&a)).zip(&av) {
        let want = g * 5.0 + a * 2.0;
        assert!((x - want).norm() <= 1e-12 * want.norm(), "{x} vs {want}");
    }

    // Inside a complex output `f = w·m`: the sum's seeds are complex (`w̄/2`, then `i w̄/2` in the
    // walk of `Im f`), and `∂f/∂ā = w ∂m/∂ā`, `∂f/∂a = w ∂m/∂a`, from the VJP computed with the
    // value and, in a second backward pass, recomputed.
    let w = c64(0.75, -1.5);
    let m = ((&a * &b - s).norm_sqr() + (&a * 0.5).sin().re()).sum();
    let f = m * w;
    let (fe, fl) = (f.backward(), f.backward());
    let (dm, dmz) = (first.dzbar(&a), first.dz(&a));
    for g in [&fe, &fl] {
        for ((x, z), (d, dz)) in g.dzbar(&a).iter().zip(&g.dz(&a)).zip(dm.iter().zip(&dmz)) {
            let (want, wantz) = (w * d, w * dz);
            assert!((x - want).norm() <= 1e-13 * want.norm(), "{x} vs {want}");
            assert!((z - wantz).norm() <= 1e-13 * wantz.norm(), "{z} vs {wantz}");
        }
    }

    // A known value: Σ|a|² of a pending expression, gradient 2a.
    let l = (&a * 1.0).norm_sqr_sum();
    let g = l.backward().grad(&a);
    assert!(g.iter().zip(&av).all(|(g, a)| *g == a * 2.0));
}

/// `f32` arrays go through the same fused passes, with real values and cotangents stored as
/// `f32`s (half a complex number's slot): the loss, gradients and values of a chain of real ops,
/// with a real leaf, a real constant, a real scalar and an op read twice, agree with the `f64`
/// ones to `f32` rounding.
#[test]
fn f32_fused_real_chains_agree_with_f64() {
    let n = 1000; // three full chunks and a partial one
    let mut rng = Lcg(11);
    let av = rng.vec(n);
    let pv: Vec<f64> = (0..n).map(|_| 0.5 + 0.5 * rng.next()).collect();
    let tv: Vec<f64> = (0..n).map(|_| rng.next()).collect();
    let t64 = Tape::<f64>::new();
    let (a, p) = (t64.vector(av.clone()), t64.real_array(pv.clone(), &[n]));
    let (t, s) = (
        t64.real_constant_array(tv.clone(), &[n]),
        t64.real_var(0.75),
    );
    // `d · d` reads a real op twice: its cotangent gets a stored share and an added one.
    let d = a.norm_sqr() * s - &t + &p;
    let l64 = (&d * &d + (&p * 0.5).exp()).sum();
    assert!(l64.is_real());
    let g64 = l64.backward();

    let t32 = Tape::<f32>::new();
    let a32: Vec<Complex32> = av.iter().map(|z| c32(z.re as f32, z.im as f32)).collect();
    let p32: Vec<f32> = pv.iter().map(|&x| x as f32).collect();
    let tt32: Vec<f32> = tv.iter().map(|&x| x as f32).collect();
    let (b, q) = (t32.vector(a32), t32.real_array(p32, &[n]));
    let (u, r) = (t32.real_constant_array(tt32, &[n]), t32.real_var(0.75f32));
    let e = b.norm_sqr() * r - &u + &q;
    let l32 = (&e * &e + (&q * 0.5f32).exp()).sum();
    assert!(l32.is_real());
    let g32 = l32.backward();

    let near = |x: Complex32, y: Complex64, scale: f64, what: &str| {
        let d = (Complex64::new(x.re as f64, x.im as f64) - y).norm();
        assert!(d <= 1e-5 * scale, "{what}: f32 {x} against f64 {y}");
    };
    near(l32.value(), l64.value(), l64.value().norm(), "loss");
    // A real chain's values, written out as complex numbers.
    let (v32, v64) = (e.value(), d.value());
    let sv = v64.iter().map(|z| z.norm()).fold(0.0, f64::max);
    for i in 0..n {
        near(v32[i], v64[i], sv, &format!("value {i}"));
        assert_eq!(v32[i].im.to_bits(), 0, "imaginary part +0");
    }
    near(g32.grad(&r), g64.grad(&s), g64.grad(&s).norm(), "grad s");
    let (ga32, ga64) = (g32.grad(&b), g64.grad(&a));
    let (gp32, gp64) = (g32.grad(&q), g64.grad(&p));
    let scale = |g: &[Complex64]| g.iter().map(|z| z.norm()).fold(0.0, f64::max);
    let (sa, sp) = (scale(&ga64), scale(&gp64));
    for i in 0..n {
        near(ga32[i], ga64[i], sa, &format!("grad a[{i}]"));
        near(gp32[i], gp64[i], sp, &format!("grad p[{i}]"));
        assert_eq!(gp32[i].im, 0.0, "the gradient of a real leaf is real");
    }
}

/// A real array stored as complex numbers (a constant whose imaginary parts are all ±0, a stack
/// of real scalars) is read as real numbers, as a real leaf is: its stored imaginary parts (`−0`,
/// or NaN from `∞ · 0`) play no part.
#[test]
fn a_real_array_stored_as_complex_numbers_is_read_as_real_numbers() {
    let tape: Tape = Tape::new();
    // −0 imaginary parts: still real, so the principal square root of −4 is +2i (not the −2i of
    // the branch cut's other side), as for a real leaf.
    let k = tape.constant_array(vec![c64(-4.0, -0.0), c64(9.0, -0.0)], &[2]);
    assert!(k.is_real());
    let r = tape.real_array(vec![-4.0, 9.0], &[2]);
    for a in [&k, &r] {
        let v = (a.sqrt() * 1.0).value();
        assert_eq!(v[0].im.to_bits(), 2.0f64.to_bits(), "{v:?}");
        assert_eq!(v[1], c64(3.0, 0.0));
    }
    // ∞ · 2 as a real scalar stores (∞, NaN); stacked, it is still the real ∞.
    let x = tape.real_var(f64::INFINITY);
    let y = x * 2.0;
    assert!(y.is_real() && y.value().im.is_nan(), "{}", y.value());
    let s = VarArray::stack(&[y, tape.real_var(1.5)]);
    assert!(s.is_real());
    let v = (&s * 2.0).value();
    assert_eq!(v[0], c64(f64::INFINITY, 0.0));
    assert_eq!(v[1], c64(3.0, 0.0));
}
