//! The optimizers of `wirtinger::optim`: convergence on `Σ|z − z₀|²` and on complex least squares,
//! the strong Wolfe conditions at every L-BFGS step, Adam's phase invariance, the stopping rules,
//! real parameters staying real, and the errors.

mod common;
use common::Lcg;
use std::cell::RefCell;
use std::ops::ControlFlow;
use wirtinger::optim::{
    Adam, GradientDescent, Lbfgs, Leaves, Minimize, Minimum, Objective, Optimizer, Params,
    Progress, Stop,
};
use wirtinger::prelude::*;

fn close(a: &[Complex64], b: &[Complex64], tol: f64) -> bool {
    a.iter().zip(b).all(|(a, b)| (a - b).norm() <= tol)
}

/// `Σ|z − z₀|² + |s − s₀|² + Σ(p − Re q₀)² + |p − q₀|²`-style mix: a complex array, a complex
/// scalar and a real array whose targets are complex (so its optimum is the real part).
struct Mix {
    z0: Vec<Complex64>,
    s0: Complex64,
    q0: Vec<Complex64>,
}

impl Mix {
    fn new(rng: &mut Lcg) -> Self {
        Mix {
            z0: rng.vec(5),
            s0: rng.c(),
            q0: rng.vec(3),
        }
    }

    fn run<O: Optimizer<f64>>(&self, opt: O, iters: usize) -> Minimum {
        let mut p = Params::new();
        let z = p.array(vec![c64(0.0, 0.0); 5], &[5]);
        let s = p.scalar(c64(0.0, 0.0));
        let q = p.real_array(vec![0.0; 3], &[3]);
        let r = Minimize::new(opt)
            .max_iters(iters)
            .gtol(1e-10)
            .ftol(0.0)
            .quiet()
            .run(p, |p| {
                let a = (p.array(z) - self.z0.as_slice()).norm_sqr_sum();
                let b = (p.var(s) - self.s0).norm_sqr();
                let c = (p.array(q) - self.q0.as_slice()).norm_sqr_sum();
                a + b + c
            });
        r
    }

    fn check(&self, r: &Minimum) {
        // Blocks are laid out in the order added: z (5), s (1), q (3).
        let x = r.params.as_slice();
        assert!(close(&x[..5], &self.z0, 1e-8), "z: {:?}", &x[..5]);
        assert!((x[5] - self.s0).norm() < 1e-8, "s: {}", x[5]);
        for (p, q0) in x[6..].iter().zip(&self.q0) {
            assert!((p.re - q0.re).abs() < 1e-8, "p: {p}");
            assert_eq!(p.im, 0.0, "a real parameter became complex: {p}");
        }
        assert_eq!(r.history.len(), r.iterations + 1);
        assert!(r.loss < r.history[0]);
    }
}

#[test]
fn every_optimizer_finds_the_target_of_a_mixed_sum_of_squares() {
    let mix = Mix::new(&mut Lcg(1));
    let r = mix.run(GradientDescent::new(0.25), 200);
    assert_eq!(
        r.stop,
        Stop::GradientNorm,
        "{:?} after {} iterations, |g| {}",
        r.stop,
        r.iterations,
        r.grad_norm
    );
    mix.check(&r);
    let r = mix.run(GradientDescent::new(0.1).momentum(0.5), 500);
    assert_eq!(
        r.stop,
        Stop::GradientNorm,
        "{:?} after {} iterations, |g| {}",
        r.stop,
        r.iterations,
        r.grad_norm
    );
    mix.check(&r);
    let r = mix.run(Adam::new(0.05), 20_000);
    assert_eq!(
        r.stop,
        Stop::GradientNorm,
        "{:?} after {} iterations, |g| {}",
        r.stop,
        r.iterations,
        r.grad_norm
    );
    mix.check(&r);
    let r = mix.run(Lbfgs::new(), 100);
    assert_eq!(
        r.stop,
        Stop::GradientNorm,
        "{:?} after {} iterations, |g| {}",
        r.stop,
        r.iterations,
        r.grad_norm
    );
    mix.check(&r);
    // The minimum in the real coordinates is a quadratic with Hessian 2·I: L-BFGS needs one step.
    assert!(r.iterations <= 3, "{} iterations", r.iterations);
}

#[test]
fn gradient_descent_with_step_one_half_is_exact_in_one_step() {
    let z0 = [c64(1.5, -2.0), c64(0.25, 3.0)];
    let mut p = Params::new();
    let z = p.array(vec![c64(0.0, 0.0); 2], &[2]);
    let r = Minimize::new(GradientDescent::new(0.5))
        .quiet()
        .run(p, |p| (p.array(z) - &z0[..]).norm_sqr_sum());
    assert_eq!(r.iterations, 1);
    assert_eq!(r.stop, Stop::GradientNorm);
    assert_eq!(r.params.slice(z), &z0);
}

