//! Transforms along a strided axis with no transpose, for `f64` and `f32` lines of a power-of-two
//! length on CPUs with AVX2 and FMA.
//!
//! The general strided pass ([`FftPlans::transform`](super::FftPlans::transform)) gathers lines
//! into a buffer, hands them to rustfft and scatters them back: two transposes' worth of memory
//! traffic on top of the butterflies. Here the butterflies themselves run across columns instead:
//! the lines are the columns of an `n × stride` block, and an element of the transform is a
//! *row segment* of 8 adjacent columns (4 at the edges of the columns at hand), held as AVX2
//! vectors of real parts and of imaginary parts, four columns to a vector. Every butterfly then
//! works on 8 lines at once, with each row segment read as one contiguous run (no element is
//! moved on its own). When every row starts at the same place in a cache line (the number of
//! columns a multiple of four for `f64`, of eight for `f32`), the segments lie on the 64-byte grid
//! of the array written,
//! so that each reads and writes whole cache lines. Where a segment sticks out of the columns at
//! hand (at the edges of a block or of a task), it takes masked loads and stores, which leave the
//! columns outside alone. Every column goes through the same arithmetic, whichever segment or
//! lane it falls in, so the result does not depend on the array's address or on how the columns
//! are split among tasks.
//!
//! The transform is an in-place radix-4 decimation in frequency (with one radix-2 stage first
//! when `log₂ n` is odd) on a buffer of `n` row segments:
//!
//! - the first stage reads its inputs straight from the array (the gather, fused in);
//! - the middle stages work in the buffer; once a group of positions fits in the L1 cache, it
//!   goes through all the remaining stages before the next group starts;
//! - the last stage, which has no twiddles, writes its outputs straight to the array, each to the
//!   row of its frequency (the digit reversal of decimation in frequency costs nothing, since a
//!   row is as cheap to write as any other), scaled by the normalisation if there is one.
//!
//! For `f64`, against the gather, rustfft and scatter it replaces, along axis 0 on one core
//! (medians of ten alternating rounds): 0.84× the time at 256², 0.90× at 1024², with segments
//! wherever the array put them. On the cache-line grid, against that code: 0.74× (256²) and
//! 0.64× (1024²) for arrays 16 bytes past a line, as glibc's malloc places large blocks, and
//! 0.99× (even) and 0.90× for aligned arrays (see BENCHMARKS.md). The twiddles are `cos` and
//! `sin` of `2π jk / span` computed in `f64`, as rustfft computes its own; the results agree with
//! rustfft's to rounding (a few `1e-16` relative for `f64`), not bit for bit.
//!
//! `f32` arrays take the same plans and the same `f64` arithmetic ([`Elem`]): their numbers are
//! widened as the first stage reads them and rounded once as the last stage writes them, so the
//! result is the `f64` transform of the same numbers, rounded, and the memory traffic is half.
//! Along axis 0 on one core (six alternating rounds, 2026-11-27), against the gather, rustfft's
//! `f32` transform and scatter it replaces: 0.70× the time at 256² and 0.81× at 1024², where
//! the whole `f32` `fft2` took 0.79× and 0.95×. (A complex `f32` array need only be 4-byte
//! aligned; one 4 bytes off the 8-byte grid gets a shift that misses the cache lines by 4
//! bytes, which costs time, not correctness. Allocators align large blocks to 16 bytes.)

use super::Direction;
use crate::Complex;
use std::arch::x86_64::*;

/// Lines (columns) per vector: four `f64` in an AVX2 register.
pub(super) const LANES: usize = 4;
/// Vectors per row segment: 8 columns, two cache lines of each row of `f64` (one of `f32`). (On
/// the cache-line grid, along axis 0 on one core, `f64`: against 4 columns, 0.71–0.87× the time
/// at 64² to 256²; against 16, 0.95× at 256² and 0.99–1.01× at 1024² and 2048², where 4 columns
/// took 1.27× the time of 16.)
const WIDE: usize = 2;
/// The columns of a whole row segment: a batch of columns should be a whole number of them.
pub(super) const SEGMENT: usize = LANES * WIDE;
/// The L1 data cache we plan for (48 KiB on recent x86 cores; 32 KiB leaves room for the
/// twiddles and the array's rows).
const L1_BYTES: usize = 32 << 10;
/// `f64` a work buffer may need to skip to reach a 64-byte boundary.
const ALIGN_SLACK: usize = 7;
/// The shortest line transformed here (two stages at least: radix 2, then 4).
const MIN_LEN: usize = 8;

