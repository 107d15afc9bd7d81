//! Custom rules: `Tape::custom` with a dense linear solve (VJP by one adjoint solve) checked with
//! `check::test_vjp` and finite differences of whole losses, a non-holomorphic custom rule, and
//! `Var::chain` / `chain2` / `chain_real` against the rules table.

mod common;
use common::Lcg;
use wirtinger::check;
use wirtinger::forward;
use wirtinger::prelude::*;
use wirtinger::rules;

type C = Complex64;

const ZERO: C = c64(0.0, 0.0);

/// Solves `A x = b` (A row-major n×n) by Gaussian elimination with partial pivoting.
fn solve(a: &[C], b: &[C]) -> Vec<C> {
    let n = b.len();
    assert_eq!(a.len(), n * n);
    let (mut m, mut x) = (a.to_vec(), b.to_vec());
    for k in 0..n {
        let p = (k..n)
            .max_by(|&i, &j| m[i * n + k].norm().total_cmp(&m[j * n + k].norm()))
            .unwrap();
        for j in 0..n {
            m.swap(k * n + j, p * n + j);
        }
        x.swap(k, p);
        for i in k + 1..n {
            let f = m[i * n + k] / m[k * n + k];
            for j in k..n {
                let t = m[k * n + j];
                m[i * n + j] -= f * t;
            }
            let t = x[k];
            x[i] -= f * t;
        }
    }
    for k in (0..n).rev() {
        let s: C = (k + 1..n).map(|j| m[k * n + j] * x[j]).sum();
        x[k] = (x[k] - s) / m[k * n + k];
    }
    x
}

/// `Aᴴ`, row-major.
fn adjoint(a: &[C], n: usize) -> Vec<C> {
    (0..n * n).map(|k| a[(k % n) * n + k / n].conj()).collect()
}

/// `Aᵀ`, row-major.
fn transpose(a: &[C], n: usize) -> Vec<C> {
    (0..n * n).map(|k| a[(k % n) * n + k / n]).collect()
}

/// The VJP of `x = A⁻¹ b`: `c_b = A⁻ᴴ c_x` (one adjoint solve), `c_A = −c_b x̄ᵀ`.
fn solve_vjp(a: &[C], x: &[C], c_x: &[C]) -> (Vec<C>, Vec<C>) {
    let n = x.len();
    let c_b = solve(&adjoint(a, n), c_x);
    let c_a = (0..n * n).map(|k| -c_b[k / n] * x[k % n].conj()).collect();
    (c_a, c_b)
}

/// `x = A⁻¹ b` on the tape, as one custom node.
fn solve_on_tape<'t>(a: &VarArray<'t>, b: &VarArray<'t>) -> VarArray<'t> {
    let n = b.len();
    let (av, bv) = (a.value(), b.value());
    let x = solve(&av, &bv);
    let xv = x.clone();
    a.tape().custom("solve", &[a, b], x, &[n], move |c_x| {
        let (c_a, c_b) = solve_vjp(&av, &xv, c_x);
        vec![c_a, c_b]
    })
}

fn assert_vec_close(a: &[C], b: &[C], rtol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    let s = b.iter().fold(1.0f64, |m, x| m.max(x.norm()));
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).norm() <= rtol * s,
            "{what}: element {k}: {x} vs {y}"
        );
    }
}

fn matvec(a: &[C], x: &[C]) -> Vec<C> {
    let n = x.len();
    (0..n)
        .map(|i| (0..n).map(|j| a[i * n + j] * x[j]).sum())
        .collect()
}

/// A custom rule's VJP receives the cotangents on the scale of the backward pass: `2 ∂L/∂ȳ` for a
/// real loss (the seed `1`), `∂Re f/∂ȳ` and `∂Im f/∂ȳ` for the two walks of a complex `f`.
#[test]
fn a_custom_vjp_receives_twice_the_conjugate_cotangent_of_a_real_loss() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let y0 = vec![c64(1.0, 2.0), c64(-0.5, 0.25)];
    type Seen = Rc<RefCell<Vec<Vec<C>>>>;
    /// The identity, as a custom rule that records the cotangents it is handed.
    fn id<'t>(x: &VarArray<'t>, seen: &Seen) -> VarArray<'t> {
        let seen = Rc::clone(seen);
        x.tape()
            .custom("id", &[x], x.value().to_vec(), &[2], move |c| {
                seen.borrow_mut().push(c.to_vec());
                vec![c.to_vec()]
            })
    }
    let seen: Seen = Rc::default();
    let tape: Tape = Tape::new();
    let x = tape.vector(&y0);
    // L = Σ|y|²: ∂L/∂ȳ = y.
    let g = id(&x, &seen).norm_sqr_sum().backward();
    let want: Vec<C> = y0.iter().map(|y| y * 2.0).collect();
    assert_eq!(seen.borrow()[0], want);
    assert_eq!(g.grad(&x), want);
    assert_eq!(g.dzbar(&x), y0);
    // f = Σ y: ∂Re f/∂ȳ = ½, ∂Im f/∂ȳ = i/2.
    seen.borrow_mut().clear();
    let g = id(&x, &seen).sum().backward();
    assert_eq!(seen.borrow()[0], vec![c64(0.5, 0.0); 2]);
    assert_eq!(seen.borrow()[1], vec![c64(0.0, 0.5); 2]);
    assert_eq!(g.dz(&x), vec![c64(1.0, 0.0); 2]);
    assert_eq!(g.dzbar(&x), vec![c64(0.0, 0.0); 2]);
}

