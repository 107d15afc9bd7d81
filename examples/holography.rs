//! A phase-only hologram: find the phases `φ` of a unit-amplitude field `u = a·e^{iφ}` on an
//! `n × n` grid so that its far field `|fft2(u)|²` draws a target image (a ring and the letters
//! "CR"), by L-BFGS on the tape, and compare with the classical Gerchberg–Saxton iteration from
//! the same random start.
//!
//! ```text
//! cargo run --release --example holography
//! ```
//!
//! The far field is `F = fft2(u)` with the unitary scaling (`Norm::Ortho`), so `Σ|F|² = Σ|u|² = n²`
//! (Parseval) whatever `φ` is; the target `T` is scaled to that same total power. Both methods are
//! judged by one number, the relative intensity error `E = ‖|F|² − T‖ / ‖T‖`, and L-BFGS minimizes
//! `E²` directly, with `φ` a real parameter array (`Params::real_array`) and `e^{iφ}` built by
//! `VarArray::cis`. Gerchberg–Saxton instead alternates projections: keep the phase of `F`, impose
//! the amplitude `√T`, transform back, keep the phase. Its fixed points match amplitudes `|F|` to
//! `√T`, so the amplitude error `‖|F| − √T‖ / ‖√T‖` is printed for both methods too.
//!
//! The target is drawn centred on the zero-frequency pixel (after `fftshift`) with that pixel dark:
//! the letters straddle it with a gap. Neither method treats it specially, since the model is an
//! ideal phase modulator with no unmodulated light.
//!
//! Writes, under `target/wirtinger-examples/holography/`: the target, both reconstructions, the
//! optimized phase, and the error of both methods per iteration on one log-scale plot.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wirtinger::fft::{self, Direction, FftPlans};
use wirtinger::optim::{Lbfgs, Minimize, Params};
use wirtinger::prelude::*;

mod support;
use support::{Colormap, Plot, Series};

/// The size of the problem and the iteration budgets.
#[derive(Clone, Debug)]
pub struct Config {
    /// The grid is `n × n` (a multiple of 32: the letters are drawn in units of `n / 32` pixels).
    pub n: usize,
    /// Gerchberg–Saxton iterations (each one forward and one inverse FFT).
    pub gs_iterations: usize,
    /// The most L-BFGS iterations (each about one evaluation: a forward FFT on the tape and one
    /// adjoint FFT in the backward pass).
    pub lbfgs_iterations: usize,
    /// Seed of the random starting phase, shared by both methods.
    pub seed: u64,
}

impl Config {
    /// The full example: 256 × 256.
    pub fn full() -> Self {
        Config {
            n: 256,
            gs_iterations: 500,
            lbfgs_iterations: 500,
            seed: 1,
        }
    }

    /// A 64 × 64 version for the tests.
    pub fn small() -> Self {
        Config {
            n: 64,
            gs_iterations: 300,
            lbfgs_iterations: 300,
            seed: 1,
        }
    }
}

/// The key figures of a run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The grid size `n` (the field is `n × n`).
    pub n: usize,
    /// `E = ‖|F|² − T‖ / ‖T‖` at the common random start.
    pub initial_error: f64,
    /// `E` after Gerchberg–Saxton.
    pub gs_error: f64,
    /// The amplitude error `‖|F| − √T‖ / ‖√T‖` after Gerchberg–Saxton.
    pub gs_amplitude_error: f64,
    /// Gerchberg–Saxton iterations run.
    pub gs_iterations: usize,
    /// The lowest `E` Gerchberg–Saxton reached along the way (it is not monotone in `E`).
    pub gs_best_error: f64,
    /// Wall time of Gerchberg–Saxton.
    pub gs_time: Duration,
    /// `E` after L-BFGS.
    pub lbfgs_error: f64,
    /// The amplitude error after L-BFGS.
    pub lbfgs_amplitude_error: f64,
    /// L-BFGS iterations run.
    pub lbfgs_iterations: usize,
    /// Loss-and-gradient evaluations L-BFGS used.
    pub lbfgs_evaluations: usize,
    /// Why L-BFGS stopped.
    pub lbfgs_stop: String,
    /// Wall time of L-BFGS.
    pub lbfgs_time: Duration,
    /// The pictures written (empty when no output directory was given).
    pub pictures: Vec<PathBuf>,
}

