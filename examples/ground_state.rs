//! The ground state of a Bose–Einstein condensate in a harmonic trap: minimize the
//! Gross–Pitaevskii energy over a complex field ψ with L-BFGS, the kinetic term by FFT.
//!
//! ```text
//! cargo run --release --example ground_state
//! ```
//!
//! # The energy
//!
//! On a periodic grid of `N` points `x_j = −L/2 + j·dx`, `dx = L/N` (and `N × N` points in 2-D,
//! with cell area `dv = dx²`; in 1-D `dv = dx`), with the trap `V = ω²|x|²/2` (`ω = 1`) and
//! `k = 2π·fftfreq(N, dx)`:
//!
//! ```text
//! T[ψ] = dv · Re Σ ψ̄ · ifft((|k|²/2) · fft ψ)      kinetic, −½∇² in Fourier space
//! P[ψ] = dv · Σ V |ψ|²                              trap
//! Q[ψ] = dv · Σ |ψ|⁴                                 contact interaction
//! E[ψ] = T + P + (g/2) Q,      normalized so that 𝒩[ψ] = dv · Σ |ψ|² = 1.
//! ```
//!
//! # The constraint
//!
//! The optimizer stays unconstrained: it minimizes the energy of `ψ/‖ψ‖`,
//!
//! ```text
//! ℰ(ψ) = E[ψ/√𝒩] = (T + P)/𝒩 + (g/2) Q/𝒩²,
//! ```
//!
//! which is invariant under `ψ → cψ` for every complex `c ≠ 0`. Its minimum value is the
//! constrained minimum, and its gradient `2∂ℰ/∂ψ̄ = 2dv(Hψ − μψ)/𝒩` (with
//! `H = −½∇² + V + g|ψ|²/𝒩`) vanishes exactly at the stationary states of the Gross–Pitaevskii
//! equation `Hψ = μψ`. No penalty weight to tune, no projection step hidden from the optimizer's
//! line search and memory. (Gradient descent on ℰ is the physicists' imaginary-time method.)
//!
//! One thing has to be added. The scale `|c|` is a flat direction of ℰ: the gradient is
//! orthogonal to ψ, so each step grows `‖ψ‖` at second order, and one long step of the line
//! search can grow it by orders of magnitude. That shrinks the gradient by `1/‖ψ‖` (it stalls the
//! gradient test far from the minimum) and its curvature by `1/‖ψ‖²`. The loss is therefore
//! `ℰ(ψ) + (𝒩 − 1)²`: as ℰ does not depend on the scale, the extra term only pins `𝒩 = 1` and
//! moves neither the minimizing direction nor the minimum value (it is 0 there); unlike a penalty
//! on `E[ψ]` itself, it is exact at any weight.
//!
//! The global phase `arg c` is the other symmetry: the minimizer is a circle of states `e^{iθ}ψ₀`,
//! and the optimizer ends wherever its path leads, so the printed phase is arbitrary. What is
//! meaningful is that the phase is *uniform* across the cloud (the ground state is real up to a
//! global phase), which the example measures.
//!
//! # What it checks
//!
//! - `g = 0` (1-D): the harmonic-oscillator ground state, `E = ω/2 = 0.5` (within 1e-6; the
//!   spectral kinetic term makes it exact to rounding, which is what it prints).
//! - `g > 0` (1-D, and 2-D): the Thomas–Fermi limit. Dropping the kinetic term, the density is
//!   `n(x) = max(μ − V(x), 0)/g`; normalizing it gives, in 1-D, `μ_TF = (3gω/(4√2))^{2/3}` and
//!   `E_TF = (3/5) μ_TF`; in 2-D, `μ_TF = ω√(g/π)` and `E_TF = (2/3) μ_TF`. The example also
//!   integrates the TF profile numerically as a check of these formulas. The computed `E`
//!   lies a little above `E_TF` (the kinetic energy of the cloud's edge), and the gap closes as
//!   `g` grows.
//! - The virial theorem `2T − 2P + d·(g/2)Q = 0` (`d` the dimension), from scaling
//!   `ψ(x) → λ^{d/2} ψ(λx)`, and the chemical potential `μ = T + P + g·Q`.
//! - The residual `‖Hψ − μψ‖` of the Gross–Pitaevskii equation.
//!
//! Starting point: an off-centre Gaussian blob with a phase ramp plus complex white noise, so the
//! optimizer has to move the cloud, remove its momentum and smooth it. The same problem is also run
//! with plain gradient descent at the largest stable fixed step (imaginary-time propagation) for
//! comparison, and the 1-D problem for a sweep of `g` towards the Thomas–Fermi limit.
//!
//! # Output
//!
//! The figures above, printed, and pictures in `target/wirtinger-examples/ground_state/`:
//!
//! - `density.png`: `|ψ|²` for `g = 0` and `g > 0` in 1-D, with the Thomas–Fermi profile and the
//!   trap `V/g`;
//! - `convergence.png`: `ℰ − E_min` against evaluations, L-BFGS and gradient descent;
//! - `thomas_fermi_limit.png`: `E/E_TF − 1` and `μ/μ_TF − 1` against `g`;
//! - `plane_cut.png`: the 2-D density along `y = 0` with the Thomas–Fermi profile;
//! - `plane_start.png`, `plane_result.png`: the 2-D start and result, hue = phase, brightness =
//!   amplitude.
//!
//! `cargo run --release --example ground_state -- --small` runs the size the test suite uses
//! (`tests/example_ground_state.rs`).