#[test]
fn solve_is_correct() {
    let mut rng = Lcg(1);
    for n in [1, 2, 3, 5] {
        let a = rng.matrix(n);
        let b = rng.vec(n);
        let x = solve(&a, &b);
        assert_vec_close(&matvec(&a, &x), &b, 1e-13, "A x = b");
    }
}

#[test]
fn solve_vjp_passes_test_vjp() {
    let mut rng = Lcg(2);
    for n in [1, 2, 3, 4] {
        let a = rng.matrix(n);
        let b = rng.vec(n);
        let mut x0 = a.clone();
        x0.extend(&b);
        // Inputs [A (n²), b (n)] flat; output x = A⁻¹ b.
        check::test_vjp(
            |z: &[C]| solve(&z[..n * n], &z[n * n..]),
            |z, c_x| {
                let x = solve(&z[..n * n], &z[n * n..]);
                let (mut c_a, c_b) = solve_vjp(&z[..n * n], &x, c_x);
                c_a.extend(c_b);
                c_a
            },
            &x0,
            1e-8,
        );
    }
}

#[test]
#[should_panic(expected = "VJP check failed")]
fn test_vjp_rejects_a_wrong_solve_vjp() {
    // c_A without its minus sign.
    let mut rng = Lcg(3);
    let n = 2;
    let a = rng.matrix(n);
    let b = rng.vec(n);
    let mut x0 = a.clone();
    x0.extend(&b);
    check::test_vjp(
        |z: &[C]| solve(&z[..n * n], &z[n * n..]),
        |z, c_x| {
            let x = solve(&z[..n * n], &z[n * n..]);
            let (c_a, c_b) = solve_vjp(&z[..n * n], &x, c_x);
            let mut out: Vec<C> = c_a.iter().map(|v| -v).collect();
            out.extend(c_b);
            out
        },
        &x0,
        1e-8,
    );
}

/// The custom node inside a larger loss: `L = Σ |x − t|² + Re(w · x²)` with `x = A⁻¹ (b ⊙ e^{iθ})`
/// and a second solve with the same `A` (fan-out of `A` into two custom nodes). Compared with
/// finite differences of the whole loss in every input.
#[test]
fn solve_on_tape_matches_finite_differences_of_the_loss() {
    let mut rng = Lcg(4);
    let n = 3;
    let a0 = rng.matrix(n);
    let b0 = rng.vec(n);
    let t = rng.vec(n);
    let w = rng.vec(n);
    let loss = |a: &VarArray<'_>, b: &VarArray<'_>| -> C {
        let x = solve_on_tape(a, b);
        let x2 = solve_on_tape(a, &(&x * c64(0.0, 1.0)));
        let r = &x - &t[..];
        (r.norm_sqr_sum() + (&(&x * &x) * &w[..]).sum().re() + x2.norm_sqr_sum()).value()
    };
    let tape = Tape::new();
    let a = tape.array(a0.clone(), &[n, n]);
    let b = tape.vector(b0.clone());
    let x = solve_on_tape(&a, &b);
    let x2 = solve_on_tape(&a, &(&x * c64(0.0, 1.0)));
    let r = &x - &t[..];
    let l = r.norm_sqr_sum() + (&(&x * &x) * &w[..]).sum().re() + x2.norm_sqr_sum();
    assert!(l.is_real());
    let g = l.backward();
    let mut z0 = a0.clone();
    z0.extend(&b0);
    let fd = check::finite_difference_gradient(
        |z| {
            let t2 = Tape::new();
            let a = t2.constant_array(z[..n * n].to_vec(), &[n, n]);
            let b = t2.constant_array(z[n * n..].to_vec(), &[n]);
            loss(&a, &b)
        },
        &z0,
    );
    assert!((l.value() - fd.value).norm() < 1e-12 * fd.value.norm().max(1.0));
    let mut ad = g.dzbar(&a);
    ad.extend(g.dzbar(&b));
    assert_vec_close(&ad, &fd.dzbar, 1e-8, "dzbar");
    let mut ad = g.dz(&a);
    ad.extend(g.dz(&b));
    assert_vec_close(&ad, &fd.dz, 1e-8, "dz");
    let mut ad = g.grad(&a);
    ad.extend(g.grad(&b));
    let fd_grad: Vec<C> = fd.dzbar.iter().map(|d| d * 2.0).collect();
    assert_vec_close(&ad, &fd_grad, 1e-8, "grad");
}

