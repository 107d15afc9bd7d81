//! Reverse mode on arrays: every elementwise op of `VarArray` against the scalar `Var` result and
//! forward mode per element, every operator pairing (arrays, scalar `Var`s, constants and slices on
//! either side, by value and by reference, assign forms), reductions, reshape, stack, real and
//! constant arrays, and finite-difference checks of composite losses.

use proptest::prelude::*;
use std::fmt::Debug;
use wirtinger::check;
use wirtinger::forward::{self, Gradient};
use wirtinger::prelude::*;

mod common;
use common::{ok, Un, ALL_UN};

type C = Complex64;

const RTOL_AD: f64 = 1e-12;
const RTOL_FD: f64 = 1e-8;

fn dual_un(x: Dual, op: Un) -> Dual {
    un!(x, op)
}

fn var_un(x: Var<'_>, op: Un) -> Var<'_> {
    un!(x, op)
}

fn arr_un<'t>(x: &VarArray<'t>, op: Un) -> VarArray<'t> {
    un!(x, op)
}

fn assert_close(a: C, b: C, tol: f64, what: &dyn Debug) {
    assert!((a - b).norm() <= tol, "{what:?}: {a} vs {b} (tol {tol:e})");
}

fn scale(xs: &[&[C]]) -> f64 {
    xs.iter()
        .flat_map(|v| v.iter())
        .fold(1.0f64, |m, x| m.max(x.norm()))
}

// ---------------------------------------------------------------------------------------------
// A loss of array and scalar leaves, in reverse mode, forward mode and by finite differences.
// ---------------------------------------------------------------------------------------------

/// A leaf: an array (data, shape, real?) or a scalar (value, real?).
#[derive(Clone, Debug)]
enum LeafSpec {
    Array(Vec<C>, Vec<usize>, bool),
    Scalar(C, bool),
}

impl LeafSpec {
    fn len(&self) -> usize {
        match self {
            LeafSpec::Array(d, ..) => d.len(),
            LeafSpec::Scalar(..) => 1,
        }
    }
}

fn flat(leaves: &[LeafSpec]) -> (Vec<C>, Vec<bool>) {
    let mut z = Vec::new();
    let mut real = Vec::new();
    for l in leaves {
        match l {
            LeafSpec::Array(d, _, r) => {
                z.extend(d.iter().map(|v| if *r { c64(v.re, 0.0) } else { *v }));
                real.extend(std::iter::repeat(*r).take(d.len()));
            }
            LeafSpec::Scalar(v, r) => {
                z.push(if *r { c64(v.re, 0.0) } else { *v });
                real.push(*r);
            }
        }
    }
    (z, real)
}

/// The leaves as `Dual`s: arrays as vectors, scalars as one-element vectors.
fn split(x: &[Dual], leaves: &[LeafSpec]) -> Vec<Vec<Dual>> {
    let mut out = Vec::new();
    let mut k = 0;
    for l in leaves {
        out.push(x[k..k + l.len()].to_vec());
        k += l.len();
    }
    out
}

/// On the tape: array leaves and scalar leaves, in the order of `leaves`.
struct Leaves<'t> {
    arrays: Vec<VarArray<'t>>,
    scalars: Vec<Var<'t>>,
}

struct Ad {
    value: C,
    is_real: bool,
    dz: Vec<C>,
    dzbar: Vec<C>,
    grad: Option<Vec<C>>,
}

fn reverse<F>(f: F, leaves: &[LeafSpec]) -> Ad
where
    F: for<'t> Fn(&'t Tape, &Leaves<'t>) -> Var<'t>,
{
    let tape = Tape::new();
    let mut l = Leaves {
        arrays: Vec::new(),
        scalars: Vec::new(),
    };
    for s in leaves {
        match s {
            LeafSpec::Array(d, shape, false) => l.arrays.push(tape.array(d.clone(), shape)),
            LeafSpec::Array(d, shape, true) => l
                .arrays
                .push(tape.real_array(d.iter().map(|v| v.re).collect::<Vec<_>>(), shape)),
            LeafSpec::Scalar(v, false) => l.scalars.push(tape.var(*v)),
            LeafSpec::Scalar(v, true) => l.scalars.push(tape.real_var(v.re)),
        }
    }
    let out = f(&tape, &l);
    let g = out.backward();
    assert_eq!(g.is_real_output(), out.is_real());
    let (mut dz, mut dzbar, mut grad) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ia, mut is) = (0, 0);
    for s in leaves {
        match s {
            LeafSpec::Array(..) => {
                let a = &l.arrays[ia];
                ia += 1;
                dz.extend(g.dz(a));
                dzbar.extend(g.dzbar(a));
                if out.is_real() {
                    grad.extend(g.grad(a));
                }
            }
            LeafSpec::Scalar(..) => {
                let v = &l.scalars[is];
                is += 1;
                dz.push(g.dz(v));
                dzbar.push(g.dzbar(v));
                if out.is_real() {
                    grad.push(g.grad(v));
                }
            }
        }
    }
    Ad {
        value: out.value(),
        is_real: out.is_real(),
        dz,
        dzbar,
        grad: out.is_real().then_some(grad),
    }
}

fn compare(ad: &Ad, fw: &Gradient, fd: &Gradient, real: &[bool], ctx: &dyn Debug) {
    let s = scale(&[&fw.dz, &fw.dzbar]);
    let vs = 1.0f64.max(fw.value.norm());
    assert_close(ad.value, fw.value, 1e-13 * vs, &("value vs forward", ctx));
    assert_close(
        fd.value,
        fw.value,
        1e-13 * vs,
        &("value fd vs forward", ctx),
    );
    if ad.is_real {
        assert_eq!(ad.value.im, 0.0, "{ctx:?}");
    }
    for k in 0..real.len() {
        if real[k] && ad.is_real {
            let grad = ad.grad.as_ref().unwrap()[k];
            assert_eq!(
                grad.im, 0.0,
                "grad of a real leaf element is real ({ctx:?})"
            );
            assert_close(
                grad,
                fw.dz[k] + fw.dzbar[k],
                RTOL_AD * s,
                &("real grad vs forward", k, ctx),
            );
            assert_close(
                grad,
                fd.dz[k] + fd.dzbar[k],
                RTOL_FD * s,
                &("real grad vs fd", k, ctx),
            );
            continue;
        }
        assert_close(ad.dz[k], fw.dz[k], RTOL_AD * s, &("dz vs forward", k, ctx));
        assert_close(
            ad.dzbar[k],
            fw.dzbar[k],
            RTOL_AD * s,
            &("dzbar vs forward", k, ctx),
        );
        assert_close(ad.dz[k], fd.dz[k], RTOL_FD * s, &("dz vs fd", k, ctx));
        assert_close(
            ad.dzbar[k],
            fd.dzbar[k],
            RTOL_FD * s,
            &("dzbar vs fd", k, ctx),
        );
        if let Some(grad) = &ad.grad {
            assert_eq!(grad[k], ad.dzbar[k] * 2.0, "grad = 2 dzbar ({ctx:?})");
        }
    }
}

