//! Reverse mode on scalars: every op of `Var` against forward mode (`Dual`) and finite differences,
//! random expression graphs with fan-out and several (complex and real) leaves, the worked
//! examples of the math reference, several outputs of one tape, and the DOT picture.

use proptest::prelude::*;
use std::fmt::Debug;
use std::iter::{Product, Sum};
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};
use wirtinger::check;
use wirtinger::forward::{self, Gradient};
use wirtinger::prelude::*;

mod common;
use common::{ok, Un, ALL_UN};

type C = Complex64;

/// Reverse mode against forward mode: both apply the same rules table, so only rounding differs.
const RTOL_AD: f64 = 1e-12;
/// Against finite differences (Richardson-extrapolated central differences, ~1e-10 for smooth f).
const RTOL_FD: f64 = 1e-8;

// ---------------------------------------------------------------------------------------------
// One generic vocabulary for `Dual` and `Var`, so the same expression is evaluated in both modes.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Bop {
    Add,
    Sub,
    Mul,
    Div,
}

const ALL_BOP: [Bop; 4] = [Bop::Add, Bop::Sub, Bop::Mul, Bop::Div];

trait Sc:
    Copy
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Add<C, Output = Self>
    + Sub<C, Output = Self>
    + Mul<C, Output = Self>
    + Div<C, Output = Self>
    + Add<f64, Output = Self>
    + Sub<f64, Output = Self>
    + Mul<f64, Output = Self>
    + Div<f64, Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + AddAssign<C>
    + SubAssign<C>
    + MulAssign<C>
    + DivAssign<C>
    + AddAssign<f64>
    + SubAssign<f64>
    + MulAssign<f64>
    + DivAssign<f64>
    + Sum
    + Product
{
    fn un(self, op: Un) -> Self;
    fn pw(self, b: Self) -> Self;
    fn val(&self) -> C;
    /// `c ⊕ s` with a complex constant on the left.
    fn lc(c: C, s: Self, op: Bop) -> Self;
    /// `c ⊕ s` with a real constant on the left.
    fn lf(c: f64, s: Self, op: Bop) -> Self;
    fn ch(self, v: C, ga: C, gabar: C) -> Self;
    fn ch2(self, o: Self, v: C, a: (C, C), b: (C, C)) -> Self;
    fn chr(self, v: f64, ga: C) -> Self;
}

macro_rules! impl_sc {
    ([$($g:tt)*] $t:ty, |$s:ident, $v:ident, $ga:ident| $chr:expr) => {
        impl<$($g)*> Sc for $t {
            fn un(self, op: Un) -> Self {
                un!(self, op)
            }
            fn pw(self, b: Self) -> Self {
                self.powc(b)
            }
            fn val(&self) -> C {
                self.value()
            }
            fn lc(c: C, s: Self, op: Bop) -> Self {
                match op {
                    Bop::Add => c + s,
                    Bop::Sub => c - s,
                    Bop::Mul => c * s,
                    Bop::Div => c / s,
                }
            }
            fn lf(c: f64, s: Self, op: Bop) -> Self {
                match op {
                    Bop::Add => c + s,
                    Bop::Sub => c - s,
                    Bop::Mul => c * s,
                    Bop::Div => c / s,
                }
            }
            fn ch(self, v: C, ga: C, gabar: C) -> Self {
                self.chain(v, ga, gabar)
            }
            fn ch2(self, o: Self, v: C, a: (C, C), b: (C, C)) -> Self {
                self.chain2(o, v, a, b)
            }
            fn chr(self, v: f64, ga: C) -> Self {
                let ($s, $v, $ga) = (self, v, ga);
                $chr
            }
        }
    };
}

impl_sc!([] Dual, |s, v, ga| s.chain(c64(v, 0.0), ga, ga.conj()));
impl_sc!(['t] Var<'t>, |s, v, ga| s.chain_real(v, ga));

fn sum_of<S: Sc>(x: &[S]) -> S {
    x.iter().copied().sum()
}

fn prod_of<S: Sc>(x: &[S]) -> S {
    x.iter().copied().product()
}

fn bop<S: Sc>(a: S, b: S, op: Bop) -> S {
    match op {
        Bop::Add => a + b,
        Bop::Sub => a - b,
        Bop::Mul => a * b,
        Bop::Div => a / b,
    }
}

const N_FORMS: usize = 9;

/// Every pairing of one operator: Var⊕Var, Var⊕C, C⊕Var, Var⊕f64, f64⊕Var, the three assign
/// forms, and a variable with itself (fan-out into both operands of one node).
fn bin_forms<S: Sc>(a: S, b: S, op: Bop, c: C, f: f64) -> Vec<S> {
    let mut out = vec![
        bop(a, b, op),
        match op {
            Bop::Add => a + c,
            Bop::Sub => a - c,
            Bop::Mul => a * c,
            Bop::Div => a / c,
        },
        S::lc(c, a, op),
        match op {
            Bop::Add => a + f,
            Bop::Sub => a - f,
            Bop::Mul => a * f,
            Bop::Div => a / f,
        },
        S::lf(f, b, op),
        bop(a, a, op) * b,
    ];
    let mut w = a;
    match op {
        Bop::Add => w += b,
        Bop::Sub => w -= b,
        Bop::Mul => w *= b,
        Bop::Div => w /= b,
    }
    out.push(w);
    let mut w = b;
    match op {
        Bop::Add => w += c,
        Bop::Sub => w -= c,
        Bop::Mul => w *= c,
        Bop::Div => w /= c,
    }
    out.push(w);
    let mut w = a;
    match op {
        Bop::Add => w += f,
        Bop::Sub => w -= f,
        Bop::Mul => w *= f,
        Bop::Div => w /= f,
    }
    out.push(w);
    out
}

/// How an op's result is turned into the output that is differentiated.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Out {
    /// The complex result itself: two reverse passes, `dz` and `dzbar` both nontrivial.
    Complex,
    NormSqr,
    Re,
    Im,
}

