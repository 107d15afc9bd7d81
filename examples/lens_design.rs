//! Wave-optics lens design: shape the phase mask `φ` in a circular aperture so that a plane wave,
//! propagated a distance `d` by the angular-spectrum method, focuses its power onto two chosen
//! spots, by L-BFGS on the tape.
//!
//! ```text
//! cargo run --release --example lens_design
//! ```
//!
//! # The physics
//!
//! A plane wave of wavelength `λ` crosses the aperture (amplitude `A`: 1 in a disk, 0 outside)
//! and the mask, `u = A·e^{iφ}`, sampled on an `n × n` grid of pitch `p`. Free space over a
//! distance `d` multiplies each plane-wave component `(f_x, f_y)` of `u` by `H = exp(i k_z d)`,
//! `k_z = 2π √(1/λ² − f_x² − f_y²)` (evanescent components, `f_x² + f_y² > 1/λ²`, are dropped:
//! `H = 0`; none exist at these pitches), so the field at the target plane is
//! `U = ifft2(H · fft2(u))`. The constant phase `e^{ikd}` is left out of `H` (it changes nothing
//! and keeps the phases small).
//!
//! The full configuration ([`Config::full`]):
//!
//! | | |
//! |---|---|
//! | wavelength `λ` | 633 nm (a helium–neon laser) |
//! | grid | 256 × 256, pitch `p` = 8 µm (a 2.048 mm window) |
//! | aperture | a disk of radius `a` = 0.384 mm (48 pixels) |
//! | distance `d` | 25 mm, below the angular-spectrum limit `n p²/λ` = 25.9 mm, so `H` is sampled finely enough |
//! | Fresnel number `a²/(λd)` | 9.3: neither the near field of geometric shadows nor the far field |
//! | spots | disks of radius 32 µm (4 pixels) centred at (−0.25, −0.10) mm and (+0.20, +0.20) mm |
//!
//! An aberration-free lens of this aperture focusing at `d` makes an Airy spot of radius
//! `1.22 λ d / (2a)` = 25 µm, so a 32 µm disk can hold most of a focused beam.
//!
//! The loss is `−(P₁ + P₂) + (P₁ − P₂)²`, with `Pₖ` the fraction of the power through the
//! aperture that lands in spot `k`: the first term gathers power into the spots, the second keeps
//! them balanced. The start is the flat mask `φ = 0` (a bare aperture), whose fractions are the
//! "before" figures.
//!
//! Writes, under `target/wirtinger-examples/lens_design/`: the optimized mask, the intensity at
//! the target plane before and after (with the spots circled), and the loss per iteration.

use std::f64::consts::PI;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;
use wirtinger::fft::{Direction, FftPlans};
use wirtinger::optim::{Lbfgs, Minimize, Params};
use wirtinger::prelude::*;

mod support;
use support::{Colormap, Plot, Series};

/// The optical system and the iteration budget (lengths in metres).
#[derive(Clone, Debug)]
pub struct Config {
    /// The grid is `n × n`.
    pub n: usize,
    /// Pixel pitch.
    pub pitch: f64,
    /// Wavelength.
    pub wavelength: f64,
    /// Propagation distance from the mask to the target plane.
    pub distance: f64,
    /// Radius of the circular aperture, centred on the grid.
    pub aperture_radius: f64,
    /// Centres `(x, y)` of the two target spots, from the optical axis (`y` grows downwards in
    /// the pictures).
    pub spots: [(f64, f64); 2],
    /// Radius of each spot.
    pub spot_radius: f64,
    /// The most L-BFGS iterations.
    pub max_iterations: usize,
}

impl Config {
    /// The full example: see the table in the module documentation.
    pub fn full() -> Self {
        Config {
            n: 256,
            pitch: 8e-6,
            wavelength: 633e-9,
            distance: 25e-3,
            aperture_radius: 0.384e-3,
            spots: [(-0.25e-3, -0.10e-3), (0.20e-3, 0.20e-3)],
            spot_radius: 32e-6,
            max_iterations: 200,
        }
    }