mod support;

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;
use support::{Plot, Series};
use wirtinger::fft::{Direction, FftPlans};
use wirtinger::optim::{Array, GradientDescent, Lbfgs, Minimize, Minimum, Optimizer, Params, Stop};
use wirtinger::prelude::*;

/// Sizes and strengths of the runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// 1-D grid points.
    pub n: usize,
    /// 1-D box length `L` (the grid is `[−L/2, L/2)`).
    pub length: f64,
    /// Interaction strength of the interacting 1-D run.
    pub g: f64,
    /// 2-D grid points per side (0: no 2-D run).
    pub n2: usize,
    /// 2-D box side.
    pub length2: f64,
    /// Interaction strength of the 2-D run.
    pub g2: f64,
    /// Iteration limit of each L-BFGS run.
    pub max_iters: usize,
    /// Interaction strengths of a 1-D sweep towards the Thomas–Fermi limit (may be empty).
    pub sweep: Vec<f64>,
    /// Gradient-descent (imaginary-time) iterations on the interacting 1-D problem, for the
    /// convergence plot (0: skip).
    pub gd_iters: usize,
    /// Seed of the noise in the starting point.
    pub seed: u64,
}

impl Config {
    /// The example as `cargo run --release --example ground_state` runs it.
    pub fn full() -> Self {
        Config {
            n: 512,
            length: 40.0,
            g: 200.0,
            n2: 128,
            length2: 20.0,
            g2: 500.0,
            max_iters: 5000,
            sweep: vec![1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0],
            gd_iters: 3000,
            seed: 1,
        }
    }

    /// A small version for the test suite.
    pub fn small() -> Self {
        Config {
            n: 128,
            length: 32.0,
            g: 200.0,
            n2: 64,
            length2: 20.0,
            g2: 500.0,
            max_iters: 2000,
            sweep: Vec::new(),
            gd_iters: 200,
            seed: 1,
        }
    }
}

/// The figures of one minimization, for the normalized result `ψ`.
#[derive(Clone, Debug)]
pub struct Figures {
    /// `E = T + P + (g/2) Q`.
    pub energy: f64,
    /// Kinetic energy `T`.
    pub kinetic: f64,
    /// Trap energy `P`.
    pub potential: f64,
    /// Interaction energy `(g/2) Q`.
    pub interaction: f64,
    /// Chemical potential `μ = T + P + g Q`.
    pub mu: f64,
    /// `2T − 2P + d (g/2) Q`, zero at the minimum (virial theorem).
    pub virial: f64,
    /// `‖Hψ − μψ‖ = (dv Σ |Hψ − μψ|²)^{1/2}`.
    pub residual: f64,
    /// The global phase `arg ψ` at the density peak (arbitrary: a symmetry).
    pub phase: f64,
    /// The largest `|arg ψ − phase|` where `|ψ|²` exceeds 1% of its peak.
    pub phase_spread: f64,
    /// The norm `𝒩 = dv Σ |ψ|²` of the optimizer's final iterate (before normalizing).
    pub final_norm: f64,
    /// L-BFGS iterations.
    pub iterations: usize,
    /// Energy-and-gradient evaluations.
    pub evaluations: usize,
    /// Why L-BFGS stopped.
    pub stop: Stop,
    /// The largest `|gᵢ|` of the final gradient `2∂ℰ/∂ψ̄`.
    pub grad_norm: f64,
    /// Wall-clock seconds of the minimization.
    pub seconds: f64,
}