const ALL_OUT: [Out; 4] = [Out::Complex, Out::NormSqr, Out::Re, Out::Im];

fn finish<S: Sc>(x: S, o: Out) -> S {
    match o {
        Out::Complex => x,
        Out::NormSqr => x.un(Un::NormSqr),
        Out::Re => x.un(Un::Re),
        Out::Im => x.un(Un::Im),
    }
}

// ---------------------------------------------------------------------------------------------
// Running one function in reverse mode, forward mode and by finite differences, and comparing.
// ---------------------------------------------------------------------------------------------

/// The reverse-mode result of a function of several leaves.
#[derive(Debug)]
struct Ad {
    value: C,
    is_real: bool,
    dz: Vec<C>,
    dzbar: Vec<C>,
    /// `Gradients::grad`, only for a real-valued output.
    grad: Option<Vec<C>>,
}

fn reverse<F>(f: F, z: &[C], real: &[bool]) -> Ad
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let tape = Tape::new();
    let vars: Vec<Var> = z
        .iter()
        .zip(real)
        .map(|(&z, &r)| if r { tape.real_var(z.re) } else { tape.var(z) })
        .collect();
    let out = f(&vars);
    let g = out.backward();
    assert_eq!(g.is_real_output(), out.is_real());
    let grad = g
        .is_real_output()
        .then(|| vars.iter().map(|v| g.grad(v)).collect());
    Ad {
        value: out.value(),
        is_real: out.is_real(),
        dz: vars.iter().map(|v| g.dz(v)).collect(),
        dzbar: vars.iter().map(|v| g.dzbar(v)).collect(),
        grad,
    }
}

/// `max(1, max_k |x_k|)`: errors are relative for large derivatives, absolute for small ones.
fn scale(xs: &[&[C]]) -> f64 {
    xs.iter()
        .flat_map(|v| v.iter())
        .fold(1.0f64, |m, x| m.max(x.norm()))
}

fn close(a: C, b: C, tol: f64) -> bool {
    (a - b).norm() <= tol
}

/// Compares reverse mode `ad` with forward mode `fw` (to `RTOL_AD`) and finite differences `fd`
/// (to `RTOL_FD`). Real leaves of a real-valued output are compared by their real derivative
/// `grad = ∂f/∂x = ∂f/∂z + ∂f/∂z̄`; everything else by both Wirtinger derivatives.
fn compare(ad: &Ad, fw: &Gradient, fd: &Gradient, real: &[bool], ctx: &dyn Debug) {
    let s = scale(&[&fw.dz, &fw.dzbar]);
    let vs = 1.0f64.max(fw.value.norm());
    assert!(
        close(ad.value, fw.value, 1e-14 * vs),
        "value: reverse {} forward {} ({ctx:?})",
        ad.value,
        fw.value
    );
    assert!(
        close(fd.value, fw.value, 1e-14 * vs),
        "value: fd {} forward {} ({ctx:?})",
        fd.value,
        fw.value
    );
    if ad.is_real {
        assert!(
            ad.value.im == 0.0,
            "real output with imaginary part ({ctx:?})"
        );
        assert!(
            fw.value.im.abs() <= 1e-14 * vs,
            "output flagged real but forward value {} ({ctx:?})",
            fw.value
        );
    }
    for k in 0..real.len() {
        let real_leaf_of_real_output = real[k] && ad.is_real;
        if real_leaf_of_real_output {
            let grad = ad.grad.as_ref().unwrap()[k];
            let fw_d = fw.dz[k] + fw.dzbar[k];
            let fd_d = fd.dz[k] + fd.dzbar[k];
            assert_eq!(grad.im, 0.0, "grad of a real leaf is real ({ctx:?})");
            assert!(
                close(grad, fw_d, RTOL_AD * s),
                "real leaf {k}: reverse grad {grad}, forward ∂f/∂x {fw_d} ({ctx:?})"
            );
            assert!(
                close(grad, fd_d, RTOL_FD * s),
                "real leaf {k}: reverse grad {grad}, fd ∂f/∂x {fd_d} ({ctx:?})"
            );
            // dz + dzbar of the tape is the real derivative too (as a complex number).
            let sum = ad.dz[k] + ad.dzbar[k];
            assert!(
                (sum.re - grad.re).abs() <= RTOL_AD * s,
                "dz + dzbar = grad ({ctx:?})"
            );
            continue;
        }
        assert!(
            close(ad.dz[k], fw.dz[k], RTOL_AD * s) && close(ad.dzbar[k], fw.dzbar[k], RTOL_AD * s),
            "leaf {k}: reverse (dz {}, dzbar {}) vs forward (dz {}, dzbar {}) ({ctx:?})",
            ad.dz[k],
            ad.dzbar[k],
            fw.dz[k],
            fw.dzbar[k]
        );
        assert!(
            close(ad.dz[k], fd.dz[k], RTOL_FD * s) && close(ad.dzbar[k], fd.dzbar[k], RTOL_FD * s),
            "leaf {k}: reverse (dz {}, dzbar {}) vs fd (dz {}, dzbar {}) ({ctx:?})",
            ad.dz[k],
            ad.dzbar[k],
            fd.dz[k],
            fd.dzbar[k]
        );
        if let Some(grad) = &ad.grad {
            assert_eq!(grad[k], ad.dzbar[k] * 2.0, "grad = 2 dzbar ({ctx:?})");
            assert!(
                close(ad.dz[k], ad.dzbar[k].conj(), RTOL_AD * s),
                "real output: dz = conj(dzbar) ({ctx:?})"
            );
        }
    }
}

