//! `examples/ground_state.rs` at its small size: the harmonic-oscillator energy, the Thomas–Fermi
//! comparison in 1-D and 2-D, the virial theorem, and the pictures.

#![allow(dead_code)]

#[path = "../examples/ground_state.rs"]
mod ground_state;

use ground_state::{run, Config, Figures};
use std::time::Instant;

/// The checks every converged ground state passes: normalized, an eigenstate of its
/// Gross–Pitaevskii operator, the virial theorem, a uniform phase.
fn assert_converged(name: &str, f: &Figures) {
    eprintln!("{name}: {f:?}");
    assert!(
        (f.final_norm - 1.0).abs() < 1e-6,
        "{name}: the norm penalty should leave 𝒩 = 1, got {}",
        f.final_norm
    );
    assert!(f.residual < 1e-4, "{name}: residual {}", f.residual);
    assert!(
        f.virial.abs() < 1e-6 * f.energy.max(1.0),
        "{name}: virial {}",
        f.virial
    );
    assert!(
        f.phase_spread < 1e-4,
        "{name}: phase spread {}",
        f.phase_spread
    );
    assert!(
        (f.energy - (f.kinetic + f.potential + f.interaction)).abs() < 1e-12 * f.energy,
        "{name}: parts do not add up"
    );
}

#[test]
fn the_small_ground_state_example_converges_and_matches_the_known_energies() {
    let cfg = Config::small();
    let dir = std::env::temp_dir().join(format!("wirtinger-ground-state-{}", std::process::id()));
    let t0 = Instant::now();
    let r = run(&cfg, Some(&dir));
    eprintln!(
        "small ground_state run: {:.2} s",
        t0.elapsed().as_secs_f64()
    );

    // g = 0: the harmonic-oscillator ground state, E = ω/2.
    assert_converged("g = 0", &r.free);
    assert!(r.free_error < 1e-6, "|E − 0.5| = {}", r.free_error);
    assert!((r.free.kinetic - 0.25).abs() < 1e-6 && (r.free.potential - 0.25).abs() < 1e-6);

    // g > 0: the Thomas–Fermi formulas agree with their own quadrature, and the ground state lies
    // just above them (kinetic energy of the cloud's edge): within 1 % at g = 200.
    assert_converged("1-D, g > 0", &r.interacting);
    assert!((r.tf.quadrature_norm - 1.0).abs() < 1e-6);
    assert!((r.tf.quadrature_energy / r.tf.energy - 1.0).abs() < 1e-6);
    let ratio = r.interacting.energy / r.tf.energy;
    assert!((1.0..1.01).contains(&ratio), "E/E_TF = {ratio}");
    let mu_ratio = r.interacting.mu / r.tf.mu;
    assert!((1.0..1.01).contains(&mu_ratio), "μ/μ_TF = {mu_ratio}");

    // Imaginary-time steps do not get as far as L-BFGS.
    let (gap, _) = r.gd_gap.expect("the small config runs gradient descent");
    assert!(gap > 0.0, "gradient descent below L-BFGS by {gap}");

    // 2-D, within 3 % of Thomas–Fermi at g = 500.
    let (plane, tf) = (r.plane.as_ref().unwrap(), r.plane_tf.as_ref().unwrap());
    assert_converged("2-D", plane);
    assert!((tf.quadrature_norm - 1.0).abs() < 1e-6);
    let ratio = plane.energy / tf.energy;
    assert!((1.0..1.03).contains(&ratio), "2-D E/E_TF = {ratio}");

    // The pictures: PNG files in the directory.
    assert!(!r.pictures.is_empty());
    for p in &r.pictures {
        assert!(
            p.starts_with(&dir),
            "{} outside {}",
            p.display(),
            dir.display()
        );
        let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is not a PNG",
            p.display()
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
