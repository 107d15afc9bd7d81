//! Pictures for the examples: false-colour images of real fields, domain-coloured complex fields
//! and line plots, written as PNG files.
//!
//! An example uses this module with a plain `mod support;` (it lives in `examples/support/`, a
//! directory without `main.rs`, so cargo does not build it as an example of its own). A test can
//! load it with `#[path = "../examples/support/mod.rs"] mod support;`, or load a whole example
//! with `#[path = "../examples/holography.rs"] mod holography;`: a file loaded through `#[path]`
//! looks for its own submodules beside itself, so the example's plain `mod support;` still
//! finds this file. Such a test puts `#[allow(dead_code)]` on that `mod` (the example's `main`
//! is unused there). It should load one example and nothing else of `examples/`: every further
//! load (a second example, or this file directly) compiles this file once more, which clippy
//! denies as `duplicate_mod` unless the test says `#![allow(clippy::duplicate_mod)]`.
//!
//! Everything is pure Rust: [`png`] encodes, `plotters` draws plots into an in-memory buffer, and
//! text is set in the subset of DejaVu Sans shipped in `fonts/` (no system fonts, no C library).
//!
//! | what | function | picture |
//! | --- | --- | --- |
//! | where pictures go | [`output_dir`] | `<target>/wirtinger-examples/<name>/` |
//! | real field, scaled min..max | [`save_image`] | one colour per value, through a [`Colormap`] |
//! | real field, fixed range | [`save_image_range`] | the same, `lo..hi` fixed (e.g. a series of frames) |
//! | phase field | [`save_phase`] | cyclic colours, `-π..π` wrapped |
//! | complex field | [`save_complex`] | hue = phase, brightness = amplitude |
//! | line plot | [`save_plot`] | axes, ticks, labels, legend; optional log *y* |
//!
//! Fields are row-major (`values[row * width + col]`), row 0 at the top of the picture. Fields
//! whose longer side is under [`MIN_IMAGE_SIDE`] pixels are enlarged by the integer factor
//! [`upscale_factor`] (each value becomes a square block), so a 64×64 field is written as
//! 256×256 pixels.
//!
//! # Bad data
//!
//! Nothing here panics on bad values. In images, NaN and ±∞ are left out of the min..max range
//! and drawn in a colour the colour map never produces ([`Colormap::bad_color`]; white in
//! [`save_complex`]). In plots, points with a non-finite coordinate (and, with a log *y* axis,
//! points with *y* ≤ 0) are skipped and the line is broken there. Wrong sizes, a bad range and
//! files that cannot be written come back as [`std::io::Error`]s.

// Each example uses only part of this module.
#![allow(dead_code)]