/// `A` (m×n), `b` and the least-squares solution of `‖A z − b‖²` from the normal equations
/// `AᴴA z = Aᴴb`, solved by Gaussian elimination with partial pivoting.
fn least_squares(
    rng: &mut Lcg,
    m: usize,
    n: usize,
) -> (Vec<Complex64>, Vec<Complex64>, Vec<Complex64>) {
    let a = rng.vec(m * n);
    let b = rng.vec(m);
    let mut g = vec![c64(0.0, 0.0); n * (n + 1)];
    for i in 0..n {
        for j in 0..n {
            g[i * (n + 1) + j] = (0..m).map(|k| a[k * n + i].conj() * a[k * n + j]).sum();
        }
        g[i * (n + 1) + n] = (0..m).map(|k| a[k * n + i].conj() * b[k]).sum();
    }
    for c in 0..n {
        let p = (c..n)
            .max_by(|&x, &y| {
                g[x * (n + 1) + c]
                    .norm()
                    .total_cmp(&g[y * (n + 1) + c].norm())
            })
            .unwrap();
        for j in 0..=n {
            g.swap(c * (n + 1) + j, p * (n + 1) + j);
        }
        for r in 0..n {
            if r != c {
                let f = g[r * (n + 1) + c] / g[c * (n + 1) + c];
                for j in c..=n {
                    let v = g[c * (n + 1) + j];
                    g[r * (n + 1) + j] -= f * v;
                }
            }
        }
    }
    let z = (0..n)
        .map(|i| g[i * (n + 1) + n] / g[i * (n + 1) + i])
        .collect();
    (a, b, z)
}

/// `‖A z − b‖²` on the tape: each residual is a row of `A` (a constant) dotted with `z`.
fn residual_loss<'t>(
    p: &Leaves<'t>,
    z: wirtinger::optim::Array,
    a: &[Complex64],
    b: &[Complex64],
) -> Var<'t> {
    let (m, n) = (b.len(), a.len() / b.len());
    let zv = p.array(z);
    let rows: Vec<Var> = (0..m)
        .map(|i| {
            let row = p.tape().constant_array(&a[i * n..(i + 1) * n], &[n]);
            row.dot(&zv) - b[i]
        })
        .collect();
    VarArray::stack(&rows).norm_sqr_sum()
}

fn solve_ls<O: Optimizer<f64>>(
    opt: O,
    a: &[Complex64],
    b: &[Complex64],
    iters: usize,
) -> (Minimum, wirtinger::optim::Array) {
    let n = a.len() / b.len();
    let mut p = Params::new();
    let z = p.array(vec![c64(0.0, 0.0); n], &[n]);
    let r = Minimize::new(opt)
        .max_iters(iters)
        .gtol(1e-9)
        .ftol(0.0)
        .quiet()
        .run(p, |p| residual_loss(p, z, a, b));
    (r, z)
}

#[test]
fn complex_least_squares_reaches_the_normal_equation_solution_and_lbfgs_needs_fewer_evaluations() {
    let (a, b, zstar) = least_squares(&mut Lcg(7), 12, 6);
    let fro2: f64 = a.iter().map(|x| x.norm_sqr()).sum();
    // The Hessian in real coordinates is 2AᴴA, whose largest eigenvalue is at most 2‖A‖_F².
    let (gd, z) = solve_ls(GradientDescent::new(0.5 / fro2), &a, &b, 200_000);
    assert_eq!(
        gd.stop,
        Stop::GradientNorm,
        "{:?} after {} iterations, |g| {}",
        gd.stop,
        gd.iterations,
        gd.grad_norm
    );
    assert!(close(gd.params.slice(z), &zstar, 1e-7));
    let (adam, z) = solve_ls(Adam::new(0.01), &a, &b, 200_000);
    assert_eq!(
        adam.stop,
        Stop::GradientNorm,
        "{:?} after {} iterations, |g| {}",
        adam.stop,
        adam.iterations,
        adam.grad_norm
    );
    assert!(close(adam.params.slice(z), &zstar, 1e-7));
    let (lb, z) = solve_ls(Lbfgs::new(), &a, &b, 1000);
    assert_eq!(
        lb.stop,
        Stop::GradientNorm,
        "{:?} after {} iterations, |g| {}",
        lb.stop,
        lb.iterations,
        lb.grad_norm
    );
    assert!(close(lb.params.slice(z), &zstar, 1e-8));
    assert!(
        lb.evaluations * 10 < gd.evaluations,
        "L-BFGS {} vs gradient descent {} evaluations",
        lb.evaluations,
        gd.evaluations
    );
    eprintln!(
        "least squares 12×6: evaluations gd {}, adam {}, lbfgs {}",
        gd.evaluations, adam.evaluations, lb.evaluations
    );
}

