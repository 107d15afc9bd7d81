//! The workloads of the side-by-side comparison with JAX and PyTorch (`bench/peers/`), through the
//! crate's public API only.
//!
//! ```text
//! cargo bench --bench peers -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! or `bash bench/peers/run.sh`, which runs this and `bench/peers/peers.py` back to back and prints
//! one table. Benchmark ids are `peers/<workload>/<size>`; criterion writes each median to
//! `$CARGO_TARGET_DIR/criterion/peers/<workload>/<size>/new/estimates.json`.
//!
//! Threads: `run.sh` sets `RAYON_NUM_THREADS`, which sizes the pool of the crate's `parallel`
//! feature (the FFT passes and the fused elementwise passes of arrays of 2¹⁵ elements and more)
//! and of `scalar_dual_lanes`'s blocks.
//!
//! # Data
//!
//! Every input is drawn from [`uniform`]: SplitMix64 of `(seed << 40) + i + 1`, the top 53 bits as
//! a uniform `[0, 1)`. It is a pure function of `(seed, i)`, so `peers.py` computes the very same
//! numbers with vectorised numpy `uint64` arithmetic, and the loss values printed by both can be
//! compared (they agree to rounding; the FFTs and `sin`/`cos` differ in the last bits).
//! A complex field of `len` elements from `seed` has `re = 2u(seed, 2k) − 1`,
//! `im = 2u(seed, 2k + 1) − 1`.
//!
//! # Workloads
//!
//! - (a) Phase retrieval, `L(u) = Σ (|fft2 u|² − T)²` on `n × n` fields (`n` = 256, 1024), `u`
//!   the field of seed 1, `T = |fft2 v|²` for `v` the field of seed 2.
//!   - `phase_value/<n>`: the value by the **tape forward only**: the expression recorded on a new
//!     tape with `u` as an array leaf (as for a gradient), no backward; what the recording costs.
//!   - `phase_grad/<n>`: value and gradient on a new tape per call: record,
//!     `loss.backward()`, `g.grad_ref(&u)`, the gradient lent in the backward pass's own buffer
//!     (no copy; as JAX hands back the buffer its computation wrote) (`u` is an `Rc` the tape
//!     shares, not copies).
//! - (b) `gp_grad/65536`: the Gross–Pitaevskii energy in 1-D, `N = 2¹⁶` points on
//!   `x ∈ [−L/2, L/2)`, `L = 40`, `dx = L/N`, `V = x²/2`, `g = 1`, `k = 2π·fftfreq(N, dx)`,
//!   `K = k²/2`:
//!
//!   ```text
//!   E[ψ] = dx·Re Σ conj(ψ)·ifft(K·fft ψ) + dx·Σ V|ψ|² + (g/2)·dx·Σ|ψ|⁴
//!   ```
//!
//!   value and gradient with respect to the complex `ψ` (no normalisation constraint), on a new
//!   tape per call. `ψ_j = π^{−1/4} exp(−x_j²/2) · exp(2πi·u(3, j))`: the harmonic ground state
//!   times a random phase at every grid point. Its gradient is checked once against the closed
//!   form `grad E = 2·dx·(ifft(K fft ψ) + Vψ + g|ψ|²ψ)`.
//! - (c) Scalar-heavy: `P = 10⁵` independent points, 50 steps of `z ← z·z·z̄·0.5 + c` from
//!   `z₀ = 0.5·exp(2πi·u(4, k))` with `c_k = 0.1·(1 + u(5, k))/2 · exp(2πi·u(6, k))` (so
//!   `0.05 ≤ |c| < 0.1`: no overflow, and no point's derivative goes subnormal), loss
//!   `Σ_k |z_50,k|²`, gradient with respect to every `z₀`.
//!   - `scalar_dual/100000`: forward mode, one `Dual` pass per point (each point's term depends on
//!     its own `z₀` only, so that pass gives its whole gradient).
//!   - `scalar_dual_lanes/100000`: the same with the step loop outside, over blocks of 16 points
//!     (`[Dual; 16]`): the blocks' independent chains overlap in the pipeline, as JAX's arrays
//!     of points do. Blocks of 1024 points go to rayon's pool (`RAYON_NUM_THREADS`).
//!   - `scalar_array/100000`: the 50 steps as `VarArray` ops on one tape (5 array nodes a step),
//!     `norm_sqr_sum`, backward.
//!   - `scalar_tape/100000`: scalar `Var`s, one small tape per point (250 ops), cleared and reused
//!     from point to point: record, backward, read `grad`. This is the faster way (the tape stays
//!     in the L1 cache).
//!   - `scalar_tape_one/100000`: the other way, for reference: all `2.5·10⁷` ops of the 10⁵
//!     points on one tape (1.4 GB of nodes), the `|z_50|²` summed by `Sum`, one backward.
//!
//! Setup (outside the timed loops) checks that the four ways of (c) agree, that `gp_grad` matches
//! the closed form, and prints every loss value as `peers-value <workload>/<size> <value>` for
//! `run.sh`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::Duration;
use wirtinger::prelude::*;

