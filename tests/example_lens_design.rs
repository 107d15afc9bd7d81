//! Runs `examples/lens_design.rs` at 64 × 64: the optimized mask must move most of the power
//! into the two spots, in balance, from a small fraction with the bare aperture.

#![allow(dead_code)]

#[path = "../examples/lens_design.rs"]
mod lens_design;

use lens_design::{run, Config};
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