/// Whether lines of length `n` can be transformed here on this CPU.
pub(super) fn applies(n: usize) -> bool {
    n >= MIN_LEN
        && n.is_power_of_two()
        && std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
}

/// One stage of the decimation in frequency: butterflies of `radix` points `span / radix` apart.
struct Stage {
    radix: usize,
    span: usize,
    /// For `j < span / radix`: `w^{j k}`, `k = 1 .. radix`, with `w = exp(∓2πi/span)`.
    twiddles: Vec<Complex<f64>>,
}

/// The plan of a transform of length `n` in one direction.
pub(super) struct ColumnPlan {
    n: usize,
    forward: bool,
    stages: Vec<Stage>,
    /// The row each buffer position holds at the end: its frequency (the digit reversal).
    row_of: Vec<usize>,
}

impl ColumnPlan {
    /// The plan for lines of length `n` (a power of two, at least [`MIN_LEN`]).
    pub(super) fn new(n: usize, dir: Direction) -> Self {
        assert!(n >= MIN_LEN && n.is_power_of_two());
        let sign = match dir {
            Direction::Forward => -1.0,
            Direction::Inverse => 1.0,
        };
        let mut radices = Vec::new();
        if n.trailing_zeros() % 2 == 1 {
            radices.push(2);
        }
        while radices.iter().product::<usize>() < n {
            radices.push(4);
        }
        let mut span = n;
        let mut stages = Vec::new();
        for &radix in &radices {
            let mut twiddles = Vec::with_capacity((radix - 1) * (span / radix));
            for j in 0..span / radix {
                for k in 1..radix {
                    let a = sign * std::f64::consts::TAU * (j * k) as f64 / span as f64;
                    twiddles.push(Complex::new(a.cos(), a.sin()));
                }
            }
            stages.push(Stage {
                radix,
                span,
                twiddles,
            });
            span /= radix;
        }
        // Decimation in frequency leaves the frequency f = k₁ + r₁ k₂ + r₁ r₂ k₃ + … at
        // the position k₁ n/r₁ + k₂ n/(r₁ r₂) + …
        let mut row_of = vec![0; n];
        for f in 0..n {
            let (mut rest, mut pos, mut span) = (f, 0, n);
            for &r in &radices {
                span /= r;
                pos += (rest % r) * span;
                rest /= r;
            }
            row_of[pos] = f;
        }
        ColumnPlan {
            n,
            forward: dir == Direction::Forward,
            stages,
            row_of,
        }
    }

    /// The length in `f64` of the work buffer [`process`](Self::process) needs for `b` columns:
    /// `n` positions of one row segment, and room to start them on a 64-byte boundary.
    pub(super) fn buffer_len(&self, b: usize) -> usize {
        let width = if b >= SEGMENT { SEGMENT } else { LANES };
        2 * self.n * width + ALIGN_SLACK
    }

    /// Transforms the columns `c0 .. c0 + b` of `block`, multiplied by `scale` if there is one.
    ///
    /// # Panics
    ///
    /// If `c0 + b > block.stride`, `block.stride < LANES`, `block.shift` is not below the
    /// complex numbers a cache line holds (4 of `f64`, 8 of `f32`), or `buf` is shorter than
    /// [`buffer_len(b)`](Self::buffer_len).
    ///
    /// # Safety
    ///
    /// [`applies`] must hold for `n`. `block.from` and `block.to` point to arrays of complex
    /// numbers (as interleaved real and imaginary parts of type `E`) holding the whole block;
    /// while this runs, nothing else may write the block's columns `c0 .. c0 + b` of `from`, or
    /// use those of `to`, except that `from` and `to` may be the same array. No other column is
    /// read or written.
    pub(super) unsafe fn process<E: Elem>(
        &self,
        block: Block<E>,
        c0: usize,
        b: usize,
        buf: &mut [f64],
        scale: Option<f64>,
    ) {
        assert!(
            c0 + b <= block.stride
                && block.stride >= LANES
                && block.shift < per_line::<E>()
                && buf.len() >= self.buffer_len(b),
            "columns::process: {b} columns from {c0} of {}, shift {}, buffer {}",
            block.stride,
            block.shift,
            buf.len()
        );
        // The buffer's positions start on a 64-byte boundary, as they are whole cache lines: a
        // buffer 16 bytes past one made the pass alone take 1.16–1.18× the time of the code
        // before the grid, on an aligned array at 256². (`align_offset` on `f64` is below 8.)
        let skip = buf.as_ptr().align_offset(64).min(ALIGN_SLACK);
        // SAFETY: the CPU has AVX2 and FMA (`applies`); past `skip`, `buf` still holds the
        // `n` positions (`buffer_len`); the rest is the caller's promise.
        unsafe { self.process_avx2(block, c0, c0 + b, buf[skip..].as_mut_ptr(), scale) }
    }

