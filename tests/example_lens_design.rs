//! Runs `examples/lens_design.rs` at 64 × 64: the optimized mask must move most of the power
//! into the two spots, in balance, from a small fraction with the bare aperture.

#![allow(dead_code)]

#[path = "../examples/lens_design.rs"]
mod lens_design;

use lens_design::{run, Config};
mod common;
use common::files::{assert_pictures, TempDir};

#[test]
fn the_small_lens_focuses_onto_both_spots() {
    let cfg = Config::small();
    let dir = TempDir::new("wirtinger-example-lens_design");
    let r = run(&cfg, Some(&dir.0));
    eprintln!("{r:#?}");
    let (before, after) = r.total();
    // Measured at 64 × 64: 0.18 (0.094 + 0.086) before, 0.84 (0.422 + 0.420) after.
    assert!(before < 0.25, "{r:#?}");
    assert!(after > 0.75, "{r:#?}");
    for k in 0..2 {
        assert!(r.after[k] > 0.35, "spot {} gets too little: {r:#?}", k + 1);
    }
    assert!(r.loss.1 < r.loss.0 - 0.5);
    // The central 32 × 32 of the fields, enlarged 8× by the picture module; the plot is 960 × 600.
    assert_pictures(
        &r.pictures,
        &dir.0,
        &[
            ("mask.png", 256, 256),
            ("intensity_before.png", 256, 256),
            ("intensity_after.png", 256, 256),
            ("power.png", 960, 600),
        ],
    );
}
