//! Tests of [`FftPlans`](super::FftPlans): the transforms against a direct DFT and rustfft, the
//! adjoints, the strided passes and the column FFT, the split of a long line, and `shift`.

use super::*;

type C = Complex<f64>;

/// Deterministic pseudo-random complex values in [-1, 1)².
fn rand_vec(len: usize, seed: u64) -> Vec<C> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    (0..len).map(|_| C::new(next(), next())).collect()
}

/// Naive O(n²) 1-D DFT along `axis`, unnormalised.
fn naive_axis(x: &[C], shape: &[usize], axis: usize, dir: Direction) -> Vec<C> {
    let n = shape[axis];
    let stride: usize = shape[axis + 1..].iter().product();
    let mut y = vec![C::new(0.0, 0.0); x.len()];
    if x.is_empty() {
        return y;
    }
    for o in 0..x.len() / (n * stride) {
        for c in 0..stride {
            let line: Vec<C> = (0..n).map(|j| x[o * n * stride + j * stride + c]).collect();
            for k in 0..n {
                y[o * n * stride + k * stride + c] = dft_at(&line, k, dir);
            }
        }
    }
    y
}

/// The transform by the definition (a direct DFT along each axis), for tests here and in
/// `reverse::reuse`.
pub(crate) fn naive(
    x: &[C],
    shape: &[usize],
    axes: &[usize],
    dir: Direction,
    norm: Norm,
) -> Vec<C> {
    let mut y = x.to_vec();
    let mut n_total = 1;
    for &a in axes {
        y = naive_axis(&y, shape, a, dir);
        n_total *= shape[a];
    }
    let f = match (norm, dir) {
        (Norm::Backward, Direction::Forward) | (Norm::Forward, Direction::Inverse) => 1.0,
        (Norm::Ortho, _) => 1.0 / (n_total as f64).sqrt(),
        _ => 1.0 / n_total as f64,
    };
    y.iter().map(|z| z * f).collect()
}

fn max_rel_err(a: &[C], b: &[C]) -> f64 {
    let scale = b.iter().map(|z| z.norm()).fold(1e-300, f64::max);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
        / scale
}

fn dot(a: &[C], b: &[C]) -> C {
    // ⟨a, b⟩ = Σ conj(a) b
    a.iter().zip(b).map(|(x, y)| x.conj() * y).sum()
}

const DIRS: [Direction; 2] = [Direction::Forward, Direction::Inverse];
const NORMS: [Norm; 3] = [Norm::Backward, Norm::Ortho, Norm::Forward];

/// (shape, axes) cases from the brief.
fn cases() -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut v: Vec<(Vec<usize>, Vec<usize>)> = [1, 2, 7, 12, 97]
        .iter()
        .map(|&n| (vec![n], vec![0]))
        .collect();
    v.push((vec![4, 6], vec![0, 1]));
    v.push((vec![4, 6], vec![1, 0]));
    v.push((vec![4, 6], vec![0]));
    v.push((vec![4, 6], vec![1]));
    v.push((vec![3, 5, 2], vec![0, 1, 2]));
    v.push((vec![3, 5, 2], vec![1]));
    v.push((vec![3, 5, 2], vec![0]));
    v.push((vec![3, 1, 4], vec![0, 1, 2]));
    // strided axes whose length is not a multiple of the gather tile
    v.push((vec![6, 3], vec![0]));
    v.push((vec![9, 2, 3], vec![0, 1]));
    v.push((vec![2, 3], vec![]));
    // power-of-two strided axes of `f64`, transformed with no gather (`columns.rs`): every
    // radix sequence from 8 to 128 points, 4 to 21 columns, whole segments and masked ones,
    // a middle axis of two blocks (longer lines, and arrays at every alignment, are tested
    // in `column_transform_…`)
    v.push((vec![8, 4], vec![0]));
    v.push((vec![16, 21], vec![0]));
    v.push((vec![32, 7], vec![0, 1]));
    v.push((vec![2, 64, 20], vec![1]));
    v.push((vec![128, 5], vec![0]));
    v
}

#[test]
fn matches_naive_dft_f64() {
    let plans = FftPlans::<f64>::new();
    for (ci, (shape, axes)) in cases().into_iter().enumerate() {
        let len = shape.iter().product();
        let x = rand_vec(len, ci as u64);
        for dir in DIRS {
            for norm in NORMS {
                let want = naive(&x, &shape, &axes, dir, norm);
                let mut got = x.clone();
                plans.transform(&mut got, &shape, &axes, dir, norm);
                let e = max_rel_err(&got, &want);
                assert!(
                    e < 1e-12,
                    "{shape:?} {axes:?} {dir:?} {norm:?}: rel err {e:e}"
                );
            }
        }
    }
}