/// A small deterministic generator (64-bit LCG), uniform in `[0, 1)`.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A 5 × 7 bitmap of a letter (`#` is lit); only the letters this example draws.
fn glyph(c: char) -> [&'static str; 7] {
    match c {
        'C' => [
            ".###.", "#...#", "#....", "#....", "#....", "#...#", ".###.",
        ],
        'R' => [
            "####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#",
        ],
        _ => panic!("no glyph for {c:?}"),
    }
}

/// The target pattern (values 0 or 1), `n × n`, row-major, centred on pixel `(n/2, n/2)`: a ring
/// of radius `0.36 n` and the letters "CR" in font pixels of `n / 32` screen pixels, with a dark
/// one-font-pixel gap between the letters over the centre.
fn pattern(n: usize) -> Vec<f64> {
    let mut t = vec![0.0; n * n];
    let c = (n / 2) as f64;
    let (radius, half_width) = (0.36 * n as f64, (n as f64 / 160.0).max(0.75));
    for i in 0..n {
        for j in 0..n {
            let r = ((i as f64 - c).powi(2) + (j as f64 - c).powi(2)).sqrt();
            if (r - radius).abs() <= half_width {
                t[i * n + j] = 1.0;
            }
        }
    }
    let s = n / 32;
    let text = "CR";
    let cols = 6 * text.len() - 1;
    // The block of cols × 7 font pixels centred so that the centre pixel falls in the gap column.
    let (x0, y0) = (n / 2 - (cols * s) / 2, n / 2 - (7 * s) / 2);
    for (k, ch) in text.chars().enumerate() {
        for (row, line) in glyph(ch).iter().enumerate() {
            for (col, b) in line.bytes().enumerate() {
                if b == b'#' {
                    let (x, y) = (x0 + (6 * k + col) * s, y0 + row * s);
                    for i in y..y + s {
                        for j in x..x + s {
                            t[i * n + j] = 1.0;
                        }
                    }
                }
            }
        }
    }
    t
}

/// `ifftshift` of an `n × n` array: moves the centre pixel `(n/2, n/2)` to `(0, 0)`, the
/// zero-frequency element of `fft2`.
fn ifftshift(a: &[f64], n: usize) -> Vec<f64> {
    fft::shift(a, &[n, n], &[0, 1], true)
}

/// `fftshift` of an `n × n` array: the zero frequency to the centre, for pictures.
fn fftshift(a: &[f64], n: usize) -> Vec<f64> {
    fft::shift(a, &[n, n], &[0, 1], false)
}

/// The far field of the phases `phi`: `fft2(e^{iφ})` with the unitary scaling.
fn far_field(phi: &[f64], n: usize) -> Vec<Complex64> {
    let mut u: Vec<Complex64> = phi.iter().map(|&p| Complex64::cis(p)).collect();
    FftPlans::global().transform(&mut u, &[n, n], &[0, 1], Direction::Forward, Norm::Ortho);
    u
}

/// The two error measures of a far field against the target `t`: `(‖|F|² − T‖ / ‖T‖,
/// ‖|F| − √T‖ / ‖√T‖)`.
fn errors(f: &[Complex64], t: &[f64]) -> (f64, f64) {
    let (mut di, mut ti, mut da, mut ta) = (0.0, 0.0, 0.0, 0.0);
    for (f, &t) in f.iter().zip(t) {
        di += (f.norm_sqr() - t).powi(2);
        ti += t * t;
        da += (f.norm() - t.sqrt()).powi(2);
        ta += t;
    }
    ((di / ti).sqrt(), (da / ta).sqrt())
}

