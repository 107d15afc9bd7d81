//! The `parallel` feature: results do not depend on the number of threads.
//!
//! Each computation runs inside rayon pools of 1, 2 and 3 threads, on arrays above
//! `parallel::THRESHOLD`. A one-thread pool takes the serial code path (the one a build without the
//! feature runs), so comparing it with the others compares the serial and the parallel code. The
//! reductions add in fixed chunks in a fixed order, so everything is compared bitwise, except a
//! single long 1-D FFT line, which more than one thread transforms as two halves at once (the last
//! test bounds its difference).

#![cfg(feature = "parallel")]

use wirtinger::fft::{Direction, FftPlans};
use wirtinger::parallel::THRESHOLD;
use wirtinger::prelude::*;

type C = Complex64;

/// A small deterministic generator of complex numbers in the unit square.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<C> {
        (0..n).map(|_| c64(self.next(), self.next())).collect()
    }
}

/// `f()` on a rayon pool of `threads` threads.
fn on<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

/// Runs `f` on 1, 2 and 3 threads and asserts the results are bitwise equal.
fn same_on_any_thread_count<R: PartialEq + std::fmt::Debug + Send>(
    what: &str,
    f: impl Fn() -> R + Sync,
) -> R {
    let one = on(1, &f);
    for threads in [2, 3] {
        let many = on(threads, &f);
        assert!(
            many == one,
            "{what}: {threads} threads differ from 1 thread"
        );
    }
    one
}

/// Bitwise view of a complex vector (so that a NaN would compare equal to itself).
fn bits(v: &[C]) -> Vec<(u64, u64)> {
    v.iter().map(|z| (z.re.to_bits(), z.im.to_bits())).collect()
}

fn bits1(z: C) -> (u64, u64) {
    (z.re.to_bits(), z.im.to_bits())
}

/// `max_k |a_k − b_k| / max_k |b_k|`.
fn max_rel_diff(a: &[C], b: &[C]) -> f64 {
    let scale = b.iter().map(|z| z.norm()).fold(f64::MIN_POSITIVE, f64::max);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
        / scale
}

#[test]
fn phase_retrieval_256() {
    let n = 256;
    assert!(n * n >= THRESHOLD);
    let mut rng = Lcg(1);
    let u0 = rng.vec(n * n);
    let t: Vec<f64> = rng
        .vec(n * n)
        .iter()
        .map(|z| 100.0 * z.norm_sqr())
        .collect();
    let (loss, grad) = same_on_any_thread_count("phase retrieval", || {
        let tape: Tape = Tape::new();
        let u = tape.array(u0.clone(), &[n, n]);
        let target = tape.real_constant_array(t.clone(), &[n, n]);
        let loss = (u.fft2().norm_sqr() - &target).powi(2).sum();
        let g = loss.backward().grad(&u);
        (bits1(loss.value()), bits(&g))
    });

    // And the result is right: grad L = 4 Fᴴ((|F u|² − T) ⊙ F u), computed here on one thread.
    let plans = FftPlans::<f64>::new();
    let mut y = u0.clone();
    plans.transform(&mut y, &[n, n], &[0, 1], Direction::Forward, Norm::Backward);
    let mut want_loss = 0.0;
    for (y, t) in y.iter_mut().zip(&t) {
        let r = y.norm_sqr() - t;
        want_loss += r * r;
        *y *= 4.0 * r;
    }
    plans.transform(&mut y, &[n, n], &[0, 1], Direction::Inverse, Norm::Forward);
    let got: Vec<C> = grad
        .iter()
        .map(|&(re, im)| c64(f64::from_bits(re), f64::from_bits(im)))
        .collect();
    let loss = f64::from_bits(loss.0);
    assert!(
        (loss - want_loss).abs() <= 1e-10 * want_loss,
        "{loss} vs {want_loss}"
    );
    let e = max_rel_diff(&got, &y);
    assert!(
        e <= 1e-10,
        "gradient differs from the hand-written adjoint: {e:e}"
    );
}