    /// [`process`](Self::process) of the columns `c0 .. c1`, compiled for AVX2 and FMA. The
    /// segments lie on the 64-byte grid of `block.to` (`shift` columns before column 0): whole
    /// ones of [`SEGMENT`] columns where they fit, else of 4, with masked loads and stores for
    /// the ones that stick out of `c0 .. c1`.
    ///
    /// # Safety
    ///
    /// As `process`, whose checks have passed; the CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn process_avx2<E: Elem>(
        &self,
        block: Block<E>,
        c0: usize,
        c1: usize,
        buf: *mut f64,
        scale: Option<f64>,
    ) {
        // Columns counted from the grid's origin: segment boundaries are multiples of LANES.
        let (start, end) = (c0 + block.shift, c1 + block.shift);
        let mut v = start - start % LANES;
        // SAFETY (all calls): every lane read or written is a column in `c0 .. c1`, as the
        // caller allows (the masks cover the rest).
        while v < end {
            if v >= start && v + LANES <= end {
                let col = v - block.shift;
                if v % SEGMENT == 0 && v + SEGMENT <= end {
                    unsafe { self.segment::<E, WIDE, false>(block, col, buf, E::ALL, scale) };
                    v += SEGMENT;
                    continue;
                }
                unsafe { self.segment::<E, 1, false>(block, col, buf, E::ALL, scale) };
            } else {
                // A segment that sticks out of `c0 .. c1`: its window of 4 columns is moved
                // inside the row (the row has 4 at least), so that the lanes the mask leaves
                // alone are columns of the row too, never memory outside the arrays. (Intel
                // documents that masked-off lanes never fault; AMD leaves it to the
                // implementation.) Lanes are independent, so the bits are the same in any lane.
                let (keep0, keep1) = (
                    v.max(start) - block.shift,
                    (v + LANES).min(end) - block.shift,
                );
                let window = (v.max(block.shift) - block.shift).min(block.stride - LANES);
                let mask = E::masks(keep0 - window, keep1 - window);
                unsafe { self.segment::<E, 1, true>(block, window, buf, mask, scale) };
            }
            v += LANES;
        }
    }

    /// The columns `c .. c + 4V` of `block` (those `mask` keeps, when `M`): every stage,
    /// through the buffer.
    ///
    /// # Safety
    ///
    /// As [`process`](Self::process), for these columns (or, when `M`, those `mask` keeps);
    /// `c + 4V ≤ block.stride`; `buf` holds `8Vn` `f64`.
    #[inline(always)]
    unsafe fn segment<E: Elem, const V: usize, const M: bool>(
        &self,
        block: Block<E>,
        c: usize,
        buf: *mut f64,
        mask: E::Mask,
        scale: Option<f64>,
    ) {
        // SAFETY: column `c` of row 0 of the block is inside both arrays (the caller's promise).
        let at = 2 * (block.base + c);
        let rows = Rows {
            from: unsafe { block.from.add(at) },
            to: unsafe { block.to.add(at) },
            pitch: 2 * block.stride,
            buf,
            row_of: &self.row_of,
            mask,
        };
        // The first stages run over the whole buffer; once a group of `span` positions fits in
        // the L1 cache, each group runs all the remaining stages before the next one starts, so
        // that it is read from L2 once rather than once a stage.
        let bytes = 64 * V; // one position: 4V complex numbers
        let deep = self
            .stages
            .iter()
            .position(|s| s.span * bytes <= L1_BYTES)
            .unwrap_or(self.stages.len())
            .max(1);
        for i in 0..deep {
            // SAFETY: the caller's promise.
            unsafe { self.stage_at::<E, V, M>(i, rows, 0, self.n, scale) };
        }
        if deep < self.stages.len() {
            let span = self.stages[deep].span;
            for g in (0..self.n).step_by(span) {
                for i in deep..self.stages.len() {
                    // SAFETY: the caller's promise.
                    unsafe { self.stage_at::<E, V, M>(i, rows, g, g + span, scale) };
                }
            }
        }
    }

    /// Stage `i` on the positions `g0 .. g1` (whole groups of the stage).
    ///
    /// # Safety
    ///
    /// As [`segment`](Self::segment); stage 0 has run on all positions before any other stage
    /// runs (the last stage may write rows the first reads).
    #[inline(always)]
    unsafe fn stage_at<E: Elem, const V: usize, const M: bool>(
        &self,
        i: usize,
        rows: Rows<'_, E>,
        g0: usize,
        g1: usize,
        scale: Option<f64>,
    ) {
        let s = &self.stages[i];
        let (first, last) = (i == 0, i + 1 == self.stages.len());
        let (tw, span) = (s.twiddles.as_ptr(), s.span);
        let at = (g0, g1);
        let f = scale.unwrap_or(1.0);
        // SAFETY: the caller's promise; the first stage reads the array, the last writes it.
        unsafe {
            match (s.radix, first, last) {
                (2, true, false) => stage::<E, V, 2, true, false, M>(self, rows, at, span, tw, f),
                (4, true, false) => stage::<E, V, 4, true, false, M>(self, rows, at, span, tw, f),
                (4, false, false) => stage::<E, V, 4, false, false, M>(self, rows, at, span, tw, f),
                (4, false, true) => stage::<E, V, 4, false, true, M>(self, rows, at, span, tw, f),
                _ => unreachable!("radix 2 comes first, and there are two stages at least"),
            }
        }
    }
}