/// A non-convex loss: a chained complex Rosenbrock, `Σ 10|z_{k+1} − z_k²|² + |1 − z_k|²`.
fn rosenbrock<'t>(p: &Leaves<'t>, z: wirtinger::optim::Array, n: usize) -> Var<'t> {
    let zs: Vec<Var> = (0..n).map(|k| p.array(z).get(&[k])).collect();
    let mut l = p.tape().real_constant(0.0);
    for k in 0..n - 1 {
        l = l + 10.0 * (zs[k + 1] - zs[k] * zs[k]).norm_sqr() + (1.0 - zs[k]).norm_sqr();
    }
    l
}

#[test]
fn every_accepted_lbfgs_step_meets_the_strong_wolfe_conditions() {
    let n = 6;
    // Start in the basin of the global minimum z = (1, …, 1); the loss has other stationary points.
    let z0: Vec<Complex64> = Lcg(3).vec(n).iter().map(|z| 1.0 + 0.6 * z).collect();
    let mut p = Params::new();
    let z = p.array(z0.clone(), &[n]);
    // The start, evaluated on a tape of our own.
    let (f0, g0) = {
        let tape: Tape = Tape::new();
        let leaf = tape.array(z0.clone(), &[n]);
        let zs: Vec<Var> = (0..n).map(|k| leaf.get(&[k])).collect();
        let mut l = tape.real_constant(0.0);
        for k in 0..n - 1 {
            l = l + 10.0 * (zs[k + 1] - zs[k] * zs[k]).norm_sqr() + (1.0 - zs[k]).norm_sqr();
        }
        (l.value().re, l.backward().grad(&leaf))
    };
    let points = RefCell::new(vec![(z0.clone(), f0, g0)]);
    let r = Minimize::new(Lbfgs::new())
        .max_iters(500)
        .gtol(1e-8)
        .ftol(0.0)
        .quiet()
        .callback(|it| {
            points
                .borrow_mut()
                .push((it.params.as_slice().to_vec(), it.loss, it.grad.to_vec()));
            ControlFlow::Continue(())
        })
        .run(p, |p| rosenbrock(p, z, n));
    assert_eq!(
        r.stop,
        Stop::GradientNorm,
        "{:?} after {} iterations, |g| {}",
        r.stop,
        r.iterations,
        r.grad_norm
    );
    assert!(close(r.params.slice(z), &vec![c64(1.0, 0.0); n], 1e-7));
    let points = points.into_inner();
    assert_eq!(points.len(), r.iterations + 1);
    let re_dot = |a: &[Complex64], b: &[Complex64]| -> f64 {
        a.iter().zip(b).map(|(a, b)| (a.conj() * b).re).sum()
    };
    for (k, w) in points.windows(2).enumerate() {
        let ((x0, f0, g0), (x1, f1, g1)) = (&w[0], &w[1]);
        let s: Vec<Complex64> = x1.iter().zip(x0).map(|(a, b)| a - b).collect();
        let (d0, d1) = (re_dot(g0, &s), re_dot(g1, &s));
        assert!(d0 < 0.0, "step {k}: not a descent direction ({d0})");
        let slack = 1e-12 * f0.abs().max(1.0);
        assert!(
            *f1 <= f0 + 1e-4 * d0 + slack,
            "step {k}: sufficient decrease fails: {f1} > {f0} + 1e-4·{d0}"
        );
        assert!(
            d1.abs() <= 0.9 * d0.abs() * (1.0 + 1e-9),
            "step {k}: curvature fails: |{d1}| > 0.9·|{d0}|"
        );
    }
    assert!(
        r.iterations > 10,
        "a real test needs a real path ({} iterations)",
        r.iterations
    );
}

