//! Random expression trees over every forward-mode operation, checked against finite differences.
//!
//! A tree has at most 5 nested operations over the leaves `z` and random constants; its nodes are
//! every unary op, `powi`/`powf`, and `+ − × ÷ powc` between two subtrees or between a subtree and
//! a complex or real constant on either side. The tree is evaluated as a `Dual` (forward mode) and,
//! for the finite differences, on `Dual::constant`s.
//!
//! Points where finite differences cannot be trusted are skipped, for reasons that are counted:
//! - an input of an op lies within `RATIO` finite-difference displacements of that op's cut, zero or
//!   pole (this includes inputs exactly on a cut, e.g. `ln(re z)` with `re z < 0`; the cut
//!   convention is tested on its own in `forward_rules.rs`), or within rounding of it (`1e-9` of
//!   its magnitude), even if it does not depend on `z`: `(z/z)·(−0.13)` is only a real negative
//!   constant up to rounding, and its rounding may cross the cut between two evaluations;
//! - some value or derivative is not finite or exceeds `1e6`;
//! - finite differences with steps `h` and `h/2` disagree (a cut crossed, or rounding noise).
//!
//! The test asserts that at least 60 % of the trees were checked (typically about 89 %), that a
//! quarter of them have the full depth 5 (typically two thirds), and that every operation occurs at
//! least 10 times in checked trees, so that skipping cannot hollow it out.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::f64::consts::{FRAC_PI_2, PI};
use wirtinger::check;
use wirtinger::prelude::*;

/// Maximum number of nested operations in a tree.
const MAX_DEPTH: u32 = 5;
/// Random trees checked.
const CASES: u32 = 2000;
/// Tolerance of the comparison with finite differences (relative above 1, absolute below).
const TOL: f64 = 1e-6;
/// Skip when finite differences at `h` and `h/2` differ by more than this (same scaling).
const FD_AGREEMENT: f64 = 1e-7;
/// An op's input must be at least this many finite-difference displacements from its singular set.
const RATIO: f64 = 50.0;
/// Skip values or derivatives larger than this.
const BIG: f64 = 1e6;
/// At least this fraction of the trees must be checked.
const MIN_CHECKED: f64 = 0.6;

#[derive(Clone, Copy, Debug)]
enum U {
    Neg,
    Conj,
    Re,
    Im,
    Norm,
    Abs,
    NormSqr,
    Abs2,
    Arg,
    Inv,
    Exp,
    Ln,
    Sqrt,
    Cbrt,
    Cis,
    Sin,
    Cos,
    Tan,
    Sinh,
    Cosh,
    Tanh,
    Asin,
    Acos,
    Atan,
    Asinh,
    Acosh,
    Atanh,
    PowI(i32),
    PowF(f64),
}

const UNARY: [U; 27] = [
    U::Neg,
    U::Conj,
    U::Re,
    U::Im,
    U::Norm,
    U::Abs,
    U::NormSqr,
    U::Abs2,
    U::Arg,
    U::Inv,
    U::Exp,
    U::Ln,
    U::Sqrt,
    U::Cbrt,
    U::Cis,
    U::Sin,
    U::Cos,
    U::Tan,
    U::Sinh,
    U::Cosh,
    U::Tanh,
    U::Asin,
    U::Acos,
    U::Atan,
    U::Asinh,
    U::Acosh,
    U::Atanh,
];