/// A complex output of the holomorphic solve: `f = Σ c_k x_k` has `∂f/∂b = A⁻ᵀ c`,
/// `∂f/∂A = −(A⁻ᵀ c) xᵀ` and zero `∂/∂b̄`, `∂/∂Ā`.
#[test]
fn solve_complex_output() {
    let mut rng = Lcg(5);
    let n = 4;
    let (a0, b0, c) = (rng.matrix(n), rng.vec(n), rng.vec(n));
    let tape = Tape::new();
    let a = tape.array(a0.clone(), &[n, n]);
    let b = tape.vector(b0.clone());
    let x = solve_on_tape(&a, &b);
    let f = x.dot(&tape.constant_array(c.clone(), &[n]));
    let g = f.backward();
    let atc = solve(&transpose(&a0, n), &c);
    assert_vec_close(&g.dz(&b), &atc, 1e-12, "dz b");
    let xv = x.value();
    let want_a: Vec<C> = (0..n * n).map(|k| -atc[k / n] * xv[k % n]).collect();
    assert_vec_close(&g.dz(&a), &want_a, 1e-12, "dz A");
    let zeros = vec![ZERO; n * n];
    assert_vec_close(&g.dzbar(&a), &zeros, 1e-13, "dzbar A");
    assert_vec_close(&g.dzbar(&b), &zeros[..n], 1e-13, "dzbar b");
}

/// A non-holomorphic custom rule, `y = x̄ ⊙ x²`, whose VJP needs both partials:
/// `c_x = (∂y/∂x)ᴴ c + (∂y/∂x̄)ᵀ c̄ = 2|x|² c + x² c̄` elementwise.
#[test]
fn non_holomorphic_custom_rule() {
    let f = |x: &[C]| -> Vec<C> { x.iter().map(|v| v.conj() * v * v).collect() };
    let vjp = |x: &[C], c: &[C]| -> Vec<C> {
        x.iter()
            .zip(c)
            .map(|(v, c)| c * (2.0 * v.norm_sqr()) + v * v * c.conj())
            .collect()
    };
    let mut rng = Lcg(6);
    let x0 = rng.vec(5);
    check::test_vjp(f, vjp, &x0, 1e-8);
    // On the tape, with a real and a complex output, against forward mode of the same expression.
    let tape = Tape::new();
    let x = tape.vector(x0.clone());
    let xv = x0.clone();
    let y = tape.custom("cubic", &[&x], f(&x0), &[5], move |c| vec![vjp(&xv, c)]);
    let w = rng.vec(5);
    let outs: [(Var, bool); 2] = [
        (y.norm_sqr_sum() + (&y * &w[..]).sum().im(), true),
        ((&y * &w[..]).sum() + y.get(&[2]).sin(), false),
    ];
    for (k, (out, real)) in outs.iter().enumerate() {
        assert_eq!(out.is_real(), *real);
        let g = out.backward();
        let reference = |d: &[Dual]| {
            let ys: Vec<Dual> = d.iter().map(|v| v.conj() * *v * *v).collect();
            if k == 0 {
                ys.iter().map(|v| v.norm_sqr()).sum::<Dual>()
                    + ys.iter().zip(&w).map(|(v, w)| *v * *w).sum::<Dual>().im()
            } else {
                ys.iter().zip(&w).map(|(v, w)| *v * *w).sum::<Dual>() + ys[2].sin()
            }
        };
        let r = forward::gradient(reference, &x0);
        assert_vec_close(&g.dz(&x), &r.dz, 1e-12, "dz");
        assert_vec_close(&g.dzbar(&x), &r.dzbar, 1e-12, "dzbar");
    }
}

// ---------------------------------------------------------------------------------------------
// Var::chain against the rules table.
// ---------------------------------------------------------------------------------------------

type Rule = fn(C) -> rules::Unary<f64>;
type Rule2 = fn(C, C) -> rules::Binary<f64>;
type Op = for<'t> fn(Var<'t>) -> Var<'t>;