use std::f64::consts::PI;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use num_complex::Complex64;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, KeyPointWeight, Ranged};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Creates (if needed) and returns the directory for the pictures of the example `name`:
/// `<target>/wirtinger-examples/<name>/`.
///
/// `<target>` is `$CARGO_TARGET_DIR` when that variable is set when the example runs (a relative
/// value is taken relative to the current directory, as cargo does), and otherwise `target/` in
/// the crate root (`CARGO_MANIFEST_DIR`, fixed at compile time). So the pictures land next to the
/// build output, which git ignores.
///
/// `name` must be one plain path component (no `/`, `..` or empty name); anything else is an
/// [`io::ErrorKind::InvalidInput`] error.
pub fn output_dir(name: &str) -> io::Result<PathBuf> {
    let mut components = Path::new(name).components();
    if !matches!(
        (components.next(), components.next()),
        (Some(Component::Normal(_)), None)
    ) {
        return Err(invalid(format!(
            "output_dir: {name:?} is not a single directory name"
        )));
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    };
    let dir = target.join("wirtinger-examples").join(name);
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A colour map: how a number in `0..=1` becomes a colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colormap {
    /// Black (0) to white (1).
    Gray,
    /// Matplotlib's *inferno*: black, purple, orange, pale yellow. Perceptually uniform; for
    /// intensities.
    Inferno,
    /// Matplotlib's *viridis*: dark blue, green, yellow. Perceptually uniform.
    Viridis,
    /// A cyclic hue wheel (the "sinebow": red, yellow, green, cyan, blue, magenta, red) whose
    /// channels add up to the same brightness everywhere; for phases. Values wrap around instead
    /// of being clamped, so 0 and 1 (and 1.25 and 0.25) are the same colour.
    Phase,
}

impl Colormap {
    /// The colour of `t`: `t` in `0..=1` spans the map; outside it is clamped, or wrapped for the
    /// cyclic [`Colormap::Phase`]. A non-finite `t` gives [`Colormap::bad_color`].
    pub fn rgb(self, t: f64) -> [u8; 3] {
        if !t.is_finite() {
            return self.bad_color();
        }
        match self {
            Colormap::Gray => {
                let g = to_u8(t);
                [g, g, g]
            }
            Colormap::Inferno => interpolate(&INFERNO, t),
            Colormap::Viridis => interpolate(&VIRIDIS, t),
            Colormap::Phase => sinebow(t).map(to_u8),
        }
    }

    /// The colour for NaN and ±∞, one that the map itself never produces: red for `Gray` and
    /// `Viridis`, cyan for `Inferno`, mid grey for `Phase`.
    pub fn bad_color(self) -> [u8; 3] {
        match self {
            Colormap::Gray | Colormap::Viridis => [255, 0, 0],
            Colormap::Inferno => [0, 255, 255],
            Colormap::Phase => [128, 128, 128],
        }
    }
}

/// Fields whose longer side has fewer pixels than this are enlarged by [`upscale_factor`].
pub const MIN_IMAGE_SIDE: usize = 256;

/// The integer factor by which the image functions enlarge a `width`×`height` field: the
/// smallest that makes the longer side at least [`MIN_IMAGE_SIDE`] pixels, and 1 for fields that
/// are already that large. The written PNG is `width * factor` by `height * factor` pixels.
pub fn upscale_factor(width: usize, height: usize) -> usize {
    MIN_IMAGE_SIDE.div_ceil(width.max(height).max(1))
}

/// Writes the real field `values` (`width`×`height`, row-major, row 0 on top) as a PNG, mapping
/// the smallest finite value to the start of `colormap` and the largest to its end.
///
/// Non-finite values are left out of that range and drawn in [`Colormap::bad_color`]. A field
/// whose finite values are all equal is drawn in the middle colour of the map.
pub fn save_image(
    path: impl AsRef<Path>,
    values: &[f64],
    width: usize,
    height: usize,
    colormap: Colormap,
) -> io::Result<()> {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(None, |range, &v| match range {
            None => Some((v, v)),
            Some((lo, hi)) => Some((f64::min(lo, v), f64::max(hi, v))),
        })
        .unwrap_or((0.0, 0.0));
    save_image_range(path, values, width, height, colormap, lo, hi)
}

/// Like [`save_image`], with the range fixed: `lo` maps to the start of `colormap` and `hi` to
/// its end. Values outside are clamped (wrapped for [`Colormap::Phase`]), so a series of frames
/// can share one scale.
///
/// `lo` and `hi` must be finite with `lo <= hi` (else [`io::ErrorKind::InvalidInput`]); with
/// `lo == hi` every finite value is drawn in the middle colour.
pub fn save_image_range(
    path: impl AsRef<Path>,
    values: &[f64],
    width: usize,
    height: usize,
    colormap: Colormap,
    lo: f64,
    hi: f64,
) -> io::Result<()> {
    check_size(values.len(), width, height)?;
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Err(invalid(format!(
            "save_image_range: the range {lo}..{hi} is not a finite, increasing range"
        )));
    }
    let span = hi - lo;
    let pixels: Vec<[u8; 3]> = values
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                colormap.bad_color()
            } else if span > 0.0 {
                colormap.rgb((v - lo) / span)
            } else {
                colormap.rgb(0.5)
            }
        })
        .collect();
    write_field_png(path.as_ref(), &pixels, width, height)
}

/// Writes a field of phases (in radians) with the cyclic [`Colormap::Phase`]: `-π..π` spans the
/// hue wheel once and any other angle wraps to the same colour as its value modulo 2π.
pub fn save_phase(
    path: impl AsRef<Path>,
    phases: &[f64],
    width: usize,
    height: usize,
) -> io::Result<()> {
    save_image_range(path, phases, width, height, Colormap::Phase, -PI, PI)
}