/// The Thomas–Fermi estimate.
#[derive(Clone, Debug)]
pub struct ThomasFermi {
    /// `μ_TF`.
    pub mu: f64,
    /// `E_TF`.
    pub energy: f64,
    /// Radius `R = √(2μ_TF)/ω` of the cloud.
    pub radius: f64,
    /// `∫ n_TF`, integrated numerically (should be 1).
    pub quadrature_norm: f64,
    /// `∫ V n_TF + (g/2) n_TF²`, integrated numerically (should be `energy`).
    pub quadrature_energy: f64,
}

/// One point of the sweep over `g`.
#[derive(Clone, Debug)]
pub struct SweepPoint {
    /// Interaction strength.
    pub g: f64,
    /// Ground-state energy.
    pub energy: f64,
    /// Chemical potential.
    pub mu: f64,
    /// Thomas–Fermi energy.
    pub energy_tf: f64,
    /// Thomas–Fermi chemical potential.
    pub mu_tf: f64,
}

/// What [`run`] found.
#[derive(Clone, Debug)]
pub struct Report {
    /// 1-D, `g = 0`.
    pub free: Figures,
    /// `|E − 0.5|` of the `g = 0` run.
    pub free_error: f64,
    /// 1-D, `g = cfg.g`.
    pub interacting: Figures,
    /// Thomas–Fermi for the 1-D interacting run.
    pub tf: ThomasFermi,
    /// The sweep over `g` (1-D).
    pub sweep: Vec<SweepPoint>,
    /// 2-D, `g = cfg.g2` (if `cfg.n2 > 0`).
    pub plane: Option<Figures>,
    /// Thomas–Fermi for the 2-D run.
    pub plane_tf: Option<ThomasFermi>,
    /// Gradient descent on the interacting 1-D problem: `E − E_L-BFGS` after `cfg.gd_iters`
    /// iterations, and the evaluations used (if `cfg.gd_iters > 0`).
    pub gd_gap: Option<(f64, usize)>,
    /// The pictures written.
    pub pictures: Vec<PathBuf>,
}

/// A periodic grid in 1 or 2 dimensions, with the trap and the kinetic multiplier.
struct Grid {
    shape: Vec<usize>,
    /// Coordinates along one axis.
    x: Vec<f64>,
    /// Cell volume `dx^d`.
    dv: f64,
    /// `V = |x|²/2`, row-major.
    v: Vec<f64>,
    /// `|k|²/2`, row-major, in numpy's FFT order.
    khalf: Vec<f64>,
    /// The same two as complex constants for the tape.
    v_c: Vec<Complex64>,
    khalf_c: Vec<Complex64>,
}

impl Grid {
    fn new(n: usize, length: f64, dim: usize) -> Self {
        let dx = length / n as f64;
        let x: Vec<f64> = (0..n).map(|j| -length / 2.0 + j as f64 * dx).collect();
        // numpy's 2π·fftfreq(n, dx).
        let k: Vec<f64> = (0..n)
            .map(|j| {
                let m = if j < n.div_ceil(2) {
                    j as f64
                } else {
                    j as f64 - n as f64
                };
                2.0 * std::f64::consts::PI * m / (n as f64 * dx)
            })
            .collect();
        let (v, khalf) = match dim {
            1 => (
                x.iter().map(|x| x * x / 2.0).collect(),
                k.iter().map(|k| k * k / 2.0).collect(),
            ),
            2 => {
                let mut v = Vec::with_capacity(n * n);
                let mut kh = Vec::with_capacity(n * n);
                for i in 0..n {
                    for j in 0..n {
                        v.push((x[i] * x[i] + x[j] * x[j]) / 2.0);
                        kh.push((k[i] * k[i] + k[j] * k[j]) / 2.0);
                    }
                }
                (v, kh)
            }
            _ => unreachable!("1-D or 2-D"),
        };
        let cplx = |a: &Vec<f64>| a.iter().map(|&r| c64(r, 0.0)).collect();
        Grid {
            shape: vec![n; dim],
            dv: dx.powi(dim as i32),
            v_c: cplx(&v),
            khalf_c: cplx(&khalf),
            x,
            v,
            khalf,
        }
    }