/// Evaluates one generic expression `|x| body` (x: a slice of leaves) in reverse mode, forward
/// mode (one pass per leaf) and by finite differences (forward values on constants), and compares.
macro_rules! check_expr {
    ($z:expr, $real:expr, $ctx:expr, |$x:ident| $body:expr) => {{
        let z: &[C] = $z;
        let real: &[bool] = $real;
        let ad = reverse(|$x: &[Var<'_>]| $body, z, real);
        let fw = forward::gradient(|$x: &[Dual]| $body, z);
        let fd = check::finite_difference_gradient(
            |w: &[C]| {
                let cs: Vec<Dual> = w.iter().map(|&v| Dual::constant(v)).collect();
                let $x: &[Dual] = &cs;
                $body.value()
            },
            z,
        );
        compare(&ad, &fw, &fd, real, &$ctx);
        ad
    }};
}

fn point(lim: f64) -> impl Strategy<Value = C> {
    (-lim..lim, -lim..lim).prop_map(|(a, b)| c64(a, b))
}

// ---------------------------------------------------------------------------------------------
// Worked examples.
// ---------------------------------------------------------------------------------------------

#[test]
fn worked_example_norm_sqr_at_3_4i() {
    let tape = Tape::new();
    let z = tape.var(c64(3.0, 4.0));
    let l = z.norm_sqr();
    assert!(l.is_real());
    let g = l.backward();
    assert!(g.is_real_output());
    assert_eq!(l.value(), c64(25.0, 0.0));
    assert_eq!(g.dz(&z), c64(3.0, -4.0));
    assert_eq!(g.dzbar(&z), c64(3.0, 4.0));
    assert_eq!(g.grad(&z), c64(6.0, 8.0));
    // The same through abs2 and through z · z̄ (a complex-flagged product with zero imaginary part).
    let g2 = z.abs2().backward();
    assert_eq!(g2.grad(&z), c64(6.0, 8.0));
    let p = z * z.conj();
    let g3 = p.backward();
    assert!(!g3.is_real_output());
    assert_eq!(p.value(), c64(25.0, 0.0));
    assert_eq!(g3.dz(&z), c64(3.0, -4.0));
    assert_eq!(g3.dzbar(&z), c64(3.0, 4.0));
}

#[test]
fn worked_example_two_real_leaves() {
    let tape: Tape = Tape::new();
    let (x, y) = (tape.real_var(3.0), tape.real_var(5.0));
    let f = 2.0 * x * y + (x - 1.0).powi(2);
    assert!(f.is_real());
    let g = f.backward();
    assert_eq!(f.value(), c64(34.0, 0.0));
    assert_eq!(g.grad(&x), c64(14.0, 0.0));
    assert_eq!(g.grad(&y), c64(6.0, 0.0));
    // The same with the product written the other way and with assign forms.
    let mut h = (x - 1.0) * (x - 1.0);
    h += x * y * 2.0;
    let gh = h.backward();
    assert_eq!(h.value(), c64(34.0, 0.0));
    assert_eq!((gh.grad(&x), gh.grad(&y)), (c64(14.0, 0.0), c64(6.0, 0.0)));
}

#[test]
fn to_dot_shows_values_adjoints_and_edge_partials() {
    let tape: Tape = Tape::new();
    let (x, y) = (tape.real_var(3.0), tape.real_var(5.0));
    let f = 2.0 * x * y + (x - 1.0).powi(2);
    let g = f.backward();
    let dot = tape.to_dot(Some(&g));
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    for needle in [
        "value 34",
        "adjoint 14",
        "adjoint 6",
        "value 3\\nadjoint 14",
        "value 5\\nadjoint 6",
        // 2·x: ∂/∂x = 2; (2x)·y: 5 to 2x and 6 to y; (x−1)²: 4; +: 1 and 1.
        "[label=\"g_a 2\"]",
        "[label=\"g_a 5\"]",
        "[label=\"g_a 6\"]",
        "[label=\"g_a 4\"]",
        "[label=\"g_a 1\"]",
        "->",
    ] {
        assert!(dot.contains(needle), "missing {needle:?} in\n{dot}");
    }
    // One DOT node per tape node, one edge per recorded input edge.
    let nodes = dot.lines().filter(|l| l.contains("[label=\"#")).count();
    assert_eq!(nodes, tape.len());
    // 2x (1 edge), 2x·y (2), x−1 (1), powi (1), + (2)
    let edges = dot.lines().filter(|l| l.contains("->")).count();
    assert_eq!(edges, 7, "{dot}");
    // Without gradients: values but no adjoints.
    let plain = tape.to_dot(None);
    assert!(
        plain.contains("value 34") && !plain.contains("adjoint"),
        "{plain}"
    );
}

#[test]
fn to_dot_of_complex_output_shows_both_derivatives() {
    let tape = Tape::new();
    let z = tape.var(c64(3.0, 4.0));
    let f = z * z.conj();
    let dot = tape.to_dot(Some(&f.backward()));
    assert!(dot.contains("∂f/∂b 3-4i"), "{dot}");
    assert!(dot.contains("∂f/∂b̄ 3+4i"), "{dot}");
    // conj has (g_a, g_ā) = (0, 1): the edge shows g_ā.
    assert!(dot.contains("g_ā 1"), "{dot}");
}

// ---------------------------------------------------------------------------------------------
// Every unary op, complex and real outputs, complex and real leaves.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn unary_ops_reverse_equals_forward_and_fd(z in point(2.0)) {
        let mut tested = 0;
        for &op in ALL_UN {
            if !ok(op, z) {
                continue;
            }
            for o in ALL_OUT {
                let ad = check_expr!(&[z], &[false], (op, o, z), |x| finish(x[0].un(op), o));
                if o != Out::Complex {
                    prop_assert!(ad.is_real);
                }
                tested += 1;
            }
        }
        prop_assert!(tested >= 4 * 20);
    }

    #[test]
    fn unary_ops_of_a_real_leaf(x in -2.0..2.0f64) {
        let z = c64(x, 0.0);
        for &op in ALL_UN {
            if !ok(op, z) {
                continue;
            }
            // The op itself (real-flagged when the op preserves realness), and a real loss.
            check_expr!(&[z], &[true], (op, x), |p| p[0].un(op));
            check_expr!(&[z], &[true], (op, x), |p| p[0].un(op).norm_sqr());
        }
    }

    #[test]
    fn binary_ops_every_pairing(
        a in point(2.0),
        b in point(2.0),
        c in point(2.0),
        f in prop_oneof![-2.0..-0.3f64, 0.3..2.0f64],
        o in 0..4usize,
    ) {
        prop_assume!(a.norm() > 0.3 && b.norm() > 0.3 && c.norm() > 0.3);
        let o = ALL_OUT[o];
        for op in ALL_BOP {
            for form in 0..N_FORMS {
                check_expr!(&[a, b], &[false, false], (op, form, o), |x| {
                    finish(bin_forms(x[0], x[1], op, c, f)[form], o)
                });
            }
        }
    }

    #[test]
    fn binary_ops_with_real_leaves(
        a in prop_oneof![-2.0..-0.3f64, 0.3..2.0f64],
        b in point(2.0),
        c in point(2.0),
        f in prop_oneof![-2.0..-0.3f64, 0.3..2.0f64],
    ) {
        prop_assume!(b.norm() > 0.3 && c.norm() > 0.3);
        let z = [c64(a, 0.0), b];
        for op in ALL_BOP {
            for form in 0..N_FORMS {
                // real ⊕ complex (complex output) and real ⊕ real constants (real output).
                check_expr!(&z, &[true, false], (op, form), |x| bin_forms(x[0], x[1], op, c, f)[form]);
                check_expr!(&z, &[true, false], (op, form), |x| bin_forms(x[0], x[0], op, c64(f, 0.0), f)[form]);
            }
        }
    }

    #[test]
    fn powc_between_vars(a in point(2.0), b in point(1.5)) {
        prop_assume!(ok(Un::Ln, a));
        for o in ALL_OUT {
            check_expr!(&[a, b], &[false, false], (a, b, o), |x| finish(x[0].pw(x[1]), o));
            // Base and exponent the same variable: z^z.
            check_expr!(&[a, b], &[false, false], (a, o), |x| finish(x[0].pw(x[0]), o));
        }
    }

    #[test]
    fn neg_sum_product(z in prop::collection::vec(point(1.5), 2..5), o in 0..4usize) {
        let o = ALL_OUT[o];
        let real = vec![false; z.len()];
        check_expr!(&z, &real, o, |x| finish(-x[0] * x[1], o));
        check_expr!(&z, &real, o, |x| finish(sum_of(x), o));
        check_expr!(&z, &real, o, |x| finish(prod_of(x), o));
        // A sum with repeated terms: fan-out of every leaf into several additions.
        check_expr!(&z, &real, o, |x| {
            let doubled: Vec<_> = x.iter().chain(x.iter()).map(|v| *v * v.un(Un::Conj)).collect();
            finish(sum_of(&doubled) - x[0], o)
        });
    }

    #[test]
    fn chain_chain2_chain_real(a in point(1.5), b in point(1.5), o in 0..4usize) {
        let o = ALL_OUT[o];
        // g(a) = a² ā as a black box: g_a = 2 a ā, g_ā = a².
        check_expr!(&[a, b], &[false, false], o, |x| {
            let s = x[0].un(Un::Sin) * x[1];
            let v = s.val();
            finish(s.ch(v * v * v.conj(), 2.0 * v * v.conj(), v * v) + x[0], o)
        });
        // g(a, b) = a · b̄: (∂/∂a, ∂/∂ā) = (b̄, 0), (∂/∂b, ∂/∂b̄) = (0, a).
        check_expr!(&[a, b], &[false, false], o, |x| {
            let (p, q) = (x[0].un(Un::Exp), x[1] * x[0]);
            let (pv, qv) = (p.val(), q.val());
            finish(p.ch2(q, pv * qv.conj(), (qv.conj(), c64(0.0, 0.0)), (c64(0.0, 0.0), pv)), o)
        });
        // chain_real: |a|² as a black box, g_a = ā; then used in a complex expression.
        check_expr!(&[a, b], &[false, false], o, |x| {
            let s = x[0] * x[1];
            let v = s.val();
            finish(s.chr(v.norm_sqr(), v.conj()) * x[1].un(Un::Cos), o)
        });
    }
}