/// Writes a complex field by domain colouring: the hue is the phase (the [`Colormap::Phase`]
/// wheel, red at phase 0, yellow at π/3, …) and the brightness is the amplitude, linear from
/// black at 0 to full colour at the largest finite amplitude in the field.
///
/// Entries with a non-finite part are drawn white (a colour the scheme never produces otherwise)
/// and left out of the largest amplitude. An all-zero field is black.
pub fn save_complex(
    path: impl AsRef<Path>,
    field: &[Complex64],
    width: usize,
    height: usize,
) -> io::Result<()> {
    check_size(field.len(), width, height)?;
    let finite = |z: &&Complex64| z.re.is_finite() && z.im.is_finite();
    let max = field
        .iter()
        .filter(finite)
        .map(|z| z.norm())
        .filter(|a| a.is_finite())
        .fold(0.0, f64::max);
    let pixels: Vec<[u8; 3]> = field
        .iter()
        .map(|z| {
            if !finite(&z) {
                return [255, 255, 255];
            }
            let brightness = if max > 0.0 { z.norm() / max } else { 0.0 };
            sinebow(z.arg() / (2.0 * PI)).map(|c| to_u8(c * brightness))
        })
        .collect();
    write_field_png(path.as_ref(), &pixels, width, height)
}

/// One line of a [`Plot`]: its legend label and its `(x, y)` points, joined in the given order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The legend entry; an empty label leaves the series out of the legend.
    pub label: String,
    /// The points. Non-finite ones (and, on a log *y* axis, those with *y* ≤ 0) are skipped and
    /// break the line; a point left alone between two gaps is drawn as a dot.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series from its label and points.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            label: label.into(),
            points,
        }
    }

    /// A series of values against their index 0, 1, 2, … (e.g. a loss against the iteration).
    pub fn from_values(label: impl Into<String>, values: &[f64]) -> Self {
        let points = values
            .iter()
            .enumerate()
            .map(|(i, &y)| (i as f64, y))
            .collect();
        Series::new(label, points)
    }
}

/// A line plot for [`save_plot`]: [`PLOT_WIDTH`]×[`PLOT_HEIGHT`] pixels, white background, a
/// title, labelled axes with ticks and a light grid, one colour per series (cycling through ten)
/// and a legend in the corner where it hides the least of the lines (upper right if all are
/// free).
///
/// The axes span the plotted points: *x* exactly, *y* with a 5 % margin (in decades on a log
/// axis).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plot {
    /// Drawn above the plot.
    pub title: String,
    /// Below the *x* axis.
    pub x_label: String,
    /// Beside the *y* axis, turned by 90°.
    pub y_label: String,
    /// A logarithmic *y* axis (decades labelled 10ⁿ), e.g. for a loss against the iteration.
    pub log_y: bool,
    /// The lines, drawn in order (later ones on top).
    pub series: Vec<Series>,
}

impl Plot {
    /// A plot with a title and axis labels, a linear *y* axis and no series yet.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Plot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Plot::default()
        }
    }
}

/// Width of the pictures written by [`save_plot`], in pixels.
pub const PLOT_WIDTH: usize = 960;
/// Height of the pictures written by [`save_plot`], in pixels.
pub const PLOT_HEIGHT: usize = 600;

/// Draws `plot` (see [`Plot`]) and writes it as a PNG of [`PLOT_WIDTH`]×[`PLOT_HEIGHT`] pixels.
///
/// Bad points are skipped, not errors; a plot without a single drawable point still gets its
/// title, axes and legend. Drawing errors from `plotters` come back as [`io::Error`]s with a
/// message.
pub fn save_plot(path: impl AsRef<Path>, plot: &Plot) -> io::Result<()> {
    let mut rgb = vec![255; PLOT_WIDTH * PLOT_HEIGHT * 3];
    draw_plot(&mut rgb, plot).map_err(|e| {
        io::Error::other(format!("save_plot: drawing {:?} failed: {e}", plot.title))
    })?;
    write_png(path.as_ref(), &rgb, PLOT_WIDTH, PLOT_HEIGHT)
}

// ---------------------------------------------------------------------------------------------
// Images.

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn check_size(len: usize, width: usize, height: usize) -> io::Result<()> {
    if width == 0 || height == 0 || width.checked_mul(height) != Some(len) {
        return Err(invalid(format!(
            "a {width}×{height} picture needs {width}·{height} values, got {len}"
        )));
    }
    Ok(())
}