/// Runs a loss written twice, on the tape (`|tape, leaves| …`) and on `Dual`s (`|leaves| …`, each
/// leaf a `Vec<Dual>`), in the three modes and compares them.
fn check_loss<FR, FD>(fr: FR, fdual: FD, leaves: &[LeafSpec], ctx: &dyn Debug) -> Ad
where
    FR: for<'t> Fn(&'t Tape, &Leaves<'t>) -> Var<'t>,
    FD: Fn(&[Vec<Dual>]) -> Dual,
{
    let (z, real) = flat(leaves);
    let ad = reverse(fr, leaves);
    let fw = forward::gradient(|x| fdual(&split(x, leaves)), &z);
    let fd = check::finite_difference_gradient(
        |w| {
            let x: Vec<Dual> = w.iter().map(|&v| Dual::constant(v)).collect();
            fdual(&split(&x, leaves)).value()
        },
        &z,
    );
    compare(&ad, &fw, &fd, &real, ctx);
    ad
}

fn dsum(x: impl IntoIterator<Item = Dual>) -> Dual {
    x.into_iter().sum()
}

fn point(lim: f64) -> impl Strategy<Value = C> {
    (-lim..lim, -lim..lim).prop_map(|(a, b)| c64(a, b))
}

/// A point with `0.3 < |z| < lim` (a safe divisor).
fn away(lim: f64) -> impl Strategy<Value = C> {
    point(lim).prop_filter("|z| > 0.3", |z| z.norm() > 0.3)
}