/// Out of place equals in place bit for bit, leaves the input alone and ignores what the
/// output held: on the small cases and on arrays past the parallel threshold (contiguous
/// and strided first passes, with and without a scaling).
#[test]
fn out_of_place_matches_in_place() {
    let plans = FftPlans::<f64>::new();
    let mut all = cases();
    all.push((vec![64, 1024], vec![0, 1]));
    all.push((vec![64, 1024], vec![1, 0]));
    all.push((vec![1 << 16], vec![0]));
    all.push((vec![8, 64, 64], vec![2, 0]));
    for (ci, (shape, axes)) in all.into_iter().enumerate() {
        let len = shape.iter().product();
        let x = rand_vec(len, 300 + ci as u64);
        for dir in DIRS {
            for norm in NORMS {
                let mut want = x.clone();
                plans.transform(&mut want, &shape, &axes, dir, norm);
                let mut got = rand_vec(len, 900 + ci as u64);
                plans.transform_outofplace(&x, &mut got, &shape, &axes, dir, norm);
                assert!(
                    got == want,
                    "{shape:?} {axes:?} {dir:?} {norm:?}: out of place differs"
                );
                assert_eq!(x, rand_vec(len, 300 + ci as u64), "input changed");
            }
        }
    }
}

#[test]
#[should_panic(
    expected = "FftPlans::transform_outofplace: data has 5 elements but shape [2, 3] needs 6"
)]
fn out_of_place_checks_output_length() {
    let x = vec![C::new(0.0, 0.0); 6];
    let mut y = vec![C::new(0.0, 0.0); 5];
    FftPlans::new().transform_outofplace(
        &x,
        &mut y,
        &[2, 3],
        &[0],
        Direction::Forward,
        Norm::Backward,
    );
}

#[test]
fn matches_naive_dft_f32() {
    let plans = FftPlans::<f32>::new();
    for (ci, (shape, axes)) in cases().into_iter().enumerate() {
        let len = shape.iter().product();
        let x = rand_vec(len, 100 + ci as u64);
        let x32: Vec<Complex<f32>> = x
            .iter()
            .map(|z| Complex::new(z.re as f32, z.im as f32))
            .collect();
        for dir in DIRS {
            for norm in NORMS {
                let want = naive(&x, &shape, &axes, dir, norm);
                let mut got = x32.clone();
                plans.transform(&mut got, &shape, &axes, dir, norm);
                let got: Vec<C> = got
                    .iter()
                    .map(|z| C::new(z.re as f64, z.im as f64))
                    .collect();
                let e = max_rel_err(&got, &want);
                assert!(
                    e < 1e-5,
                    "{shape:?} {axes:?} {dir:?} {norm:?}: rel err {e:e}"
                );
            }
        }
    }
}

#[test]
fn dot_product_test_adjoint() {
    let plans = FftPlans::<f64>::new();
    for (ci, (shape, axes)) in cases().into_iter().enumerate() {
        let len = shape.iter().product();
        let u = rand_vec(len, 1000 + ci as u64);
        let v = rand_vec(len, 2000 + ci as u64);
        for dir in DIRS {
            for norm in NORMS {
                let mut au = u.clone();
                plans.transform(&mut au, &shape, &axes, dir, norm);
                let (adir, anorm) = adjoint(dir, norm);
                let mut ahv = v.clone();
                plans.transform(&mut ahv, &shape, &axes, adir, anorm);
                let lhs = dot(&au, &v);
                let rhs = dot(&u, &ahv);
                let scale = lhs.norm().max(rhs.norm()).max(1.0);
                let e = (lhs - rhs).norm() / scale;
                assert!(
                    e < 1e-12,
                    "{shape:?} {axes:?} {dir:?} {norm:?}: {lhs} vs {rhs}"
                );
            }
        }
    }
}

#[test]
fn dot_product_test_f32() {
    let plans = FftPlans::<f32>::new();
    let shape = [3, 5, 2];
    let axes = [0, 1, 2];
    let to32 = |x: Vec<C>| -> Vec<Complex<f32>> {
        x.iter()
            .map(|z| Complex::new(z.re as f32, z.im as f32))
            .collect()
    };
    let u = to32(rand_vec(30, 7));
    let v = to32(rand_vec(30, 8));
    let dot32 = |a: &[Complex<f32>], b: &[Complex<f32>]| -> Complex<f32> {
        a.iter().zip(b).map(|(x, y)| x.conj() * y).sum()
    };
    for dir in DIRS {
        for norm in NORMS {
            let mut au = u.clone();
            plans.transform(&mut au, &shape, &axes, dir, norm);
            let (adir, anorm) = adjoint(dir, norm);
            let mut ahv = v.clone();
            plans.transform(&mut ahv, &shape, &axes, adir, anorm);
            let (lhs, rhs) = (dot32(&au, &v), dot32(&u, &ahv));
            assert!(
                (lhs - rhs).norm() / lhs.norm().max(1.0) < 1e-5,
                "{lhs} vs {rhs}"
            );
        }
    }
}