/// Where a strided pass reads and writes: the `n × stride` row-major block of complex numbers
/// at element `base` of `from` and of `to` (arrays of interleaved real and imaginary parts of
/// type `E`; the same array for an in-place pass).
#[derive(Clone, Copy)]
pub(super) struct Block<E> {
    /// The array read.
    pub from: *const E,
    /// The array written.
    pub to: *mut E,
    /// The block's first element.
    pub base: usize,
    /// Elements from one row to the next: the block's number of columns.
    pub stride: usize,
    /// Columns from the last 64-byte boundary of `to` to column 0 ([`shift`]).
    pub shift: usize,
}

/// The columns from a 64-byte boundary to column 0 of every row of every block of `stride`
/// columns in the array at `to`: segments that start on the boundaries read and write whole
/// cache lines (before the grid, at 256² and 1024², a column pass on arrays 16 to 48 bytes past a
/// boundary took 1.22–1.42× the time on aligned ones). Zero when `stride` is not a multiple of
/// the complex numbers a cache line holds (4 of `f64`, 8 of `f32`), whose rows are not all
/// placed alike.
pub(super) fn shift<E: Elem>(to: *const E, stride: usize) -> usize {
    if stride % per_line::<E>() == 0 {
        (to as usize / (2 * std::mem::size_of::<E>())) % per_line::<E>()
    } else {
        0
    }
}

/// Complex numbers to a cache line: 4 of `f64`, 8 of `f32`.
fn per_line<E>() -> usize {
    64 / (2 * std::mem::size_of::<E>())
}

/// Where one segment's stages read and write: row `r` of the array is `pitch` numbers of `E` after
/// row `r − 1`; a buffer position is `8V` `f64` (V vectors of real parts and imaginary parts). A
/// masked segment reads and writes the array only in the lanes `mask` keeps.
#[derive(Clone, Copy)]
struct Rows<'a, E: Elem> {
    from: *const E,
    to: *mut E,
    pitch: usize,
    buf: *mut f64,
    row_of: &'a [usize],
    mask: E::Mask,
}

/// Four complex numbers: their real parts and their imaginary parts.
#[derive(Clone, Copy)]
pub(super) struct Z(__m256d, __m256d);

/// `a + b`.
#[inline(always)]
unsafe fn add(a: Z, b: Z) -> Z {
    Z(_mm256_add_pd(a.0, b.0), _mm256_add_pd(a.1, b.1))
}