// ---------------------------------------------------------------------------------------------
// Elementwise unary ops.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn elementwise_unary_vs_scalar_var_and_dual(pts in prop::collection::vec(point(2.0), 12)) {
        for &op in ALL_UN {
            let xs: Vec<C> = pts.iter().copied().filter(|&z| ok(op, z)).take(6).collect();
            if xs.is_empty() {
                continue;
            }
            let n = xs.len();
            let tape = Tape::new();
            let x = tape.vector(xs.clone());
            let y = arr_un(&x, op);
            prop_assert_eq!(y.shape(), &[n][..]);
            // Complex output Σ y_k: the derivatives w.r.t. x_k are those of y_k alone.
            let g = y.sum().backward();
            let (dz, dzbar) = (g.dz(&x), g.dzbar(&x));
            // Real loss Σ |y_k|².
            let gl = y.norm_sqr_sum().backward();
            let (gl_dzbar, gl_grad) = (gl.dzbar(&x), gl.grad(&x));
            for k in 0..n {
                // The scalar Var of the same op, on its own tape.
                let t2 = Tape::new();
                let v = t2.var(xs[k]);
                let w = var_un(v, op);
                prop_assert_eq!(y.value()[k], w.value(), "value {:?} at {}", op, xs[k]);
                prop_assert_eq!(y.is_real(), w.is_real());
                let gw = w.backward();
                let d = forward::derivative(|z| dual_un(z, op), xs[k]);
                prop_assert_eq!(d.value, w.value());
                let s = 1.0f64.max(d.dz.norm()).max(d.dzbar.norm());
                assert_close(dz[k], gw.dz(&v), RTOL_AD * s, &(op, k, "dz vs Var"));
                assert_close(dzbar[k], gw.dzbar(&v), RTOL_AD * s, &(op, k, "dzbar vs Var"));
                assert_close(dz[k], d.dz, RTOL_AD * s, &(op, k, "dz vs Dual"));
                assert_close(dzbar[k], d.dzbar, RTOL_AD * s, &(op, k, "dzbar vs Dual"));
                let dl = forward::derivative(|z| dual_un(z, op).norm_sqr(), xs[k]);
                let sl = 1.0f64.max(dl.dzbar.norm());
                assert_close(gl_dzbar[k], dl.dzbar, RTOL_AD * sl, &(op, k, "loss dzbar"));
                assert_close(gl_grad[k], dl.grad(), RTOL_AD * sl, &(op, k, "loss grad"));
                let fd = check::finite_difference(|z| dual_un(Dual::constant(z), op).norm_sqr().value(), xs[k]);
                assert_close(gl_dzbar[k], fd.dzbar, RTOL_FD * sl, &(op, k, "loss dzbar vs fd"));
            }
        }
    }

    #[test]
    fn elementwise_unary_on_2d_and_real_arrays(pts in prop::collection::vec(point(2.0), 6)) {
        for &op in ALL_UN {
            if !pts.iter().all(|&z| ok(op, z)) {
                continue;
            }
            // A 2×3 complex leaf, loss Σ Re(w ⊙ op(x)) + Σ|op(x)|².
            let w: Vec<C> = (0..6).map(|k| c64(0.5 - 0.1 * k as f64, 0.2 * k as f64)).collect();
            let wr = w.clone();
            check_loss(
                move |_, l| {
                    let y = arr_un(&l.arrays[0], op);
                    (&y * &wr[..]).sum().re() + y.norm_sqr_sum()
                },
                |x| dsum(x[0].iter().zip(&w).map(|(&z, &w)| {
                    let y = dual_un(z, op);
                    (y * w).re() + y.norm_sqr()
                })),
                &[LeafSpec::Array(pts.clone(), vec![2, 3], false)],
                &op,
            );
        }
        // A real array leaf: every op on real values (away from the cuts), grad real.
        let xs: Vec<f64> = pts.iter().map(|z| z.re).collect();
        for &op in ALL_UN {
            if !xs.iter().all(|&x| ok(op, c64(x, 0.0))) {
                continue;
            }
            let spec = [LeafSpec::Array(xs.iter().map(|&x| c64(x, 0.0)).collect(), vec![3, 2], true)];
            check_loss(
                move |_, l| {
                    let y = arr_un(&l.arrays[0], op);
                    if y.is_real() { y.sum() } else { y.norm_sqr_sum() }
                },
                |x| {
                    let ys: Vec<Dual> = x[0].iter().map(|&z| dual_un(z, op)).collect();
                    // Realness of the array result is that of the scalar result.
                    let t = Tape::new();
                    if var_un(t.real_var(0.5), op).is_real() {
                        dsum(ys)
                    } else {
                        dsum(ys.iter().map(|y| y.norm_sqr()))
                    }
                },
                &spec,
                &(op, "real array"),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Binary operators in every pairing.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Bop {
    Add,
    Sub,
    Mul,
    Div,
}

const ALL_BOP: [Bop; 4] = [Bop::Add, Bop::Sub, Bop::Mul, Bop::Div];

fn dbop(a: Dual, b: Dual, op: Bop) -> Dual {
    match op {
        Bop::Add => a + b,
        Bop::Sub => a - b,
        Bop::Mul => a * b,
        Bop::Div => a / b,
    }
}

/// Which operands a form combines, per element (for the `Dual` reference).
#[derive(Clone, Copy, Debug)]
enum Pair {
    AB,
    AS,
    SA,
    AC,
    CA,
    AF,
    FA,
    ASlice,
    SliceA,
    AA,
}

const N_FORMS: usize = 31;

/// Operand pair of each form (see `arr_form`).
fn pair_of(form: usize) -> Pair {
    match form {
        0..=3 | 22 | 23 => Pair::AB,
        4 | 6 | 24 => Pair::AS,
        5 | 7 => Pair::SA,
        8 | 10 | 25 => Pair::AC,
        9 | 11 => Pair::CA,
        12 | 14 | 26 => Pair::AF,
        13 | 15 => Pair::FA,
        16 | 18 | 20 | 27 | 28 => Pair::ASlice,
        17 | 19 | 21 => Pair::SliceA,
        29 | 30 => Pair::AA,
        _ => unreachable!(),
    }
}

macro_rules! apply_op {
    ($op:expr, $l:expr, $r:expr) => {
        match $op {
            Bop::Add => $l + $r,
            Bop::Sub => $l - $r,
            Bop::Mul => $l * $r,
            Bop::Div => $l / $r,
        }
    };
}

macro_rules! assign_op {
    ($op:expr, $y:ident, $r:expr) => {
        match $op {
            Bop::Add => $y += $r,
            Bop::Sub => $y -= $r,
            Bop::Mul => $y *= $r,
            Bop::Div => $y /= $r,
        }
    };
}

/// Form `form` of `op` on the tape.
#[allow(clippy::too_many_arguments)]
fn arr_form<'t>(
    op: Bop,
    form: usize,
    a: &VarArray<'t>,
    b: &VarArray<'t>,
    s: Var<'t>,
    c: C,
    f: f64,
    cs: &Vec<C>,
) -> VarArray<'t> {
    let sl: &[C] = &cs[..];
    match form {
        0 => apply_op!(op, a, b),
        1 => apply_op!(op, a.clone(), b.clone()),
        2 => apply_op!(op, a, b.clone()),
        3 => apply_op!(op, a.clone(), b),
        4 => apply_op!(op, a, s),
        5 => apply_op!(op, s, a),
        6 => apply_op!(op, a.clone(), s),
        7 => apply_op!(op, s, a.clone()),
        8 => apply_op!(op, a, c),
        9 => apply_op!(op, c, a),
        10 => apply_op!(op, a.clone(), c),
        11 => apply_op!(op, c, a.clone()),
        12 => apply_op!(op, a, f),
        13 => apply_op!(op, f, a),
        14 => apply_op!(op, a.clone(), f),
        15 => apply_op!(op, f, a.clone()),
        16 => apply_op!(op, a, sl),
        17 => apply_op!(op, sl, a),
        18 => apply_op!(op, a.clone(), sl),
        19 => apply_op!(op, sl, a.clone()),
        20 => apply_op!(op, a, cs),
        21 => apply_op!(op, cs, a),
        22 => {
            let mut y = a.clone();
            assign_op!(op, y, b);
            y
        }
        23 => {
            let mut y = a.clone();
            assign_op!(op, y, b.clone());
            y
        }
        24 => {
            let mut y = a.clone();
            assign_op!(op, y, s);
            y
        }
        25 => {
            let mut y = a.clone();
            assign_op!(op, y, c);
            y
        }
        26 => {
            let mut y = a.clone();
            assign_op!(op, y, f);
            y
        }
        27 => {
            let mut y = a.clone();
            assign_op!(op, y, sl);
            y
        }
        28 => {
            let mut y = a.clone();
            assign_op!(op, y, cs);
            y
        }
        29 => apply_op!(op, a, a),
        30 => {
            let mut y = a.clone();
            assign_op!(op, y, a);
            y
        }
        _ => unreachable!(),
    }
}

#[allow(clippy::too_many_arguments)]
fn dual_form(op: Bop, form: usize, a: Dual, b: Dual, s: Dual, c: C, f: f64, ck: C) -> Dual {
    let (c, f, ck) = (
        Dual::constant(c),
        Dual::constant(c64(f, 0.0)),
        Dual::constant(ck),
    );
    match pair_of(form) {
        Pair::AB => dbop(a, b, op),
        Pair::AS => dbop(a, s, op),
        Pair::SA => dbop(s, a, op),
        Pair::AC => dbop(a, c, op),
        Pair::CA => dbop(c, a, op),
        Pair::AF => dbop(a, f, op),
        Pair::FA => dbop(f, a, op),
        Pair::ASlice => dbop(a, ck, op),
        Pair::SliceA => dbop(ck, a, op),
        Pair::AA => dbop(a, a, op),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn binary_ops_every_pairing(
        a in prop::collection::vec(away(2.0), 6),
        b in prop::collection::vec(away(2.0), 6),
        cs in prop::collection::vec(away(2.0), 6),
        w in prop::collection::vec(point(1.0), 6),
        s in away(2.0),
        c in away(2.0),
        f in prop_oneof![-2.0..-0.3f64, 0.3..2.0f64],
        s_real in any::<bool>(),
    ) {
        let shape = vec![2, 3];
        let s = if s_real { c64(s.re.signum() * s.norm(), 0.0) } else { s };
        let leaves = [
            LeafSpec::Array(a.clone(), shape.clone(), false),
            LeafSpec::Array(b.clone(), shape.clone(), false),
            LeafSpec::Scalar(s, s_real),
        ];
        for op in ALL_BOP {
            for form in 0..N_FORMS {
                let (cs1, cs2, w1, w2, sh) = (cs.clone(), cs.clone(), w.clone(), w.clone(), shape.clone());
                // Complex output Σ w_k y_k (one weight per element) …
                let ad = check_loss(
                    move |t, l| {
                        let y = arr_form(op, form, &l.arrays[0], &l.arrays[1], l.scalars[0], c, f, &cs1);
                        assert_eq!(y.shape(), &sh[..]);
                        y.dot(&t.constant_array(w1.clone(), &sh))
                    },
                    move |x| dsum((0..6).map(|k| w2[k] * dual_form(op, form, x[0][k], x[1][k], x[2][0], c, f, cs2[k]))),
                    &leaves,
                    &(op, form),
                );
                prop_assert!(!ad.is_real);
                // … and the real loss Σ |y_k|².
                let (cs1, cs2) = (cs.clone(), cs.clone());
                let ad = check_loss(
                    move |_, l| arr_form(op, form, &l.arrays[0], &l.arrays[1], l.scalars[0], c, f, &cs1).norm_sqr_sum(),
                    move |x| dsum((0..6).map(|k| dual_form(op, form, x[0][k], x[1][k], x[2][0], c, f, cs2[k]).norm_sqr())),
                    &leaves,
                    &(op, form, "norm_sqr_sum"),
                );
                prop_assert!(ad.is_real);
            }
        }
    }

    #[test]
    fn powc_and_neg_of_arrays(
        a in prop::collection::vec(point(2.0), 4),
        b in prop::collection::vec(point(1.5), 4),
    ) {
        prop_assume!(a.iter().all(|&z| ok(Un::Ln, z)));
        let leaves = [
            LeafSpec::Array(a.clone(), vec![4], false),
            LeafSpec::Array(b.clone(), vec![4], false),
        ];
        check_loss(
            |_, l| l.arrays[0].powc(&l.arrays[1]).sum(),
            |x| dsum((0..4).map(|k| x[0][k].powc(x[1][k]))),
            &leaves,
            &"powc",
        );
        check_loss(
            |_, l| l.arrays[0].powc(&l.arrays[0]).norm_sqr_sum(),
            |x| dsum((0..4).map(|k| x[0][k].powc(x[0][k]).norm_sqr())),
            &leaves,
            &"powc self",
        );
        check_loss(
            |_, l| (-&l.arrays[0]).vdot(&(-l.arrays[1].clone())),
            |x| dsum((0..4).map(|k| (-x[0][k]).conj() * -x[1][k])),
            &leaves,
            &"neg",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Reductions, get, reshape, stack.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn reductions(
        a in prop::collection::vec(point(1.5), 6),
        b in prop::collection::vec(point(1.5), 6),
        s in point(1.5),
        t in point(1.5),
        real_b in any::<bool>(),
    ) {
        let leaves = [
            LeafSpec::Array(a.clone(), vec![2, 3], false),
            LeafSpec::Array(b.clone(), vec![2, 3], real_b),
            LeafSpec::Scalar(s, false),
            LeafSpec::Scalar(t, true),
        ];
        let ctx = real_b;
        check_loss(|_, l| l.arrays[0].sum(), |x| dsum(x[0].clone()), &leaves, &("sum", ctx));
        check_loss(|_, l| l.arrays[1].sum(), |x| dsum(x[1].clone()), &leaves, &("sum b", ctx));
        check_loss(
            |_, l| l.arrays[0].mean() * l.scalars[0],
            |x| dsum(x[0].clone()) / 6.0 * x[2][0],
            &leaves,
            &("mean", ctx),
        );
        check_loss(
            |_, l| l.arrays[0].dot(&l.arrays[1]),
            |x| dsum((0..6).map(|k| x[0][k] * x[1][k])),
            &leaves,
            &("dot", ctx),
        );
        check_loss(
            |_, l| l.arrays[1].dot(&l.arrays[0]),
            |x| dsum((0..6).map(|k| x[1][k] * x[0][k])),
            &leaves,
            &("dot swapped", ctx),
        );
        check_loss(
            |_, l| l.arrays[0].vdot(&l.arrays[1]),
            |x| dsum((0..6).map(|k| x[0][k].conj() * x[1][k])),
            &leaves,
            &("vdot", ctx),
        );
        check_loss(
            |_, l| l.arrays[1].vdot(&l.arrays[0]),
            |x| dsum((0..6).map(|k| x[1][k].conj() * x[0][k])),
            &leaves,
            &("vdot swapped", ctx),
        );
        check_loss(
            |_, l| l.arrays[0].vdot(&l.arrays[0]).re() + l.arrays[0].dot(&l.arrays[0]).im(),
            |x| dsum((0..6).map(|k| x[0][k].conj() * x[0][k])).re() + dsum((0..6).map(|k| x[0][k] * x[0][k])).im(),
            &leaves,
            &("self dot", ctx),
        );
        // dot of two real arrays is real-valued.
        check_loss(
            |_, l| l.arrays[1].dot(&l.arrays[1]),
            |x| dsum((0..6).map(|k| x[1][k] * x[1][k])),
            &leaves,
            &("dot b b", ctx),
        );
        check_loss(
            |_, l| l.arrays[0].norm_sqr_sum() * l.scalars[1] + l.arrays[1].norm_sqr_sum(),
            |x| dsum(x[0].iter().map(|v| v.norm_sqr())) * x[3][0] + dsum(x[1].iter().map(|v| v.norm_sqr())),
            &leaves,
            &("norm_sqr_sum", ctx),
        );
        // norm_sqr_sum inside a complex output: its adjoint is complex, only 2 Re(c) reaches a.
        check_loss(
            |_, l| l.arrays[0].norm_sqr_sum() * l.scalars[0] + l.arrays[1].norm_sqr_sum().sin() * c64(0.5, 2.0),
            |x| {
                dsum(x[0].iter().map(|v| v.norm_sqr())) * x[2][0]
                    + dsum(x[1].iter().map(|v| v.norm_sqr())).sin() * c64(0.5, 2.0)
            },
            &leaves,
            &("norm_sqr_sum complex", ctx),
        );
        // get, at every index; reshape then get.
        for i in 0..2 {
            for j in 0..3 {
                check_loss(
                    move |_, l| l.arrays[0].get(&[i, j]) * l.arrays[1].get(&[1 - i, j]).conj(),
                    move |x| x[0][i * 3 + j] * x[1][(1 - i) * 3 + j].conj(),
                    &leaves,
                    &("get", i, j, ctx),
                );
            }
        }
        check_loss(
            |_, l| {
                let r = l.arrays[0].reshape(&[3, 2]);
                assert_eq!(r.shape(), &[3, 2]);
                assert_eq!(r.value(), l.arrays[0].value());
                r.get(&[2, 0]) + r.reshape(&[6]).get(&[1]).exp() + (&r * &l.arrays[1].reshape(&[3, 2])).sum()
            },
            |x| x[0][4] + x[0][1].exp() + dsum((0..6).map(|k| x[0][k] * x[1][k])),
            &leaves,
            &("reshape", ctx),
        );
        // stack of scalars (leaves, a constant, intermediates, a leaf twice), then array ops.
        check_loss(
            |t, l| {
                let (s, r) = (l.scalars[0], l.scalars[1]);
                let st = VarArray::stack(&[s, r, s * r, t.constant(c64(0.5, -1.0)), s.sin(), l.arrays[0].get(&[0, 1]), s]);
                assert_eq!(st.shape(), &[7]);
                (&st * &st.conj()).sum() + st.exp().dot(&t.constant_array(vec![c64(1.0, 0.5); 7], &[7]))
            },
            |x| {
                let (s, r) = (x[2][0], x[3][0]);
                let st = [s, r, s * r, Dual::constant(c64(0.5, -1.0)), s.sin(), x[0][1], s];
                dsum(st.iter().map(|v| *v * v.conj())) + dsum(st.iter().map(|v| v.exp() * c64(1.0, 0.5)))
            },
            &leaves,
            &("stack", ctx),
        );
        // A real array and a real scalar only: the stack is real, the loss real.
        check_loss(
            |_, l| {
                let st = VarArray::stack(&[l.scalars[1], l.scalars[1] * 2.0]);
                assert!(st.is_real());
                st.sum() * l.arrays[1].get(&[0, 0])
            },
            |x| (x[3][0] + x[3][0] * 2.0) * x[1][0],
            &leaves,
            &("real stack", ctx),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Real and constant arrays.
// ---------------------------------------------------------------------------------------------

#[test]
fn real_array_leaves_have_real_gradients() {
    let tape: Tape = Tape::new();
    let p = tape.real_array(vec![0.5, -1.0, 2.0], &[3]);
    assert!(p.is_real());
    let z = tape.vector(vec![c64(1.0, 1.0), c64(0.0, -2.0), c64(0.5, 0.25)]);
    // L = Σ |p_k z_k|² + Σ p_k² : dL/dp_k = 2 p_k |z_k|² + 2 p_k
    let l = (&p * &z).norm_sqr_sum() + (&p * &p).sum();
    assert!(l.is_real());
    let g = l.backward();
    let gp = g.grad(&p);
    let zv = z.value();
    let pv = [0.5, -1.0, 2.0];
    for k in 0..3 {
        assert_eq!(gp[k].im, 0.0);
        let expect = 2.0 * pv[k] * zv[k].norm_sqr() + 2.0 * pv[k];
        assert!(
            (gp[k].re - expect).abs() < 1e-14,
            "{k}: {} vs {expect}",
            gp[k]
        );
    }
    // grad of the complex leaf: 2 ∂L/∂z̄ = 2 p² z.
    let gz = g.grad(&z);
    for k in 0..3 {
        assert!((gz[k] - zv[k] * (2.0 * pv[k] * pv[k])).norm() < 1e-14);
    }
    // Real ops on a real array keep it real; complex ones do not.
    assert!(p.exp().is_real() && (&p * 2.0).is_real() && p.sin().is_real());
    assert!(!p.sqrt().is_real() && !(&p * c64(0.0, 1.0)).is_real() && !(&p * &z).is_real());
    assert!(z.norm_sqr().is_real() && z.re().is_real() && z.abs().is_real());
}

#[test]
fn constant_arrays_act_like_constants() {
    let tape = Tape::new();
    let a = tape.array(
        vec![
            c64(1.0, -0.5),
            c64(0.25, 2.0),
            c64(-1.5, 0.5),
            c64(0.0, 1.0),
        ],
        &[2, 2],
    );
    let kv = vec![c64(0.5, 0.5), c64(-1.0, 0.0), c64(2.0, -1.0), c64(0.0, 3.0)];
    let k = tape.constant_array(kv.clone(), &[2, 2]);
    assert!(!k.is_real());
    let r = tape.real_constant_array(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    assert!(r.is_real());
    assert!(tape
        .constant_array(vec![c64(1.0, 0.0); 4], &[2, 2])
        .is_real());
    // a ⊕ constant array equals a ⊕ slice.
    for op in ALL_BOP {
        let y1 = apply_op!(op, &a, &k);
        let y2 = apply_op!(op, &a, &kv[..]);
        assert_eq!(y1.value(), y2.value());
        let l1 = (&y1 * &r).norm_sqr_sum();
        let l2 = (&y2 * &[c64(1.0, 0.0), c64(2.0, 0.0), c64(3.0, 0.0), c64(4.0, 0.0)][..])
            .norm_sqr_sum();
        assert_eq!(l1.value(), l2.value());
        let (g1, g2) = (l1.backward(), l2.backward());
        let (d1, d2) = (g1.grad(&a), g2.grad(&a));
        for i in 0..4 {
            assert!(
                (d1[i] - d2[i]).norm() < 1e-13 * d2[i].norm().max(1.0),
                "{op:?}"
            );
        }
        // Left side constant too.
        let y3 = apply_op!(op, &k, &a);
        let y4 = apply_op!(op, &kv[..], &a);
        assert_eq!(y3.value(), y4.value());
        let (g3, g4) = (y3.sum().backward(), y4.sum().backward());
        assert_eq!(g3.dz(&a), g4.dz(&a));
    }
    // Ops on constants only: the result carries no derivative.
    let kk = (&k * &r).exp().fft();
    let l = kk.norm_sqr_sum() + a.sum().re();
    let g = l.backward();
    assert_eq!(g.grad(&a), vec![c64(1.0, 0.0); 4]);
    let l0 = (&k + &r).sum().norm_sqr();
    let g0 = l0.backward();
    assert_eq!(g0.grad(&a), vec![c64(0.0, 0.0); 4]);
}

// ---------------------------------------------------------------------------------------------
// Composite array losses against finite differences.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn composite_losses(
        a in prop::collection::vec(point(1.0), 6),
        b in prop::collection::vec(point(1.0), 6),
        t in prop::collection::vec(-1.0..1.0f64, 6),
        s in point(1.0),
        p in -1.0..1.0f64,
    ) {
        let leaves = [
            LeafSpec::Array(a.clone(), vec![3, 2], false),
            LeafSpec::Array(b.iter().map(|z| c64(z.re, 0.0)).collect(), vec![3, 2], true),
            LeafSpec::Scalar(s, false),
            LeafSpec::Scalar(c64(p, 0.0), true),
        ];
        // Σ |exp(i θ) ⊙ a · s − t|² + Re vdot(a, a²) with θ a real array: a fitting problem with
        // fan-out of `a` into four ops.
        let (t1, t2) = (t.clone(), t.clone());
        check_loss(
            move |tp, l| {
                let (a, th, s) = (&l.arrays[0], &l.arrays[1], l.scalars[0]);
                let tc = tp.real_constant_array(t1.clone(), &[3, 2]);
                let phase = (th * c64(0.0, 1.0)).exp();
                let r = &(&phase * a) * s - &tc;
                r.norm_sqr_sum() + a.vdot(&(a * a)).re() + (a.sin() / (a.norm_sqr() + 1.0)).sum().im() * l.scalars[1]
            },
            move |x| {
                let (a, th, s, p) = (&x[0], &x[1], x[2][0], x[3][0]);
                let r = dsum((0..6).map(|k| ((th[k] * c64(0.0, 1.0)).exp() * a[k] * s - t2[k]).norm_sqr()));
                let v = dsum((0..6).map(|k| a[k].conj() * a[k] * a[k])).re();
                let q = dsum((0..6).map(|k| a[k].sin() / (a[k].norm_sqr() + 1.0))).im();
                r + v + q * p
            },
            &leaves,
            &"fit",
        );
        // A complex output mixing reductions and elementwise ops, then 1-D slices of it.
        check_loss(
            |tp, l| {
                let (a, th) = (&l.arrays[0], &l.arrays[1]);
                let m = a.mean();
                let y = (a - m).powi(2) * th.cos() + 1.0 / (th.norm_sqr() + 2.0);
                y.dot(&a.conj()) + y.reshape(&[6]).get(&[5]) * tp.constant(c64(0.0, 2.0))
            },
            |x| {
                let (a, th) = (&x[0], &x[1]);
                let m = dsum(a.clone()) / 6.0;
                let y: Vec<Dual> = (0..6).map(|k| (a[k] - m).powi(2) * th[k].cos() + 1.0 / (th[k].norm_sqr() + 2.0)).collect();
                dsum((0..6).map(|k| y[k] * a[k].conj())) + y[5] * c64(0.0, 2.0)
            },
            &leaves,
            &"complex output",
        );
    }
}

#[test]
fn array_value_shape_len() {
    let tape = Tape::new();
    let a = tape.array(vec![c64(1.0, 2.0); 6], &[2, 3]);
    assert_eq!(a.shape(), &[2, 3]);
    assert_eq!(a.len(), 6);
    assert!(!a.is_empty());
    assert_eq!(a.value().len(), 6);
    let v = tape.vector(vec![c64(0.0, 1.0), c64(2.0, 0.0)]);
    assert_eq!(v.shape(), &[2]);
    // A chain of elementwise ops is recorded as one node, whatever its size and length, when its
    // values are first needed.
    let n = tape.len();
    let e = (&a * &a).exp();
    assert_eq!(tape.len(), n);
    let _ = e.value();
    assert_eq!(tape.len(), n + 1);
    let _ = (e.clone(), e.value());
    assert_eq!(tape.len(), n + 1);
}

#[test]
fn empty_and_zero_dimensional_arrays() {
    let tape = Tape::new();
    let e = tape.vector(Vec::<C>::new());
    assert!(e.is_empty());
    let l = e.exp().fft().norm_sqr_sum() + e.sum().re();
    assert_eq!(l.value(), c64(0.0, 0.0));
    assert!(l.backward().grad(&e).is_empty());
    let e2 = tape.array(Vec::<C>::new(), &[0, 3]);
    assert!(e2
        .fft2()
        .fftshift()
        .sin()
        .norm_sqr_sum()
        .backward()
        .grad(&e2)
        .is_empty());
    // A 0-d array holds one element; n-D transforms over no axes are the identity.
    let a = tape.array(vec![c64(1.0, 2.0)], &[]);
    assert_eq!(a.len(), 1);
    let y = a.fftn().fftshift().ifftn_with(Norm::Ortho);
    assert_eq!(*y.value(), vec![c64(1.0, 2.0)]);
    // L = Re(a²) = x² − y²: grad = 2x − 2iy.
    let g = (&y * &y).get(&[]).re().backward();
    assert_eq!(g.grad(&a), vec![c64(2.0, -4.0)]);
}

/// Buffers of dropped tapes and gradients are reused: results stay identical over many fresh
/// tapes, cleared tapes and after `release_buffers`.
#[test]
fn recycled_buffers_give_identical_results() {
    let u0: Vec<Complex64> = (0..48)
        .map(|k| c64((k as f64 * 0.37).sin(), (k as f64 * 0.71).cos()))
        .collect();
    let run = |tape: &Tape| {
        let u = tape.array(u0.clone(), &[6, 8]);
        let t = tape.real_constant_array(vec![0.5; 48], &[6, 8]);
        let l = (u.fft2().norm_sqr() - &t).powi(2).sum() + (&u * &u.conj()).re().sum();
        let g = l.backward();
        (l.value(), g.grad(&u))
    };
    let first = run(&Tape::new());
    for k in 0..20 {
        if k == 10 {
            wirtinger::reverse::release_buffers();
        }
        assert_eq!(run(&Tape::new()), first);
    }
    let mut tape = Tape::new();
    for _ in 0..5 {
        assert_eq!(run(&tape), first);
        tape.clear();
    }
}

/// The picture of the graph shows constants as inputs of the ops that use them, with their edges,
/// and the gradient is unchanged by them.
#[test]
fn dot_draws_edges_from_constants() {
    let tape = Tape::new();
    let u = tape.vector(vec![c64(1.0, 2.0), c64(0.5, -1.0)]);
    let t = tape.real_constant_array(vec![1.0, 2.0], &[2]); // node 1
    let k = tape.constant(c64(0.0, 2.0)); // node 2
    let d = &u.norm_sqr() - &t;
    // The elementwise chain and its sum are one fused node, node 3.
    let loss = (d * k).re().sum() * 0.5;
    let g = loss.backward();
    let dot = tape.to_dot(Some(&g));
    assert!(dot.contains("n0 -> n3"), "{dot}");
    assert!(dot.contains("n1 -> n3"), "{dot}");
    assert!(dot.contains("n2 -> n3"), "{dot}");
    // (|u|² − t)·2i has real part 0, so the loss and its gradient are 0.
    assert_eq!(g.grad(&u), vec![c64(0.0, 0.0); 2]);
}

/// Constant arrays given as an owned `Vec` work on either side, like slices.
#[test]
fn owned_vec_constants_on_either_side() {
    let tape = Tape::new();
    let u = tape.vector(vec![c64(1.0, 2.0), c64(-0.5, 0.25)]);
    let k = vec![c64(2.0, -1.0), c64(0.5, 0.5)];
    let a = (&u * k.clone()).norm_sqr_sum();
    let b = (k.clone() * &u).norm_sqr_sum();
    let c = (k.clone() - u.clone()).norm_sqr_sum();
    let (ga, gb, gc) = (a.backward(), b.backward(), c.backward());
    let uv = u.value();
    for i in 0..2 {
        // |k u|² has gradient 2|k|² u; |k − u|² has gradient 2(u − k).
        let expected = uv[i] * (2.0 * k[i].norm_sqr());
        assert!((ga.grad(&u)[i] - expected).norm() < 1e-12);
        assert!((gb.grad(&u)[i] - expected).norm() < 1e-12);
        assert!((gc.grad(&u)[i] - (uv[i] - k[i]) * 2.0).norm() < 1e-12);
    }
}

/// Real constant arrays (`&[f64]`, `&Vec<f64>`, `Vec<f64>`) work on either side, exactly like the
/// same values as complex constants, and keep a real result real.
#[test]
fn real_constant_slices_on_either_side() {
    let tape = Tape::new();
    let u = tape.vector(vec![c64(1.0, 2.0), c64(-0.5, 0.25)]);
    let v = tape.real_array(vec![0.5, -1.5], &[2]);
    let k = vec![2.0, -0.5];
    let kc: Vec<Complex64> = k.iter().map(|&x| c64(x, 0.0)).collect();
    let pairs = [
        (
            (&u * k.as_slice()).norm_sqr_sum(),
            (&u * kc.as_slice()).norm_sqr_sum(),
        ),
        (
            (k.as_slice() - &u).norm_sqr_sum(),
            (kc.as_slice() - &u).norm_sqr_sum(),
        ),
        ((&u / &k).norm_sqr_sum(), (&u / &kc).norm_sqr_sum()),
        (
            (k.clone() + u.clone()).norm_sqr_sum(),
            (kc.clone() + u.clone()).norm_sqr_sum(),
        ),
    ];
    for (a, b) in pairs {
        assert_eq!(a.value(), b.value());
        assert_eq!(a.backward().grad(&u), b.backward().grad(&u));
    }
    let r = &v * k.as_slice() - 1.0;
    assert!(r.is_real());
    let mut w = u.clone();
    w *= k.as_slice();
    assert_eq!(w.value()[0], c64(2.0, 4.0));
}

/// Borrowed data (slices, `&Vec`, arrays) make the same leaves and constants as owned `Vec`s.
#[test]
fn borrowed_and_owned_data_agree() {
    let u: Vec<Complex64> = (0..6)
        .map(|k| c64(0.3 * k as f64, 1.0 - 0.2 * k as f64))
        .collect();
    let t: Vec<f64> = (0..6).map(|k| 0.5 + k as f64).collect();
    let shared = std::rc::Rc::new(u.clone());
    let shared_t = std::rc::Rc::new(t.clone());
    let run = |how: u8| {
        let tape: Tape = Tape::new();
        let (a, b, c, d) = match how {
            0 => (
                tape.array(&u, &[2, 3]),
                tape.real_constant_array(&t, &[2, 3]),
                tape.constant_array(&u[..], &[2, 3]),
                tape.real_array(&t[..], &[2, 3]),
            ),
            1 => (
                tape.array(u.clone(), &[2, 3]),
                tape.real_constant_array(t.clone(), &[2, 3]),
                tape.constant_array(u.clone(), &[2, 3]),
                tape.real_array(t.clone(), &[2, 3]),
            ),
            2 => (
                tape.array(&shared, &[2, 3]),
                tape.real_constant_array(&t, &[2, 3]),
                tape.constant_array(shared.clone(), &[2, 3]),
                tape.real_array(&t[..], &[2, 3]),
            ),
            _ => (
                tape.array(shared.clone(), &[2, 3]),
                tape.real_constant_array(&shared_t, &[2, 3]),
                tape.constant_array(&shared, &[2, 3]),
                tape.real_array(shared_t.clone(), &[2, 3]),
            ),
        };
        let loss = ((&a * &c).norm_sqr() - &b + &d * &a.conj()).norm_sqr_sum();
        let g = loss.backward();
        (loss.value(), g.grad(&a), g.grad(&d))
    };
    assert_eq!(run(0), run(1));
    assert_eq!(run(0), run(2));
    assert_eq!(run(0), run(3));
    assert_eq!(std::rc::Rc::strong_count(&shared_t), 1);
    // Real data in an `Rc` is shared too, and counted once however many nodes hold it.
    {
        let tape: Tape = Tape::new();
        let p = tape.real_array(&shared_t, &[2, 3]);
        let k = tape.real_constant_array(shared_t.clone(), &[6]);
        assert_eq!(std::rc::Rc::strong_count(&shared_t), 3);
        assert_eq!(tape.memory().values, 6 * 8);
        assert_eq!(p.value().iter().map(|z| z.re).collect::<Vec<_>>(), t);
        assert_eq!(k.value().iter().map(|z| z.im).sum::<f64>(), 0.0);
    }
    assert_eq!(std::rc::Rc::strong_count(&shared_t), 1);
    // The tape shared the `Rc` (no copy) and let it go with the tape.
    {
        let tape: Tape = Tape::new();
        let a = tape.vector(&shared);
        assert!(std::rc::Rc::ptr_eq(&a.value(), &shared));
    }
    assert_eq!(std::rc::Rc::strong_count(&shared), 1);
    let tape: Tape = Tape::new();
    let fixed = [c64(1.0, 2.0), c64(3.0, -1.0)];
    assert_eq!(*tape.vector(fixed).value(), fixed.to_vec());
    let borrowed: &[Complex64; 2] = &fixed;
    assert_eq!(*tape.vector(borrowed).value(), fixed.to_vec());
    assert_eq!(
        *tape.real_array([1.0, 2.0], &[2]).value(),
        vec![c64(1.0, 0.0), c64(2.0, 0.0)]
    );
}

/// Real leaves and real constants are stored as real numbers (half the memory); every way of
/// reading them gives what complex storage with zero imaginary parts gives, bit for bit: fused
/// chains (small, and past the parallel threshold, odd lengths included), the constant-slice
/// operators, array ops that read the values (FFT, dot, get, reshape) and `value()`.
#[test]
fn real_arrays_stored_as_real_agree_with_complex_storage() {
    for n in [1usize, 7, 256, 1000, (1 << 15) + 3] {
        let u: Vec<Complex64> = (0..n)
            .map(|k| c64((0.37 * k as f64).sin(), (0.11 * k as f64).cos()))
            .collect();
        let t: Vec<f64> = (0..n).map(|k| 0.5 + (0.05 * k as f64).cos()).collect();
        let tc: Vec<Complex64> = t.iter().map(|&x| c64(x, 0.0)).collect();
        let run = |real: bool| {
            let tape: Tape = Tape::new();
            let a = tape.vector(&u);
            let (t1, p) = if real {
                (
                    tape.real_constant_array(&t, &[n]),
                    tape.real_array(&t, &[n]),
                )
            } else {
                // All imaginary parts 0: counted as real, stored as complex.
                let c = tape.constant_array(&tc, &[n]);
                assert!(c.is_real());
                (c, tape.real_array(&t, &[n]))
            };
            let fused = ((a.fft().norm_sqr() - &t1).powi(2) * &p).sum();
            let sliced = (&a * &t[..] - &t[..] * &p).norm_sqr_sum();
            let ops =
                p.fft().vdot(&a).re() + t1.dot(&p) + t1.get(&[n / 2]) * p.reshape(&[1, n]).sum();
            let loss = fused + sliced + ops;
            let g = loss.backward();
            (
                loss.value(),
                g.grad(&a),
                g.grad(&p),
                t1.value().to_vec(),
                p.value().to_vec(),
            )
        };
        let (real, complex) = (run(true), run(false));
        assert_eq!(real, complex, "n = {n}");
        assert_eq!(real.3, tc, "n = {n}: value() of a real constant");
        assert_eq!(real.4, tc, "n = {n}: value() of a real leaf");
    }
}

/// A complex field and a real one, of `n` elements, for the tests of reading gradients.
fn leaf_values(n: usize) -> (Vec<Complex64>, Vec<f64>) {
    let u = (0..n)
        .map(|k| c64((0.3 * k as f64).cos(), (0.7 * k as f64).sin()))
        .collect();
    let t = (0..n).map(|k| 1.0 + (0.01 * k as f64).sin()).collect();
    (u, t)
}

/// `grad_into`, `dz_into` and `dzbar_into` write what `grad`, `dz` and `dzbar` return, for real and
/// complex outputs, complex and real leaves, small arrays and arrays past the parallel threshold,
/// whatever the buffer held before.
#[test]
fn reading_into_a_buffer_agrees_with_reading_into_a_vec() {
    for n in [5usize, (1 << 15) + 1] {
        let (u, t) = leaf_values(n);
        let tape: Tape = Tape::new();
        let a = tape.vector(&u);
        let p = tape.real_array(&t, &[n]);
        let real = ((&a * &p).norm_sqr() - &t[..]).powi(2).sum();
        let complex = (&a * &a.conj().exp() * &p).sum() * c64(0.5, -2.0);
        let mut out = vec![c64(f64::NAN, 1.0); n];
        let g = real.backward();
        for x in [&a, &p] {
            g.grad_into(x, &mut out);
            assert_eq!(out, g.grad(x));
            g.dz_into(x, &mut out);
            assert_eq!(out, g.dz(x));
            g.dzbar_into(x, &mut out);
            assert_eq!(out, g.dzbar(x));
        }
        let g = complex.backward();
        for x in [&a, &p] {
            g.dz_into(x, &mut out);
            assert_eq!(out, g.dz(x));
            g.dzbar_into(x, &mut out);
            assert_eq!(out, g.dzbar(x));
        }
    }
}

/// `grad_ref` gives what `grad` returns, bit for bit: lent (the backward pass's own buffer) for a
/// complex leaf of a real output, small or past the parallel threshold; a new vector for a real
/// leaf (its gradient is real, the adjoint is not) and for a leaf the output does not depend on.
/// `grad` is twice `dzbar`, exactly, as the seed `1` makes it.
#[test]
fn grad_ref_lends_the_adjoint_of_a_complex_leaf_and_agrees_with_grad() {
    use std::borrow::Cow;
    for n in [5usize, (1 << 15) + 1] {
        let (u, t) = leaf_values(n);
        let tape: Tape = Tape::new();
        let a = tape.vector(&u);
        let p = tape.real_array(&t, &[n]);
        let unused = tape.vector(&u);
        // A fused loss (its VJP computed with its value) and an FFT one (the adjoint from the
        // inverse transform).
        let fused = ((&a * &p).norm_sqr() - &t[..]).powi(2).sum();
        let fft = (a.fft() * &p).norm_sqr_sum() + a.norm_sqr_sum() * 0.25;
        // The fused loss's gradient, known: `2 ∂/∂ā (|a|²p² − t)² = 4(|a|²p² − t)p² a`.
        let want: Vec<Complex64> = u
            .iter()
            .zip(&t)
            .map(|(a, t)| a * (4.0 * (a.norm_sqr() * t * t - t) * t * t))
            .collect();
        for (k, loss) in [fused, fft].into_iter().enumerate() {
            let g = loss.backward();
            let lent = g.grad_ref(&a);
            if k == 0 {
                for (x, w) in lent.iter().zip(&want) {
                    assert!((x - w).norm() <= 1e-12 * w.norm().max(1.0), "{x} vs {w}");
                }
            }
            assert!(matches!(lent, Cow::Borrowed(_)), "n = {n}");
            assert_eq!(*lent, g.grad(&a)[..]);
            let dzbar = g.dzbar(&a);
            assert!(lent.iter().zip(&dzbar).all(|(x, d)| *x == d * 2.0));
            assert!(lent.iter().filter(|x| x.norm() > 0.0).count() > n / 2);
            let real = g.grad_ref(&p);
            assert!(matches!(real, Cow::Owned(_)));
            assert_eq!(*real, g.grad(&p)[..]);
            assert!(real.iter().all(|x| x.im == 0.0));
            let none = g.grad_ref(&unused);
            assert!(matches!(none, Cow::Owned(_)));
            assert!(none.iter().all(|x| *x == c64(0.0, 0.0)));
        }
    }
}

#[test]
#[should_panic(expected = "Gradients::grad_ref: grad asked of a complex-valued output")]
fn grad_ref_of_a_complex_output_panics() {
    let tape: Tape = Tape::new();
    let a = tape.vector(vec![c64(1.0, 2.0); 3]);
    let g = a.sum().backward();
    let _ = g.grad_ref(&a);
}

#[test]
#[should_panic(expected = "Gradients::grad_ref asked about an array (`mul`), which is not a leaf")]
fn grad_ref_of_an_array_that_is_not_a_leaf_panics() {
    let tape: Tape = Tape::new();
    let a = tape.vector(vec![c64(1.0, 2.0); 3]);
    let b = &a * c64(2.0, 0.0);
    let g = b.norm_sqr_sum().backward();
    let _ = g.grad_ref(&b);
}

#[test]
#[should_panic(
    expected = "Gradients::grad_into: the output has 3 elements, the array of shape [2, 2] has 4"
)]
fn reading_into_a_buffer_of_the_wrong_length_panics() {
    let tape: Tape = Tape::new();
    let a = tape.array(vec![c64(1.0, 0.0); 4], &[2, 2]);
    let g = a.norm_sqr_sum().backward();
    g.grad_into(&a, &mut [c64(0.0, 0.0); 3]);
}