#[test]
fn inverse_undoes_forward_every_norm() {
    let plans = FftPlans::<f64>::new();
    let shape = [6, 5, 8];
    let x = rand_vec(240, 3);
    for norm in NORMS {
        let mut y = x.clone();
        plans.transform(&mut y, &shape, &[2, 0, 1], Direction::Forward, norm);
        plans.transform(&mut y, &shape, &[1, 2, 0], Direction::Inverse, norm);
        assert!(max_rel_err(&y, &x) < 1e-13, "{norm:?}");
    }
}

#[test]
fn large_strided_matches_row_transform_of_transpose() {
    // Exercises several gather batches (stride > batch) and partial last batches; 63 rows,
    // not a power of two, so that the gather runs and not the column FFT (`columns.rs`).
    let (r, c) = (63, 1100);
    let x = rand_vec(r * c, 11);
    let plans = FftPlans::<f64>::new();
    let mut got = x.clone();
    plans.transform(&mut got, &[r, c], &[0], Direction::Forward, Norm::Ortho);
    let mut t = vec![C::new(0.0, 0.0); r * c];
    transpose::transpose(&x, &mut t, c, r);
    plans.transform(&mut t, &[c, r], &[1], Direction::Forward, Norm::Ortho);
    let mut want = vec![C::new(0.0, 0.0); r * c];
    transpose::transpose(&t, &mut want, r, c);
    assert!(max_rel_err(&got, &want) < 1e-14);
}

/// Runs `transform` on `x` placed at each of the offsets from a cache line (4 for `f64`, 8
/// for `f32`), with margins of `mark` on both sides: in place (`None`), and out of place from
/// a source at another offset into an array at a third. Checks that the two agree, that the
/// source is unchanged, that every offset gives the same bits, and that nothing outside the
/// arrays is written (`is_mark`); returns the result.
fn at_every_offset<Z: Copy + PartialEq + fmt::Debug>(
    x: &[Z],
    mark: Z,
    is_mark: impl Fn(&Z) -> bool,
    what: &str,
    transform: impl Fn(Option<&[Z]>, &mut [Z]),
) -> Vec<Z> {
    let len = x.len();
    let (size, per_line) = (std::mem::size_of::<Z>(), 64 / std::mem::size_of::<Z>());
    // `k` elements past a cache line, at least `per_line` into `buf`.
    let place = |buf: &[Z], k: usize| {
        per_line + (k + per_line - (buf[per_line..].as_ptr() as usize / size) % per_line) % per_line
    };
    let mut first: Option<Vec<Z>> = None;
    for shift in 0..per_line {
        let what = format!("{what}, {shift} past a line");
        let mut buf = vec![mark; len + 3 * per_line];
        let at = place(&buf, shift);
        buf[at..at + len].copy_from_slice(x);
        transform(None, &mut buf[at..at + len]);
        let mut src = vec![mark; len + 3 * per_line];
        let s = place(&src, per_line - 1 - shift);
        src[s..s + len].copy_from_slice(x);
        let mut out = vec![mark; len + 3 * per_line];
        let o = place(&out, (shift + 3) % per_line);
        transform(Some(&src[s..s + len]), &mut out[o..o + len]);
        let got = &buf[at..at + len];
        assert_eq!(got, &out[o..o + len], "{what}: from a source");
        assert_eq!(&src[s..s + len], x, "{what}: the source is only read");
        match &first {
            None => first = Some(got.to_vec()),
            Some(f) => assert_eq!(got, &f[..], "{what}: another address"),
        }
        for (v, k) in [(&buf, at), (&out, o)] {
            let mut outside = v[..k].iter().chain(&v[k + len..]);
            assert!(outside.all(&is_mark), "{what}: written outside the array");
        }
    }
    first.expect("at least one offset")
}