#[test]
fn adam_steps_do_not_depend_on_the_global_phase() {
    // A loss invariant under z → e^{iθ} z.
    let t = [0.5, 2.0, 1.0];
    let run = |z0: Vec<Complex64>| {
        let mut p = Params::new();
        let z = p.array(z0, &[3]);
        let r = Minimize::new(Adam::new(0.02))
            .max_iters(300)
            .gtol(0.0)
            .ftol(0.0)
            .quiet()
            .run(p, |p| {
                let v = p.array(z);
                let m = v.abs2() - &[c64(t[0], 0.0), c64(t[1], 0.0), c64(t[2], 0.0)][..];
                let cross = v.get(&[0]).conj() * v.get(&[1]) - c64(0.3, 0.4);
                m.norm_sqr_sum() + cross.norm_sqr()
            });
        assert_eq!(r.iterations, 300);
        r.params.slice(z).to_vec()
    };
    let z0 = vec![c64(1.0, 0.2), c64(-0.3, 0.8), c64(0.1, -0.5)];
    let rot = Complex64::from_polar(1.0, 0.7);
    let a = run(z0.clone());
    let b = run(z0.iter().map(|z| z * rot).collect());
    for (a, b) in a.iter().zip(&b) {
        assert!((a * rot - b).norm() < 1e-10, "{} vs {}", a * rot, b);
    }
    // And it moved: the trajectory is not trivially the start.
    assert!((a[0] - z0[0]).norm() > 1e-2);
}

fn quadratic_run(m: Minimize<'_, GradientDescent>, z0: Complex64) -> Minimum {
    let mut p = Params::new();
    let z = p.scalar(z0);
    m.quiet().run(p, |p| p.var(z).norm_sqr())
}

#[test]
fn stopping_rules() {
    let gd = || Minimize::new(GradientDescent::new(0.1));
    // Iteration limit.
    let r = quadratic_run(gd().max_iters(3).gtol(0.0), c64(1.0, 1.0));
    assert_eq!(
        (r.stop, r.iterations, r.evaluations, r.history.len()),
        (Stop::MaxIterations, 3, 4, 4)
    );
    // Each step multiplies z by 0.8, the loss by 0.64.
    assert!((r.history[1] / r.history[0] - 0.64).abs() < 1e-12);
    // Gradient norm: |g| = 2|z| = 2·0.8ᵏ·√2.
    let r = quadratic_run(gd().gtol(1e-3), c64(1.0, 1.0));
    assert_eq!(r.stop, Stop::GradientNorm);
    assert!(r.grad_norm <= 1e-3 && r.grad_norm > 0.8e-3);
    // Relative loss change: 1 − 0.64 = 0.36 per step, so ftol = 0.5 stops after one.
    let r = quadratic_run(gd().ftol(0.5), c64(1.0, 1.0));
    assert_eq!((r.stop, r.iterations), (Stop::LossChange, 1));
    // Callback.
    let r = quadratic_run(
        gd().callback(|it| {
            if it.iter == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }),
        c64(1.0, 1.0),
    );
    assert_eq!((r.stop, r.iterations), (Stop::Callback, 2));
    // Divergence: a step of 10 multiplies z by −19 each time; the loss overflows and the last
    // finite point is returned.
    let r = quadratic_run(
        Minimize::new(GradientDescent::new(10.0)).max_iters(10_000),
        c64(1.0, 1.0),
    );
    assert_eq!(r.stop, Stop::NotFinite);
    assert!(r.loss.is_finite() && r.params.as_slice()[0].norm().is_finite());
    // Already at the minimum: no iteration.
    let r = quadratic_run(gd(), c64(0.0, 0.0));
    assert_eq!(
        (r.stop, r.iterations, r.evaluations),
        (Stop::GradientNorm, 0, 1)
    );
}

#[test]
fn lbfgs_reports_a_failed_line_search_on_a_wrong_gradient() {
    let mut p = Params::new();
    let z = p.scalar(c64(1.0, 1.0));
    // Loss |z|², but the "gradient" points uphill.
    let r = Minimize::new(Lbfgs::new())
        .quiet()
        .run_with_gradient(p, |p, g| {
            let v = p.get(z);
            g[0] = -v.scale(2.0);
            v.norm_sqr()
        });
    assert_eq!(r.stop, Stop::LineSearchFailed);
    assert_eq!(r.iterations, 0);
    assert_eq!(r.params.get(z), c64(1.0, 1.0));
}