#[test]
fn elementwise_chain_and_reductions() {
    let (r, c) = (300, 301);
    let n = r * c;
    assert!(n >= THRESHOLD);
    let mut rng = Lcg(2);
    let (a0, b0, w0, k0) = (rng.vec(n), rng.vec(n), rng.vec(n), rng.vec(n));
    same_on_any_thread_count("elementwise chain", || {
        let tape: Tape = Tape::new();
        let a = tape.array(a0.clone(), &[r, c]);
        let b = tape.array(b0.clone(), &[r, c]);
        let w = tape.array(w0.clone(), &[r, c]);
        let s = tape.var(c64(0.3, -0.7));
        // Unary rules (holomorphic and not), the four operators between arrays, with a scalar
        // `Var`, a constant and a constant slice, and `powc`.
        let x = ((&a * &b).exp() + a.conj() / (&b + c64(2.0, 0.5))).sin() * s;
        let x = (&x - &k0[..]).tanh() + (1.0 - &w).norm() * b.re();
        let x = x.powc(&(&w * 0.1)) / (s + 3.0);
        // Every reduction, each into the loss.
        let loss = x.norm_sqr_sum()
            + x.sum().norm_sqr()
            + x.mean().im()
            + a.dot(&x).re()
            + x.vdot(&b).im()
            + a.dot(&b).norm();
        let g = loss.backward();
        let values = [
            x.sum().value(),
            x.mean().value(),
            x.norm_sqr_sum().value(),
            a.dot(&b).value(),
            a.vdot(&b).value(),
            loss.value(),
        ];
        (
            values.map(bits1),
            bits(&x.value()),
            bits(&g.grad(&a)),
            bits(&g.grad(&b)),
            bits(&g.grad(&w)),
            bits1(g.grad(&s)),
        )
    });
}

#[test]
fn reductions_add_in_fixed_chunks() {
    // The sum of a large array is the left-to-right sum of the chunk sums, each left to right,
    // on any number of threads.
    let n = 3 * THRESHOLD + 123;
    let v = Lcg(3).vec(n);
    let chunked = v
        .chunks(wirtinger::parallel::REDUCE_CHUNK)
        .map(|c| c.iter().fold(c64(0.0, 0.0), |s, &x| s + x))
        .reduce(|s, t| s + t)
        .unwrap();
    let sum = same_on_any_thread_count("sum", || {
        let tape: Tape = Tape::new();
        bits1(tape.vector(v.clone()).sum().value())
    });
    assert_eq!(sum, bits1(chunked));
}

#[test]
fn fftn_3d_and_single_axes() {
    // 3-D: the middle axis has several blocks, the first one stride 30·40.
    let shape = [36, 30, 40];
    let n: usize = shape.iter().product();
    assert!(n >= THRESHOLD);
    let mut rng = Lcg(4);
    let (u0, w0) = (rng.vec(n), rng.vec(n));
    let value = same_on_any_thread_count("fftn", || {
        let tape: Tape = Tape::new();
        let u = tape.array(u0.clone(), &shape);
        let w = tape.constant_array(w0.clone(), &shape);
        let y = u.fftn();
        let z = (&y * &w).ifftn_with(Norm::Ortho)
            + u.fft_axis(1, Norm::Forward)
            + u.ifft_axis(0, Norm::Backward).fftshift()
            + u.fft2_with(Norm::Ortho)
            + u.ifft();
        let loss = z.norm_sqr_sum();
        let g = loss.backward();
        (bits(&y.value()), bits1(loss.value()), bits(&g.grad(&u)))
    });

    // The parallel fftn is the 1-thread one (compared above); that is the serial plan-cache
    // transform, which is checked against a naive DFT in the unit tests.
    let mut want = u0.clone();
    FftPlans::<f64>::new().transform(
        &mut want,
        &shape,
        &[0, 1, 2],
        Direction::Forward,
        Norm::Backward,
    );
    assert_eq!(value.0, bits(&want));
}