#[test]
fn chain_real_output_is_real_and_has_grad() {
    let tape = Tape::new();
    let z = tape.var(c64(0.5, 0.25));
    let a = z.value();
    let w = z.chain_real(a.norm_sqr(), a.conj());
    assert!(w.is_real());
    assert_eq!(w.value(), c64(a.norm_sqr(), 0.0));
    let g = w.backward();
    assert!(g.is_real_output());
    assert_eq!(g.grad(&z), c64(1.0, 0.5));
    // chain (not real) of the same rule is a complex output with the same derivatives.
    let w2 = z.chain(c64(a.norm_sqr(), 0.0), a.conj(), a);
    assert!(!w2.is_real());
    let g2 = w2.backward();
    assert_eq!(g2.dz(&z), a.conj());
    assert_eq!(g2.dzbar(&z), a);
}

// ---------------------------------------------------------------------------------------------
// Random expression graphs: a DAG of up to 5 layers whose nodes read any earlier node (leaves
// included), so variables and intermediates fan out into many ops.
// ---------------------------------------------------------------------------------------------

/// Ops that are smooth everywhere (so finite differences apply at any point).
#[derive(Clone, Copy, Debug)]
enum GUn {
    Plain(Un),
    /// `(|a|² + 1)^{1/2}`, `ln(|a|² + 1)`, `1/(|a|² + ½)`, `atan(Re a)`, `tanh(Im a)`: smooth
    /// compositions that reach `sqrt`, `ln`, `inv`, `atan`, `tanh` on their safe domain.
    SqrtSafe,
    LnSafe,
    InvSafe,
    AtanRe,
    TanhIm,
}