#[test]
fn a_hand_written_gradient_gives_the_same_path_as_the_tape() {
    let z0 = [c64(0.3, -1.0), c64(2.0, 0.5)];
    let w = [c64(1.0, 1.0), c64(-0.5, 2.0)];
    let start = || {
        let mut p = Params::new();
        let z = p.array(vec![c64(0.0, 0.0); 2], &[2]);
        (p, z)
    };
    // L = Σ |z − z₀|⁴ · |w|, gradient 2∂L/∂z̄ = 4 |z − z₀|² (z − z₀) |w|.
    let (p, z) = start();
    let tape_run = Minimize::new(Lbfgs::new())
        .max_iters(20)
        .quiet()
        .run(p, |p| {
            let d = (p.array(z) - &z0[..]).abs2();
            let wn: Vec<f64> = w.iter().map(|w| w.norm()).collect();
            (d.clone() * d * p.tape().real_constant_array(wn, &[2]))
                .sum()
                .re()
        });
    let (p, z) = start();
    let hand = Minimize::new(Lbfgs::new())
        .max_iters(20)
        .quiet()
        .run_with_gradient(p, |p, g| {
            let mut l = 0.0;
            for k in 0..2 {
                let d = p.slice(z)[k] - z0[k];
                l += d.norm_sqr().powi(2) * w[k].norm();
                g[p.range(z).start + k] = d.scale(4.0 * d.norm_sqr() * w[k].norm());
            }
            l
        });
    assert_eq!(tape_run.iterations, hand.iterations);
    assert!(close(tape_run.params.slice(z), hand.params.slice(z), 1e-12));
}

#[test]
fn single_precision_works() {
    let z0 = [c32(1.0, -2.0), c32(0.5, 0.25)];
    let mut p: Params<f32> = Params::new();
    let z = p.array(vec![c32(0.0, 0.0); 2], &[2]);
    let r = Minimize::new(Lbfgs::new())
        .quiet()
        .run(p, |p| (p.array(z) - &z0[..]).norm_sqr_sum());
    assert_eq!(r.stop, Stop::GradientNorm);
    for (a, b) in r.params.slice(z).iter().zip(&z0) {
        assert!((a - b).norm() < 1e-5);
    }
}

#[test]
fn single_precision_on_a_long_vector() {
    // Above the thread pool's threshold: the `f32` updates, inner products and `norm_inf`.
    let n = (1 << 15) + 5;
    let mut rng = Lcg(17);
    let t: Vec<Complex32> = rng
        .vec(n)
        .iter()
        .map(|z| c32(z.re as f32, z.im as f32))
        .collect();
    fn fit<O: Optimizer<f32>>(m: Minimize<'_, O, f32>, t: &[Complex32]) -> Minimum<f32> {
        let mut p: Params<f32> = Params::new();
        let u = p.array(vec![c32(0.0, 0.0); t.len()], &[t.len()]);
        m.quiet().run(p, |p| (p.array(u) - t).norm_sqr_sum())
    }
    let err = |r: &Minimum<f32>| {
        let d = r
            .params
            .as_slice()
            .iter()
            .zip(&t)
            .map(|(a, b)| (a - b).norm());
        d.fold(0.0, f32::max)
    };
    let r = fit(Minimize::new(Lbfgs::new()).gtol(1e-4), &t);
    assert_eq!(r.stop, Stop::GradientNorm);
    assert!(err(&r) < 1e-4, "l-bfgs: {}", err(&r));
    // `η = ½` is exact in one step on `Σ|u − t|²`.
    let r = fit(Minimize::new(GradientDescent::new(0.5)).gtol(1e-4), &t);
    assert_eq!((r.stop, r.iterations), (Stop::GradientNorm, 1));
    assert!(err(&r) < 1e-6, "gradient descent: {}", err(&r));
    let r = fit(Minimize::new(Adam::new(0.02)).max_iters(200), &t);
    assert!(
        r.loss < 1e-3 * r.history[0],
        "adam: {} from {}",
        r.loss,
        r.history[0]
    );
}

#[test]
fn progress_lines_do_not_change_the_result() {
    let a = quadratic_run(
        Minimize::new(GradientDescent::new(0.1)).progress(Progress::Every(5)),
        c64(1.0, 1.0),
    );
    let b = quadratic_run(Minimize::new(GradientDescent::new(0.1)), c64(1.0, 1.0));
    assert_eq!(a.history, b.history);
}

#[test]
#[should_panic(expected = "the loss is complex-valued")]
fn a_complex_loss_is_refused() {
    let mut p = Params::new();
    let z = p.scalar(c64(1.0, 1.0));
    let _ = Minimize::new(Lbfgs::new())
        .quiet()
        .run(p, |p| p.var(z) * p.var(z));
}

#[test]
#[should_panic(expected = "does not belong to these parameters")]
fn a_handle_of_other_parameters_is_refused() {
    let mut other = Params::<f64>::new();
    let _ = other.scalar(c64(0.0, 0.0));
    let a = other.array(vec![c64(0.0, 0.0)], &[1]);
    let mut p = Params::new();
    let _ = p.scalar(c64(0.0, 0.0));
    let _ = Minimize::new(Lbfgs::new())
        .quiet()
        .run(p, |p| p.array(a).norm_sqr_sum());
}