    fn dim(&self) -> usize {
        self.shape.len()
    }

    fn len(&self) -> usize {
        self.v.len()
    }

    /// `ℰ(ψ) + (𝒩 − 1)²` on the tape, `ℰ(ψ) = (T + P)/𝒩 + (g/2) Q/𝒩²`.
    fn energy<'t>(&self, psi: &VarArray<'t>, g: f64) -> Var<'t> {
        let dv = self.dv;
        let norm = psi.norm_sqr_sum() * dv;
        let kinetic = psi.vdot(&(psi.fftn() * &self.khalf_c).ifftn()).re() * dv;
        let density = psi.abs2();
        let trap = (&density * &self.v_c).sum() * dv;
        let quartic = density.norm_sqr_sum() * dv;
        let energy = (kinetic + trap) / norm + quartic / (norm * norm) * (g / 2.0);
        // Pins the scale, a flat direction of the energy, without moving its minimum.
        energy + (norm - 1.0).powi(2)
    }

    /// `ifft((|k|²/2) · fft ψ)`, the kinetic operator, in plain arithmetic.
    fn kinetic_apply(&self, psi: &[Complex64]) -> Vec<Complex64> {
        let axes: Vec<usize> = (0..self.dim()).collect();
        let plans = FftPlans::<f64>::global();
        let mut f = psi.to_vec();
        plans.transform(
            &mut f,
            &self.shape,
            &axes,
            Direction::Forward,
            Norm::Backward,
        );
        for (f, k) in f.iter_mut().zip(&self.khalf) {
            *f *= k;
        }
        plans.transform(
            &mut f,
            &self.shape,
            &axes,
            Direction::Inverse,
            Norm::Backward,
        );
        f
    }

    /// Normalizes `psi` and measures it.
    fn figures(&self, psi: &mut [Complex64], g: f64) -> Figures {
        let final_norm = self.dv * psi.iter().map(|z| z.norm_sqr()).sum::<f64>();
        for z in psi.iter_mut() {
            *z /= final_norm.sqrt();
        }
        let tpsi = self.kinetic_apply(psi);
        let dv = self.dv;
        let kinetic = dv
            * psi
                .iter()
                .zip(&tpsi)
                .map(|(a, b)| (a.conj() * b).re)
                .sum::<f64>();
        let potential = dv
            * psi
                .iter()
                .zip(&self.v)
                .map(|(a, v)| v * a.norm_sqr())
                .sum::<f64>();
        let quartic = dv * psi.iter().map(|a| a.norm_sqr().powi(2)).sum::<f64>();
        let interaction = g / 2.0 * quartic;
        let mu = kinetic + potential + g * quartic;
        let residual = (dv
            * psi
                .iter()
                .zip(&tpsi)
                .zip(&self.v)
                .map(|((a, t), v)| (t + a * (v + g * a.norm_sqr()) - a * mu).norm_sqr())
                .sum::<f64>())
        .sqrt();
        let peak = psi
            .iter()
            .copied()
            .max_by(|a, b| a.norm_sqr().total_cmp(&b.norm_sqr()))
            .unwrap_or_default();
        let phase = peak.arg();
        let phase_spread = psi
            .iter()
            .filter(|a| a.norm_sqr() > 0.01 * peak.norm_sqr())
            .map(|a| (a / peak).arg().abs())
            .fold(0.0, f64::max);
        Figures {
            energy: kinetic + potential + interaction,
            kinetic,
            potential,
            interaction,
            mu,
            virial: 2.0 * kinetic - 2.0 * potential + self.dim() as f64 * interaction,
            residual,
            phase,
            phase_spread,
            final_norm,
            iterations: 0,
            evaluations: 0,
            stop: Stop::MaxIterations,
            grad_norm: f64::NAN,
            seconds: 0.0,
        }
    }

    /// The starting point: an off-centre Gaussian with a phase ramp, plus complex white noise.
    fn start(&self, seed: u64) -> Vec<Complex64> {
        let mut rng = Lcg(seed);
        let n = self.x.len();
        let (c, w, k) = (2.5, 2.0, 1.5);
        let blob = |x: f64| (-(x - c) * (x - c) / (2.0 * w * w)).exp();
        (0..self.len())
            .map(|i| {
                let (a, ph) = match self.dim() {
                    1 => (blob(self.x[i]), k * self.x[i]),
                    _ => {
                        let (x, y) = (self.x[i / n], self.x[i % n]);
                        (blob(x) * blob(-y), k * (x - y))
                    }
                };
                Complex64::from_polar(a, ph) + 0.05 * c64(rng.next(), rng.next())
            })
            .collect()
    }

    /// The Thomas–Fermi estimate, and the integrals of its profile by the midpoint rule.
    fn thomas_fermi(&self, g: f64) -> ThomasFermi {
        let (mu, energy) = match self.dim() {
            1 => {
                let mu = (3.0 * g / (4.0 * 2f64.sqrt())).powf(2.0 / 3.0);
                (mu, 0.6 * mu)
            }
            _ => {
                let mu = (g / std::f64::consts::PI).sqrt();
                (mu, 2.0 / 3.0 * mu)
            }
        };
        let radius = (2.0 * mu).sqrt();
        // n_TF(r) = (μ − r²/2)/g on r < R; 1-D: ∫dx over (−R, R), 2-D: ∫2πr dr over (0, R).
        let m = 200_000;
        let h = radius / m as f64;
        let (mut norm, mut e) = (0.0, 0.0);
        for i in 0..m {
            let r = (i as f64 + 0.5) * h;
            let v = r * r / 2.0;
            let dens = (mu - v) / g;
            let weight = if self.dim() == 1 {
                2.0 * h
            } else {
                2.0 * std::f64::consts::PI * r * h
            };
            norm += weight * dens;
            e += weight * (v * dens + g / 2.0 * dens * dens);
        }
        ThomasFermi {
            mu,
            energy,
            radius,
            quadrature_norm: norm,
            quadrature_energy: e,
        }
    }
}