#[test]
fn plan_cache_transform_large_1d_batches_and_f32() {
    // A batch of long rows (contiguous pass only, with scaling) and single precision.
    let shape = [9, 4099];
    let n = 9 * 4099;
    let x: Vec<Complex32> = Lcg(5)
        .vec(n)
        .iter()
        .map(|z| c32(z.re as f32, z.im as f32))
        .collect();
    same_on_any_thread_count("f32 transforms", || {
        let plans = FftPlans::<f32>::global();
        let mut y = x.clone();
        plans.transform(&mut y, &shape, &[1], Direction::Inverse, Norm::Backward);
        let mut z = x.clone();
        plans.transform(&mut z, &shape, &[0, 1], Direction::Forward, Norm::Ortho);
        let tape = Tape::<f32>::new();
        let u = tape.array(x.clone(), &shape);
        let loss = (u.fft2().norm_sqr() * 1e-3f32).powi(2).sum();
        let g = loss.backward().grad(&u);
        let f = |v: &[Complex32]| -> Vec<(u32, u32)> {
            v.iter().map(|z| (z.re.to_bits(), z.im.to_bits())).collect()
        };
        (f(&y), f(&z), loss.value().re.to_bits(), f(&g))
    });
}

/// Strided axes of power-of-two length in `f64` and `f32`, which take the crate's own column FFT
/// on a CPU with AVX2 and FMA (`fft/columns.rs`): segments of 8 and of 4 columns, masked
/// segments, several blocks, arrays at each of the four 16-byte offsets from a cache line (and
/// four of the eight 8-byte ones for `f32`; the tasks split the columns on the cache-line grid);
/// past the parallel threshold, so the columns are split among tasks.
#[test]
fn column_fft_is_the_same_on_any_thread_count() {
    let shapes = [
        [1, 256, 131],
        [1, 1024, 37],
        [3, 512, 23],
        [1, 256, 132],
        [2, 512, 64],
    ];
    for shape in shapes {
        let n: usize = shape.iter().product();
        let x = Lcg(7).vec(n);
        for shift in 0..4 {
            same_on_any_thread_count("column fft", || {
                let plans = FftPlans::<f64>::global();
                // The arrays start `shift` and `3 − shift` elements past a cache line (the column
                // FFT's grid moves with that when the number of columns is a multiple of four).
                let past_line = |k: usize, v: &Vec<_>| (k + 4 - (v.as_ptr() as usize / 16) % 4) % 4;
                let mut y = vec![c64(0.0, 0.0); n + 4];
                let at = past_line(shift, &y);
                let y = &mut y[at..at + n];
                y.copy_from_slice(&x);
                plans.transform(y, &shape, &[1], Direction::Forward, Norm::Ortho);
                let mut z = vec![c64(0.0, 0.0); n + 4];
                let at = past_line(3 - shift, &z);
                let z = &mut z[at..at + n];
                let (dir, norm) = (Direction::Inverse, Norm::Backward);
                plans.transform_outofplace(&x, z, &shape, &[1, 0], dir, norm);
                // `f32` arrays (the same kernel; 8 numbers to a cache line).
                let plans32 = FftPlans::<f32>::global();
                let x32: Vec<Complex32> = x
                    .iter()
                    .map(|z| Complex32::new(z.re as f32, z.im as f32))
                    .collect();
                let mut w = vec![Complex32::new(0.0, 0.0); n + 8];
                // Offsets 0, 3, 4 and 7 of the 8 (odd and even numbers past a line).
                let k = 2 * shift + shift % 2;
                let at = (k + 8 - (w.as_ptr() as usize / 8) % 8) % 8;
                let w = &mut w[at..at + n];
                w.copy_from_slice(&x32);
                plans32.transform(w, &shape, &[1], Direction::Forward, Norm::Ortho);
                let w: Vec<u32> = w
                    .iter()
                    .flat_map(|z| [z.re.to_bits(), z.im.to_bits()])
                    .collect();
                (bits(y), bits(z), w)
            });
        }
    }
}

#[test]
fn fused_real_chains_and_scalar_shares() {
    // A fused chain on real arithmetic (real values, real cotangent), a scalar `Var` whose share
    // is summed over the whole array, two array leaves (one gets the node's own buffer, the other
    // an added share), a length that is no multiple of the chunks, and the same chain
    // materialized (an array seed).
    let n = THRESHOLD + 4099;
    let mut rng = Lcg(3);
    let (a0, b0) = (rng.vec(n), rng.vec(n));
    let t0: Vec<f64> = (0..n).map(|_| rng.next()).collect();
    same_on_any_thread_count("fused real chain", || {
        let tape: Tape = Tape::new();
        let a = tape.vector(a0.clone());
        let b = tape.vector(b0.clone());
        let t = tape.real_constant_array(t0.clone(), &[n]);
        let s = tape.real_var(0.75);
        let r = (a.norm_sqr() * s - &t + b.norm()).powi(2);
        let loss = r.sum() + (r.sqrt() * &b).sum().norm_sqr();
        let g = loss.backward();
        (
            bits1(loss.value()),
            bits(&g.grad(&a)),
            bits(&g.grad(&b)),
            bits1(g.grad(&s)),
        )
    });
}