/// Gerchberg–Saxton from `phi`: returns the final phases and `E` at the start and after each
/// iteration.
fn gerchberg_saxton(phi: &[f64], t: &[f64], n: usize, iterations: usize) -> (Vec<f64>, Vec<f64>) {
    let plans = FftPlans::global();
    let sqrt_t: Vec<f64> = t.iter().map(|t| t.sqrt()).collect();
    let t_norm = t.iter().map(|t| t * t).sum::<f64>().sqrt();
    let mut u: Vec<Complex64> = phi.iter().map(|&p| Complex64::cis(p)).collect();
    let mut history = Vec::with_capacity(iterations + 1);
    // `z / |z|` keeps the phase of `z` (and makes 0 into 1: any phase will do there).
    let unit = |z: Complex64| {
        let a = z.norm();
        if a > 0.0 {
            z / a
        } else {
            c64(1.0, 0.0)
        }
    };
    for k in 0..=iterations {
        plans.transform(&mut u, &[n, n], &[0, 1], Direction::Forward, Norm::Ortho);
        let misfit: f64 = u
            .iter()
            .zip(t)
            .map(|(f, t)| (f.norm_sqr() - t).powi(2))
            .sum();
        history.push(misfit.sqrt() / t_norm);
        if k == iterations {
            break;
        }
        // Far field: keep the phase, impose the target amplitude.
        for (f, &a) in u.iter_mut().zip(&sqrt_t) {
            *f = unit(*f) * a;
        }
        plans.transform(&mut u, &[n, n], &[0, 1], Direction::Inverse, Norm::Ortho);
        // Hologram plane: keep the phase, impose the unit amplitude.
        for z in u.iter_mut() {
            *z = unit(*z);
        }
    }
    plans.transform(&mut u, &[n, n], &[0, 1], Direction::Inverse, Norm::Ortho);
    (u.iter().map(|z| z.arg()).collect(), history)
}

/// Runs both methods on the configured problem; writes the pictures into `out` if given.
pub fn run(cfg: &Config, out: Option<&Path>) -> Report {
    let n = cfg.n;
    assert!(
        n >= 32 && n % 32 == 0,
        "n must be a multiple of 32, got {n}"
    );
    // The target in FFT order, scaled to the field's total power n² (Parseval, unitary FFT).
    let shown = pattern(n);
    let lit: f64 = shown.iter().sum();
    let scale = (n * n) as f64 / lit;
    let target: Vec<f64> = ifftshift(&shown, n).iter().map(|t| t * scale).collect();
    let target_norm_sqr: f64 = target.iter().map(|t| t * t).sum();

    let mut rng = Lcg(cfg.seed);
    let phi0: Vec<f64> = (0..n * n)
        .map(|_| 2.0 * std::f64::consts::PI * rng.next())
        .collect();
    let initial_error = errors(&far_field(&phi0, n), &target).0;

    // Gerchberg–Saxton.
    let start = Instant::now();
    let (gs_phi, gs_history) = gerchberg_saxton(&phi0, &target, n, cfg.gs_iterations);
    let gs_time = start.elapsed();
    let gs_field = far_field(&gs_phi, n);
    let (gs_error, gs_amplitude_error) = errors(&gs_field, &target);
    let gs_best_error = gs_history.iter().copied().fold(f64::INFINITY, f64::min);

    // L-BFGS on L(φ) = ‖|fft2(e^{iφ})|² − T‖² / ‖T‖² = E². With n² parameters the two-loop
    // recursion (two passes over every stored pair per iteration) costs as much as an evaluation;
    // 5 pairs instead of the default 10 reach the same error in less time here.
    let mut params = Params::new();
    let phi = params.real_array(phi0.clone(), &[n, n]);
    let t_complex: Vec<Complex64> = target.iter().map(|&t| c64(t, 0.0)).collect();
    let fit = Minimize::new(Lbfgs::new().memory(5))
        .max_iters(cfg.lbfgs_iterations)
        .gtol(0.0)
        .ftol(1e-12)
        .run(params, |p| {
            let field = p.array(phi).cis();
            let intensity = field.fft2_with(Norm::Ortho).abs2();
            (intensity - &t_complex).norm_sqr_sum() / target_norm_sqr
        });
    let lbfgs_time = fit.elapsed;
    let lbfgs_phi = fit.params.real_values(phi);
    let lbfgs_field = far_field(&lbfgs_phi, n);
    let (lbfgs_error, lbfgs_amplitude_error) = errors(&lbfgs_field, &target);

    let pictures = match out {
        Some(dir) => pictures(
            dir,
            n,
            &target,
            &gs_field,
            &lbfgs_field,
            &lbfgs_phi,
            &gs_history,
            &fit.history,
        ),
        None => Vec::new(),
    };
    Report {
        n,
        initial_error,
        gs_error,
        gs_amplitude_error,
        gs_iterations: cfg.gs_iterations,
        gs_best_error,
        gs_time,
        lbfgs_error,
        lbfgs_amplitude_error,
        lbfgs_iterations: fit.iterations,
        lbfgs_evaluations: fit.evaluations,
        lbfgs_stop: fit.stop.to_string(),
        lbfgs_time,
        pictures,
    }
}