/// A small deterministic generator (64-bit LCG), uniform in [−1, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// One minimization: the normalized result, its figures, and `(evaluations, loss)` after each
/// iteration (the start included).
struct Solution {
    psi: Vec<Complex64>,
    figures: Figures,
    trace: Vec<(usize, f64)>,
}

/// Minimizes `ℰ + (𝒩 − 1)²` from the starting point with L-BFGS or, given a step, with gradient
/// descent.
fn solve(grid: &Grid, g: f64, cfg: &Config, gd: Option<(f64, usize)>) -> Solution {
    let t0 = Instant::now();
    let (r, psi, mut trace) = match gd {
        None => minimize(Lbfgs::new(), cfg.max_iters, 1e-9, grid, g, cfg.seed),
        Some((step, iters)) => minimize(GradientDescent::new(step), iters, 0.0, grid, g, cfg.seed),
    };
    let seconds = t0.elapsed().as_secs_f64();
    trace.insert(0, (1, r.history[0]));
    let mut psi = r.params.slice(psi).to_vec();
    let mut f = grid.figures(&mut psi, g);
    f.iterations = r.iterations;
    f.evaluations = r.evaluations;
    f.stop = r.stop;
    f.grad_norm = r.grad_norm;
    f.seconds = seconds;
    Solution {
        psi,
        figures: f,
        trace,
    }
}

/// Runs `optimizer` on `ℰ + (𝒩 − 1)²` from the starting point, recording `(evaluations, loss)`
/// after each iteration.
fn minimize<O: Optimizer<f64>>(
    optimizer: O,
    max_iters: usize,
    gtol: f64,
    grid: &Grid,
    g: f64,
    seed: u64,
) -> (Minimum, Array, Vec<(usize, f64)>) {
    let mut p = Params::new();
    let psi = p.array(grid.start(seed), &grid.shape);
    let trace = RefCell::new(Vec::new());
    let r = Minimize::new(optimizer)
        .max_iters(max_iters)
        .gtol(gtol)
        .ftol(0.0)
        .callback(|it| {
            trace.borrow_mut().push((it.evaluations, it.loss));
            ControlFlow::Continue(())
        })
        .run(p, |p| grid.energy(&p.array(psi), g));
    (r, psi, trace.into_inner())
}