/// The one exception to bitwise equality: a single 1-D line of at least `THRESHOLD` points is
/// transformed as two half-length transforms at once on more than one thread (`fft/halves.rs`),
/// which changes the rounding only. A Gross–Pitaevskii-like energy, its value and gradient.
#[test]
fn long_1d_fft_is_split_on_many_threads_and_differs_by_rounding_only() {
    let n = 1 << 16;
    let mut rng = Lcg(9);
    let u0 = rng.vec(n);
    let k2: Vec<f64> = (0..n).map(|_| rng.next().abs() * 100.0).collect();
    let run = || {
        let tape: Tape = Tape::new();
        let u = tape.array(u0.clone(), &[n]);
        let k = tape.real_constant_array(k2.clone(), &[n]);
        let h = (u.fft() * &k).ifft();
        let loss = u.vdot(&h).re() + u.norm_sqr().powi(2).sum();
        let g = loss.backward().grad(&u);
        (loss.value().re, h.value().to_vec(), g)
    };
    let one = on(1, run);
    let two = on(2, run);
    // About 5e-16 measured; the bound leaves room for rustfft's other code paths (SSE, NEON).
    let dl = (two.0 - one.0).abs() / one.0.abs();
    assert!(dl <= 1e-14, "loss {} on 2 threads, {} on 1", two.0, one.0);
    let (dh, dg) = (max_rel_diff(&two.1, &one.1), max_rel_diff(&two.2, &one.2));
    assert!(dh <= 3e-15 && dg <= 3e-15, "h {dh:e}, gradient {dg:e}");
    // Two threads or three: the same split, the same bits.
    let three = on(3, run);
    assert_eq!(three.0.to_bits(), two.0.to_bits());
    assert!(bits(&three.1) == bits(&two.1) && bits(&three.2) == bits(&two.2));
    // The split plans were made: the test ran the split transform, not rustfft's whole one.
    let plans = format!("{:?}", FftPlans::<f64>::global());
    let split = &plans[plans.find("split_plans").expect("a split_plans field")..];
    let split = &split[..split.find(']').expect("a list")];
    assert!(
        split.contains("(65536, Forward)") && split.contains("(65536, Inverse)"),
        "{plans}"
    );
}

#[test]
fn optimizers_take_the_same_path_on_any_thread_count() {
    use wirtinger::optim::{Adam, GradientDescent, Lbfgs, Minimize, Optimizer, Params};
    // `Σ|u − t|⁴`-like loss on the tape, above the threshold: the updates, `norm_inf` and
    // L-BFGS's inner products (fixed chunks) must give the same iterates on any pool.
    let n = THRESHOLD + 17;
    let mut rng = Lcg(21);
    let (u0, t) = (rng.vec(n), rng.vec(n));
    fn path<O: Optimizer<f64>>(opt: O, u0: &[C], t: &[C]) -> (Vec<(u64, u64)>, Vec<u64>) {
        let mut p = Params::new();
        let u = p.array(u0.to_vec(), &[u0.len()]);
        let r = Minimize::new(opt).max_iters(5).quiet().run(p, |p| {
            let d = p.array(u) - t;
            let n2 = d.norm_sqr();
            (&n2 * &n2).sum() + p.array(u).norm_sqr_sum()
        });
        assert_eq!(r.iterations, 5);
        (
            bits(r.params.as_slice()),
            r.history.iter().map(|l| l.to_bits()).collect(),
        )
    }
    same_on_any_thread_count("gradient descent", || {
        path(GradientDescent::new(0.01).momentum(0.5), &u0, &t)
    });
    same_on_any_thread_count("adam", || path(Adam::new(0.05), &u0, &t));
    same_on_any_thread_count("l-bfgs", || path(Lbfgs::new(), &u0, &t));
}