/// `a − b`.
#[inline(always)]
unsafe fn sub(a: Z, b: Z) -> Z {
    Z(_mm256_sub_pd(a.0, b.0), _mm256_sub_pd(a.1, b.1))
}

/// `a · w` for one complex `w`.
#[inline(always)]
unsafe fn mul(a: Z, w: *const Complex<f64>) -> Z {
    let (wr, wi) = unsafe { (_mm256_broadcast_sd(&(*w).re), _mm256_broadcast_sd(&(*w).im)) };
    Z(
        _mm256_fmsub_pd(a.0, wr, _mm256_mul_pd(a.1, wi)),
        _mm256_fmadd_pd(a.0, wi, _mm256_mul_pd(a.1, wr)),
    )
}

/// `a · s` for a real `s` (broadcast).
#[inline(always)]
unsafe fn scale(a: Z, s: __m256d) -> Z {
    Z(_mm256_mul_pd(a.0, s), _mm256_mul_pd(a.1, s))
}

/// The 4-point forward DFT (unscaled) of `a`. The inverse DFT has the same outputs with the
/// second and fourth swapped, which the caller does by where it stores them, so that no branch
/// on the direction stays in the loop.
#[inline(always)]
unsafe fn dft4(a: [Z; 4]) -> [Z; 4] {
    let (t0, t1) = (add(a[0], a[2]), sub(a[0], a[2]));
    let (t2, d) = (add(a[1], a[3]), sub(a[1], a[3]));
    // t1 ∓ i·d
    let minus = Z(_mm256_add_pd(t1.0, d.1), _mm256_sub_pd(t1.1, d.0));
    let plus = Z(_mm256_sub_pd(t1.0, d.1), _mm256_add_pd(t1.1, d.0));
    [add(t0, t2), minus, sub(t0, t2), plus]
}

/// The real type of the arrays a column pass reads and writes: `f64`, or `f32`, whose numbers
/// are widened to `f64` as the first stage reads them and rounded back as the last stage writes
/// them (the butterflies and twiddles are `f64` for both, so an `f32` result is rounded once).
///
/// A row's four complex numbers come out of [`load_row`](Elem::load_row) as the real parts and
/// the imaginary parts of columns 0, 2, 1, 3, in that lane order; [`store_row`](Elem::store_row)
/// puts them back, and nothing in between mixes lanes.
pub(super) trait Elem: Copy + 'static {
    /// The lanes a masked segment reads and writes.
    type Mask: Copy;
    /// Every lane (unused by unmasked segments).
    const ALL: Self::Mask;
    /// The mask that keeps the columns `lo .. hi` of a segment's 4.
    fn masks(lo: usize, hi: usize) -> Self::Mask;
    /// Four complex numbers of the array, interleaved, from `p`.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2; `p` points to 8 readable numbers.
    unsafe fn load_row(p: *const Self) -> Z;
    /// The inverse of [`load_row`](Elem::load_row).
    ///
    /// # Safety
    ///
    /// The CPU has AVX2; `p` points to 8 writable numbers.
    unsafe fn store_row(p: *mut Self, z: Z);
    /// [`load_row`](Elem::load_row) of the lanes `m` keeps; the others read as zero.
    ///
    /// # Safety
    ///
    /// As `load_row`, for the lanes `m` keeps.
    unsafe fn load_row_masked(p: *const Self, m: Self::Mask) -> Z;
    /// [`store_row`](Elem::store_row) of the lanes `m` keeps; the others are not written.
    ///
    /// # Safety
    ///
    /// As `store_row`, for the lanes `m` keeps.
    unsafe fn store_row_masked(p: *mut Self, z: Z, m: Self::Mask);
}

/// `[m(0), m(0), m(1), m(1)]` and `[m(2), m(2), m(3), m(3)]`: the lanes of columns 0 and 1, then
/// 2 and 3, in a row's interleaved layout.
#[inline(always)]
fn mask_pairs(lo: usize, hi: usize) -> ([bool; 4], [bool; 4]) {
    let m = |j: usize| lo <= j && j < hi;
    ([m(0), m(0), m(1), m(1)], [m(2), m(2), m(3), m(3)])
}

