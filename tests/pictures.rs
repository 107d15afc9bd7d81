//! The picture support of the examples (`examples/support`) writes PNG files that decode to the
//! promised size and show something, and refuses bad sizes and ranges with an error instead of a
//! panic.

#[path = "../examples/support/mod.rs"]
mod support;

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use num_complex::Complex64;
use support::{Colormap, Plot, Series};

/// A fresh directory under the system temporary directory, removed when dropped; or, when the
/// variable `WIRTINGER_KEEP_PICTURES` names a directory, a subdirectory of it that is kept for a
/// look at the pictures.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    fn new(test: &str) -> TempDir {
        let (path, keep) = match std::env::var_os("WIRTINGER_KEEP_PICTURES") {
            Some(dir) => (PathBuf::from(dir).join(test), true),
            None => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let name = format!("wirtinger-pictures-{test}-{}-{nanos}", std::process::id());
                (std::env::temp_dir().join(name), false)
            }
        };
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path, keep }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Decodes an 8-bit RGB PNG: its width, height and pixels.
fn read_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// Asserts that the PNG at `path` is `width`×`height` and returns its pixels, after checking
/// that it is not one flat colour.
fn assert_picture(path: &Path, width: u32, height: u32) -> Vec<[u8; 3]> {
    let (w, h, pixels) = read_png(path);
    assert_eq!((w, h), (width, height), "{}", path.display());
    assert_eq!(pixels.len(), (w * h) as usize);
    let mut colours = pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 10,
        "{} has only {} colours",
        path.display(),
        colours.len()
    );
    pixels
}

/// A 64×48 test field: a Gaussian bump times a plane wave.
fn field(width: usize, height: usize) -> Vec<Complex64> {
    (0..width * height)
        .map(|i| {
            let x = (i % width) as f64 / width as f64 - 0.5;
            let y = (i / width) as f64 / height as f64 - 0.5;
            let envelope = (-(x * x + y * y) / 0.05).exp();
            Complex64::from_polar(envelope, 2.0 * PI * (3.0 * x + 2.0 * y))
        })
        .collect()
}

#[test]
fn images_are_enlarged_and_coloured() {
    let dir = TempDir::new("images");
    let (w, h) = (64, 48);
    let field = field(w, h);
    let intensity: Vec<f64> = field.iter().map(|z| z.norm_sqr()).collect();
    let phase: Vec<f64> = field.iter().map(|z| z.arg()).collect();
    assert_eq!(support::upscale_factor(w, h), 4);
    let (pw, ph) = (4 * w as u32, 4 * h as u32);

    for (name, map) in [
        ("gray.png", Colormap::Gray),
        ("inferno.png", Colormap::Inferno),
        ("viridis.png", Colormap::Viridis),
        ("phase-map.png", Colormap::Phase),
    ] {
        support::save_image(dir.file(name), &intensity, w, h, map).unwrap();
        let pixels = assert_picture(&dir.file(name), pw, ph);
        // Row-major with row 0 on top, each value a 4×4 block: the top-left corner has the
        // smallest intensity's colour only if the scaling is min..max.
        let corner = intensity[0];
        let min = intensity.iter().copied().fold(f64::INFINITY, f64::min);
        let max = intensity.iter().copied().fold(0.0, f64::max);
        let expected = map.rgb((corner - min) / (max - min));
        assert_eq!(pixels[0], expected, "{name}");
        assert_eq!(pixels[3], expected, "{name}");
        assert_eq!(pixels[3 * pw as usize], expected, "{name}");
    }

    support::save_image_range(
        dir.file("fixed.png"),
        &intensity,
        w,
        h,
        Colormap::Inferno,
        0.0,
        2.0,
    )
    .unwrap();
    let pixels = assert_picture(&dir.file("fixed.png"), pw, ph);
    assert!(pixels.iter().all(|&p| p != Colormap::Inferno.rgb(1.0)));

    support::save_phase(dir.file("phase.png"), &phase, w, h).unwrap();
    assert_picture(&dir.file("phase.png"), pw, ph);
    // The phase map is cyclic: -π and π are one colour, and so are angles 2π apart.
    assert_eq!(Colormap::Phase.rgb(0.0), Colormap::Phase.rgb(1.0));
    assert_eq!(Colormap::Phase.rgb(0.25), Colormap::Phase.rgb(-0.75));

    support::save_complex(dir.file("complex.png"), &field, w, h).unwrap();
    let pixels = assert_picture(&dir.file("complex.png"), pw, ph);
    // The bump's centre is the brightest: full-strength red-yellow-…, its edge nearly black.
    let centre = pixels[(ph as usize / 2) * pw as usize + pw as usize / 2];
    let sum = |p: [u8; 3]| p.iter().map(|&c| u32::from(c)).sum::<u32>();
    assert!(sum(centre) > 300, "{centre:?}");
    assert!(sum(pixels[0]) < 30, "{:?}", pixels[0]);
}

