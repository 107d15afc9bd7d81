//! Runs `examples/holography.rs` at 64 × 64: both methods must converge from the random start
//! (relative intensity error about 1) and L-BFGS must end clearly below Gerchberg–Saxton in the
//! error they share.

#![allow(dead_code)]

#[path = "../examples/holography.rs"]
mod holography;

use holography::{run, Config};
mod common;
use common::files::{assert_pictures, TempDir};

#[test]
fn the_small_hologram_converges_and_lbfgs_beats_gerchberg_saxton() {
    let cfg = Config::small();
    let dir = TempDir::new("wirtinger-example-holography");
    let r = run(&cfg, Some(&dir.0));
    eprintln!("{r:#?}");
    // A random phase spreads the power evenly: E ≈ 1.
    assert!(r.initial_error > 0.9, "{r:#?}");
    // Measured at 64 × 64: Gerchberg–Saxton 0.164, L-BFGS 0.121.
    assert!(
        r.gs_error < 0.25,
        "Gerchberg–Saxton did not converge: {r:#?}"
    );
    assert!(r.lbfgs_error < 0.15, "L-BFGS did not converge: {r:#?}");
    assert!(
        r.lbfgs_error < 0.85 * r.gs_error,
        "L-BFGS is not clearly below Gerchberg–Saxton: {r:#?}"
    );
    assert_eq!(r.gs_iterations, cfg.gs_iterations);
    assert!(r.lbfgs_evaluations >= r.lbfgs_iterations);
    // 64 × 64 fields are enlarged 4× by the picture module; plots are 960 × 600.
    let f = (256, 256);
    assert_pictures(
        &r.pictures,
        &dir.0,
        &[
            ("target.png", f.0, f.1),
            ("gerchberg_saxton.png", f.0, f.1),
            ("lbfgs.png", f.0, f.1),
            ("lbfgs_phase.png", f.0, f.1),
            ("error.png", 960, 600),
        ],
    );
}