/// The step of gradient descent on `ℰ`: `0.9/λ` with `λ = 2 dv max(|k|²/2 + V)`, about the
/// largest curvature. Gradient descent with this step is imaginary-time propagation by
/// `Δτ = 2 dv · step` per iteration.
fn imaginary_time_step(grid: &Grid) -> f64 {
    let kmax = grid.khalf.iter().fold(0.0f64, |m, k| m.max(*k));
    let vmax = grid.v.iter().fold(0.0f64, |m, v| m.max(*v));
    0.9 / (2.0 * grid.dv * (kmax + vmax))
}

/// Runs every minimization of `cfg`; writes the pictures under `out` if given.
pub fn run(cfg: &Config, out: Option<&Path>) -> Report {
    let line = Grid::new(cfg.n, cfg.length, 1);
    let free = solve(&line, 0.0, cfg, None);
    let inter = solve(&line, cfg.g, cfg, None);
    let tf = line.thomas_fermi(cfg.g);
    let gd = (cfg.gd_iters > 0).then(|| {
        solve(
            &line,
            cfg.g,
            cfg,
            Some((imaginary_time_step(&line), cfg.gd_iters)),
        )
    });
    let sweep: Vec<SweepPoint> = cfg
        .sweep
        .iter()
        .map(|&g| {
            let s = solve(&line, g, cfg, None);
            let tf = line.thomas_fermi(g);
            SweepPoint {
                g,
                energy: s.figures.energy,
                mu: s.figures.mu,
                energy_tf: tf.energy,
                mu_tf: tf.mu,
            }
        })
        .collect();
    let plane = (cfg.n2 > 0).then(|| {
        let grid = Grid::new(cfg.n2, cfg.length2, 2);
        let s = solve(&grid, cfg.g2, cfg, None);
        let tf = grid.thomas_fermi(cfg.g2);
        (grid, s, tf)
    });
    let pictures = out
        .map(|dir| {
            let pics = Pictures {
                cfg,
                line: &line,
                free: &free,
                inter: &inter,
                tf: &tf,
                gd: gd.as_ref(),
                sweep: &sweep,
                plane: plane.as_ref(),
            };
            pics.write(dir)
                .unwrap_or_else(|e| panic!("writing pictures to {}: {e}", dir.display()))
        })
        .unwrap_or_default();
    Report {
        free_error: (free.figures.energy - 0.5).abs(),
        gd_gap: gd.as_ref().map(|s| {
            (
                s.figures.energy - inter.figures.energy,
                s.figures.evaluations,
            )
        }),
        free: free.figures,
        interacting: inter.figures,
        tf,
        sweep,
        plane_tf: plane.as_ref().map(|p| p.2.clone()),
        plane: plane.map(|p| p.1.figures),
        pictures,
    }
}

/// Everything the pictures are drawn from.
struct Pictures<'a> {
    cfg: &'a Config,
    line: &'a Grid,
    free: &'a Solution,
    inter: &'a Solution,
    tf: &'a ThomasFermi,
    gd: Option<&'a Solution>,
    sweep: &'a [SweepPoint],
    plane: Option<&'a (Grid, Solution, ThomasFermi)>,
}