const G_UN: &[GUn] = &[
    GUn::Plain(Un::Conj),
    GUn::Plain(Un::Re),
    GUn::Plain(Un::Im),
    GUn::Plain(Un::NormSqr),
    GUn::Plain(Un::Abs2),
    GUn::Plain(Un::Neg),
    GUn::Plain(Un::Exp),
    GUn::Plain(Un::Sin),
    GUn::Plain(Un::Cos),
    GUn::Plain(Un::Sinh),
    GUn::Plain(Un::Cosh),
    GUn::Plain(Un::Cis),
    GUn::Plain(Un::Powi(2)),
    GUn::Plain(Un::Powi(3)),
    GUn::SqrtSafe,
    GUn::LnSafe,
    GUn::InvSafe,
    GUn::AtanRe,
    GUn::TanhIm,
];

#[derive(Clone, Copy, Debug)]
enum GNode {
    Un(usize, usize),
    /// `a ⊕ b` with both on the tape; division is `a / (|b|² + 1)`.
    Bin(Bop, usize, usize),
    /// With a constant on the right or the left (`c / (|a|² + 1)` for a left division).
    ConstR(Bop, usize, C),
    ConstL(Bop, C, usize),
    FloatR(Bop, usize, f64),
    FloatL(Bop, f64, usize),
    /// `a ⊕= b` through the assign operator.
    Assign(Bop, usize, usize),
    /// Several nodes at once through `Sum` / `Product`.
    Sum(usize, usize, usize),
    Product(usize, usize),
    /// A black-box rule: `a² ā` through `chain`.
    Chain(usize),
}

#[derive(Clone, Debug)]
struct Graph {
    n_complex: usize,
    n_real: usize,
    layers: Vec<Vec<GNode>>,
    real_output: bool,
}

fn gnode() -> impl Strategy<Value = GNode> {
    let bop = (0..4usize).prop_map(|k| ALL_BOP[k]);
    let ix = any::<usize>();
    let cst = (-1.5..1.5f64, -1.5..1.5f64).prop_map(|(a, b)| c64(a, b));
    let flt = prop_oneof![-1.5..-0.5f64, 0.5..1.5f64];
    prop_oneof![
        3 => (0..G_UN.len(), ix).prop_map(|(k, i)| GNode::Un(k, i)),
        3 => (bop.clone(), ix, ix).prop_map(|(o, a, b)| GNode::Bin(o, a, b)),
        1 => (bop.clone(), ix, cst.clone()).prop_map(|(o, a, c)| GNode::ConstR(o, a, c)),
        1 => (bop.clone(), cst, ix).prop_map(|(o, c, a)| GNode::ConstL(o, c, a)),
        1 => (bop.clone(), ix, flt.clone()).prop_map(|(o, a, f)| GNode::FloatR(o, a, f)),
        1 => (bop.clone(), flt, ix).prop_map(|(o, f, a)| GNode::FloatL(o, f, a)),
        1 => (bop, ix, ix).prop_map(|(o, a, b)| GNode::Assign(o, a, b)),
        1 => (ix, ix, ix).prop_map(|(a, b, c)| GNode::Sum(a, b, c)),
        1 => (ix, ix).prop_map(|(a, b)| GNode::Product(a, b)),
        1 => ix.prop_map(GNode::Chain),
    ]
}