/// Enlarges the field by [`upscale_factor`] and writes it.
fn write_field_png(path: &Path, pixels: &[[u8; 3]], width: usize, height: usize) -> io::Result<()> {
    let factor = upscale_factor(width, height);
    let (out_width, out_height) = match (width.checked_mul(factor), height.checked_mul(factor)) {
        (Some(w), Some(h)) if w.checked_mul(h).and_then(|n| n.checked_mul(3)).is_some() => (w, h),
        _ => return Err(invalid(format!("a {width}×{height} picture is too large"))),
    };
    let mut rgb = Vec::with_capacity(out_width * out_height * 3);
    for row in pixels.chunks_exact(width) {
        let start = rgb.len();
        for pixel in row {
            for _ in 0..factor {
                rgb.extend_from_slice(pixel);
            }
        }
        for _ in 1..factor {
            rgb.extend_from_within(start..start + out_width * 3);
        }
    }
    write_png(path, &rgb, out_width, out_height)
}

/// Encodes 8-bit RGB pixels (row-major, 3 bytes each) as a PNG file.
fn write_png(path: &Path, rgb: &[u8], width: usize, height: usize) -> io::Result<()> {
    let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
        return Err(invalid(format!(
            "a {width}×{height} picture is too large for PNG"
        )));
    };
    let png_error = |e: png::EncodingError| match e {
        png::EncodingError::IoError(e) => e,
        e => io::Error::other(format!("PNG encoding failed: {e}")),
    };
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(png_error)?;
    writer.write_image_data(rgb).map_err(png_error)?;
    writer.finish().map_err(png_error)?;
    fs::write(path, bytes)
}

fn to_u8(t: f64) -> u8 {
    // `as` saturates, and NaN (which callers filter out) would become 0.
    (t.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// The sinebow hue wheel at `t` (period 1): red at 0, yellow at 1/6, green at 1/3, …; the three
/// channels (in `0..=1`) always add up to 3/2.
fn sinebow(t: f64) -> [f64; 3] {
    let t = t.rem_euclid(1.0);
    let channel = |shift: f64| (PI * (t + 0.5 - shift)).sin().powi(2);
    [channel(0.0), channel(1.0 / 3.0), channel(2.0 / 3.0)]
}

/// Linear interpolation in a table of colours spread evenly over `0..=1`.
fn interpolate(table: &[[u8; 3]], t: f64) -> [u8; 3] {
    let x = t.clamp(0.0, 1.0) * (table.len() - 1) as f64;
    let i = (x.floor() as usize).min(table.len() - 2);
    let f = x - i as f64;
    let (a, b) = (table[i], table[i + 1]);
    [0, 1, 2].map(|c| (f64::from(a[c]) + f * (f64::from(b[c]) - f64::from(a[c]))).round() as u8)
}

/// Matplotlib's inferno (CC0, by Nathaniel J. Smith and Stéfan van der Walt) sampled at 33 evenly
/// spaced points; linear interpolation between them is within 1.5/255 of the full 256-entry map.
const INFERNO: [[u8; 3]; 33] = [
    [0, 0, 4],
    [4, 3, 18],
    [11, 7, 36],
    [21, 11, 55],
    [33, 12, 74],
    [47, 10, 91],
    [61, 9, 101],
    [74, 12, 107],
    [87, 16, 110],
    [100, 21, 110],
    [113, 25, 110],
    [125, 30, 109],
    [138, 34, 106],
    [151, 39, 102],
    [163, 44, 97],
    [176, 49, 91],
    [188, 55, 84],
    [198, 61, 77],
    [208, 69, 69],
    [218, 78, 60],
    [227, 89, 51],
    [235, 100, 41],
    [241, 113, 31],
    [246, 126, 20],
    [249, 140, 10],
    [251, 155, 6],
    [252, 170, 15],
    [251, 186, 31],
    [249, 201, 50],
    [245, 217, 73],
    [242, 232, 101],
    [243, 245, 134],
    [252, 255, 164],
];

/// Matplotlib's viridis (CC0, by Nathaniel J. Smith, Stéfan van der Walt and Eric Firing) sampled
/// at 33 evenly spaced points; linear interpolation is within 2/255 of the full map.
const VIRIDIS: [[u8; 3]; 33] = [
    [68, 1, 84],
    [71, 13, 96],
    [72, 24, 106],
    [72, 35, 116],
    [71, 45, 123],
    [69, 55, 129],
    [66, 64, 134],
    [62, 73, 137],
    [59, 82, 139],
    [55, 91, 141],
    [51, 99, 141],
    [47, 107, 142],
    [44, 114, 142],
    [41, 122, 142],
    [38, 130, 142],
    [35, 137, 142],
    [33, 145, 140],
    [31, 151, 139],
    [31, 159, 136],
    [33, 166, 133],
    [39, 173, 129],
    [49, 181, 123],
    [61, 188, 116],
    [76, 194, 108],
    [92, 200, 99],
    [110, 206, 88],
    [129, 211, 77],
    [149, 216, 64],
    [170, 220, 50],
    [192, 223, 37],
    [213, 226, 26],
    [234, 229, 26],
    [253, 231, 37],
];

// ---------------------------------------------------------------------------------------------
// Plots.

/// The family name under which the shipped font is registered with plotters.
const FONT: &str = "sans-serif";
static FONT_DATA: &[u8] = include_bytes!("fonts/DejaVuSans-subset.ttf");

/// Registers the shipped font with plotters' `ab_glyph` text backend, once per process.
fn register_font() -> io::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_DATA).is_ok());
    if ok {
        Ok(())
    } else {
        Err(io::Error::other("the shipped font could not be loaded"))
    }
}