impl Pictures<'_> {
    fn write(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        let mut save = |name: &str, plot: &Plot| -> std::io::Result<()> {
            let path = dir.join(name);
            support::save_plot(&path, plot)?;
            written.push(path);
            Ok(())
        };
        save("density.png", &self.density())?;
        save("convergence.png", &self.convergence())?;
        if !self.sweep.is_empty() {
            save("thomas_fermi_limit.png", &self.tf_limit())?;
        }
        if let Some((grid, sol, tf)) = self.plane {
            save("plane_cut.png", &plane_cut(grid, sol, tf, self.cfg.g2))?;
            let n = grid.shape[0];
            let start = dir.join("plane_start.png");
            support::save_complex(&start, &grid.start(self.cfg.seed), n, n)?;
            written.push(start);
            let result = dir.join("plane_result.png");
            support::save_complex(&result, &sol.psi, n, n)?;
            written.push(result);
        }
        Ok(written)
    }

    /// |ψ|² for g = 0 and g > 0, the Thomas–Fermi profile, and the trap as V/g (in which units
    /// n_TF + V/g = μ_TF/g inside the cloud).
    fn density(&self) -> Plot {
        let g = self.cfg.g;
        let window = 1.5 * self.tf.radius;
        let xs = || {
            self.line
                .x
                .iter()
                .copied()
                .zip(0..)
                .filter(|(x, _)| x.abs() <= window)
        };
        let curve = |f: &dyn Fn(f64, usize) -> f64| xs().map(|(x, i)| (x, f(x, i))).collect();
        let mut plot = Plot::new(
            format!(
                "Ground-state density in a harmonic trap (1-D, N = {})",
                self.cfg.n
            ),
            "x",
            "density",
        );
        // The Thomas–Fermi profile on top of the computed one, inside the cloud only, so that
        // where they differ (the edges) both show.
        let inside = |(x, _): &(f64, usize)| x.abs() <= self.tf.radius;
        plot.series = vec![
            Series::new(format!("trap V/g, g = {g}"), curve(&|x, _| x * x / 2.0 / g)),
            Series::new(
                format!("|ψ|², g = 0 (E = {:.9})", self.free.figures.energy),
                curve(&|_, i| self.free.psi[i].norm_sqr()),
            ),
            Series::new(
                format!("|ψ|², g = {g} (E = {:.4})", self.inter.figures.energy),
                curve(&|_, i| self.inter.psi[i].norm_sqr()),
            ),
            Series::new(
                format!("Thomas–Fermi (μ_TF − V)/g (E_TF = {:.4})", self.tf.energy),
                xs().filter(inside)
                    .map(|(x, _)| (x, (self.tf.mu - x * x / 2.0) / g))
                    .collect(),
            ),
        ];
        plot
    }

    /// ℰ − E_min against evaluations: L-BFGS for g = 0 and g > 0, gradient descent for g > 0.
    fn convergence(&self) -> Plot {
        let gap = |s: &Solution, e_min: f64| -> Vec<(f64, f64)> {
            s.trace
                .iter()
                .map(|&(k, l)| (k as f64, l - e_min))
                .collect()
        };
        let g = self.cfg.g;
        let e_inter = self
            .inter
            .trace
            .iter()
            .fold(f64::INFINITY, |m, t| m.min(t.1));
        let e_free = self
            .free
            .trace
            .iter()
            .fold(f64::INFINITY, |m, t| m.min(t.1));
        let mut plot = Plot::new(
            "Convergence from a noisy, off-centre, moving start (1-D)",
            "energy-and-gradient evaluations",
            "E − E_min",
        );
        plot.log_y = true;
        plot.series
            .push(Series::new("L-BFGS, g = 0", gap(self.free, e_free)));
        plot.series.push(Series::new(
            format!("L-BFGS, g = {g}"),
            gap(self.inter, e_inter),
        ));
        if let Some(gd) = self.gd {
            plot.series.push(Series::new(
                format!("gradient descent (imaginary time), g = {g}"),
                gap(gd, e_inter),
            ));
        }
        plot
    }

    /// E/E_TF − 1 and μ/μ_TF − 1 against log₁₀ g.
    fn tf_limit(&self) -> Plot {
        let pts = |f: &dyn Fn(&SweepPoint) -> f64| {
            self.sweep.iter().map(|p| (p.g.log10(), f(p))).collect()
        };
        let mut plot = Plot::new(
            "Approach to the Thomas–Fermi limit (1-D)",
            "log₁₀ g",
            "relative excess over Thomas–Fermi",
        );
        plot.log_y = true;
        plot.series = vec![
            Series::new("E/E_TF − 1", pts(&|p| p.energy / p.energy_tf - 1.0)),
            Series::new("μ/μ_TF − 1", pts(&|p| p.mu / p.mu_tf - 1.0)),
        ];
        plot
    }
}

/// The 2-D density along the line y = 0 with the Thomas–Fermi profile.
fn plane_cut(grid: &Grid, sol: &Solution, tf: &ThomasFermi, g: f64) -> Plot {
    let n = grid.shape[0];
    let j0 = n / 2; // x[n/2] = 0
    let window = 1.5 * tf.radius;
    let mut plot = Plot::new(
        format!("2-D ground state, cut at y = 0 ({n} × {n}, g = {g})"),
        "x",
        "density",
    );
    let rows = || (0..n).filter(|&i| grid.x[i].abs() <= window);
    plot.series = vec![
        Series::new(
            format!("|ψ|² (E = {:.4})", sol.figures.energy),
            rows()
                .map(|i| (grid.x[i], sol.psi[i * n + j0].norm_sqr()))
                .collect(),
        ),
        Series::new(
            format!("Thomas–Fermi (μ_TF − V)/g (E_TF = {:.4})", tf.energy),
            rows()
                .map(|i| (grid.x[i], (tf.mu - grid.x[i].powi(2) / 2.0).max(0.0) / g))
                .collect(),
        ),
    ];
    plot
}

