//! Runs `examples/holography.rs` at 64 × 64: both methods must converge from the random start
//! (relative intensity error about 1) and L-BFGS must end clearly below Gerchberg–Saxton in the
//! error they share.

#![allow(dead_code)]

#[path = "../examples/holography.rs"]
mod holography;

use holography::{run, Config};
use std::path::{Path, PathBuf};

/// A fresh directory under the system temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Asserts that each of `names` was written into `dir` as a PNG file of `width`×`height` pixels
/// and that nothing else was reported.
fn assert_pictures(written: &[PathBuf], dir: &Path, names: &[(&str, u32, u32)]) {
    let expected: Vec<PathBuf> = names.iter().map(|(n, ..)| dir.join(n)).collect();
    assert_eq!(written, &expected[..]);
    for (path, &(_, width, height)) in written.iter().zip(names) {
        let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let reader = png::Decoder::new(file).read_info().unwrap();
        let info = reader.info();
        assert_eq!(
            (info.width, info.height),
            (width, height),
            "{}",
            path.display()
        );
    }
}

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