/// Matplotlib's "tab10" colours, cycled through by the series.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// How many labelled ticks an axis gets at most.
const MAX_TICKS: usize = 8;

type DrawResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn draw_plot(rgb: &mut [u8], plot: &Plot) -> DrawResult {
    register_font()?;
    // Each series as runs of drawable points, split where points were skipped.
    let runs: Vec<Vec<Vec<(f64, f64)>>> = plot
        .series
        .iter()
        .map(|s| drawable_runs(&s.points, plot.log_y))
        .collect();
    let points = || runs.iter().flatten().flatten();
    let x_axis = Axis::new(span(points().map(|p| p.0)), 0.0, false);
    let y_axis = Axis::new(span(points().map(|p| p.1)), 0.05, plot.log_y);

    let size = (PLOT_WIDTH as u32, PLOT_HEIGHT as u32);
    let root = BitMapBackend::with_buffer(rgb, size).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&plot.title, (FONT, 26))
        .margin(14)
        .margin_right(34)
        .x_label_area_size(58)
        .y_label_area_size(92)
        .build_cartesian_2d(x_axis.clone(), y_axis.clone())?;
    let x_format = |v: &f64| x_axis.format(*v);
    let y_format = |v: &f64| y_axis.format(*v);
    chart
        .configure_mesh()
        .x_labels(MAX_TICKS)
        .y_labels(MAX_TICKS)
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .x_desc(plot.x_label.as_str())
        .y_desc(plot.y_label.as_str())
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 19))
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(240, 240, 240))
        .axis_style(BLACK)
        .draw()?;

    for (i, (series, runs)) in plot.series.iter().zip(&runs).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let line = color.stroke_width(2);
        for run in runs {
            if let [point] = run[..] {
                chart.draw_series(std::iter::once(Circle::new(point, 3, color.filled())))?;
            } else {
                chart.draw_series(LineSeries::new(run.iter().copied(), line))?;
            }
        }
        if !series.label.is_empty() {
            // An empty series that only carries the legend entry.
            chart
                .draw_series(LineSeries::new(std::iter::empty::<(f64, f64)>(), line))?
                .label(series.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 28, y)], line));
        }
    }
    if plot.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .position(legend_position(plot, &runs, &x_axis, &y_axis))
            .margin(12)
            .legend_area_size(36)
            .label_font((FONT, 17))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(160, 160, 160))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// The corner for the legend that hides the least of the lines: the upper right one unless