#[test]
#[should_panic(expected = "Params::array: 3 values do not fill shape [2, 2]")]
fn a_wrong_shape_is_refused() {
    let mut p = Params::<f64>::new();
    let _ = p.array(vec![c64(0.0, 0.0); 3], &[2, 2]);
}

/// `L(z) = Σ wᵢ|zᵢ − tᵢ|⁴ + |zᵢ|²`, gradient `2∂L/∂z̄ = 4wᵢ|dᵢ|²dᵢ + 2zᵢ` (`d = z − t`), as an
/// [`Objective`]: smooth, not quadratic, on vectors long enough for the thread pool.
struct Quartic {
    t: Vec<Complex64>,
    w: Vec<f64>,
}

impl Quartic {
    fn new(rng: &mut Lcg, n: usize) -> Self {
        Quartic {
            t: rng.vec(n),
            w: (0..n).map(|_| 1.0 + rng.c().re.abs()).collect(),
        }
    }
}

impl Objective<f64> for Quartic {
    fn evaluate(&mut self, x: &[Complex64], grad: &mut [Complex64]) -> f64 {
        let mut l = 0.0;
        for (((z, t), w), g) in x.iter().zip(&self.t).zip(&self.w).zip(grad.iter_mut()) {
            let d = z - t;
            l += w * d.norm_sqr() * d.norm_sqr() + z.norm_sqr();
            *g = d * (4.0 * w * d.norm_sqr()) + z * 2.0;
        }
        l
    }
}

/// Bits of a complex vector, so that equality is exact (and NaN equals itself).
fn bits(v: &[Complex64]) -> Vec<(u64, u64)> {
    v.iter().map(|z| (z.re.to_bits(), z.im.to_bits())).collect()
}

/// Takes `steps` steps with `step` on one copy of `opt` and with `step_into` on another, and
/// asserts the iterates, gradients and losses are the same bits at every step.
fn step_into_matches_step<O: Optimizer<f64> + Clone>(name: &str, opt: O, n: usize, steps: usize) {
    let mut rng = Lcg(7);
    let mut obj = Quartic::new(&mut rng, n);
    let x0 = rng.vec(n);
    let (mut a, mut b) = (opt.clone(), opt);
    a.reset();
    b.reset();
    let mut g0 = vec![c64(0.0, 0.0); n];
    let l0 = obj.evaluate(&x0, &mut g0);
    // `step` in place.
    let (mut x, mut g, mut l) = (x0.clone(), g0.clone(), l0);
    // `step_into`, swapping buffers as `Minimize` does.
    let (mut y, mut h, mut m): (Vec<Complex64>, Vec<Complex64>, f64) = (x0, g0, l0);
    let (mut y_next, mut h_next) = (vec![c64(9.0, 9.0); n], vec![c64(9.0, 9.0); n]);
    for k in 0..steps {
        a.step(&mut obj, &mut x, &mut l, &mut g).unwrap();
        let (y_old, h_old) = (bits(&y), bits(&h));
        b.step_into(&mut obj, &y, &h, &mut m, &mut y_next, &mut h_next)
            .unwrap();
        assert_eq!(
            (bits(&y), bits(&h)),
            (y_old, h_old),
            "{name}: step_into changed its input"
        );
        std::mem::swap(&mut y, &mut y_next);
        std::mem::swap(&mut h, &mut h_next);
        assert_eq!(bits(&x), bits(&y), "{name}: iterate {k}");
        assert_eq!(bits(&g), bits(&h), "{name}: gradient {k}");
        assert_eq!(l.to_bits(), m.to_bits(), "{name}: loss {k}");
    }
    assert!(l < l0, "{name}: no decrease ({l0} to {l})");
}

#[test]
fn step_into_takes_the_same_steps_as_step() {
    // Above the thread pool's threshold (2¹⁵) and below it.
    for n in [7, (1 << 15) + 5] {
        step_into_matches_step("gradient descent", GradientDescent::new(0.01), n, 4);
        step_into_matches_step("momentum", GradientDescent::new(0.01).momentum(0.5), n, 4);
        step_into_matches_step("adam", Adam::new(0.05), n, 4);
        step_into_matches_step("l-bfgs", Lbfgs::new().memory(3), n, 6);
    }
}

/// An optimizer of the user's that implements `step` only: `Minimize` reaches it through the
/// provided `step_into`.
#[derive(Clone)]
struct OnlyStep(GradientDescent);