impl Elem for f64 {
    type Mask = (__m256i, __m256i);
    // SAFETY: a plain bit cast of 32 bytes, all ones.
    const ALL: Self::Mask = unsafe { std::mem::transmute([-1i64; 8]) };

    #[inline(always)]
    fn masks(lo: usize, hi: usize) -> Self::Mask {
        let (x, y) = mask_pairs(lo, hi);
        let m = |b: [bool; 4]| b.map(|b| -(b as i64));
        // SAFETY: plain bit casts of 32 bytes.
        unsafe {
            (
                std::mem::transmute::<[i64; 4], __m256i>(m(x)),
                std::mem::transmute::<[i64; 4], __m256i>(m(y)),
            )
        }
    }

    #[inline(always)]
    unsafe fn load_row(p: *const f64) -> Z {
        let (x, y) = unsafe { (_mm256_loadu_pd(p), _mm256_loadu_pd(p.add(4))) };
        Z(_mm256_unpacklo_pd(x, y), _mm256_unpackhi_pd(x, y))
    }

    #[inline(always)]
    unsafe fn store_row(p: *mut f64, z: Z) {
        unsafe {
            _mm256_storeu_pd(p, _mm256_unpacklo_pd(z.0, z.1));
            _mm256_storeu_pd(p.add(4), _mm256_unpackhi_pd(z.0, z.1));
        }
    }

    #[inline(always)]
    unsafe fn load_row_masked(p: *const f64, m: Self::Mask) -> Z {
        let (x, y) = unsafe {
            (
                _mm256_maskload_pd(p, m.0),
                _mm256_maskload_pd(p.add(4), m.1),
            )
        };
        Z(_mm256_unpacklo_pd(x, y), _mm256_unpackhi_pd(x, y))
    }

    #[inline(always)]
    unsafe fn store_row_masked(p: *mut f64, z: Z, m: Self::Mask) {
        unsafe {
            _mm256_maskstore_pd(p, m.0, _mm256_unpacklo_pd(z.0, z.1));
            _mm256_maskstore_pd(p.add(4), m.1, _mm256_unpackhi_pd(z.0, z.1));
        }
    }
}

impl Elem for f32 {
    type Mask = (__m128i, __m128i);
    // SAFETY: a plain bit cast of 32 bytes, all ones.
    const ALL: Self::Mask = unsafe { std::mem::transmute([-1i32; 8]) };

    #[inline(always)]
    fn masks(lo: usize, hi: usize) -> Self::Mask {
        let (x, y) = mask_pairs(lo, hi);
        let m = |b: [bool; 4]| b.map(|b| -(b as i32));
        // SAFETY: plain bit casts of 16 bytes.
        unsafe {
            (
                std::mem::transmute::<[i32; 4], __m128i>(m(x)),
                std::mem::transmute::<[i32; 4], __m128i>(m(y)),
            )
        }
    }

    #[inline(always)]
    unsafe fn load_row(p: *const f32) -> Z {
        let (x, y) = unsafe {
            (
                _mm256_cvtps_pd(_mm_loadu_ps(p)),
                _mm256_cvtps_pd(_mm_loadu_ps(p.add(4))),
            )
        };
        Z(_mm256_unpacklo_pd(x, y), _mm256_unpackhi_pd(x, y))
    }

    #[inline(always)]
    unsafe fn store_row(p: *mut f32, z: Z) {
        unsafe {
            _mm_storeu_ps(p, _mm256_cvtpd_ps(_mm256_unpacklo_pd(z.0, z.1)));
            _mm_storeu_ps(p.add(4), _mm256_cvtpd_ps(_mm256_unpackhi_pd(z.0, z.1)));
        }
    }

    #[inline(always)]
    unsafe fn load_row_masked(p: *const f32, m: Self::Mask) -> Z {
        let (x, y) = unsafe {
            (
                _mm256_cvtps_pd(_mm_maskload_ps(p, m.0)),
                _mm256_cvtps_pd(_mm_maskload_ps(p.add(4), m.1)),
            )
        };
        Z(_mm256_unpacklo_pd(x, y), _mm256_unpackhi_pd(x, y))
    }