/// The column FFT puts its segments on the cache-line grid of the array it writes, masking
/// the columns outside a block: the same array at each of the four 16-byte offsets from a
/// cache line, read from a source at another offset, gives the same bits (see
/// [`at_every_offset`]), and matches rustfft on the transposed array. Strides that are
/// multiples of four (whose grid shifts with the address) and others, segments of 8 and 4
/// columns, and several blocks.
#[test]
fn column_transform_is_the_same_at_any_address() {
    #[cfg(target_arch = "x86_64")]
    if !columns::applies(8) {
        eprintln!("no AVX2 and FMA here: the gather path was tested instead");
    }
    let plans = FftPlans::<f64>::new();
    let shapes = [
        [1, 64, 32],
        [1, 16, 4],
        [3, 256, 20],
        [2, 512, 48],
        [1, 2048, 36],
        [2, 128, 37],
        [1, 8, 5],
    ];
    let zero = C::new(0.0, 0.0);
    // A value no transform writes, so that a stray store shows.
    let mark = C::new(f64::NAN, 7.0);
    let is_mark = |z: &C| z.re.is_nan() && z.im == 7.0;
    for shape in shapes {
        let len: usize = shape.iter().product();
        let x = rand_vec(len, 16 + len as u64);
        for dir in DIRS {
            let norm = Norm::Ortho;
            // Reference: each block through rustfft's rows of its transpose.
            let [_, r, c] = shape;
            let mut want = vec![zero; len];
            for (x, want) in x.chunks(r * c).zip(want.chunks_mut(r * c)) {
                let mut t = vec![zero; r * c];
                transpose::transpose(x, &mut t, c, r);
                plans.transform(&mut t, &[c, r], &[1], dir, norm);
                transpose::transpose(&t, want, r, c);
            }
            let what = format!("{shape:?} {dir:?}");
            let got = at_every_offset(&x, mark, is_mark, &what, |src, data| match src {
                None => plans.transform(data, &shape, &[1], dir, norm),
                Some(src) => plans.transform_outofplace(src, data, &shape, &[1], dir, norm),
            });
            let e = max_rel_err(&got, &want);
            assert!(e < 1e-14, "{what}: rel err {e:e}");
        }
    }
}

/// The grid of the column FFT: the complex numbers from the last 64-byte boundary to the
/// array, 4 to a line for `f64` and 8 for `f32`, when every row starts at the same place in a
/// line; else 0.
#[cfg(target_arch = "x86_64")]
#[test]
fn grid_shift_counts_numbers_past_a_line() {
    let line = 64 * 1000;
    for k in 0..4 {
        let p = (line + 16 * k) as *const f64;
        assert_eq!(columns::shift(p, 8), k);
        assert_eq!(columns::shift(p, 12), k);
        assert_eq!(columns::shift(p, 6), 0);
    }
    for k in 0..8 {
        let p = (line + 8 * k) as *const f32;
        assert_eq!(columns::shift(p, 16), k);
        assert_eq!(columns::shift(p, 8), k);
        assert_eq!(columns::shift(p, 12), 0, "rows 96 bytes apart");
        assert_eq!(columns::shift(p, 4), 0);
    }
}

/// The column FFT of an `f32` array is the `f64` column FFT of its numbers (and norm
/// factor), rounded once: the same bits as rounding the `f64` result, at each of the eight
/// 8-byte offsets from a cache line, in place and from a source at another offset (see
/// [`at_every_offset`]). Without AVX2 and FMA, rustfft's `f32`
/// transform is checked against the same reference to `f32` accuracy instead.
#[test]
fn column_transform_f32_is_the_f64_one_rounded_at_any_address() {
    #[cfg(target_arch = "x86_64")]
    let kernel = columns::applies(8);
    #[cfg(not(target_arch = "x86_64"))]
    let kernel = false;
    let (plans, plans32) = (FftPlans::<f64>::new(), FftPlans::<f32>::new());
    // Strides that are multiples of 8 (their grid moves with the address), of 4 only (no
    // grid: rows sit differently in their cache lines), and others; 1 to 3 blocks.
    let shapes = [
        [1, 64, 32],
        [1, 16, 8],
        [3, 256, 24],
        [2, 512, 16],
        [1, 2048, 40],
        [1, 32, 12],
        [2, 128, 37],
        [1, 8, 5],
    ];
    type C32 = Complex<f32>;
    let narrow = |z: &C| C32::new(z.re as f32, z.im as f32);
    let widen = |z: &C32| C::new(z.re as f64, z.im as f64);
    let mark = C32::new(f32::NAN, 7.0);
    let is_mark = |z: &C32| z.re.is_nan() && z.im == 7.0;
    for shape in shapes {
        let len: usize = shape.iter().product();
        let x32: Vec<C32> = rand_vec(len, 40 + len as u64).iter().map(narrow).collect();
        let x: Vec<C> = x32.iter().map(widen).collect();
        for dir in DIRS {
            for norm in NORMS {
                let mut want = x.clone();
                plans.transform(&mut want, &shape, &[1], dir, norm);
                let what = format!("{shape:?} {dir:?} {norm:?}");
                let got = at_every_offset(&x32, mark, is_mark, &what, |src, data| match src {
                    None => plans32.transform(data, &shape, &[1], dir, norm),
                    Some(src) => plans32.transform_outofplace(src, data, &shape, &[1], dir, norm),
                });
                if kernel {
                    let rounded: Vec<C32> = want.iter().map(narrow).collect();
                    assert_eq!(got, rounded, "{what}");
                } else {
                    let got: Vec<C> = got.iter().map(widen).collect();
                    let e = max_rel_err(&got, &want);
                    assert!(e < 1e-6, "{what}: rel err {e:e}");
                }
            }
        }
    }
}