    /// A 64 × 64 version for the tests: pitch 16 µm, aperture radius 0.192 mm (Fresnel number
    /// 2.3), spots of radius 64 µm at half the distances from the axis, same `λ` and `d`.
    pub fn small() -> Self {
        Config {
            n: 64,
            pitch: 16e-6,
            wavelength: 633e-9,
            distance: 25e-3,
            aperture_radius: 0.192e-3,
            spots: [(-0.125e-3, -0.05e-3), (0.10e-3, 0.10e-3)],
            spot_radius: 64e-6,
            max_iterations: 100,
        }
    }

    /// The Fresnel number `a²/(λd)` of the aperture.
    pub fn fresnel_number(&self) -> f64 {
        self.aperture_radius.powi(2) / (self.wavelength * self.distance)
    }
}

/// The key figures of a run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The fraction of the power in each spot with the flat mask.
    pub before: [f64; 2],
    /// The fraction of the power in each spot with the optimized mask.
    pub after: [f64; 2],
    /// The loss `−(P₁ + P₂) + (P₁ − P₂)²` before and after.
    pub loss: (f64, f64),
    /// L-BFGS iterations run.
    pub iterations: usize,
    /// Loss-and-gradient evaluations used.
    pub evaluations: usize,
    /// Why L-BFGS stopped.
    pub stop: String,
    /// Wall time of the optimization.
    pub time: Duration,
    /// The pictures written (empty when no output directory was given).
    pub pictures: Vec<PathBuf>,
}

impl Report {
    /// The total fraction in both spots, before and after.
    pub fn total(&self) -> (f64, f64) {
        (
            self.before[0] + self.before[1],
            self.after[0] + self.after[1],
        )
    }
}

/// The sampled system: aperture, transfer function and spot masks, `n × n` row-major.
struct System {
    n: usize,
    aperture: Vec<f64>,
    /// `H` in FFT order (zero frequency at index 0).
    transfer: Vec<Complex64>,
    spots: [Vec<f64>; 2],
    /// Σ A², the power through the aperture (and at the target plane: `|H| = 1`).
    power: f64,
}

impl System {
    fn new(cfg: &Config) -> Self {
        let n = cfg.n;
        // Pixel (i, j) sits at x = (j − n/2) p, y = (i − n/2) p.
        let pos = |k: usize| (k as f64 - (n / 2) as f64) * cfg.pitch;
        let disk = |cx: f64, cy: f64, r: f64| -> Vec<f64> {
            let mut m = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    if (pos(j) - cx).powi(2) + (pos(i) - cy).powi(2) <= r * r {
                        m[i * n + j] = 1.0;
                    }
                }
            }
            m
        };
        let aperture = disk(0.0, 0.0, cfg.aperture_radius);
        let spots = cfg.spots.map(|(x, y)| disk(x, y, cfg.spot_radius));
        // Frequencies in FFT order: f = k / (n p) for k = 0, 1, …, n/2 − 1, −n/2, …, −1.
        let freq = |k: usize| {
            let k = if k < n.div_ceil(2) {
                k as f64
            } else {
                k as f64 - n as f64
            };
            k / (n as f64 * cfg.pitch)
        };
        let inv_l2 = 1.0 / cfg.wavelength.powi(2);
        let mut transfer = vec![c64(0.0, 0.0); n * n];
        for i in 0..n {
            for j in 0..n {
                let f2 = freq(i).powi(2) + freq(j).powi(2);
                if f2 < inv_l2 {
                    // (k_z − k) d, written so that it does not cancel:
                    // −2π f² d / (√(1/λ² − f²) + 1/λ).
                    let phase =
                        -2.0 * PI * f2 * cfg.distance / ((inv_l2 - f2).sqrt() + inv_l2.sqrt());
                    transfer[i * n + j] = Complex64::cis(phase);
                }
            }
        }
        let power = aperture.iter().sum();
        System {
            n,
            aperture,
            transfer,
            spots,
            power,
        }
    }

    /// The field at the target plane for the mask `phi` (no tape).
    fn propagate(&self, phi: &[f64]) -> Vec<Complex64> {
        let n = self.n;
        let mut u: Vec<Complex64> = phi
            .iter()
            .zip(&self.aperture)
            .map(|(&p, &a)| Complex64::from_polar(a, p))
            .collect();
        let plans = FftPlans::global();
        plans.transform(&mut u, &[n, n], &[0, 1], Direction::Forward, Norm::Backward);
        for (u, h) in u.iter_mut().zip(&self.transfer) {
            *u *= h;
        }
        plans.transform(&mut u, &[n, n], &[0, 1], Direction::Inverse, Norm::Backward);
        u
    }

    /// The fraction of the power in each spot for the mask `phi`.
    fn fractions(&self, phi: &[f64]) -> [f64; 2] {
        let field = self.propagate(phi);
        self.spots.clone().map(|m| {
            field
                .iter()
                .zip(&m)
                .map(|(u, m)| m * u.norm_sqr())
                .sum::<f64>()
                / self.power
        })
    }
}