/// Writes the pictures; returns their paths. Far fields are shown with the zero frequency in the
/// centre (`fftshift`), both reconstructions on the target's colour scale.
#[allow(clippy::too_many_arguments)]
fn pictures(
    dir: &Path,
    n: usize,
    target: &[f64],
    gs_field: &[Complex64],
    lbfgs_field: &[Complex64],
    lbfgs_phi: &[f64],
    gs_history: &[f64],
    lbfgs_history: &[f64],
) -> Vec<PathBuf> {
    let fail =
        |e: std::io::Error| panic!("holography: writing a picture into {}: {e}", dir.display());
    let hi = target.iter().copied().fold(0.0, f64::max);
    let intensity =
        |f: &[Complex64]| fftshift(&f.iter().map(|z| z.norm_sqr()).collect::<Vec<_>>(), n);
    let mut written = Vec::new();
    let mut image = |name: &str, values: &[f64]| {
        let path = dir.join(name);
        support::save_image_range(&path, values, n, n, Colormap::Inferno, 0.0, hi)
            .unwrap_or_else(fail);
        written.push(path);
    };
    image("target.png", &fftshift(target, n));
    image("gerchberg_saxton.png", &intensity(gs_field));
    image("lbfgs.png", &intensity(lbfgs_field));
    let path = dir.join("lbfgs_phase.png");
    support::save_phase(&path, lbfgs_phi, n, n).unwrap_or_else(fail);
    written.push(path);
    let plot = Plot {
        log_y: true,
        series: vec![
            Series::from_values("Gerchberg–Saxton", gs_history),
            Series::from_values(
                "L-BFGS",
                &lbfgs_history.iter().map(|l| l.sqrt()).collect::<Vec<_>>(),
            ),
        ],
        ..Plot::new(
            format!("Phase-only hologram, {n}×{n}: error per iteration"),
            "iteration",
            "E = ‖|F|² − T‖ / ‖T‖",
        )
    };
    let path = dir.join("error.png");
    support::save_plot(&path, &plot).unwrap_or_else(fail);
    written.push(path);
    written
}

fn main() {
    let cfg = Config::full();
    let out =
        support::output_dir("holography").expect("holography: cannot create the output directory");
    let r = run(&cfg, Some(&out));
    println!(
        "phase-only hologram, {n}×{n} phases, target: a ring and \"CR\"",
        n = r.n
    );
    println!("error E = ‖|F|² − T‖/‖T‖ (amplitude error ‖|F| − √T‖/‖√T‖ in brackets)");
    println!("  random start:     E = {:.4}", r.initial_error);
    println!(
        "  Gerchberg–Saxton: E = {:.4} ({:.4})  after {} iterations, {:.2} s (best E on the way {:.4})",
        r.gs_error,
        r.gs_amplitude_error,
        r.gs_iterations,
        r.gs_time.as_secs_f64(),
        r.gs_best_error
    );
    println!(
        "  L-BFGS:           E = {:.4} ({:.4})  after {} iterations, {} evaluations, {:.2} s ({})",
        r.lbfgs_error,
        r.lbfgs_amplitude_error,
        r.lbfgs_iterations,
        r.lbfgs_evaluations,
        r.lbfgs_time.as_secs_f64(),
        r.lbfgs_stop
    );
    for p in &r.pictures {
        println!("wrote {}", p.display());
    }
}