#[test]
fn large_fields_are_not_enlarged() {
    let dir = TempDir::new("large");
    let (w, h) = (300, 20);
    let values: Vec<f64> = (0..w * h).map(|i| (i % w) as f64).collect();
    assert_eq!(support::upscale_factor(w, h), 1);
    support::save_image(dir.file("ramp.png"), &values, w, h, Colormap::Gray).unwrap();
    let pixels = assert_picture(&dir.file("ramp.png"), w as u32, h as u32);
    assert_eq!(pixels[0], [0, 0, 0]);
    assert_eq!(pixels[w - 1], [255, 255, 255]);
}

#[test]
fn bad_values_are_drawn_and_bad_arguments_refused() {
    let dir = TempDir::new("bad");
    let mut values: Vec<f64> = (0..16 * 16).map(f64::from).collect();
    values[0] = f64::NAN;
    values[1] = f64::INFINITY;
    support::save_image(dir.file("nan.png"), &values, 16, 16, Colormap::Viridis).unwrap();
    let pixels = assert_picture(&dir.file("nan.png"), 256, 256);
    assert_eq!(pixels[0], Colormap::Viridis.bad_color());
    assert_eq!(pixels[16], Colormap::Viridis.bad_color());
    // The infinity does not stretch the scale: the largest finite value gets the last colour.
    assert_eq!(*pixels.last().unwrap(), Colormap::Viridis.rgb(1.0));

    let flat = vec![1.5; 4];
    support::save_image(dir.file("flat.png"), &flat, 2, 2, Colormap::Gray).unwrap();
    let mut field = vec![Complex64::new(0.0, 0.0); 4];
    support::save_complex(dir.file("zero.png"), &field, 2, 2).unwrap();
    field[1] = Complex64::new(f64::NAN, 1.0);
    support::save_complex(dir.file("nan-complex.png"), &field, 2, 2).unwrap();
    let (_, _, pixels) = read_png(&dir.file("nan-complex.png"));
    assert_eq!(pixels[0], [0, 0, 0]);
    assert_eq!(pixels[128], [255, 255, 255]);

    let wrong_size = support::save_image(dir.file("x.png"), &flat, 3, 2, Colormap::Gray);
    assert_eq!(
        wrong_size.unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    let empty = support::save_image(dir.file("x.png"), &[], 0, 0, Colormap::Gray);
    assert_eq!(empty.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    let range = support::save_image_range(dir.file("x.png"), &flat, 2, 2, Colormap::Gray, 1.0, 0.0);
    assert_eq!(range.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    let nan_range = support::save_image_range(
        dir.file("x.png"),
        &flat,
        2,
        2,
        Colormap::Gray,
        f64::NAN,
        1.0,
    );
    assert!(nan_range.is_err());
    assert!(!dir.file("x.png").exists());

    let unwritable = dir.file("no-such-dir").join("x.png");
    assert!(support::save_image(&unwritable, &flat, 2, 2, Colormap::Gray).is_err());
    assert!(support::save_plot(&unwritable, &Plot::default()).is_err());

    assert!(support::output_dir("../escape").is_err());
    assert!(support::output_dir("").is_err());
}

#[test]
fn plots_have_axes_lines_and_legend() {
    let dir = TempDir::new("plots");
    let (w, h) = (support::PLOT_WIDTH as u32, support::PLOT_HEIGHT as u32);

    // A loss against the iteration on a log axis, with the bad values a diverging run produces.
    let mut loss: Vec<f64> = (0..200)
        .map(|i| 3.0 * (-f64::from(i) / 25.0).exp() + 1e-4)
        .collect();
    loss[50] = f64::NAN;
    loss[120] = 0.0;
    loss[121] = -1.0;
    let adam: Vec<f64> = loss.iter().map(|l| 0.5 * l).collect();
    let mut plot = Plot::new("Training loss", "iteration", "loss  |ψ − ψ₀|²");
    plot.log_y = true;
    plot.series
        .push(Series::from_values("gradient descent", &loss));
    plot.series.push(Series::from_values("Adam", &adam));
    support::save_plot(dir.file("loss.png"), &plot).unwrap();
    let pixels = assert_picture(&dir.file("loss.png"), w, h);
    // Both series' colours are there (tab10 blue and orange).
    assert!(pixels.contains(&[31, 119, 180]));
    assert!(pixels.contains(&[255, 127, 14]));

    // Profiles against x on a linear axis; an isolated point between gaps.
    let xs: Vec<f64> = (0..=400).map(|i| -5.0 + f64::from(i) / 40.0).collect();
    let density: Vec<(f64, f64)> = xs
        .iter()
        .map(|&x| (x, (-x * x).exp() / PI.sqrt()))
        .collect();
    let potential: Vec<(f64, f64)> = xs
        .iter()
        .map(|&x| {
            (
                x,
                if x.abs() < 4.0 {
                    0.02 * x * x
                } else {
                    f64::INFINITY
                },
            )
        })
        .collect();
    let mut plot = Plot::new("Ground state", "x", "|ψ(x)|², V(x)");
    plot.series.push(Series::new("|ψ|²", density));
    plot.series.push(Series::new("V", potential));
    plot.series.push(Series::new(
        "",
        vec![(0.0, f64::NAN), (1.0, 0.3), (f64::NAN, 0.0)],
    ));
    support::save_plot(dir.file("profile.png"), &plot).unwrap();
    assert_picture(&dir.file("profile.png"), w, h);

    // Nothing drawable at all, tiny and huge values, a single point: still a picture.
    let mut empty = Plot::new("Nothing", "x", "y");
    empty.log_y = true;
    empty
        .series
        .push(Series::new("bad", vec![(f64::NAN, 1.0), (1.0, -2.0)]));
    support::save_plot(dir.file("empty.png"), &empty).unwrap();
    assert_picture(&dir.file("empty.png"), w, h);
    for (name, points, log_y) in [
        ("tiny.png", vec![(0.0, 1e-9), (1.0, 3e-9)], false),
        ("huge.png", vec![(0.0, -2e7), (1e6, 5e7)], false),
        ("narrow-log.png", vec![(0.0, 0.5), (1.0, 0.55)], true),
        ("few-decades.png", vec![(0.0, 0.02), (1.0, 30.0)], true),
        ("many-decades.png", vec![(0.0, 1e-30), (1.0, 1e30)], true),
        ("single.png", vec![(2.0, 2.0)], false),
    ] {
        let mut plot = Plot::new(name, "x", "y");
        plot.log_y = log_y;
        plot.series.push(Series::new("s", points));
        support::save_plot(dir.file(name), &plot).unwrap();
        assert_picture(&dir.file(name), w, h);
    }
}

#[test]
fn output_dir_is_created() {
    let dir = support::output_dir("pictures-test").unwrap();
    assert!(dir.is_dir());
    assert!(dir.ends_with("wirtinger-examples/pictures-test"));
    std::fs::remove_dir(&dir).unwrap();
}