#[test]
fn chain_with_a_table_rule_equals_the_builtin_op() {
    let table: [(&str, Rule, Op); 12] = [
        ("sin", rules::sin, |v| v.sin()),
        ("exp", rules::exp, |v| v.exp()),
        ("ln", rules::ln, |v| v.ln()),
        ("sqrt", rules::sqrt, |v| v.sqrt()),
        ("atan", rules::atan, |v| v.atan()),
        ("acosh", rules::acosh, |v| v.acosh()),
        ("conj", rules::conj, |v| v.conj()),
        ("re", rules::re, |v| v.re()),
        ("im", rules::im, |v| v.im()),
        ("norm", rules::norm, |v| v.norm()),
        ("norm_sqr", rules::norm_sqr, |v| v.norm_sqr()),
        ("arg", rules::arg, |v| v.arg()),
    ];
    for z0 in [c64(0.7, -0.4), c64(-1.2, 0.9), c64(2.0, 0.3)] {
        for (name, rule, op) in table {
            let tape = Tape::new();
            let z = tape.var(z0);
            let w = tape.var(c64(0.3, 0.8));
            let inner = z * w + z.conj();
            let r = rule(inner.value());
            let via_chain = inner.chain(r.value, r.da, r.da_conj.unwrap_or(ZERO));
            let builtin = op(inner);
            assert_eq!(via_chain.value(), builtin.value(), "{name}");
            // A complex output and a real loss of each, differentiated.
            for (a, b) in [
                (via_chain * w, builtin * w),
                ((via_chain * w).norm_sqr(), (builtin * w).norm_sqr()),
            ] {
                let (ga, gb) = (a.backward(), b.backward());
                for leaf in [&z, &w] {
                    let s = gb.dz(leaf).norm().max(gb.dzbar(leaf).norm()).max(1.0);
                    assert!(
                        (ga.dz(leaf) - gb.dz(leaf)).norm() <= 1e-14 * s,
                        "{name} at {z0}"
                    );
                    assert!(
                        (ga.dzbar(leaf) - gb.dzbar(leaf)).norm() <= 1e-14 * s,
                        "{name} at {z0}"
                    );
                }
            }
            // And against Dual::chain with the same rule.
            let d = forward::derivative(
                |x| {
                    let inner = x * c64(0.3, 0.8) + x.conj();
                    let r = rule(inner.value());
                    inner.chain(r.value, r.da, r.da_conj.unwrap_or(ZERO)) * c64(0.3, 0.8)
                },
                z0,
            );
            let g = (via_chain * w).backward();
            let s = d.dz.norm().max(d.dzbar.norm()).max(1.0);
            assert!((g.dz(&z) - d.dz).norm() <= 1e-13 * s, "{name}");
            assert!((g.dzbar(&z) - d.dzbar).norm() <= 1e-13 * s, "{name}");
        }
    }
}

#[test]
fn chain2_with_table_rules_equals_the_builtin_ops() {
    let binary: [(&str, Rule2); 5] = [
        ("add", rules::add),
        ("sub", rules::sub),
        ("mul", rules::mul),
        ("div", rules::div),
        ("powc", rules::powc),
    ];
    for (name, rule) in binary {
        let tape = Tape::new();
        let a = tape.var(c64(0.9, 0.4));
        let b = tape.var(c64(-0.3, 1.1));
        let (p, q) = (a.exp(), a * b);
        let r = rule(p.value(), q.value());
        let via = p.chain2(q, r.value, (r.da, ZERO), (r.db, ZERO));
        let builtin = match name {
            "add" => p + q,
            "sub" => p - q,
            "mul" => p * q,
            "div" => p / q,
            _ => p.powc(q),
        };
        assert_eq!(via.value(), builtin.value(), "{name}");
        let (g1, g2) = (via.backward(), builtin.backward());
        let (h1, h2) = (via.abs().backward(), builtin.abs().backward());
        for leaf in [&a, &b] {
            for (x, y) in [
                (g1.dz(leaf), g2.dz(leaf)),
                (g1.dzbar(leaf), g2.dzbar(leaf)),
                (h1.grad(leaf), h2.grad(leaf)),
            ] {
                assert!(
                    (x - y).norm() <= 1e-14 * y.norm().max(1.0),
                    "{name}: {x} vs {y}"
                );
            }
        }
    }
}

#[test]
fn chain_real_with_the_norm_rule() {
    // chain_real with g_a of `norm` gives the builtin `norm` (and a real output with grad).
    let tape = Tape::new();
    let z = tape.var(c64(-0.6, 1.3));
    let inner = z.sin();
    let r = rules::norm(inner.value());
    let via = inner.chain_real(r.value.re, r.da);
    assert!(via.is_real());
    let builtin = inner.norm();
    let (g1, g2) = ((via * 3.0).backward(), (builtin * 3.0).backward());
    assert!(g1.is_real_output());
    assert!((g1.grad(&z) - g2.grad(&z)).norm() <= 1e-14 * g2.grad(&z).norm());
    // And against finite differences.
    let fd = check::finite_difference(|w: C| c64(w.sin().norm() * 3.0, 0.0), c64(-0.6, 1.3));
    assert!((g1.grad(&z) - fd.grad()).norm() <= 1e-8 * fd.grad().norm().max(1.0));
}