/// The loss `−(P₁ + P₂) + (P₁ − P₂)²` from the two fractions.
fn loss_of(p: [f64; 2]) -> f64 {
    -(p[0] + p[1]) + (p[0] - p[1]).powi(2)
}

/// Optimizes the mask for the configured system; writes the pictures into `out` if given.
pub fn run(cfg: &Config, out: Option<&Path>) -> Report {
    let n = cfg.n;
    let sys = System::new(cfg);
    let flat = vec![0.0; n * n];
    let before = sys.fractions(&flat);

    let as_complex = |v: &[f64]| -> Vec<Complex64> { v.iter().map(|&x| c64(x, 0.0)).collect() };
    let aperture = as_complex(&sys.aperture);
    let spots = [as_complex(&sys.spots[0]), as_complex(&sys.spots[1])];
    let mut params = Params::new();
    let phi = params.real_array(flat.clone(), &[n, n]);
    // The fractions after each iteration, for the plot (two more FFTs per iteration).
    let mut track = vec![before];
    let fit = Minimize::new(Lbfgs::new())
        .max_iters(cfg.max_iterations)
        .gtol(1e-9)
        .ftol(1e-10)
        .callback(|it| {
            if out.is_some() {
                track.push(sys.fractions(&it.params.real_values(phi)));
            }
            ControlFlow::Continue(())
        })
        .run(params, |p| {
            let u = p.array(phi).cis() * &aperture;
            let intensity = (u.fft2() * &sys.transfer).ifft2().abs2();
            let p1 = (&intensity * &spots[0]).sum() / sys.power;
            let p2 = (&intensity * &spots[1]).sum() / sys.power;
            -(p1 + p2) + (p1 - p2).powi(2)
        });
    let mask = fit.params.real_values(phi);
    let after = sys.fractions(&mask);

    let pictures = match out {
        Some(dir) => pictures(dir, &sys, &mask, &track),
        None => Vec::new(),
    };
    Report {
        before,
        after,
        loss: (loss_of(before), loss_of(after)),
        iterations: fit.iterations,
        evaluations: fit.evaluations,
        stop: fit.stop.to_string(),
        time: fit.elapsed,
        pictures,
    }
}

/// The central `n/2 × n/2` of an `n × n` field, where the light is.
fn crop<T: Copy>(field: &[T], n: usize) -> Vec<T> {
    let (m, o) = (n / 2, n / 4);
    (0..m)
        .flat_map(|i| field[(i + o) * n + o..(i + o) * n + o + m].iter().copied())
        .collect()
}