/// another one covers fewer points (counting a few points along each segment as well).
fn legend_position(
    plot: &Plot,
    runs: &[Vec<Vec<(f64, f64)>>],
    x_axis: &Axis,
    y_axis: &Axis,
) -> SeriesLabelPosition {
    // The legend's size as a fraction of the plotting area (about 820×480 pixels).
    let labels = plot.series.iter().filter(|s| !s.label.is_empty());
    let longest = labels.clone().map(|s| s.label.chars().count()).max();
    let width = (70.0 + 9.5 * longest.unwrap_or(0) as f64) / 820.0;
    let height = (24.0 + 22.0 * labels.count() as f64) / 480.0;
    let corners = [
        (SeriesLabelPosition::UpperRight, 1.0 - width, 1.0 - height),
        (SeriesLabelPosition::UpperLeft, 0.0, 1.0 - height),
        (SeriesLabelPosition::LowerRight, 1.0 - width, 0.0),
        (SeriesLabelPosition::LowerLeft, 0.0, 0.0),
    ];
    let mut covered = [0usize; 4];
    // Counts a point given as fractions of the axes (lines are straight in those).
    let mut count = |(fx, fy): (f64, f64)| {
        for (n, &(_, x0, y0)) in covered.iter_mut().zip(&corners) {
            if (x0..=x0 + width).contains(&fx) && (y0..=y0 + height).contains(&fy) {
                *n += 1;
            }
        }
    };
    let fractions = |&(x, y): &(f64, f64)| (x_axis.fraction(x), y_axis.fraction(y));
    for run in runs.iter().flatten() {
        count(fractions(&run[0]));
        for pair in run.windows(2) {
            let ((x0, y0), (x1, y1)) = (fractions(&pair[0]), fractions(&pair[1]));
            for k in 1..=8 {
                let t = f64::from(k) / 8.0;
                count((x0 + t * (x1 - x0), y0 + t * (y1 - y0)));
            }
        }
    }
    let best = (0..4).min_by_key(|&i| covered[i]).unwrap_or(0);
    corners
        .into_iter()
        .nth(best)
        .map_or(SeriesLabelPosition::UpperRight, |c| c.0)
}

/// Splits `points` into runs of drawable points: finite, and with `y > 0` on a log axis.
fn drawable_runs(points: &[(f64, f64)], log_y: bool) -> Vec<Vec<(f64, f64)>> {
    let drawable = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!log_y || y > 0.0);
    points
        .split(|p| !drawable(p))
        .filter(|run| !run.is_empty())
        .map(<[_]>::to_vec)
        .collect()
}