/// The transform with no gather (`columns.rs`) against rustfft on the transposed array: every
/// power of two from 8 to 4096 rows with 37 columns (segments of 8 columns, of 4, and a
/// masked one), and arrays of two and three
/// blocks along a middle axis; both directions, every norm, in place and from a source. The
/// plans are made for `f64` (and `f32`) on a CPU with AVX2 and FMA.
#[test]
fn column_transform_matches_row_transform_of_transpose() {
    let plans = FftPlans::<f64>::new();
    let mut shapes: Vec<[usize; 3]> = (3..=12).map(|k| [1, 1 << k, 37]).collect();
    shapes.extend([[2, 512, 20], [3, 1024, 21], [2, 64, 4]]);
    for [blocks, r, c] in shapes {
        let len = blocks * r * c;
        let x = rand_vec(len, 13 + len as u64);
        for dir in DIRS {
            for norm in NORMS {
                let shape = [blocks, r, c];
                let mut got = x.clone();
                plans.transform(&mut got, &shape, &[1], dir, norm);
                let mut from = rand_vec(len, 14);
                plans.transform_outofplace(&x, &mut from, &shape, &[1], dir, norm);
                // Each block through rustfft's contiguous rows, transposed there and back.
                let mut want = vec![C::new(0.0, 0.0); len];
                for (x, want) in x.chunks(r * c).zip(want.chunks_mut(r * c)) {
                    let mut t = vec![C::new(0.0, 0.0); r * c];
                    transpose::transpose(x, &mut t, c, r);
                    plans.transform(&mut t, &[c, r], &[1], dir, norm);
                    transpose::transpose(&t, want, r, c);
                }
                let e = max_rel_err(&got, &want);
                assert!(e < 1e-14, "{shape:?} {dir:?} {norm:?}: rel err {e:e}");
                assert_eq!(got, from, "{shape:?} {dir:?}: in place vs from a source");
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        let made = plans.lock().columns.len();
        if columns::applies(8) {
            assert_eq!(made, 2 * 10, "a column plan per length and direction");
        } else {
            eprintln!("no AVX2 and FMA here: the gather path was tested instead");
        }
        // The last axis goes first when the column FFT takes the others: the listed order
        // does not change the bits.
        let x = rand_vec(64 * 32, 15);
        let (mut a, mut b) = (x.clone(), x.clone());
        plans.transform(&mut a, &[64, 32], &[0, 1], Direction::Forward, Norm::Ortho);
        plans.transform(&mut b, &[64, 32], &[1, 0], Direction::Forward, Norm::Ortho);
        if columns::applies(64) {
            assert_eq!(a, b, "axis order");
        }
        // `f32` arrays take the same plans (the butterflies are `f64` for both).
        let plans32 = FftPlans::<f32>::new();
        let mut x32 = vec![Complex::new(1.0f32, 0.0); 64 * 8];
        plans32.transform(&mut x32, &[64, 8], &[0], Direction::Forward, Norm::Backward);
        assert_eq!(
            plans32.lock().columns.len(),
            usize::from(columns::applies(64))
        );
    }
}

#[test]
fn padded_strided_lines_match_row_transform_of_transpose() {
    // Lines of `PAD_FROM` elements or more are gathered `PAD` apart and transformed one at a
    // time: several batches and a partial one (130 × 300), one batch narrower than the
    // batch size (250 × 40), both directions, in place and from a source. (Not powers of
    // two, which take the column FFT on a CPU with AVX2.)
    for (r, c) in [(130, 300), (250, 40)] {
        assert!(r >= super::PAD_FROM);
        let x = rand_vec(r * c, 12);
        let plans = FftPlans::<f64>::new();
        for dir in DIRS {
            let mut got = x.clone();
            plans.transform(&mut got, &[r, c], &[0], dir, Norm::Ortho);
            let mut from = vec![C::new(0.0, 0.0); r * c];
            plans.transform_outofplace(&x, &mut from, &[r, c], &[0], dir, Norm::Ortho);
            let mut t = vec![C::new(0.0, 0.0); r * c];
            transpose::transpose(&x, &mut t, c, r);
            plans.transform(&mut t, &[c, r], &[1], dir, Norm::Ortho);
            let mut want = vec![C::new(0.0, 0.0); r * c];
            transpose::transpose(&t, &mut want, r, c);
            assert!(max_rel_err(&got, &want) < 1e-14, "{r}×{c} {dir:?}");
            assert_eq!(got, from, "{r}×{c} {dir:?}: in place vs from a source");
        }
    }
}

#[test]
fn repeated_axis_counts_twice() {
    let plans = FftPlans::<f64>::new();
    let x = rand_vec(12, 5);
    let want = naive(&x, &[12], &[0, 0], Direction::Forward, Norm::Forward);
    let mut got = x.clone();
    plans.transform(&mut got, &[12], &[0, 0], Direction::Forward, Norm::Forward);
    assert!(max_rel_err(&got, &want) < 1e-13);
}

#[test]
fn empty_and_trivial() {
    let plans = FftPlans::<f64>::new();
    let mut e: Vec<C> = vec![];
    plans.transform(&mut e, &[0], &[0], Direction::Inverse, Norm::Backward);
    plans.transform(&mut e, &[3, 0, 2], &[0, 2], Direction::Forward, Norm::Ortho);
    let mut s = vec![C::new(2.0, -1.0)];
    plans.transform(&mut s, &[], &[], Direction::Inverse, Norm::Backward);
    plans.transform(&mut s, &[1, 1], &[0, 1], Direction::Inverse, Norm::Backward);
    assert_eq!(s, [C::new(2.0, -1.0)]);
    assert_eq!(
        shift::<i32>(&[], &[0, 3], &[0, 1], false),
        Vec::<i32>::new()
    );
    assert_eq!(shift(&[7], &[], &[], false), [7]);
}

#[test]
#[should_panic(expected = "FftPlans::transform: data has 5 elements but shape [2, 3] needs 6")]
fn transform_panics_on_length() {
    let mut x = vec![C::new(0.0, 0.0); 5];
    FftPlans::new().transform(&mut x, &[2, 3], &[0], Direction::Forward, Norm::Backward);
}

#[test]
#[should_panic(expected = "FftPlans::transform: axis 2 out of range")]
fn transform_panics_on_axis() {
    let mut x = vec![C::new(0.0, 0.0); 6];
    FftPlans::new().transform(&mut x, &[2, 3], &[2], Direction::Forward, Norm::Backward);
}

#[test]
#[should_panic(expected = "fft::shift: axis 1 out of range")]
fn shift_panics_on_axis() {
    shift(&[1, 2, 3], &[3], &[1], false);
}

#[test]
#[should_panic(expected = "fft::shift: data has 3 elements")]
fn shift_panics_on_length() {
    shift(&[1, 2, 3], &[4], &[0], false);
}

#[test]
fn plans_are_cached_and_shareable() {
    fn assert_send_sync<S: Send + Sync>() {}
    assert_send_sync::<FftPlans<f64>>();
    assert_send_sync::<FftPlans<f32>>();
    let plans = FftPlans::<f64>::default();
    let mut x = rand_vec(35, 1);
    for _ in 0..3 {
        plans.transform(&mut x, &[5, 7], &[0, 1], Direction::Forward, Norm::Ortho);
    }
    plans.transform(&mut x, &[5, 7], &[1], Direction::Inverse, Norm::Ortho);
    let dbg = format!("{plans:?}");
    assert!(
        dbg.contains("plans: [(5, Forward), (7, Forward), (7, Inverse)]"),
        "{dbg}"
    );
}

#[test]
fn shift_numpy_1d() {
    assert_eq!(shift(&[0, 1, 2, 3, 4], &[5], &[0], false), [3, 4, 0, 1, 2]);
    assert_eq!(shift(&[3, 4, 0, 1, 2], &[5], &[0], true), [0, 1, 2, 3, 4]);
    assert_eq!(shift(&[0, 1, 2, 3, 4], &[5], &[0], true), [2, 3, 4, 0, 1]);
    assert_eq!(
        shift(&[0, 1, 2, 3, 4, 5], &[6], &[0], false),
        [3, 4, 5, 0, 1, 2]
    );
    assert_eq!(
        shift(&[0, 1, 2, 3, 4, 5], &[6], &[0], true),
        [3, 4, 5, 0, 1, 2]
    );
    // numpy: fftshift(fftfreq(5)) is increasing
    assert_eq!(
        shift(&[0, 1, 2, -2, -1], &[5], &[0], false),
        [-2, -1, 0, 1, 2]
    );
    assert_eq!(shift(&[9], &[1], &[0], false), [9]);
}

#[test]
fn shift_numpy_2d() {
    // np.fft.fftshift(np.arange(12).reshape(3, 4))
    let x: Vec<i32> = (0..12).collect();
    assert_eq!(
        shift(&x, &[3, 4], &[0, 1], false),
        [10, 11, 8, 9, 2, 3, 0, 1, 6, 7, 4, 5]
    );
    // axes=(0,): rows rolled by 1
    assert_eq!(
        shift(&x, &[3, 4], &[0], false),
        [8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7]
    );
    // axes=(1,): columns rolled by 2
    assert_eq!(
        shift(&x, &[3, 4], &[1], false),
        [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9]
    );
    // np.fft.ifftshift(np.arange(12).reshape(3, 4))
    assert_eq!(
        shift(&x, &[3, 4], &[0, 1], true),
        [6, 7, 4, 5, 10, 11, 8, 9, 2, 3, 0, 1]
    );
    for axes in [&[0usize, 1][..], &[0], &[1], &[1, 0]] {
        let y = shift(&x, &[3, 4], axes, false);
        assert_eq!(shift(&y, &[3, 4], axes, true), x);
    }
}

#[test]
fn shift_3d_odd_matches_index_formula() {
    let shape = [3, 5, 2];
    let x: Vec<usize> = (0..30).collect();
    for inverse in [false, true] {
        let y = shift(&x, &shape, &[0, 1, 2], inverse);
        for i in 0..3 {
            for j in 0..5 {
                for k in 0..2 {
                    let src = |idx: usize, n: usize| {
                        let h = n / 2;
                        if inverse {
                            (idx + h) % n
                        } else {
                            (idx + n - h) % n
                        }
                    };
                    let (si, sj, sk) = (src(i, 3), src(j, 5), src(k, 2));
                    assert_eq!(y[i * 10 + j * 2 + k], x[si * 10 + sj * 2 + sk]);
                }
            }
        }
        assert_eq!(shift(&y, &shape, &[0, 1, 2], !inverse), x);
    }
}

#[test]
fn shift_adjoint_is_inverse_shift() {
    // ⟨S u, v⟩ = ⟨u, S⁻¹ v⟩ for the permutation S.
    for (shape, axes) in [
        (vec![5], vec![0]),
        (vec![4, 6], vec![0, 1]),
        (vec![3, 5, 2], vec![0, 2]),
        (vec![7, 3], vec![1]),
    ] {
        let len: usize = shape.iter().product();
        let u = rand_vec(len, 31);
        let v = rand_vec(len, 32);
        for inverse in [false, true] {
            let su = shift(&u, &shape, &axes, inverse);
            let sv = shift(&v, &shape, &axes, !inverse);
            let (lhs, rhs) = (dot(&su, &v), dot(&u, &sv));
            assert!((lhs - rhs).norm() < 1e-12, "{shape:?} {axes:?} {inverse}");
        }
    }
}

/// `f()` on a rayon pool of `threads` threads.
#[cfg(feature = "parallel")]
fn on<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

/// `X[k]` of the unnormalised DFT of `x`, summed directly.
fn dft_at(x: &[C], k: usize, dir: Direction) -> C {
    let n = x.len();
    let sign = if dir == Direction::Forward { -1.0 } else { 1.0 };
    x.iter()
        .enumerate()
        .map(|(j, &v)| {
            let a = sign * 2.0 * std::f64::consts::PI * ((j * k) % n) as f64 / n as f64;
            v * C::from_polar(1.0, a)
        })
        .sum()
}

/// A single long line on two threads takes the split in halves (`halves.rs`), in place and
/// out of place, for every direction and norm: it matches the one-thread transform (rustfft's
/// own plan) to rounding, and a direct DFT at a few frequencies.
#[cfg(feature = "parallel")]
#[test]
fn long_line_split_in_halves_matches_whole_transform() {
    // Powers of two, 3·2¹⁴, and twice a prime (its halves take rustfft's Bluestein plan, whose
    // own error, about 1.5e-15 here, sets the tolerance); `[1, n]`: a single line with a
    // leading axis of length 1.
    for (n, shape) in [
        (1 << 15, vec![1 << 15]),
        (3 << 14, vec![1, 3 << 14]),
        (2 * 16411, vec![2 * 16411]),
        (1 << 16, vec![1 << 16]),
    ] {
        let axes = [shape.len() - 1];
        let x = rand_vec(n, n as u64);
        for dir in DIRS {
            for norm in NORMS {
                let mut whole = vec![C::default(); n];
                on(1, || {
                    FftPlans::new().transform_outofplace(&x, &mut whole, &shape, &axes, dir, norm)
                });
                let plans = FftPlans::new();
                let (out, inplace) = on(2, || {
                    let mut out = vec![C::default(); n];
                    plans.transform_outofplace(&x, &mut out, &shape, &axes, dir, norm);
                    let mut inplace = x.clone();
                    plans.transform(&mut inplace, &shape, &axes, dir, norm);
                    (out, inplace)
                });
                let what = format!("n {n} {dir:?} {norm:?}");
                // The split plan was made (and rustfft's plan for the whole length was not).
                let debug = format!("{plans:?}");
                assert!(
                    debug.contains(&format!("split_plans: [({n}, {dir:?})]")),
                    "{what}: {debug}"
                );
                assert!(
                    debug.starts_with("FftPlans { plans: [],"),
                    "{what}: {debug}"
                );
                // In place and out of place take different routes (`Halves::process`), with
                // the same bits.
                assert!(out == inplace, "{what}: in place and out of place differ");
                let (e1, e2) = (max_rel_err(&out, &whole), max_rel_err(&inplace, &whole));
                // About 2e-15 measured for the prime halves, 5e-16 for the others; the bound
                // leaves room for rustfft's other code paths (SSE, NEON, scalar).
                let tol = if n == 2 * 16411 { 6e-15 } else { 3e-15 };
                assert!(e1 <= tol && e2 <= tol, "{what}: {e1:e} {e2:e}");
                let f = norm.factor::<f64>(dir, n);
                for k in [0, 1, 7, n / 2 - 1, n / 2, n / 2 + 3, n - 1] {
                    let want = dft_at(&x, k, dir) * f;
                    let err = (out[k] - want).norm() / (whole[0].norm() + 1.0);
                    assert!(err <= 1e-12, "{what}: X[{k}] off by {err:e}");
                }
            }
        }
    }
}

/// The split transform's adjoint is the split transform `adjoint(dir, norm)`: the dot-product
/// test, on two threads, in single and double precision.
#[cfg(feature = "parallel")]
#[test]
fn long_line_split_in_halves_passes_dot_product_test() {
    let n = 1 << 16;
    let (u, v) = (rand_vec(n, 11), rand_vec(n, 12));
    for dir in DIRS {
        for norm in NORMS {
            let (adir, anorm) = adjoint(dir, norm);
            let (lhs, rhs) = on(2, || {
                let plans = FftPlans::<f64>::new();
                let (mut au, mut ahv) = (u.clone(), v.clone());
                plans.transform(&mut au, &[n], &[0], dir, norm);
                plans.transform(&mut ahv, &[n], &[0], adir, anorm);
                (dot(&au, &v), dot(&u, &ahv))
            });
            let scale = (n as f64).sqrt() * norm.factor::<f64>(dir, n) * n as f64;
            assert!(
                (lhs - rhs).norm() <= 1e-12 * scale,
                "{dir:?} {norm:?}: {lhs} {rhs}"
            );
        }
    }
    // f32: the split transform against the f64 one.
    let x32: Vec<Complex<f32>> = u
        .iter()
        .map(|z| Complex::new(z.re as f32, z.im as f32))
        .collect();
    let (y32, plans) = on(2, || {
        let plans = FftPlans::<f32>::new();
        let mut y = x32.clone();
        plans.transform(&mut y, &[n], &[0], Direction::Inverse, Norm::Backward);
        (y, format!("{plans:?}"))
    });
    assert!(plans.contains("split_plans: [(65536, Inverse)]"), "{plans}");
    let mut y64: Vec<C> = x32
        .iter()
        .map(|z| C::new(z.re as f64, z.im as f64))
        .collect();
    FftPlans::<f64>::new().transform(&mut y64, &[n], &[0], Direction::Inverse, Norm::Backward);
    let y32: Vec<C> = y32
        .iter()
        .map(|z| C::new(z.re as f64, z.im as f64))
        .collect();
    let err = max_rel_err(&y32, &y64);
    assert!(err <= 2e-6, "f32: {err:e}");
}