fn graph() -> impl Strategy<Value = Graph> {
    (
        2..=4usize,
        0..=2usize,
        prop::collection::vec(prop::collection::vec(gnode(), 1..=3), 1..=5),
        any::<bool>(),
    )
        .prop_map(|(n_complex, n_real, layers, real_output)| Graph {
            n_complex,
            n_real,
            layers,
            real_output,
        })
}

fn g_un<S: Sc>(op: GUn, a: S) -> S {
    match op {
        GUn::Plain(u) => a.un(u),
        GUn::SqrtSafe => (a.un(Un::NormSqr) + 1.0).un(Un::Sqrt),
        GUn::LnSafe => (a.un(Un::NormSqr) + 1.0).un(Un::Ln),
        GUn::InvSafe => (a.un(Un::NormSqr) + 0.5).un(Un::Inv),
        GUn::AtanRe => a.un(Un::Re).un(Un::Atan),
        GUn::TanhIm => a.un(Un::Im).un(Un::Tanh),
    }
}

fn safe_bop<S: Sc>(a: S, b: S, op: Bop) -> S {
    match op {
        Bop::Div => a / (b.un(Un::NormSqr) + 1.0),
        _ => bop(a, b, op),
    }
}

fn eval_graph<S: Sc>(g: &Graph, leaves: &[S]) -> S {
    let mut nodes: Vec<S> = leaves.to_vec();
    for layer in &g.layers {
        let avail = nodes.len();
        let at = |i: usize| nodes[i % avail];
        let mut new = Vec::with_capacity(layer.len());
        for n in layer {
            new.push(match *n {
                GNode::Un(k, i) => g_un(G_UN[k], at(i)),
                GNode::Bin(op, i, j) => safe_bop(at(i), at(j), op),
                GNode::ConstR(op, i, c) => match op {
                    Bop::Add => at(i) + c,
                    Bop::Sub => at(i) - c,
                    Bop::Mul => at(i) * c,
                    Bop::Div => at(i) / (c + c64(2.0, 0.0)),
                },
                GNode::ConstL(op, c, i) => match op {
                    Bop::Div => S::lc(c, at(i).un(Un::NormSqr) + 1.0, Bop::Div),
                    _ => S::lc(c, at(i), op),
                },
                GNode::FloatR(op, i, f) => match op {
                    Bop::Add => at(i) + f,
                    Bop::Sub => at(i) - f,
                    Bop::Mul => at(i) * f,
                    Bop::Div => at(i) / f,
                },
                GNode::FloatL(op, f, i) => match op {
                    Bop::Div => S::lf(f, at(i).un(Un::NormSqr) + 1.0, Bop::Div),
                    _ => S::lf(f, at(i), op),
                },
                GNode::Assign(op, i, j) => {
                    let mut w = at(i);
                    match op {
                        Bop::Add => w += at(j),
                        Bop::Sub => w -= at(j),
                        Bop::Mul => w *= at(j),
                        Bop::Div => w /= at(j).un(Un::NormSqr) + 1.0,
                    }
                    w
                }
                GNode::Sum(i, j, k) => [at(i), at(j), at(k)].into_iter().sum(),
                GNode::Product(i, j) => [at(i), at(j)].into_iter().product(),
                GNode::Chain(i) => {
                    let a = at(i);
                    let v = a.val();
                    a.ch(v * v * v.conj(), 2.0 * v * v.conj(), v * v)
                }
            });
        }
        nodes.extend(new);
    }
    let last = g.layers.last().map_or(1, |l| l.len());
    let outs = &nodes[nodes.len() - last..];
    if g.real_output {
        outs.iter().map(|x| x.un(Un::NormSqr) + x.un(Un::Re)).sum()
    } else {
        // A complex output that also reads every leaf (fan-out of the leaves into the output).
        outs.iter().copied().sum::<S>() + leaves.iter().map(|l| *l * c64(0.25, -0.5)).sum::<S>()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        max_global_rejects: 4096,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_graphs_reverse_forward_fd(
        g in graph(),
        vals in prop::collection::vec(point(1.0), 6),
    ) {
        let n = g.n_complex + g.n_real;
        let real: Vec<bool> = (0..n).map(|k| k >= g.n_complex).collect();
        let z: Vec<C> = vals[..n]
            .iter()
            .zip(&real)
            .map(|(v, &r)| if r { c64(v.re, 0.0) } else { *v })
            .collect();
        // Keep values and derivatives moderate, where finite differences are accurate.
        let fw = forward::gradient(|x: &[Dual]| eval_graph(&g, x), &z);
        let moderate = |d: &C| d.norm().is_finite() && d.norm() < 1e3;
        let big = !moderate(&fw.value) || !fw.dz.iter().chain(&fw.dzbar).all(moderate);
        prop_assume!(!big);
        let ad = check_expr!(&z, &real, &g, |x| eval_graph(&g, x));
        if g.real_output {
            prop_assert!(ad.is_real);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Several outputs of one tape, and nodes added after a backward pass.
// ---------------------------------------------------------------------------------------------

fn assert_close(a: C, b: C, tol: f64, what: &str) {
    assert!(
        (a - b).norm() <= tol * 1.0f64.max(b.norm()),
        "{what}: {a} vs {b}"
    );
}

#[test]
fn several_outputs_and_nodes_after_backward() {
    let (z0, w0) = (c64(0.3, -0.7), c64(-1.1, 0.4));
    let tape = Tape::new();
    let z = tape.var(z0);
    let w = tape.var(w0);
    let p = tape.real_var(0.6);
    let shared = z * w.conj() + p; // fan-out into every output
    let o1 = shared.norm_sqr();
    let o2 = shared.sin() * z;
    let o3 = (shared * p).exp().re();

    let g1 = o1.backward();
    let g2 = o2.backward();
    let g3 = o3.backward();
    let f1 = |x: &[Dual]| (x[0] * x[1].conj() + x[2]).norm_sqr();
    let f2 = |x: &[Dual]| (x[0] * x[1].conj() + x[2]).sin() * x[0];
    let f3 = |x: &[Dual]| ((x[0] * x[1].conj() + x[2]) * x[2]).exp().re();
    let at = [z0, w0, c64(0.6, 0.0)];
    let check = |g: &Gradients, f: &dyn Fn(&[Dual]) -> Dual, real_out: bool| {
        let r = forward::gradient(f, &at);
        for (k, v) in [z, w].iter().enumerate() {
            assert_close(g.dz(v), r.dz[k], 1e-12, "dz");
            assert_close(g.dzbar(v), r.dzbar[k], 1e-12, "dzbar");
        }
        if real_out {
            assert_close(g.grad(&p), r.dz[2] + r.dzbar[2], 1e-12, "grad p");
        } else {
            assert_close(g.dz(&p), r.dz[2], 1e-12, "dz p");
            assert_close(g.dzbar(&p), r.dzbar[2], 1e-12, "dzbar p");
        }
    };
    check(&g1, &f1, true);
    check(&g2, &f2, false);
    check(&g3, &f3, true);
    let before = (g1.dz(&z), g2.dzbar(&w), g3.grad(&p));

    // Differentiating again gives the same numbers: backward leaves the tape as it was.
    let g1b = o1.backward();
    assert_eq!(g1b.dz(&z), g1.dz(&z));
    assert_eq!(g1b.grad(&p), g1.grad(&p));

    // New nodes and a new leaf after the backward passes, then another backward.
    let len = tape.len();
    let v = tape.var(c64(0.2, 0.9));
    let o4 = (o1 * z.conj() + o2 * v).cos() + o3 * v.conj();
    assert!(tape.len() > len);
    let g4 = o4.backward();
    let f4 = |x: &[Dual]| {
        let s = x[0] * x[1].conj() + x[2];
        let (o1, o2, o3) = (s.norm_sqr(), s.sin() * x[0], (s * x[2]).exp().re());
        (o1 * x[0].conj() + o2 * x[3]).cos() + o3 * x[3].conj()
    };
    let r = forward::gradient(f4, &[z0, w0, c64(0.6, 0.0), c64(0.2, 0.9)]);
    for (k, leaf) in [z, w, p, v].iter().enumerate() {
        assert_close(g4.dz(leaf), r.dz[k], 1e-12, "dz after");
        assert_close(g4.dzbar(leaf), r.dzbar[k], 1e-12, "dzbar after");
    }
    let fd = check::finite_difference_gradient(
        |x: &[C]| f4(&x.iter().map(|&v| Dual::constant(v)).collect::<Vec<_>>()).value(),
        &[z0, w0, c64(0.6, 0.0), c64(0.2, 0.9)],
    );
    for (k, leaf) in [z, w, p, v].iter().enumerate() {
        assert_close(g4.dz(leaf), fd.dz[k], 1e-8, "dz fd");
        assert_close(g4.dzbar(leaf), fd.dzbar[k], 1e-8, "dzbar fd");
    }
    // The earlier gradients are snapshots: unchanged by the new nodes.
    assert_eq!(before, (g1.dz(&z), g2.dzbar(&w), g3.grad(&p)));
    // A leaf created after an output's node but before its backward pass gets zero derivatives.
    let g1c = o1.backward();
    assert_eq!(g1c.dz(&v), c64(0.0, 0.0));
    assert_eq!(g1c.grad(&v), c64(0.0, 0.0));
}

#[test]
fn constants_carry_no_derivative() {
    let tape = Tape::new();
    let z = tape.var(c64(0.5, 1.0));
    let k = tape.constant(c64(2.0, -1.0));
    let r = tape.real_constant(3.0);
    assert!(r.is_real() && !k.is_real());
    let f = (z * k + r).norm_sqr() + k.norm_sqr();
    let g = f.backward();
    let d = forward::derivative(|x| (x * c64(2.0, -1.0) + 3.0).norm_sqr(), c64(0.5, 1.0));
    assert_close(g.dz(&z), d.dz, 1e-14, "dz");
    assert_close(g.dzbar(&z), d.dzbar, 1e-14, "dzbar");
    // An output of constants only: nothing flows, every leaf gets 0.
    let g0 = (k * r).sin().re().backward();
    assert_eq!(g0.grad(&z), c64(0.0, 0.0));
}

/// A real leaf of an output that is real only because the leaf is (here `exp(p)`): the output is
/// differentiated as the real function `Re L` (WIRTINGER.md: "a real output is `Re` of itself"),
/// so `dz = dzbar = e^p/2` and `grad = 2 Re dzbar = e^p`, the real derivative. A complex output
/// gives the holomorphic pair `(e^p, 0)`.
#[test]
fn real_leaf_of_a_real_output_is_differentiated_as_re_l() {
    let tape: Tape = Tape::new();
    let p = tape.real_var(0.5);
    let f = p.exp();
    assert!(f.is_real());
    let g = f.backward();
    let e = 0.5f64.exp();
    assert_close(g.grad(&p), c64(e, 0.0), 1e-15, "grad");
    assert_close(g.dz(&p), c64(e / 2.0, 0.0), 1e-15, "dz of Re L");
    assert_close(g.dzbar(&p), c64(e / 2.0, 0.0), 1e-15, "dzbar of Re L");
    let h = (f * c64(1.0, 1e-300)).backward();
    assert!(!h.is_real_output());
    assert_close(h.dz(&p), c64(e, e * 1e-300), 1e-15, "holomorphic dz");
    assert_close(h.dzbar(&p), c64(0.0, 0.0), 1e-15, "holomorphic dzbar");
}

#[test]
fn output_that_is_a_leaf_or_a_constant() {
    let tape = Tape::new();
    let z = tape.var(c64(0.3, -2.0));
    let p = tape.real_var(1.5);
    let k = tape.constant(c64(1.0, 1.0));
    let g = z.backward();
    assert!(!g.is_real_output());
    assert_eq!((g.dz(&z), g.dzbar(&z)), (c64(1.0, 0.0), c64(0.0, 0.0)));
    assert_eq!(g.dz(&p), c64(0.0, 0.0));
    let g = p.backward();
    assert!(g.is_real_output());
    assert_eq!(g.grad(&p), c64(1.0, 0.0));
    assert_eq!(g.grad(&z), c64(0.0, 0.0));
    let g = k.backward();
    assert_eq!(
        (g.dz(&z), g.dzbar(&z), g.dz(&p)),
        (c64(0.0, 0.0), c64(0.0, 0.0), c64(0.0, 0.0))
    );
}

#[test]
fn tape_is_reusable_after_clear() {
    let mut tape = Tape::new();
    for round in 0..3 {
        let z0 = c64(0.5 + round as f64, -0.25);
        {
            let z = tape.var(z0);
            let l = (z * z.sin()).norm_sqr();
            let g = l.backward();
            let d = forward::derivative(|x| (x * x.sin()).norm_sqr(), z0);
            assert_close(g.dzbar(&z), d.dzbar, 1e-13, "after clear");
        }
        assert!(!tape.is_empty());
        tape.clear();
        assert!(tape.is_empty());
        assert_eq!(tape.len(), 0);
    }
}

#[test]
fn worked_example_in_f32() {
    let tape: Tape<f32> = Tape::new();
    let (x, y) = (tape.real_var(3.0), tape.real_var(5.0));
    let f = 2.0f32 * x * y + (x - 1.0f32).powi(2);
    let g = f.backward();
    assert_eq!(f.value(), c32(34.0, 0.0));
    assert_eq!((g.grad(&x), g.grad(&y)), (c32(14.0, 0.0), c32(6.0, 0.0)));
    let z = tape.var(c32(3.0, 4.0));
    let g = z.norm_sqr().backward();
    assert_eq!(
        (g.dz(&z), g.dzbar(&z), g.grad(&z)),
        (c32(3.0, -4.0), c32(3.0, 4.0), c32(6.0, 8.0))
    );
}

/// A holomorphic output has `∂f/∂z̄` exactly 0 through a long chain, and its conjugate `∂/∂z`
/// exactly 0: the walks of `Re f` and `Im f` agree exactly where they should (also with the
/// fused multiply-adds of the walk on CPUs that have them).
#[test]
fn holomorphic_outputs_have_exactly_zero_conjugate_derivatives() {
    let tape = Tape::new();
    let z = tape.var(c64(0.4, -0.3));
    let w = tape.var(c64(0.9, 0.35));
    let mut x = z;
    for k in 0..200 {
        x = (x * w).sin() + z * 0.5 - (x / (w + 2.0)).exp() * c64(0.1, 0.2);
        if k % 3 == 0 {
            x = x.powi(2) * 0.3 + 0.2 * w;
        }
    }
    assert!(x.value().norm() > 0.1 && x.value().norm() < 10.0);
    let g = x.backward();
    for v in [&z, &w] {
        assert_eq!(g.dzbar(v), c64(0.0, 0.0));
        assert!(g.dz(v).norm() > 1e-3);
    }
    let g = x.conj().backward();
    for v in [&z, &w] {
        assert_eq!(g.dz(v), c64(0.0, 0.0));
        assert!(g.dzbar(v).norm() > 1e-3);
    }
}