#[derive(Clone, Copy, Debug)]
enum B {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

const BINARY: [B; 5] = [B::Add, B::Sub, B::Mul, B::Div, B::Pow];

#[derive(Clone, Debug)]
enum E {
    /// The variable.
    Z,
    /// A constant leaf (`Dual::constant`).
    C(Complex64),
    U(U, Box<E>),
    /// Subtree ⊕ subtree.
    B(B, Box<E>, Box<E>),
    /// Subtree ⊕ complex constant (`left == false`) or constant ⊕ subtree (`left == true`).
    BC(B, Box<E>, Complex64, bool),
    /// Subtree ⊕ real constant, or real constant ⊕ subtree.
    BR(B, Box<E>, f64, bool),
}

fn unary_name(op: U) -> &'static str {
    match op {
        U::Neg => "neg",
        U::Conj => "conj",
        U::Re => "re",
        U::Im => "im",
        U::Norm => "norm",
        U::Abs => "abs",
        U::NormSqr => "norm_sqr",
        U::Abs2 => "abs2",
        U::Arg => "arg",
        U::Inv => "inv",
        U::Exp => "exp",
        U::Ln => "ln",
        U::Sqrt => "sqrt",
        U::Cbrt => "cbrt",
        U::Cis => "cis",
        U::Sin => "sin",
        U::Cos => "cos",
        U::Tan => "tan",
        U::Sinh => "sinh",
        U::Cosh => "cosh",
        U::Tanh => "tanh",
        U::Asin => "asin",
        U::Acos => "acos",
        U::Atan => "atan",
        U::Asinh => "asinh",
        U::Acosh => "acosh",
        U::Atanh => "atanh",
        U::PowI(_) => "powi",
        U::PowF(_) => "powf",
    }
}

fn binary_name(op: B) -> &'static str {
    match op {
        B::Add => "add",
        B::Sub => "sub",
        B::Mul => "mul",
        B::Div => "div",
        B::Pow => "powc",
    }
}

// ---------------------------------------------------------------------------------------------
// Singular sets.

/// Distance from `w` to the real segment `[lo, hi]`.
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

fn swap(w: Complex64) -> Complex64 {
    c64(w.im, w.re)
}

fn dist_tan_pole(w: Complex64) -> f64 {
    let n = ((w.re - FRAC_PI_2) / PI).round();
    (w - c64(FRAC_PI_2 + n * PI, 0.0)).norm()
}

