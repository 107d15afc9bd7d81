//! Temporary directories and PNG checks for the tests that run the examples.

use std::path::{Path, PathBuf};

/// A fresh directory under the system temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
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
pub fn assert_pictures(written: &[PathBuf], dir: &Path, names: &[(&str, u32, u32)]) {
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