/// Writes the pictures; returns their paths. Fields are shown over the central half of the window
/// (where the aperture and the spots are). The spot outlines are drawn as NaN pixels, which the
/// picture module paints in a colour the intensity map never uses (cyan).
fn pictures(dir: &Path, sys: &System, mask: &[f64], track: &[[f64; 2]]) -> Vec<PathBuf> {
    let (n, m) = (sys.n, sys.n / 2);
    let fail =
        |e: std::io::Error| panic!("lens_design: writing a picture into {}: {e}", dir.display());
    let mut written = Vec::new();
    // The mask as a complex transmission A·e^{iφ}: hue = phase, black outside the aperture.
    let transmission: Vec<Complex64> = mask
        .iter()
        .zip(&sys.aperture)
        .map(|(&p, &a)| Complex64::from_polar(a, p))
        .collect();
    let path = dir.join("mask.png");
    support::save_complex(&path, &crop(&transmission, n), m, m).unwrap_or_else(fail);
    written.push(path);
    // Pixels just outside a spot: in no spot, with a neighbour in one.
    let in_spot = |i: usize, j: usize| sys.spots.iter().any(|m| m[i * n + j] > 0.0);
    let outline: Vec<bool> = (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            !in_spot(i, j)
                && [(0, 1), (2, 1), (1, 0), (1, 2)].iter().any(|&(di, dj)| {
                    let (a, b) = ((i + di).wrapping_sub(1), (j + dj).wrapping_sub(1));
                    a < n && b < n && in_spot(a, b)
                })
        })
        .collect();
    for (name, phi) in [
        ("intensity_before.png", &vec![0.0; n * n][..]),
        ("intensity_after.png", mask),
    ] {
        let intensity: Vec<f64> = sys
            .propagate(phi)
            .iter()
            .zip(&outline)
            .map(|(u, &edge)| if edge { f64::NAN } else { u.norm_sqr() })
            .collect();
        let path = dir.join(name);
        support::save_image(&path, &crop(&intensity, n), m, m, Colormap::Inferno)
            .unwrap_or_else(fail);
        written.push(path);
    }
    let series = |label: &str, f: &dyn Fn(&[f64; 2]) -> f64| {
        Series::from_values(label, &track.iter().map(f).collect::<Vec<_>>())
    };
    let plot = Plot {
        series: vec![
            series("both spots", &|p| p[0] + p[1]),
            series("spot 1", &|p| p[0]),
            series("spot 2", &|p| p[1]),
        ],
        ..Plot::new(
            "Lens design: fraction of the power in the spots",
            "L-BFGS iteration",
            "fraction of the power",
        )
    };
    let path = dir.join("power.png");
    support::save_plot(&path, &plot).unwrap_or_else(fail);
    written.push(path);
    written
}

fn main() {
    let cfg = Config::full();
    let out = support::output_dir("lens_design")
        .expect("lens_design: cannot create the output directory");
    let r = run(&cfg, Some(&out));
    println!(
        "lens design: λ = {:.0} nm, {n}×{n} pixels of {:.0} µm, aperture radius {:.3} mm, d = {:.0} mm, \
         Fresnel number {:.1}",
        cfg.wavelength * 1e9,
        cfg.pitch * 1e6,
        cfg.aperture_radius * 1e3,
        cfg.distance * 1e3,
        cfg.fresnel_number(),
        n = cfg.n
    );
    let (b, a) = r.total();
    println!("fraction of the power in the two spots (spot 1 + spot 2):");
    println!(
        "  before (flat mask):      {:.4} = {:.4} + {:.4}",
        b, r.before[0], r.before[1]
    );
    println!(
        "  after  (optimized mask): {:.4} = {:.4} + {:.4}",
        a, r.after[0], r.after[1]
    );
    println!(
        "L-BFGS: loss {:.4} → {:.4} in {} iterations, {} evaluations, {:.2} s ({})",
        r.loss.0,
        r.loss.1,
        r.iterations,
        r.evaluations,
        r.time.as_secs_f64(),
        r.stop
    );
    for p in &r.pictures {
        println!("wrote {}", p.display());
    }
}