/// Distance from the input `w` of a unary op to the set where the op is singular, not
/// differentiable or discontinuous (`∞` if there is none).
fn unary_singular_distance(op: U, w: Complex64) -> f64 {
    let inf = f64::INFINITY;
    match op {
        U::Neg | U::Conj | U::Re | U::Im | U::NormSqr | U::Abs2 => inf,
        U::Exp | U::Cis | U::Sin | U::Cos | U::Sinh | U::Cosh => inf,
        U::Norm | U::Abs | U::Inv => w.norm(),
        U::PowI(n) if n < 0 => w.norm(),
        U::PowI(_) => inf,
        U::Arg | U::Ln | U::Sqrt | U::Cbrt | U::PowF(_) => dist_real(w, -inf, 0.0),
        U::Tan => dist_tan_pole(w),
        U::Tanh => dist_tan_pole(swap(w)),
        U::Asin | U::Acos | U::Atanh => dist_real(w, -inf, -1.0).min(dist_real(w, 1.0, inf)),
        U::Atan | U::Asinh => {
            let s = swap(w);
            dist_real(s, -inf, -1.0).min(dist_real(s, 1.0, inf))
        }
        U::Acosh => dist_real(w, -inf, 1.0),
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

/// What one evaluation learns about the tree at the point.
struct Ctx {
    /// Finite-difference step.
    h: f64,
    /// Why the point must be skipped, if it must.
    skip: Option<&'static str>,
    /// The operations evaluated.
    used: Vec<&'static str>,
}

impl Ctx {
    /// Records the input `a` of an op whose singular set is at distance `dist`.
    fn input(&mut self, a: Dual, dist: f64) {
        let displacement = (a.dz().norm() + a.dzbar().norm()) * self.h;
        // A constant input (no displacement) may sit anywhere, e.g. a negative real base of
        // `powc`, unless it is within rounding of the cut: an input that does not depend on `z`
        // in exact arithmetic may still move by rounding between the evaluations of the finite
        // differences (`z/z` is 1 only up to rounding) and cross the cut.
        let near = displacement > 0.0 && dist <= RATIO * displacement;
        let within_rounding = dist <= 1e-9 * a.value().norm();
        if self.skip.is_none() && (near || within_rounding) {
            self.skip = Some("input near a cut, zero or pole");
        }
    }

    fn output(&mut self, d: Dual) -> Dual {
        let big = |c: Complex64| !c.is_finite() || c.norm() > BIG;
        if self.skip.is_none() && (big(d.value()) || big(d.dz()) || big(d.dzbar())) {
            self.skip = Some("value or derivative not finite or huge");
        }
        d
    }
}

fn unary(op: U, a: Dual) -> Dual {
    match op {
        U::Neg => -a,
        U::Conj => a.conj(),
        U::Re => a.re(),
        U::Im => a.im(),
        U::Norm => a.norm(),
        U::Abs => a.abs(),
        U::NormSqr => a.norm_sqr(),
        U::Abs2 => a.abs2(),
        U::Arg => a.arg(),
        U::Inv => a.inv(),
        U::Exp => a.exp(),
        U::Ln => a.ln(),
        U::Sqrt => a.sqrt(),
        U::Cbrt => a.cbrt(),
        U::Cis => a.cis(),
        U::Sin => a.sin(),
        U::Cos => a.cos(),
        U::Tan => a.tan(),
        U::Sinh => a.sinh(),
        U::Cosh => a.cosh(),
        U::Tanh => a.tanh(),
        U::Asin => a.asin(),
        U::Acos => a.acos(),
        U::Atan => a.atan(),
        U::Asinh => a.asinh(),
        U::Acosh => a.acosh(),
        U::Atanh => a.atanh(),
        U::PowI(n) => a.powi(n),
        U::PowF(x) => a.powf(x),
    }
}

fn binary(op: B, a: Dual, b: Dual) -> Dual {
    match op {
        B::Add => a + b,
        B::Sub => a - b,
        B::Mul => a * b,
        B::Div => a / b,
        B::Pow => a.powc(b),
    }
}

/// `a ⊕ c` or `c ⊕ a` through the operators with a `Complex64` operand.
fn binary_complex(op: B, a: Dual, c: Complex64, left: bool) -> Dual {
    match (op, left) {
        (B::Add, false) => a + c,
        (B::Sub, false) => a - c,
        (B::Mul, false) => a * c,
        (B::Div, false) => a / c,
        (B::Pow, false) => a.powc(Dual::constant(c)),
        (B::Add, true) => c + a,
        (B::Sub, true) => c - a,
        (B::Mul, true) => c * a,
        (B::Div, true) => c / a,
        (B::Pow, true) => Dual::constant(c).powc(a),
    }
}

/// `a ⊕ x` or `x ⊕ a` through the operators with an `f64` operand (`powf` for a real exponent).
fn binary_real(op: B, a: Dual, x: f64, left: bool) -> Dual {
    match (op, left) {
        (B::Add, false) => a + x,
        (B::Sub, false) => a - x,
        (B::Mul, false) => a * x,
        (B::Div, false) => a / x,
        (B::Pow, false) => a.powf(x),
        (B::Add, true) => x + a,
        (B::Sub, true) => x - a,
        (B::Mul, true) => x * a,
        (B::Div, true) => x / a,
        (B::Pow, true) => Dual::constant(c64(x, 0.0)).powc(a),
    }
}

/// Checks the inputs of a binary op: the divisor must stay away from 0 and the base of a power
/// from the cut of `ln`.
fn binary_inputs(ctx: &mut Ctx, op: B, a: Dual, b: Dual) {
    match op {
        B::Div => ctx.input(b, b.value().norm()),
        B::Pow => ctx.input(a, dist_real(a.value(), f64::NEG_INFINITY, 0.0)),
        B::Add | B::Sub | B::Mul => {}
    }
}

fn eval(e: &E, z: Dual, ctx: &mut Ctx) -> Dual {
    let d = match e {
        E::Z => z,
        E::C(c) => Dual::constant(*c),
        E::U(op, a) => {
            let a = eval(a, z, ctx);
            ctx.input(a, unary_singular_distance(*op, a.value()));
            ctx.used.push(unary_name(*op));
            unary(*op, a)
        }
        E::B(op, a, b) => {
            let (a, b) = (eval(a, z, ctx), eval(b, z, ctx));
            binary_inputs(ctx, *op, a, b);
            ctx.used.push(binary_name(*op));
            binary(*op, a, b)
        }
        E::BC(op, a, c, left) => {
            let a = eval(a, z, ctx);
            let k = Dual::constant(*c);
            let (x, y) = if *left { (k, a) } else { (a, k) };
            binary_inputs(ctx, *op, x, y);
            ctx.used.push(binary_name(*op));
            binary_complex(*op, a, *c, *left)
        }
        E::BR(op, a, x, left) => {
            let a = eval(a, z, ctx);
            let k = Dual::constant(c64(*x, 0.0));
            let (p, q) = if *left { (k, a) } else { (a, k) };
            binary_inputs(ctx, *op, p, q);
            ctx.used.push(if matches!((op, left), (B::Pow, false)) {
                "powf"
            } else {
                binary_name(*op)
            });
            binary_real(*op, a, *x, *left)
        }
    };
    ctx.output(d)
}

/// The tree as a plain function (for the finite differences).
fn value(e: &E, w: Complex64) -> Complex64 {
    let mut ctx = Ctx {
        h: 0.0,
        skip: None,
        used: Vec::new(),
    };
    eval(e, Dual::constant(w), &mut ctx).value()
}

// ---------------------------------------------------------------------------------------------
// Strategies.

fn complex_const() -> impl Strategy<Value = Complex64> {
    (-2.0..2.0f64, -2.0..2.0f64).prop_map(|(x, y)| c64(x, y))
}

fn unary_op() -> impl Strategy<Value = U> {
    prop_oneof![
        8 => (0..UNARY.len()).prop_map(|i| UNARY[i]),
        1 => (-3..=4i32).prop_map(U::PowI),
        1 => (-2.0..3.0f64).prop_map(U::PowF),
    ]
}

fn binary_op() -> impl Strategy<Value = B> {
    (0..BINARY.len()).prop_map(|i| BINARY[i])
}

/// Trees of at most `depth` nested operations. Below the root each level is a leaf with
/// probability 1/9 only, so most trees reach the full depth on some path.
fn tree(depth: u32) -> BoxedStrategy<E> {
    let leaf = prop_oneof![
        3 => Just(E::Z),
        1 => complex_const().prop_map(E::C),
    ];
    match depth {
        0 => leaf.boxed(),
        d if d == MAX_DEPTH => node(tree(d - 1)),
        d => prop_oneof![1 => leaf, 8 => node(tree(d - 1))].boxed(),
    }
}

/// An operation on subtrees drawn from `sub`.
fn node(sub: BoxedStrategy<E>) -> BoxedStrategy<E> {
    prop_oneof![
        4 => (unary_op(), sub.clone()).prop_map(|(op, a)| E::U(op, Box::new(a))),
        2 => (binary_op(), sub.clone(), sub.clone())
            .prop_map(|(op, a, b)| E::B(op, Box::new(a), Box::new(b))),
        1 => (binary_op(), sub.clone(), complex_const(), any::<bool>())
            .prop_map(|(op, a, c, left)| E::BC(op, Box::new(a), c, left)),
        1 => (binary_op(), sub, -2.0..2.0f64, any::<bool>())
            .prop_map(|(op, a, x, left)| E::BR(op, Box::new(a), x, left)),
    ]
    .boxed()
}

/// Nesting depth: the number of operations on the longest path from the root to a leaf.
fn depth(e: &E) -> usize {
    match e {
        E::Z | E::C(_) => 0,
        E::U(_, a) | E::BC(_, a, _, _) | E::BR(_, a, _, _) => 1 + depth(a),
        E::B(_, a, b) => 1 + depth(a).max(depth(b)),
    }
}

#[derive(Default)]
struct Stats {
    /// Checked trees by depth.
    depths: BTreeMap<usize, u32>,
    checked: u32,
    skipped: BTreeMap<&'static str, u32>,
    /// How often each operation occurred in checked trees.
    coverage: BTreeMap<&'static str, u32>,
    worst: f64,
}

#[test]
fn random_trees_match_finite_differences() {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let stats = RefCell::new(Stats::default());
    let point = (-2.0..2.0f64, -2.0..2.0f64).prop_map(|(x, y)| c64(x, y));
    let result = runner.run(&(tree(MAX_DEPTH), point), |(e, z)| {
        let h = check::default_step::<f64>() * z.norm().max(1.0);
        let mut ctx = Ctx {
            h,
            skip: None,
            used: Vec::new(),
        };
        let d = eval(&e, Dual::var(z), &mut ctx);
        let f = |w: Complex64| value(&e, w);
        let skip = ctx.skip.or_else(|| {
            let coarse = check::finite_difference_with_step(f, z, h);
            let fine = check::finite_difference_with_step(f, z, h / 2.0);
            let scale = 1.0f64.max(fine.dz.norm()).max(fine.dzbar.norm());
            let gap = (coarse.dz - fine.dz)
                .norm()
                .max((coarse.dzbar - fine.dzbar).norm());
            // `!(gap <= …)` also skips NaN; an infinite difference (a value reaching ±∞ at one
            // of the points, `ln` of a rounding-level 0) would agree with itself at any scale.
            let finite = [coarse.dz, coarse.dzbar, fine.dz, fine.dzbar]
                .iter()
                .all(|d| d.is_finite());
            let agree = finite && gap <= FD_AGREEMENT * scale;
            (!agree).then_some("finite differences at h and h/2 disagree")
        });
        let mut stats = stats.borrow_mut();
        if let Some(reason) = skip {
            *stats.skipped.entry(reason).or_default() += 1;
            return Ok(());
        }
        let ad = Derivative {
            value: d.value(),
            dz: d.dz(),
            dzbar: d.dzbar(),
        };
        let cmp = check::compare(ad, f, z);
        prop_assert!(cmp.passes(TOL), "tree {:?}\n{}", e, cmp);
        stats.checked += 1;
        *stats.depths.entry(depth(&e)).or_default() += 1;
        stats.worst = stats.worst.max(cmp.error);
        for name in ctx.used {
            *stats.coverage.entry(name).or_default() += 1;
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }

    let stats = stats.into_inner();
    eprintln!(
        "{} of {} trees checked, worst error {:.1e}; skipped: {:?}",
        stats.checked, CASES, stats.worst, stats.skipped
    );
    eprintln!("coverage: {:?}", stats.coverage);
    eprintln!("checked trees by depth: {:?}", stats.depths);
    assert!(
        f64::from(stats.checked) >= MIN_CHECKED * f64::from(CASES),
        "only {} of {} trees could be checked; skipped: {:?}",
        stats.checked,
        CASES,
        stats.skipped
    );
    let full = stats
        .depths
        .get(&(MAX_DEPTH as usize))
        .copied()
        .unwrap_or(0);
    assert!(
        f64::from(full) >= 0.25 * f64::from(CASES),
        "only {full} checked trees have depth {MAX_DEPTH}"
    );
    let all = UNARY
        .iter()
        .map(|&op| unary_name(op))
        .chain(["powi", "powf"])
        .chain(BINARY.iter().map(|&op| binary_name(op)));
    for name in all {
        let n = stats.coverage.get(name).copied().unwrap_or(0);
        assert!(n >= 10, "{name} occurred only {n} times in checked trees");
    }
}