impl Optimizer<f64> for OnlyStep {
    fn name(&self) -> &'static str {
        "only step"
    }
    fn reset(&mut self) {
        self.0.reset()
    }
    fn step(
        &mut self,
        objective: &mut dyn Objective<f64>,
        x: &mut [Complex64],
        loss: &mut f64,
        grad: &mut [Complex64],
    ) -> Result<(), wirtinger::optim::StepError> {
        self.0.step(objective, x, loss, grad)
    }
}

#[test]
fn an_optimizer_with_only_step_takes_the_same_path() {
    let mut rng = Lcg(3);
    let obj = RefCell::new(Quartic::new(&mut rng, 50));
    let x0 = rng.vec(50);
    let run = |opt: &mut dyn FnMut(Params) -> Minimum| {
        let mut p = Params::new();
        p.array(x0.clone(), &[50]);
        opt(p)
    };
    let gd = GradientDescent::new(0.01).momentum(0.3);
    let f = |p: &Params, g: &mut [Complex64]| obj.borrow_mut().evaluate(p.as_slice(), g);
    let a = run(&mut |p| {
        Minimize::new(gd.clone())
            .max_iters(20)
            .quiet()
            .run_with_gradient(p, f)
    });
    let b = run(&mut |p| {
        Minimize::new(OnlyStep(gd.clone()))
            .max_iters(20)
            .quiet()
            .run_with_gradient(p, f)
    });
    assert_eq!(a.iterations, 20);
    assert!(a.loss < a.history[0] && a.params.as_slice() != x0.as_slice());
    assert_eq!(bits(a.params.as_slice()), bits(b.params.as_slice()));
    let h = |r: &Minimum| r.history.iter().map(|l| l.to_bits()).collect::<Vec<_>>();
    assert_eq!(h(&a), h(&b));
}

#[test]
fn a_step_to_a_non_finite_loss_is_undone() {
    // `|z|⁴` with a step far too long: the iterates grow until the loss overflows; the result is
    // the last point the callback saw, with its loss and gradient norm.
    let seen = RefCell::new(Vec::new());
    let mut p = Params::new();
    let z = p.array(vec![c64(1.0, 0.5), c64(-0.25, 2.0)], &[2]);
    let r = Minimize::new(GradientDescent::new(1.0))
        .max_iters(100)
        .quiet()
        .callback(|it| {
            seen.borrow_mut()
                .push((it.params.slice(z).to_vec(), it.loss, it.grad_norm));
            ControlFlow::Continue(())
        })
        .run(p, |p| {
            let n2 = p.array(z).norm_sqr();
            (&n2 * &n2).sum()
        });
    assert_eq!(r.stop, Stop::NotFinite);
    let seen = seen.into_inner();
    let (last_x, last_l, last_g) = seen.last().expect("some finite steps first");
    assert_eq!(seen.len(), r.iterations);
    assert_eq!(bits(r.params.slice(z)), bits(last_x));
    assert_eq!((r.loss, r.grad_norm), (*last_l, *last_g));
    assert!(r.loss.is_finite() && r.grad_norm.is_finite());
    assert_eq!(r.history.last(), Some(&r.loss));
}