    #[inline(always)]
    unsafe fn store_row_masked(p: *mut f32, z: Z, m: Self::Mask) {
        unsafe {
            _mm_maskstore_ps(p, m.0, _mm256_cvtpd_ps(_mm256_unpacklo_pd(z.0, z.1)));
            _mm_maskstore_ps(p.add(4), m.1, _mm256_cvtpd_ps(_mm256_unpackhi_pd(z.0, z.1)));
        }
    }
}

/// One buffer position's vector: four real parts, then four imaginary parts.
#[inline(always)]
unsafe fn load_buf(p: *const f64) -> Z {
    unsafe { Z(_mm256_loadu_pd(p), _mm256_loadu_pd(p.add(4))) }
}

/// The inverse of [`load_buf`].
#[inline(always)]
unsafe fn store_buf(p: *mut f64, z: Z) {
    unsafe {
        _mm256_storeu_pd(p, z.0);
        _mm256_storeu_pd(p.add(4), z.1);
    }
}

/// One stage over the positions `g0 .. g1` of the segment: for every group of `span` positions
/// and `j < span / R`, the `R`-point DFT of the positions `j + k·span/R`, twiddled by `w^{jk}`
/// (none in the last stage, whose twiddles are all 1), written back to the same positions.
/// `FIRST` reads the array; `LAST` writes it, each position to the row of its frequency, times
/// `factor`.
///
/// # Safety
///
/// As [`ColumnPlan::stage_at`]; `tw` is the stage's twiddle table.
#[inline(always)]
unsafe fn stage<
    E: Elem,
    const V: usize,
    const R: usize,
    const FIRST: bool,
    const LAST: bool,
    const M: bool,
>(
    plan: &ColumnPlan,
    rows: Rows<'_, E>,
    (g0, g1): (usize, usize),
    span: usize,
    tw: *const Complex<f64>,
    factor: f64,
) {
    // Where the forward DFT's outputs 1 and 3 go: swapped for the inverse (see `dft4`).
    let (k1, k3) = if plan.forward { (1, 3) } else { (3, 1) };
    let q = span / R;
    let f = _mm256_set1_pd(factor);
    let scaled = factor != 1.0;
    // SAFETY (the loads and stores): positions are below `n`, rows below `n`, vectors below `V`:
    // inside the buffer and inside the caller's columns of the array.
    let load = |pos: usize, v: usize| unsafe {
        if FIRST {
            let at = pos * rows.pitch + 8 * v;
            if M {
                E::load_row_masked(rows.from.add(at), rows.mask)
            } else {
                E::load_row(rows.from.add(at))
            }
        } else {
            load_buf(rows.buf.add(pos * 8 * V + 8 * v))
        }
    };
    let store = |pos: usize, v: usize, z: Z| unsafe {
        if LAST {
            let row = *rows.row_of.get_unchecked(pos);
            let z = if scaled { scale(z, f) } else { z };
            let at = row * rows.pitch + 8 * v;
            if M {
                E::store_row_masked(rows.to.add(at), z, rows.mask);
            } else {
                E::store_row(rows.to.add(at), z);
            }
        } else {
            store_buf(rows.buf.add(pos * 8 * V + 8 * v), z);
        }
    };
    let mut g = g0;
    while g < g1 {
        for j in 0..q {
            let p = g + j;
            for v in 0..V {
                // SAFETY: the twiddles of a non-last stage have (R − 1)·q entries.
                unsafe {
                    if R == 4 {
                        let a = [
                            load(p, v),
                            load(p + q, v),
                            load(p + 2 * q, v),
                            load(p + 3 * q, v),
                        ];
                        let y = dft4(a);
                        if LAST {
                            store(p, v, y[0]);
                            store(p + k1 * q, v, y[1]);
                            store(p + 2 * q, v, y[2]);
                            store(p + k3 * q, v, y[3]);
                        } else {
                            let w = tw.add(3 * j);
                            store(p, v, y[0]);
                            store(p + k1 * q, v, mul(y[1], w.add(k1 - 1)));
                            store(p + 2 * q, v, mul(y[2], w.add(1)));
                            store(p + k3 * q, v, mul(y[3], w.add(k3 - 1)));
                        }
                    } else {
                        let (a, b) = (load(p, v), load(p + q, v));
                        let d = sub(a, b);
                        store(p, v, add(a, b));
                        store(p + q, v, if LAST { d } else { mul(d, tw.add(j)) });
                    }
                }
            }
        }
        g += span;
    }
}