type C = Complex64;

// ---------------------------------------------------------------------------------------------
// Data

/// Element `i` of the pseudo-random stream `seed`: SplitMix64 of `(seed << 40) + i + 1`, as a
/// uniform `[0, 1)` (the top 53 bits).
fn uniform(seed: u64, i: u64) -> f64 {
    let mut z = (seed << 40)
        .wrapping_add(i)
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// `len` complex values in `[−1, 1)²` from stream `seed`.
fn field(seed: u64, len: usize) -> Vec<C> {
    (0..len as u64)
        .map(|k| {
            C::new(
                2.0 * uniform(seed, 2 * k) - 1.0,
                2.0 * uniform(seed, 2 * k + 1) - 1.0,
            )
        })
        .collect()
}

/// `exp(2πi·t)`.
fn phase(t: f64) -> C {
    let a = 2.0 * std::f64::consts::PI * t;
    C::new(a.cos(), a.sin())
}

/// `max_k |a_k − b_k| / max_k |b_k|`.
fn max_rel_diff(a: &[C], b: &[C]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().map(|z| z.norm()).fold(f64::MIN_POSITIVE, f64::max);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
        / scale
}

fn report(name: &str, value: f64) {
    println!("peers-value {name} {value:.17e}");
}

// ---------------------------------------------------------------------------------------------
// (a) Phase retrieval

struct Phase {
    n: usize,
    /// Shared with the tape (`tape.array(&self.u, …)` takes an `Rc` without copying it).
    u: std::rc::Rc<Vec<C>>,
    /// Shared likewise.
    t: std::rc::Rc<Vec<f64>>,
}

impl Phase {
    fn new(n: usize) -> Self {
        let tape: Tape = Tape::new();
        let v = tape.constant_array(field(2, n * n), &[n, n]);
        let t = v.fft2().norm_sqr().value().iter().map(|z| z.re).collect();
        Phase {
            n,
            u: std::rc::Rc::new(field(1, n * n)),
            t: std::rc::Rc::new(t),
        }
    }

    fn record<'t>(&self, tape: &'t Tape) -> (Var<'t>, VarArray<'t>) {
        let n = self.n;
        let u = tape.array(&self.u, &[n, n]);
        let t = tape.real_constant_array(&self.t, &[n, n]);
        let loss = (u.fft2().norm_sqr() - &t).powi(2).sum();
        (loss, u)
    }

    /// The tape forward only.
    fn value(&self) -> f64 {
        let tape: Tape = Tape::new();
        let (loss, _) = self.record(&tape);
        loss.value().re
    }

    fn grad(&self) -> (f64, Vec<C>) {
        self.grad_with(|g| g.to_vec())
    }

    /// The value, and `f` of the gradient, lent by `Gradients::grad_ref` (no copy).
    fn grad_with<R>(&self, f: impl FnOnce(&[C]) -> R) -> (f64, R) {
        let tape: Tape = Tape::new();
        let (loss, u) = self.record(&tape);
        let r = f(&loss.backward().grad_ref(&u));
        (loss.value().re, r)
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Gross–Pitaevskii energy

const GP_N: usize = 1 << 16;
const GP_L: f64 = 40.0;
const GP_G: f64 = 1.0;

struct Gp {
    dx: f64,
    /// Shared with the tape, as `Phase::u`.
    psi: std::rc::Rc<Vec<C>>,
    /// Shared likewise (constants, as JAX's jit and PyTorch hold them).
    v: std::rc::Rc<Vec<f64>>,
    k2: std::rc::Rc<Vec<f64>>,
}

impl Gp {
    fn new() -> Self {
        let n = GP_N;
        let dx = GP_L / n as f64;
        let x: Vec<f64> = (0..n).map(|j| -GP_L / 2.0 + j as f64 * dx).collect();
        let v = std::rc::Rc::new(x.iter().map(|x| x * x / 2.0).collect());
        // k = 2π·fftfreq(n, dx): j/(n dx) for j < n/2, (j − n)/(n dx) after.
        let k2 = (0..n)
            .map(|j| {
                let f = if j < n / 2 {
                    j as f64
                } else {
                    j as f64 - n as f64
                } / (n as f64 * dx);
                let k = 2.0 * std::f64::consts::PI * f;
                k * k / 2.0
            })
            .collect();
        let k2 = std::rc::Rc::new(k2);
        let norm = std::f64::consts::PI.powf(-0.25);
        let psi = x
            .iter()
            .enumerate()
            .map(|(j, x)| phase(uniform(3, j as u64)) * (norm * (-x * x / 2.0).exp()))
            .collect();
        Gp {
            dx,
            psi: std::rc::Rc::new(psi),
            v,
            k2,
        }
    }

    fn record<'t>(&self, tape: &'t Tape) -> (Var<'t>, VarArray<'t>) {
        let n = GP_N;
        let psi = tape.vector(&self.psi);
        let k2 = tape.real_constant_array(&self.k2, &[n]);
        let v = tape.real_constant_array(&self.v, &[n]);
        let n2 = psi.norm_sqr();
        let kinetic = psi.vdot(&(psi.fft() * &k2).ifft()).re();
        let potential = (&n2 * &v).sum();
        let interaction = n2.powi(2).sum();
        let e = (kinetic + potential + interaction * (GP_G / 2.0)) * self.dx;
        (e, psi)
    }

    fn grad(&self) -> (f64, Vec<C>) {
        self.grad_with(|g| g.to_vec())
    }

    /// The value, and `f` of the gradient, lent by `Gradients::grad_ref` (no copy).
    fn grad_with<R>(&self, f: impl FnOnce(&[C]) -> R) -> (f64, R) {
        let tape: Tape = Tape::new();
        let (e, psi) = self.record(&tape);
        let r = f(&e.backward().grad_ref(&psi));
        (e.value().re, r)
    }

    /// `grad E = 2·dx·(ifft(K fft ψ) + Vψ + g|ψ|²ψ)`, with the crate's FFTs on constants.
    fn closed_form_grad(&self) -> Vec<C> {
        let tape: Tape = Tape::new();
        let psi = tape.constant_array(&self.psi, &[GP_N]);
        let k2 = tape.real_constant_array(&self.k2, &[GP_N]);
        let h = (psi.fft() * &k2).ifft().value();
        self.psi
            .iter()
            .zip(h.iter())
            .zip(self.v.iter())
            .map(|((&p, &h), &v)| (h + p * v + p * (GP_G * p.norm_sqr())) * (2.0 * self.dx))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// (c) Scalar-heavy

const POINTS: usize = 100_000;
const STEPS: usize = 50;
/// Points a `dual_lanes` pass advances together.
const LANES: usize = 16;

struct Scalar {
    z0: Vec<C>,
    c: Vec<C>,
}

impl Scalar {
    fn new() -> Self {
        let z0 = (0..POINTS as u64)
            .map(|k| phase(uniform(4, k)) * 0.5)
            .collect();
        let c = (0..POINTS as u64)
            .map(|k| phase(uniform(6, k)) * (0.1 * (1.0 + uniform(5, k)) / 2.0))
            .collect();
        Scalar { z0, c }
    }

    /// Plain `Complex64`, value only (for the checks).
    fn plain(z0: C, c: C) -> f64 {
        let mut z = z0;
        for _ in 0..STEPS {
            z = z * z * z.conj() * 0.5 + c;
        }
        z.norm_sqr()
    }

    /// Forward mode: one `Dual` pass per point; the gradient goes to `grad`.
    fn dual(&self, grad: &mut [C]) -> f64 {
        let mut loss = 0.0;
        for ((&z0, &c), g) in self.z0.iter().zip(&self.c).zip(grad.iter_mut()) {
            let mut z = Dual::var(z0);
            for _ in 0..STEPS {
                z = z * z * z.conj() * 0.5 + c;
            }
            let l = z.norm_sqr();
            loss += l.value().re;
            *g = l.grad();
        }
        loss
    }

    /// Forward mode with the step loop outside: [`LANES`] points advance together, so their
    /// independent chains overlap in the CPU's pipeline (a `Dual` is a plain `Copy` value; this is
    /// the same computation, laid out the way JAX's arrays lay it out).
    fn dual_lanes(&self, grad: &mut [C]) -> f64 {
        // Blocks of points on rayon's pool (`Dual` is `Send`); the blocks' losses are added in
        // order, so the result does not depend on the thread count.
        let block = 64 * LANES;
        let losses: Vec<f64> = self
            .z0
            .par_chunks(block)
            .zip(self.c.par_chunks(block))
            .zip(grad.par_chunks_mut(block))
            .map(|((z0, c), g)| Self::dual_block(z0, c, g))
            .collect();
        losses.iter().sum()
    }

    fn dual_block(z0: &[C], c: &[C], grad: &mut [C]) -> f64 {
        let mut loss = 0.0;
        for ((z0, c), g) in z0
            .chunks(LANES)
            .zip(c.chunks(LANES))
            .zip(grad.chunks_mut(LANES))
        {
            let mut z = [Dual::constant(C::default()); LANES];
            for (z, &z0) in z.iter_mut().zip(z0) {
                *z = Dual::var(z0);
            }
            for _ in 0..STEPS {
                for (z, &c) in z.iter_mut().zip(c) {
                    *z = *z * *z * z.conj() * 0.5 + c;
                }
            }
            for (z, g) in z.iter().zip(g) {
                let l = z.norm_sqr();
                loss += l.value().re;
                *g = l.grad();
            }
        }
        loss
    }

    /// `VarArray` ops on one tape.
    fn array(&self) -> (f64, Vec<C>) {
        let tape: Tape = Tape::new();
        let z0 = tape.vector(&self.z0);
        let c = tape.constant_array(&self.c, &[POINTS]);
        let mut z = z0.clone();
        for _ in 0..STEPS {
            z = &z * &z * z.conj() * 0.5 + &c;
        }
        let loss = z.norm_sqr_sum();
        let g = loss.backward();
        (loss.value().re, g.grad(&z0))
    }

    /// Scalar `Var`s, one small tape per point, cleared and reused.
    fn tape_per_point(&self, tape: &mut Tape, grad: &mut [C]) -> f64 {
        let mut loss = 0.0;
        for ((&z0, &c), g) in self.z0.iter().zip(&self.c).zip(grad.iter_mut()) {
            tape.clear();
            let z0 = tape.var(z0);
            let mut z = z0;
            for _ in 0..STEPS {
                z = z * z * z.conj() * 0.5 + c;
            }
            let l = z.norm_sqr();
            loss += l.value().re;
            *g = l.backward().grad(&z0);
        }
        loss
    }

    /// Scalar `Var`s, every point on one tape, one backward.
    fn tape_one(&self) -> (f64, Vec<C>) {
        let tape: Tape = Tape::new();
        let mut leaves = Vec::with_capacity(POINTS);
        let mut terms = Vec::with_capacity(POINTS);
        for (&z0, &c) in self.z0.iter().zip(&self.c) {
            let z0 = tape.var(z0);
            let mut z = z0;
            for _ in 0..STEPS {
                z = z * z * z.conj() * 0.5 + c;
            }
            leaves.push(z0);
            terms.push(z.norm_sqr());
        }
        let loss: Var = terms.into_iter().sum();
        let g = loss.backward();
        (
            loss.value().re,
            leaves.iter().map(|z0| g.grad(z0)).collect(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Checks (outside the timed loops)

fn check_scalar(s: &Scalar) {
    let mut gd = vec![C::default(); POINTS];
    let ld = s.dual(&mut gd);
    let mut gl = vec![C::default(); POINTS];
    let ll = s.dual_lanes(&mut gl);
    assert_eq!(gd, gl, "dual and dual_lanes differ");
    assert!(
        (ld - ll).abs() <= 1e-14 * ld,
        "scalar dual_lanes: {ll} vs {ld}"
    );
    let (la, ga) = s.array();
    let mut tape: Tape = Tape::new();
    let mut gt = vec![C::default(); POINTS];
    let lt = s.tape_per_point(&mut tape, &mut gt);
    let (l1, g1) = s.tape_one();
    let lp: f64 =
        s.z0.iter()
            .zip(&s.c)
            .map(|(&z, &c)| Scalar::plain(z, c))
            .sum();
    for (what, l) in [("dual", ld), ("array", la), ("tape", lt), ("tape_one", l1)] {
        assert!((l - lp).abs() <= 1e-12 * lp, "scalar {what}: {l} vs {lp}");
    }
    // Per point, relative to that point's gradient (they span many orders of magnitude).
    for (what, g) in [("array", &ga), ("tape", &gt), ("tape_one", &g1)] {
        for k in 0..POINTS {
            let e = (g[k] - gd[k]).norm() / gd[k].norm();
            assert!(
                e <= 1e-12,
                "scalar {what}, point {k}: {} vs {}",
                g[k],
                gd[k]
            );
        }
    }
    // No finite-difference check here: the map contracts (|∂z'/∂z| ≈ 1.5|z|² ≈ 0.01), so
    // ∂L/∂z₀ is about 1e-110 of L, below what a difference of f64 losses resolves. The crate's
    // tests check `Dual` and the tape against finite differences; here the four ways must agree.
    let tiny = gd.iter().map(|g| g.norm()).fold(f64::INFINITY, f64::min);
    let huge = gd.iter().map(|g| g.norm()).fold(0.0, f64::max);
    println!(
        "scalar: gradients agree (dual, array, tape, tape_one); |grad| from {tiny:.3e} to \
         {huge:.3e} (all normal numbers: no subnormal slow paths)"
    );
    assert!(tiny >= f64::MIN_POSITIVE * 1e10);
    report("scalar/100000", ld);
}

fn check_gp(gp: &Gp) {
    let (e, g) = gp.grad();
    let want = gp.closed_form_grad();
    let err = max_rel_diff(&g, &want);
    println!("gp: tape gradient vs 2dx(Hψ + Vψ + g|ψ|²ψ): max rel diff {err:.2e}");
    assert!(err <= 1e-10, "gp gradient: {err:e}");
    report("gp/65536", e);
}

// ---------------------------------------------------------------------------------------------
// Benchmarks

fn bench_phase(c: &mut Criterion) {
    let mut group = c.benchmark_group("peers");
    group.sample_size(10);
    for n in [256, 1024] {
        let p = Phase::new(n);
        let (lv, (lg, _)) = (p.value(), p.grad());
        assert!((lv - lg).abs() <= 1e-12 * lv.abs());
        report(&format!("phase/{n}"), lv);
        group.bench_function(BenchmarkId::new("phase_value", n), |b| b.iter(|| p.value()));
        group.bench_function(BenchmarkId::new("phase_grad", n), |b| {
            b.iter(|| p.grad_with(|g| black_box(g.as_ptr())))
        });
    }
    group.finish();
}

fn bench_gp(c: &mut Criterion) {
    let gp = Gp::new();
    check_gp(&gp);
    let mut group = c.benchmark_group("peers");
    group.bench_function(BenchmarkId::new("gp_grad", GP_N), |b| {
        b.iter(|| gp.grad_with(|g| black_box(g.as_ptr())))
    });
    group.finish();
}

fn bench_scalar(c: &mut Criterion) {
    let s = Scalar::new();
    check_scalar(&s);
    let mut group = c.benchmark_group("peers");
    group.sample_size(10);
    let mut grad = vec![C::default(); POINTS];
    group.bench_function(BenchmarkId::new("scalar_dual", POINTS), |b| {
        b.iter(|| {
            let l = s.dual(&mut grad);
            black_box(&grad);
            l
        })
    });
    group.bench_function(BenchmarkId::new("scalar_dual_lanes", POINTS), |b| {
        b.iter(|| {
            let l = s.dual_lanes(&mut grad);
            black_box(&grad);
            l
        })
    });
    group.bench_function(BenchmarkId::new("scalar_array", POINTS), |b| {
        b.iter(|| s.array())
    });
    let mut tape: Tape = Tape::new();
    group.bench_function(BenchmarkId::new("scalar_tape", POINTS), |b| {
        b.iter(|| {
            let l = s.tape_per_point(&mut tape, &mut grad);
            black_box(&grad);
            l
        })
    });
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function(BenchmarkId::new("scalar_tape_one", POINTS), |b| {
        b.iter(|| s.tape_one())
    });
    group.finish();
}

criterion_group!(benches, bench_phase, bench_gp, bench_scalar);
criterion_main!(benches);
