//! Reverse mode against plain code: what the tape costs.
//!
//! Run with
//!
//! ```text
//! cargo bench --bench reverse -- --warm-up-time 1 --measurement-time 5
//! ```
//!
//! The scalar benchmarks (a) are serial. With the `parallel` feature (the default), the tape's
//! array ops on the phase-retrieval fields (b) run on rayon's pool: the benchmarks named `…_1thr`
//! and `…_2thr` run inside a pool of one and of two threads, the others on the global pool (one
//! thread per core; `RAYON_NUM_THREADS` sets it). A pool of one thread takes the serial code path.
//!
//! # (a) A scalar expression of about 10⁵ ops
//!
//! [`BLOCKS`] chains of [`STEPS`] steps, each step
//!
//! ```text
//! s = z·w + conj(z)·½,   z ← s · exp(−|s|²/10)
//! ```
//!
//! (eight tape ops: mul, conj, mul by a constant, add, norm_sqr, mul by a constant, exp, mul),
//! starting from `z = z₀ + b/1000` in chain `b`, and the real loss `L = Σ_b |z_b|²`. The chains are
//! short (25 steps) so that the adjoints neither underflow to subnormals nor overflow. Benchmarks:
//! `plain` evaluates `L` with `Complex64` (value only, as one would write it by hand); `tape_fresh`
//! records it on a new tape and runs `backward`; `tape_reused` does the same on one tape emptied by
//! `Tape::clear` each time (its node buffer keeps its capacity); `tape_record_only` records on the
//! reused tape without `backward`.
//!
//! A counting global allocator checks, outside the timed loop, that recording the 10⁵ ops on a
//! cleared tape makes no heap allocation at all, and that a fresh tape only makes the `O(log n)`
//! allocations of its growing node vector.
//!
//! # (b) Phase retrieval
//!
//! `L(u) = Σ_k (|y_k|² − T_k)²` with `y = F u`, `F` the unnormalised 2-D DFT, on `n × n` complex
//! fields (`n` = 256, 1024), `T` a real target. Benchmarks: `value_plain` (no tape: copy, FFT,
//! reduction), `hand_grad` (the value and the hand-written gradient below), `hand_grad_2t` (the
//! same with two of the four transposes saved by working in the transposed layout between the
//! forward and inverse FFTs; "2t" is two transposes, not two threads), `tape_reused` /
//! `tape_fresh` (value and gradient through the tape: `tape.array`, `fft2`, `norm_sqr`, `- &t`,
//! `powi(2)`, `sum`, `backward`, `grad`), and `tape_record_only` (the forward recording alone).
//!
//! Thread counts: `hand_grad` and `hand_grad_2t` are serial code. `hand_par_1thr` /
//! `hand_par_2thr` are `hand_grad_2t` parallelised by hand with rayon (rows in contiguous runs per
//! task with a scratch buffer each, blocked parallel transposes, the elementwise step in chunks),
//! in a pool of one and of two threads; `tape_1thr` / `tape_2thr` are `tape_reused` in the same
//! pools. Compare `tape_1thr` with `hand_grad_2t` and `tape_2thr` with `hand_par_2thr`; on a
//! noisy machine, better: `TAPE_OVER_HAND=200 cargo bench --bench reverse -- '^none$'` calls the
//! two in turn, 200 times each, on 1 and 2 threads, and prints their medians and ratio.
//! `tape_reused`, `tape_fresh` and `tape_record_only` also run in the one-thread pool (rayon's
//! global pool would use every core, unlike the serial `hand_grad`).
//!
//! The hand-written 2-D FFT is honest: one rustfft `process_with_scratch` call on the whole
//! buffer transforms every row, then `transpose`, rows again, `transpose` back.
//!
//! ## The hand-written gradient
//!
//! With `r_k = |y_k|² − T_k`, `L = Σ_k r_k²` is real. By the chain rule of Wirtinger calculus
//! (`∂|y|²/∂ȳ = y`):
//!
//! ```text
//! ∂L/∂ȳ_k = 2 r_k · ∂|y_k|²/∂ȳ_k = 2 r_k y_k.
//! ```
//!
//! `y = F u` is linear and holomorphic (`∂y/∂ū = 0`), so `∂L/∂ū = Σ_k conj(∂y_k/∂u) ∂L/∂ȳ_k`,
//! that is `∂L/∂ū = Fᴴ (2 r ⊙ y)`, where `Fᴴ` (the conjugate transpose of `F`) is the
//! *unnormalised* inverse 2-D DFT (kernel `exp(+2πi jk/n)` along each axis, no `1/n²`). With the
//! crate's convention `grad L = 2 ∂L/∂ū` (= `∂L/∂x + i ∂L/∂y`, PyTorch's `u.grad`):
//!
//! ```text
//! grad L = 4 Fᴴ ((|F u|² − T) ⊙ F u).
//! ```
//!
//! The setup asserts once, outside the timed loops, that the tape's value and gradient equal these
//! to 1e-9 relative on a 64 × 64 field.
//!
//! # (c) The parallel threshold
//!
//! `threshold_add`: an elementwise add of two `Complex64` arrays of 2¹²…2¹⁷ elements, serial and
//! on two threads in tasks of 4096 elements, to place `wirtinger::parallel::THRESHOLD`.
//!
//! `fft2_1024x1024`: the crate's 2-D FFT (`FftPlans::transform`, whose pass along the first axis
//! runs across the columns with no transpose on a CPU with AVX2 and FMA, and gathers batches of
//! columns elsewhere) against rows, transpose, rows, transpose back (by hand with rayon on two
//! threads), each on one and on two threads. The crate's is named `gather_*` for history;
//! `f32_*` is the crate's on the same numbers in `f32` (whose first pass also runs across the
//! columns, in `f64` arithmetic on `f32` arrays).
//!
//! `asinh_2^20`: value and gradient of `Σ |asinh u|²` over 2²⁰ elements on the tape, on one and
//! two threads: how the elementwise work itself scales.
//!
//! # (d) An optimizer's iteration
//!
//! `optim_1024x1024`: four iterations of `Adam` and of `GradientDescent` through
//! `Minimize::run` on the phase-retrieval loss at 1024² (five evaluations, the first one
//! included, and the setup of a run: its copy of the parameters, a tape), and
//! `evaluations_only`: the five evaluations alone on a reused tape, each gradient copied into a
//! vector. All on one thread. The difference is what the driver and the optimizer add.