#[test]
fn norm_inf_is_the_largest_modulus_from_the_subnormals_to_overflow() {
    use wirtinger::optim::norm_inf;
    let hypot_max = |v: &[Complex64]| v.iter().map(|z| z.norm()).fold(0.0, f64::max);
    let mut rng = Lcg(11);
    assert_eq!(norm_inf::<f64>(&[]), 0.0);
    assert_eq!(norm_inf(&[c64(0.0, -0.0); 3]), 0.0);
    // Moduli 1 (squares exact), near 1e-170 (squares underflow), near 1e200 (squares overflow),
    // near 1e-150 (squares near the subnormals) and ordinary ones, on short and long vectors.
    for scale in [1.0, 1e-170, 1e200, 1e-150, 1e-146, 3.7] {
        for n in [1, 5, (1 << 15) + 3] {
            let mut v: Vec<Complex64> = rng.vec(n).iter().map(|z| z * scale).collect();
            let want = hypot_max(&v);
            let got = norm_inf(&v);
            assert!(
                (got - want).abs() <= 2.0 * f64::EPSILON * want,
                "scale {scale}, n {n}: {got} against {want}"
            );
            // A NaN anywhere makes it NaN; an infinity, infinite.
            let k = n / 2;
            let keep = v[k];
            v[k] = c64(f64::NAN, 0.0);
            assert!(norm_inf(&v).is_nan(), "NaN, scale {scale}, n {n}");
            v[k] = c64(1.0, f64::NEG_INFINITY);
            assert_eq!(norm_inf(&v), f64::INFINITY);
            v[k] = c64(f64::INFINITY, f64::NAN);
            assert!(norm_inf(&v).is_nan());
            v[k] = keep;
        }
    }
    // Exactly the modulus where it is exact.
    assert_eq!(norm_inf(&[c64(3.0, 4.0), c64(-1.0, 2.0)]), 5.0);
    // Scales mixed across the chunks of a long vector: zeros, tiny, huge and ordinary numbers.
    let n = 5 << 12;
    let mut v = vec![c64(0.0, 0.0); n];
    for (i, z) in v.iter_mut().enumerate().skip(4096) {
        *z = rng.c() * [1e-170, 1.0, 1e-300, 2.5][(i >> 12) % 4];
    }
    for (at, big) in [
        (100, c64(3e200, 4e200)),
        (9000, c64(0.0, 2e-160)),
        (n - 1, c64(7.0, 0.0)),
    ] {
        let mut w = v.clone();
        w[at] = big;
        let want = hypot_max(&w);
        let got = norm_inf(&w);
        assert!(
            (got - want).abs() <= 2.0 * f64::EPSILON * want,
            "{big} at {at}: {got}"
        );
    }
    assert_eq!(norm_inf(&v[..4096]), 0.0);
}

#[test]
fn an_optimizer_chosen_at_run_time_takes_the_same_path() {
    let mut rng = Lcg(5);
    let obj = RefCell::new(Quartic::new(&mut rng, 40));
    let x0 = rng.vec(40);
    let f = |p: &Params, g: &mut [Complex64]| obj.borrow_mut().evaluate(p.as_slice(), g);
    let start = || {
        let mut p = Params::new();
        p.array(x0.clone(), &[40]);
        p
    };
    let path = |r: Minimum| (bits(r.params.as_slice()), r.iterations, r.evaluations);
    let direct = path(
        Minimize::new(Lbfgs::new())
            .max_iters(6)
            .quiet()
            .run_with_gradient(start(), f),
    );
    // Chosen at run time: a trait object behind a `Box`.
    let chosen: Box<dyn Optimizer<f64>> = Box::new(Lbfgs::new());
    let boxed = path(
        Minimize::new(chosen)
            .max_iters(6)
            .quiet()
            .run_with_gradient(start(), f),
    );
    assert_eq!(direct.1, 6);
    assert_eq!(direct, boxed);
    // The box forwards `step_into` itself, not the provided copy-and-step.
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let counting: Box<dyn Optimizer<f64>> = Box::new(CountsStepInto(calls.clone()));
    let r = Minimize::new(counting)
        .max_iters(3)
        .quiet()
        .run_with_gradient(start(), f);
    assert_eq!((r.iterations, calls.get()), (3, 3));
}

/// Gradient descent that counts the calls of its `step_into` (and has a `step` that panics).
struct CountsStepInto(std::rc::Rc<std::cell::Cell<usize>>);

impl Optimizer<f64> for CountsStepInto {
    fn name(&self) -> &'static str {
        "counts"
    }
    fn reset(&mut self) {}
    fn step(
        &mut self,
        _: &mut dyn Objective<f64>,
        _: &mut [Complex64],
        _: &mut f64,
        _: &mut [Complex64],
    ) -> Result<(), wirtinger::optim::StepError> {
        panic!("step_into was not forwarded")
    }
    fn step_into(
        &mut self,
        objective: &mut dyn Objective<f64>,
        x: &[Complex64],
        grad: &[Complex64],
        loss: &mut f64,
        x_next: &mut [Complex64],
        grad_next: &mut [Complex64],
    ) -> Result<(), wirtinger::optim::StepError> {
        self.0.set(self.0.get() + 1);
        GradientDescent::new(0.01).step_into(objective, x, grad, loss, x_next, grad_next)
    }
}

#[test]
fn no_parameters_is_a_minimum_at_once() {
    // A loss of constants only: the gradient is empty, so its norm is 0 ≤ gtol.
    let r = Minimize::new(Lbfgs::new()).quiet().run(Params::new(), |p| {
        p.tape().constant(c64(3.0, 4.0)).norm_sqr()
    });
    assert_eq!(
        (r.stop, r.iterations, r.evaluations),
        (Stop::GradientNorm, 0, 1)
    );
    assert_eq!((r.loss, r.grad_norm), (25.0, 0.0));
    assert!(r.params.is_empty());
}