fn print_figures(name: &str, f: &Figures) {
    println!("{name}");
    println!(
        "  E = {:.12}   (T {:.6}, P {:.6}, (g/2)Q {:.6})   μ = {:.6}",
        f.energy, f.kinetic, f.potential, f.interaction, f.mu
    );
    println!(
        "  virial 2T − 2P + d(g/2)Q = {:.1e}   residual ‖Hψ − μψ‖ = {:.1e}",
        f.virial, f.residual
    );
    println!(
        "  global phase {:+.3} rad (arbitrary), spread across the cloud {:.1e} rad; final 𝒩 = {:.4}",
        f.phase, f.phase_spread, f.final_norm
    );
    println!(
        "  L-BFGS: {} iterations, {} evaluations, {:.2} s, |g|∞ {:.1e}, stopped: {}",
        f.iterations,
        f.evaluations,
        f.seconds,
        f.grad_norm,
        match f.stop {
            // At the minimum to rounding: no step lowers the energy any more.
            Stop::LineSearchFailed => "no further decrease at this precision".to_string(),
            stop => stop.to_string(),
        }
    );
}

fn print_tf(tf: &ThomasFermi, f: &Figures) {
    println!(
        "  Thomas–Fermi: μ_TF = {:.6}, E_TF = {:.6}, R = {:.3}   (quadrature: ∫n = {:.6}, E = {:.6})",
        tf.mu, tf.energy, tf.radius, tf.quadrature_norm, tf.quadrature_energy
    );
    println!(
        "  E/E_TF = {:.5}   μ/μ_TF = {:.5}",
        f.energy / tf.energy,
        f.mu / tf.mu
    );
}

fn main() {
    // `-- --small` runs the test suite's size.
    let small = std::env::args().any(|a| a == "--small");
    let cfg = if small {
        Config::small()
    } else {
        Config::full()
    };
    let t0 = Instant::now();
    let out = support::output_dir("ground_state").expect("creating the picture directory");
    let r = run(&cfg, Some(&out));
    println!(
        "1-D grid: N = {}, L = {}, dx = {:.4}",
        cfg.n,
        cfg.length,
        cfg.length / cfg.n as f64
    );
    print_figures("g = 0 (harmonic oscillator, E must be ω/2 = 0.5):", &r.free);
    println!("  |E − 0.5| = {:.2e}", r.free_error);
    print_figures(&format!("g = {}:", cfg.g), &r.interacting);
    print_tf(&r.tf, &r.interacting);
    if let Some((gap, evals)) = r.gd_gap {
        println!(
            "  gradient descent (imaginary time), {} iterations: E − E_L-BFGS = {gap:.2e} ({evals} evaluations)",
            cfg.gd_iters
        );
    }
    if !r.sweep.is_empty() {
        println!("sweep towards the Thomas–Fermi limit (1-D):");
        println!(
            "  {:>7}  {:>12}  {:>12}  {:>9}  {:>9}",
            "g", "E", "E_TF", "E/E_TF", "μ/μ_TF"
        );
        for p in &r.sweep {
            println!(
                "  {:>7}  {:>12.6}  {:>12.6}  {:>9.5}  {:>9.5}",
                p.g,
                p.energy,
                p.energy_tf,
                p.energy / p.energy_tf,
                p.mu / p.mu_tf
            );
        }
    }
    if let (Some(f), Some(tf)) = (&r.plane, &r.plane_tf) {
        println!(
            "2-D grid: {n} × {n}, L = {}, g = {}",
            cfg.length2,
            cfg.g2,
            n = cfg.n2
        );
        print_figures("2-D:", f);
        print_tf(tf, f);
    }
    for p in &r.pictures {
        println!("wrote {}", p.display());
    }
    println!("total {:.1} s", t0.elapsed().as_secs_f64());
}