/// The smallest and largest value, or `None` for no values.
fn span(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |range, v| match range {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// How the tick labels of an [`Axis`] are written.
#[derive(Clone, Copy, Debug)]
enum LabelStyle {
    /// Fixed point with as many decimals as the tick step needs, or scientific notation
    /// (`2.5e-7`) for an axis whose values are all tiny or huge.
    Step { step: f64, scientific: bool },
    /// Powers of ten, written 10ⁿ.
    Decades,
    /// 1, 2 and 5 times powers of ten, each written with its own magnitude.
    Mantissas,
}

/// A linear or logarithmic plot axis with its own tick choice (nice 1-2-5 steps, decades on a log
/// axis, also when it spans less than a decade) and tick labels.
#[derive(Clone, Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    major: Vec<f64>,
    minor: Vec<f64>,
    labels: LabelStyle,
}

impl Axis {
    /// An axis over `range` (a default one if `None`) widened by `margin` of its length on each
    /// side (in decades on a log axis, whose range must be positive).
    fn new(range: Option<(f64, f64)>, margin: f64, log: bool) -> Axis {
        let to_axis = |v: f64| if log { v.log10() } else { v };
        let from_axis = |v: f64| if log { 10f64.powf(v) } else { v };
        let (mut lo, mut hi) = match range {
            Some((lo, hi)) => (to_axis(lo), to_axis(hi)),
            None => (0.0, 1.0),
        };
        if lo == hi {
            let half = if log || lo == 0.0 {
                0.5
            } else {
                0.1 * lo.abs()
            };
            (lo, hi) = (lo - half, hi + half);
        }
        let pad = margin * (hi - lo);
        let (lo, hi) = (from_axis(lo - pad), from_axis(hi + pad));
        let (major, minor, labels) = if log {
            log_ticks(lo, hi)
        } else {
            linear_ticks(lo, hi)
        };
        Axis {
            lo,
            hi,
            log,
            major,
            minor,
            labels,
        }
    }

    /// Where `v` lies on the axis: 0 at its start, 1 at its end.
    fn fraction(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    fn format(&self, v: f64) -> String {
        match self.labels {
            LabelStyle::Step { step, scientific } => format_number(v, step, scientific),
            LabelStyle::Decades => format!("10{}", superscript(v.log10().round() as i64)),
            LabelStyle::Mantissas => {
                let magnitude = 10f64.powf(v.log10().floor());
                format_number(v, magnitude, !(1e-3..1e5).contains(&v))
            }
        }
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = self.fraction(*value).clamp(-10.0, 10.0);
        // `as` saturates, and a NaN fraction (never for drawable points) becomes 0.
        (f64::from(limit.0) + fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match hint.weight() {
            KeyPointWeight::Bold => self.major.clone(),
            KeyPointWeight::Any => self.minor.clone(),
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// The nice step (1, 2 or 5 times a power of ten) that puts at most [`MAX_TICKS`] ticks on a
/// range of length `length`.
fn nice_step(length: f64) -> f64 {
    let raw = length / (MAX_TICKS - 1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&step| step >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * power)
}

/// The multiples of `step` in `lo..=hi` (at most a few hundred), with values next to zero set to
/// exactly zero.
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil();
    let last = (hi / step + 1e-9).floor();
    if !(first.is_finite() && last.is_finite()) || last - first > 500.0 {
        return Vec::new();
    }
    (0..=(last - first) as i64)
        .map(|i| (first + i as f64) * step)
        .map(|v| if v.abs() < 1e-9 * step { 0.0 } else { v })
        .collect()
}

fn linear_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>, LabelStyle) {
    let step = nice_step(hi - lo);
    let mantissa = (step / 10f64.powf(step.log10().floor())).round();
    let minor_step = step / if mantissa == 2.0 { 4.0 } else { 5.0 };
    let magnitude = lo.abs().max(hi.abs());
    let scientific = !(1e-3..1e5).contains(&magnitude) || step < 1e-4;
    (
        multiples(lo, hi, step),
        multiples(lo, hi, minor_step),
        LabelStyle::Step { step, scientific },
    )
}

fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>, LabelStyle) {
    let (l0, l1) = (lo.log10(), hi.log10());
    let decades = multiples(l0, l1, 1.0);
    if decades.len() >= 2 {
        // Every `every`-th decade labelled, the others (or 2..9 within each decade) light.
        let every = decades.len().div_ceil(MAX_TICKS).max(1) as f64;
        let major = multiples(l0, l1, every);
        let minor: Vec<f64> = if every > 1.0 {
            decades.clone()
        } else {
            multiples(l0.floor(), l1.ceil(), 1.0)
                .into_iter()
                .flat_map(|d| (1..10).map(move |m| f64::from(m) * 10f64.powf(d)))
                .filter(|v| (lo..=hi).contains(v))
                .map(f64::log10)
                .collect()
        };
        let to_values = |v: Vec<f64>| v.into_iter().map(|d| 10f64.powf(d)).collect();
        return (to_values(major), to_values(minor), LabelStyle::Decades);
    }
    // Less than two decades: 1, 2 and 5 times powers of ten, if that gives two ticks or more.
    let mantissas: Vec<f64> = multiples(l0.floor(), l1.ceil(), 1.0)
        .into_iter()
        .flat_map(|d| [1.0, 2.0, 5.0].map(|m| m * 10f64.powf(d)))
        .filter(|v| (lo..=hi).contains(v))
        .collect();
    if mantissas.len() >= 2 {
        let minor = multiples(l0.floor(), l1.ceil(), 1.0)
            .into_iter()
            .flat_map(|d| (1..10).map(move |m| f64::from(m) * 10f64.powf(d)))
            .filter(|v| (lo..=hi).contains(v))
            .collect();
        return (mantissas, minor, LabelStyle::Mantissas);
    }
    // A narrow range: linear ticks.
    linear_ticks(lo, hi)
}

/// `v` as a tick label on an axis with tick step `step`.
fn format_number(v: f64, step: f64, scientific: bool) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let digits = |x: f64| x.abs().log10().floor() as i64;
    if scientific {
        let precision = (digits(v) - digits(step)).clamp(0, 6) as usize;
        // 1.0e6 → 1e6, 2.50e-9 → 2.5e-9.
        let text = format!("{v:.precision$e}");
        match text.split_once('e') {
            Some((mantissa, exponent)) if mantissa.contains('.') => {
                let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
                format!("{mantissa}e{exponent}")
            }
            _ => text,
        }
    } else {
        let decimals = (-digits(step)).clamp(0, 8) as usize;
        format!("{v:.decimals$}")
    }
}

/// `n` in superscript digits, e.g. ⁻¹².
fn superscript(n: i64) -> String {
    n.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            '9' => '⁹',
            other => other,
        })
        .collect()
}