use criterion::{criterion_group, criterion_main, Criterion};
use rayon::prelude::*;
use rustfft::{Fft, FftPlanner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wirtinger::prelude::*;

type C = Complex64;

// ---------------------------------------------------------------------------------------------
// Allocation counting

/// The system allocator, counting allocations (not frees) so the setup can check for per-op
/// allocations. One relaxed atomic add per allocation: no measurable effect on the timings.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCS.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// (a) Scalar expression

/// Independent chains; each contributes `|z|²` to the loss.
const BLOCKS: usize = 500;
/// Steps per chain, eight tape ops each.
const STEPS: usize = 25;
const Z0: C = C::new(0.8, 0.3);
const W: C = C::new(0.45, -0.4);

/// The loss with plain `Complex64` arithmetic, written as one would by hand (`|s|²` and its `exp`
/// on `f64`).
fn scalar_plain(z0: C, w: C) -> f64 {
    let mut loss = 0.0;
    for b in 0..BLOCKS {
        let mut z = z0 + C::new(1e-3 * b as f64, 0.0);
        for _ in 0..STEPS {
            let s = z * w + z.conj() * 0.5;
            let e = (s.norm_sqr() * -0.1).exp();
            z = s * e;
        }
        loss += z.norm_sqr();
    }
    loss
}

/// The same loss recorded on `tape`; returns `(loss, z0, w)`.
fn scalar_tape(tape: &Tape, z0: C, w: C) -> (Var<'_>, Var<'_>, Var<'_>) {
    let z0 = tape.var(z0);
    let w = tape.var(w);
    let mut loss = tape.real_constant(0.0);
    for b in 0..BLOCKS {
        let mut z = z0 + C::new(1e-3 * b as f64, 0.0);
        for _ in 0..STEPS {
            let s = z * w + z.conj() * 0.5;
            let e = (s.norm_sqr() * -0.1).exp();
            z = s * e;
        }
        loss += z.norm_sqr();
    }
    (loss, z0, w)
}

fn scalar_tape_grad(tape: &Tape, z0: C, w: C) -> (f64, C, C) {
    let (loss, z0, w) = scalar_tape(tape, z0, w);
    let g = loss.backward();
    (loss.value().re, g.grad(&z0), g.grad(&w))
}

/// Checks the tape against the plain value and central differences, and counts allocations.
fn check_scalar() {
    let mut tape: Tape = Tape::new();
    let (value, gz, gw) = scalar_tape_grad(&tape, Z0, W);
    let plain = scalar_plain(Z0, W);
    assert!(
        (value - plain).abs() <= 1e-12 * plain.abs(),
        "{value} vs {plain}"
    );
    // grad = ∂L/∂x + i ∂L/∂y, by central differences.
    let h = 1e-6;
    let fd = |f: &dyn Fn(C) -> f64| {
        let dx = (f(C::new(h, 0.0)) - f(C::new(-h, 0.0))) / (2.0 * h);
        let dy = (f(C::new(0.0, h)) - f(C::new(0.0, -h))) / (2.0 * h);
        C::new(dx, dy)
    };
    let fz = fd(&|d| scalar_plain(Z0 + d, W));
    let fw = fd(&|d| scalar_plain(Z0, W + d));
    assert!(
        (gz - fz).norm() <= 1e-6 * fz.norm().max(1.0),
        "{gz} vs {fz}"
    );
    assert!(
        (gw - fw).norm() <= 1e-6 * fw.norm().max(1.0),
        "{gw} vs {fw}"
    );

    // Allocations of one record on a cleared tape (buffer already grown): none.
    tape.clear();
    let before = allocations();
    let nodes = {
        let (loss, ..) = scalar_tape(&tape, Z0, W);
        black_box(loss.value());
        tape.len()
    };
    let reused = allocations() - before;
    // On a fresh tape: only the growth of the node vector.
    let before = allocations();
    let fresh = {
        let t: Tape = Tape::new();
        let (loss, ..) = scalar_tape(&t, Z0, W);
        black_box(loss.value());
        allocations() - before
    };
    // And the backward pass (per pass, not per op).
    tape.clear();
    let back = {
        let (loss, ..) = scalar_tape(&tape, Z0, W);
        let before = allocations();
        black_box(loss.backward());
        allocations() - before
    };
    println!(
        "scalar: {nodes} tape nodes; L = {value:.6}, grad z0 = {gz:.6}, grad w = {gw:.6}; heap \
         allocations: {reused} recording on a cleared tape, {fresh} on a fresh tape, {back} in \
         backward"
    );
    assert_eq!(reused, 0, "recording on a cleared tape allocated");
    assert!(
        fresh < 64,
        "a fresh tape made {fresh} allocations for {nodes} nodes"
    );
}

fn bench_scalar(c: &mut Criterion) {
    check_scalar();
    let mut group = c.benchmark_group("scalar_1e5_ops");
    group.bench_function("plain", |b| {
        b.iter(|| scalar_plain(black_box(Z0), black_box(W)))
    });
    group.bench_function("tape_fresh", |b| {
        b.iter(|| {
            let tape: Tape = Tape::new();
            scalar_tape_grad(&tape, black_box(Z0), black_box(W))
        })
    });
    let mut tape: Tape = Tape::new();
    group.bench_function("tape_reused", |b| {
        b.iter(|| {
            tape.clear();
            scalar_tape_grad(&tape, black_box(Z0), black_box(W))
        })
    });
    group.bench_function("tape_record_only", |b| {
        b.iter(|| {
            tape.clear();
            let (loss, ..) = scalar_tape(&tape, black_box(Z0), black_box(W));
            loss.value()
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// (b) Phase retrieval

/// Deterministic pseudo-random complex values in [-1, 1)² (xorshift).
fn rand_field(len: usize, seed: u64) -> Vec<C> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    (0..len).map(|_| C::new(next(), next())).collect()
}

/// A hand-written unnormalised 2-D FFT of `n × n` row-major data with rustfft and `transpose`.
struct Fft2 {
    n: usize,
    fwd: Arc<dyn Fft<f64>>,
    inv: Arc<dyn Fft<f64>>,
    scratch: Vec<C>,
    tmp: Vec<C>,
}

impl Fft2 {
    fn new(n: usize) -> Self {
        let mut planner = FftPlanner::new();
        let fwd = planner.plan_fft_forward(n);
        let inv = planner.plan_fft_inverse(n);
        let len = fwd
            .get_inplace_scratch_len()
            .max(inv.get_inplace_scratch_len());
        Fft2 {
            n,
            fwd,
            inv,
            scratch: vec![C::default(); len],
            tmp: vec![C::default(); n * n],
        }
    }

    fn plan(&self, inverse: bool) -> Arc<dyn Fft<f64>> {
        if inverse {
            self.inv.clone()
        } else {
            self.fwd.clone()
        }
    }

    /// Every row of `buf` (one rustfft call on the whole buffer).
    fn rows(&mut self, buf: &mut [C], inverse: bool) {
        self.plan(inverse)
            .process_with_scratch(buf, &mut self.scratch);
    }

    /// `buf ← F buf` (or `Fᴴ buf`): rows, transpose, rows, transpose back.
    fn apply(&mut self, buf: &mut [C], inverse: bool) {
        let n = self.n;
        let plan = self.plan(inverse);
        plan.process_with_scratch(buf, &mut self.scratch);
        transpose::transpose(buf, &mut self.tmp, n, n);
        plan.process_with_scratch(&mut self.tmp, &mut self.scratch);
        transpose::transpose(&self.tmp, buf, n, n);
    }
}

/// The field, the target and the work buffers of one problem size.
/// `u` and `T` of a [`Phase`], shared with the tapes that record it.
struct Shared {
    u: Rc<Vec<C>>,
    t: Rc<Vec<f64>>,
}

struct Phase {
    n: usize,
    u: Vec<C>,
    t: Vec<f64>,
    /// `T` transposed, for the variant that stays in the transposed layout.
    t_tr: Vec<f64>,
    fft: Fft2,
    work: Vec<C>,
    tmp: Vec<C>,
}

impl Phase {
    fn new(n: usize) -> Self {
        let mut fft = Fft2::new(n);
        let u = rand_field(n * n, 1);
        let mut y = rand_field(n * n, 2);
        fft.apply(&mut y, false);
        let t: Vec<f64> = y.iter().map(|z| z.norm_sqr()).collect();
        let mut t_tr = vec![0.0; n * n];
        transpose::transpose(&t, &mut t_tr, n, n);
        Phase {
            n,
            u,
            t,
            t_tr,
            fft,
            work: vec![C::default(); n * n],
            tmp: vec![C::default(); n * n],
        }
    }

    /// `L(u)` without a tape.
    fn value_plain(&mut self) -> f64 {
        self.work.copy_from_slice(&self.u);
        self.fft.apply(&mut self.work, false);
        self.work
            .iter()
            .zip(&self.t)
            .map(|(y, t)| {
                let r = y.norm_sqr() - t;
                r * r
            })
            .sum()
    }

    /// `L(u)` and `grad L = 4 Fᴴ((|Fu|² − T) ⊙ Fu)`, left in `self.work`.
    fn hand_grad(&mut self) -> f64 {
        self.work.copy_from_slice(&self.u);
        self.fft.apply(&mut self.work, false);
        let mut loss = 0.0;
        for (y, t) in self.work.iter_mut().zip(&self.t) {
            let r = y.norm_sqr() - t;
            loss += r * r;
            *y *= 4.0 * r;
        }
        self.fft.apply(&mut self.work, true);
        loss
    }

    /// As [`hand_grad`](Self::hand_grad), keeping `F u` transposed between the two transforms:
    /// rows, transpose, rows, (elementwise against `Tᵀ`), rows, transpose, rows.
    fn hand_grad_2t(&mut self) -> f64 {
        let n = self.n;
        self.work.copy_from_slice(&self.u);
        self.fft.rows(&mut self.work, false);
        transpose::transpose(&self.work, &mut self.tmp, n, n);
        self.fft.rows(&mut self.tmp, false); // (F u)ᵀ
        let mut loss = 0.0;
        for (y, t) in self.tmp.iter_mut().zip(&self.t_tr) {
            let r = y.norm_sqr() - t;
            loss += r * r;
            *y *= 4.0 * r;
        }
        self.fft.rows(&mut self.tmp, true);
        transpose::transpose(&self.tmp, &mut self.work, n, n);
        self.fft.rows(&mut self.work, true);
        loss
    }

    /// [`hand_grad_2t`](Self::hand_grad_2t) parallelised with rayon on the current pool.
    fn hand_par(&mut self) -> f64 {
        let n = self.n;
        let (fwd, inv) = (self.fft.fwd.clone(), self.fft.inv.clone());
        par_copy(&self.u, &mut self.work);
        par_rows(fwd.as_ref(), &mut self.work, n);
        par_transpose(&self.work, &mut self.tmp, n);
        par_rows(fwd.as_ref(), &mut self.tmp, n); // (F u)ᵀ
        let loss: f64 = self
            .tmp
            .par_chunks_mut(PAR_CHUNK)
            .zip(self.t_tr.par_chunks(PAR_CHUNK))
            .map(|(y, t)| {
                let mut loss = 0.0;
                for (y, t) in y.iter_mut().zip(t) {
                    let r = y.norm_sqr() - t;
                    loss += r * r;
                    *y *= 4.0 * r;
                }
                loss
            })
            .sum();
        par_rows(inv.as_ref(), &mut self.tmp, n);
        par_transpose(&self.tmp, &mut self.work, n);
        par_rows(inv.as_ref(), &mut self.work, n);
        loss
    }

    /// `u` and `T` as the tape takes them without a copy. An `Rc` is not `Send`, so each
    /// thread pool's bench makes its own, on the pool's thread, before it starts timing.
    fn shared(&self) -> Shared {
        Shared {
            u: Rc::new(self.u.clone()),
            t: Rc::new(self.t.clone()),
        }
    }

    /// Records `L` on `tape` (`s`: from [`shared`](Self::shared)); returns the loss and
    /// the leaf.
    fn record<'t>(&self, tape: &'t Tape, s: &Shared) -> (Var<'t>, VarArray<'t>) {
        let n = self.n;
        let u = tape.array(&s.u, &[n, n]);
        let t = tape.real_constant_array(&s.t, &[n, n]);
        let loss = (u.fft2().norm_sqr() - &t).powi(2).sum();
        (loss, u)
    }

    /// `L` through the tape, and `f` of `grad L`, lent by `grad_ref` in the backward pass's own
    /// buffer (as the hand-written adjoint leaves it in `work`).
    fn tape_grad<R>(&self, tape: &Tape, s: &Shared, f: impl FnOnce(&[C]) -> R) -> (f64, R) {
        let (loss, u) = self.record(tape, s);
        let r = f(&loss.backward().grad_ref(&u));
        (loss.value().re, r)
    }
}

/// Value and gradient through one tape, cleared and refilled per call, on `pool`. The tape (not
/// `Send`) is made on the pool's thread; so are its buffers.
fn tape_reused(b: &mut criterion::Bencher<'_>, p: &Phase, pool: &rayon::ThreadPool) {
    pool.install(|| {
        let mut tape: Tape = Tape::new();
        let s = p.shared();
        b.iter(|| {
            tape.clear();
            p.tape_grad(&tape, &s, |g| black_box(g.as_ptr()))
        })
    })
}

/// Elements per task of the hand-parallelised loops.
const PAR_CHUNK: usize = 1 << 14;

/// `dst ← src` in parallel chunks.
fn par_copy(src: &[C], dst: &mut [C]) {
    dst.par_chunks_mut(PAR_CHUNK)
        .zip(src.par_chunks(PAR_CHUNK))
        .for_each(|(d, s)| d.copy_from_slice(s));
}

/// Every row of the `n`-column `buf`, runs of rows per task, each task with its own scratch.
fn par_rows(fft: &dyn Fft<f64>, buf: &mut [C], n: usize) {
    let need = fft.get_inplace_scratch_len();
    let rows = (PAR_CHUNK / n).max(1);
    buf.par_chunks_mut(rows * n).for_each_init(
        || vec![C::default(); need],
        |scratch, rows| fft.process_with_scratch(rows, scratch),
    );
}

/// `dst = srcᵀ` for `n × n` matrices: each task writes a block of rows of `dst` (columns of
/// `src`), reading `src` a row segment at a time.
fn par_transpose(src: &[C], dst: &mut [C], n: usize) {
    const B: usize = 16;
    dst.par_chunks_mut(B * n).enumerate().for_each(|(k, out)| {
        let c0 = k * B;
        let b = out.len() / n;
        for i in 0..n {
            let seg = &src[i * n + c0..][..b];
            for (j, &v) in seg.iter().enumerate() {
                out[j * n + i] = v;
            }
        }
    });
}

/// The tape against the hand-written gradient, once, at 64 × 64.
fn check_phase() {
    let mut p = Phase::new(64);
    let tape: Tape = Tape::new();
    let (lt, gt) = p.tape_grad(&tape, &p.shared(), <[C]>::to_vec);
    let lv = p.value_plain();
    let lh = p.hand_grad();
    let lh2 = {
        let g = p.work.clone();
        let l2 = p.hand_grad_2t();
        let e2 = max_rel_diff(&p.work, &g);
        assert!(e2 <= 1e-12, "hand_grad_2t differs from hand_grad: {e2:e}");
        p.work = g;
        l2
    };
    for l in [lv, lh, lh2] {
        assert!(
            (lt - l).abs() <= 1e-9 * l.abs(),
            "loss: tape {lt} vs hand {l}"
        );
    }
    let e = max_rel_diff(&gt, &p.work);
    let g = p.work.clone();
    let lp = p.hand_par();
    let ep = max_rel_diff(&p.work, &g);
    assert!(ep <= 1e-12, "hand_par differs from hand_grad: {ep:e}");
    assert!((lp - lh).abs() <= 1e-12 * lh.abs(), "{lp} vs {lh}");
    println!(
        "phase retrieval 64²: L = {lt:.6e}; tape vs hand-written gradient: max rel diff {e:.2e}"
    );
    assert!(
        e <= 1e-9,
        "tape gradient differs from 4 Fᴴ((|Fu|² − T) Fu): {e:e}"
    );
}

/// `max_k |a_k − b_k| / max_k |b_k|`.
fn max_rel_diff(a: &[C], b: &[C]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().map(|z| z.norm()).fold(f64::MIN_POSITIVE, f64::max);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
        / scale
}

/// The tape (`tape_reused`) and the hand-written adjoint (`hand_grad_2t` on one thread,
/// `hand_par` on two), called in turn, `calls` times each, in the same pool: the medians of each
/// and their ratio, printed. On a noisy machine the ratio of two criterion benchmarks run
/// seconds apart moves with the machine (the hand-written code alone by up to 2× from one run
/// to the next); calls in turn see the same machine.
fn tape_over_hand(pools: &[(usize, rayon::ThreadPool)], calls: usize) {
    for n in [256, 1024] {
        let mut p = Phase::new(n);
        for (threads, pool) in pools {
            let (mut tape_ms, mut hand_ms) = (Vec::new(), Vec::new());
            pool.install(|| {
                let mut tape: Tape = Tape::new();
                let s = p.shared();
                // One call of each first, untimed: plans, buffers, pages.
                black_box(p.tape_grad(&tape, &s, |g| black_box(g.as_ptr())));
                black_box(p.hand_grad_2t() + p.hand_par());
                for call in 0..2 * calls {
                    let t = std::time::Instant::now();
                    // Alternate which goes first, so neither always follows the other.
                    if (call + call / 2) % 2 == 0 {
                        tape.clear();
                        black_box(p.tape_grad(&tape, &s, |g| black_box(g.as_ptr())));
                        tape_ms.push(t.elapsed().as_secs_f64() * 1e3);
                    } else {
                        black_box(if *threads == 1 {
                            p.hand_grad_2t()
                        } else {
                            p.hand_par()
                        });
                        black_box(&p.work);
                        hand_ms.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                }
            });
            let median = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let (t, h) = (median(&mut tape_ms), median(&mut hand_ms));
            println!(
                "tape over hand, {n}x{n}, {threads} thread(s), {calls} calls each: \
                 {t:.4} / {h:.4} ms = {:.3}",
                t / h
            );
        }
    }
}

fn bench_phase(c: &mut Criterion) {
    check_phase();
    let pools: Vec<(usize, rayon::ThreadPool)> = [1, 2]
        .into_iter()
        .map(|k| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(k)
                .build()
                .expect("a thread pool");
            (k, pool)
        })
        .collect();
    if let Some(calls) = std::env::var("TAPE_OVER_HAND")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&calls: &usize| calls > 0)
    {
        tape_over_hand(&pools, calls);
    }
    for n in [256, 1024] {
        let mut p = Phase::new(n);
        let mut group = c.benchmark_group(format!("phase_retrieval_{n}x{n}"));
        group.sample_size(10);
        if n >= 1024 {
            group.warm_up_time(Duration::from_secs(1));
        }
        group.bench_function("value_plain", |b| b.iter(|| p.value_plain()));
        group.bench_function("hand_grad", |b| {
            b.iter(|| {
                let l = p.hand_grad();
                black_box(&p.work);
                l
            })
        });
        group.bench_function("hand_grad_2t", |b| {
            b.iter(|| {
                let l = p.hand_grad_2t();
                black_box(&p.work);
                l
            })
        });
        for (threads, pool) in &pools {
            group.bench_function(format!("hand_par_{threads}thr"), |b| {
                pool.install(|| {
                    b.iter(|| {
                        let l = p.hand_par();
                        black_box(&p.work);
                        l
                    })
                })
            });
            group.bench_function(format!("tape_{threads}thr"), |b| tape_reused(b, &p, pool));
        }
        // The rest on one thread, like `hand_grad` (rayon's global pool has one per core).
        let one = &pools[0].1;
        group.bench_function("tape_reused", |b| tape_reused(b, &p, one));
        group.bench_function("tape_fresh", |b| {
            one.install(|| {
                let s = p.shared();
                b.iter(|| {
                    let tape: Tape = Tape::new();
                    p.tape_grad(&tape, &s, |g| black_box(g.as_ptr()))
                })
            })
        });
        group.bench_function("tape_record_only", |b| {
            one.install(|| {
                let mut tape: Tape = Tape::new();
                let s = p.shared();
                b.iter(|| {
                    tape.clear();
                    let (loss, _) = p.record(&tape, &s);
                    loss.value()
                })
            })
        });
        group.finish();
    }
}

// ---------------------------------------------------------------------------------------------
// (c) The parallel threshold

/// `c = a + b` on `Complex64` arrays, serially and split as the crate splits elementwise work
/// (tasks of 4096 elements) on a pool of two threads, at sizes around
/// `wirtinger::parallel::THRESHOLD`: where the second thread starts to pay.
fn bench_threshold(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    let mut group = c.benchmark_group("threshold_add");
    for log in [12, 13, 14, 15, 16, 17] {
        let n = 1usize << log;
        let (a, b) = (rand_field(n, 3), rand_field(n, 4));
        let mut out = vec![C::default(); n];
        group.bench_function(format!("serial_2^{log}"), |bch| {
            bch.iter(|| {
                for ((o, x), y) in out.iter_mut().zip(&a).zip(&b) {
                    *o = x + y;
                }
                black_box(&out);
            })
        });
        group.bench_function(format!("rayon_2thr_2^{log}"), |bch| {
            pool.install(|| {
                bch.iter(|| {
                    out.par_chunks_mut(1 << 12).enumerate().for_each(|(k, o)| {
                        let off = k << 12;
                        for ((o, x), y) in o.iter_mut().zip(&a[off..]).zip(&b[off..]) {
                            *o = x + y;
                        }
                    });
                    black_box(&out);
                })
            })
        });
    }
    group.finish();
}

/// The crate's 2-D FFT (a strided pass, with no transpose on a CPU with AVX2 and FMA, then the
/// rows) against rows, transpose, rows, transpose back, at 1024², on pools of one and two threads.
fn bench_fft2(c: &mut Criterion) {
    let n = 1024;
    let mut group = c.benchmark_group("fft2_1024x1024");
    group.sample_size(10);
    let x = rand_field(n * n, 5);
    let mut buf = x.clone();
    let mut tmp = vec![C::default(); n * n];
    let mut fft = Fft2::new(n);
    let plans = wirtinger::fft::FftPlans::<f64>::global();
    let x32: Vec<num_complex::Complex32> = x
        .iter()
        .map(|z| num_complex::Complex32::new(z.re as f32, z.im as f32))
        .collect();
    let mut buf32 = x32.clone();
    let plans32 = wirtinger::fft::FftPlans::<f32>::global();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        group.bench_function(format!("gather_{threads}thr"), |b| {
            pool.install(|| {
                b.iter(|| {
                    buf.copy_from_slice(&x);
                    plans.transform(
                        &mut buf,
                        &[n, n],
                        &[0, 1],
                        wirtinger::fft::Direction::Forward,
                        Norm::Backward,
                    );
                    black_box(&buf);
                })
            })
        });
        group.bench_function(format!("f32_{threads}thr"), |b| {
            pool.install(|| {
                b.iter(|| {
                    buf32.copy_from_slice(&x32);
                    plans32.transform(
                        &mut buf32,
                        &[n, n],
                        &[0, 1],
                        wirtinger::fft::Direction::Forward,
                        Norm::Backward,
                    );
                    black_box(&buf32);
                })
            })
        });
        group.bench_function(format!("transpose_{threads}thr"), |b| {
            pool.install(|| {
                b.iter(|| {
                    buf.copy_from_slice(&x);
                    if threads == 1 {
                        fft.apply(&mut buf, false);
                    } else {
                        par_rows(fft.fwd.as_ref(), &mut buf, n);
                        par_transpose(&buf, &mut tmp, n);
                        par_rows(fft.fwd.as_ref(), &mut tmp, n);
                        par_transpose(&tmp, &mut buf, n);
                    }
                    black_box(&buf);
                })
            })
        });
    }
    group.finish();
}

/// A costly elementwise op on the tape, value and gradient (`Σ |asinh u|²` over 2²⁰ elements),
/// on one and two threads: how well the elementwise work itself scales.
fn bench_elementwise(c: &mut Criterion) {
    let n = 1 << 20;
    let x = rand_field(n, 6);
    let mut group = c.benchmark_group("asinh_2^20");
    group.sample_size(10);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        group.bench_function(format!("tape_{threads}thr"), |b| {
            pool.install(|| {
                let mut tape: Tape = Tape::new();
                b.iter(|| {
                    tape.clear();
                    let u = tape.vector(&x);
                    let loss = u.asinh().norm_sqr_sum();
                    loss.backward().grad(&u)
                })
            })
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// (d) An optimizer's iteration

/// `optim_1024x1024`: [`STEPS_OPT`] iterations of an optimizer on the phase-retrieval loss at
/// 1024² through `Minimize::run` (one evaluation to start, one per iteration), against the
/// same number of evaluations alone on a reused tape with the gradient copied out (what any
/// optimizer loop needs): what the optimizer's own work (its update, the stopping tests) adds.
fn bench_optim(c: &mut Criterion) {
    use wirtinger::optim::{Adam, GradientDescent, Minimize, Optimizer, Params};
    const STEPS_OPT: usize = 4;
    let n = 1024;
    let p = Phase::new(n);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool");
    let mut group = c.benchmark_group(format!("optim_{n}x{n}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function("evaluations_only", |b| {
        pool.install(|| {
            let mut tape: Tape = Tape::new();
            let s = p.shared();
            let mut g = vec![C::default(); n * n];
            b.iter(|| {
                let mut l = 0.0;
                for _ in 0..=STEPS_OPT {
                    tape.clear();
                    let (loss, u) = p.record(&tape, &s);
                    loss.backward().grad_into(&u, &mut g);
                    l += loss.value().re;
                }
                black_box(&g);
                l
            })
        })
    });
    fn run<O: Optimizer<f64>>(p: &Phase, opt: O) -> f64 {
        let n = p.n;
        let mut params = Params::new();
        let u = params.array(p.u.clone(), &[n, n]);
        let t = Rc::new(p.t.clone());
        let r = Minimize::new(opt)
            .max_iters(STEPS_OPT)
            .gtol(0.0)
            .ftol(0.0)
            .quiet()
            .run(params, |l| {
                let t = l.tape().real_constant_array(&t, &[n, n]);
                (l.array(u).fft2().norm_sqr() - &t).powi(2).sum()
            });
        assert_eq!(r.iterations, STEPS_OPT);
        r.loss
    }
    group.bench_function("adam", |b| {
        pool.install(|| b.iter(|| run(&p, Adam::new(1e-3))))
    });
    group.bench_function("gradient_descent", |b| {
        pool.install(|| b.iter(|| run(&p, GradientDescent::new(1e-14))))
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_scalar,
    bench_phase,
    bench_threshold,
    bench_fft2,
    bench_elementwise,
    bench_optim
);
criterion_main!(benches);
