//! Data parallelism for large arrays: the `parallel` cargo feature (on by default).
//!
//! With the feature, array work on at least [`THRESHOLD`] elements runs on [rayon]'s thread pool:
//!
//! - FFTs ([`FftPlans::transform`](crate::fft::FftPlans::transform), and so every `VarArray` FFT
//!   and its reverse rule): the pass along the last axis splits the rows into contiguous runs, one
//!   per task; a pass along any other axis gives each task a batch of columns (to transform
//!   across the columns, four to an AVX2 vector, for `f64` and `f32` lines of a power-of-two
//!   length on a CPU with AVX2 and FMA; else to gather, transform and scatter back). Every task
//!   has its own scratch buffers. A single 1-D line of at least `THRESHOLD` points (of even
//!   length) is split into the transforms of its even and odd samples, which run at the same time
//!   (see below on its bits).
//! - Reductions of stored arrays (`sum`, `mean`, `dot`, `vdot`, `norm_sqr_sum`) and their reverse
//!   rules, and reading gradients out of [`Gradients`](crate::reverse::Gradients).
//! - Chains of elementwise ops of [`VarArray`](crate::reverse::VarArray), fused into one node
//!   evaluated in cache-sized chunks (`src/reverse/fused.rs`): their values, a reduction fused
//!   into them, and their reverse rule, in tasks of whole chunks.
//! - The optimizers of [`optim`](crate::optim): their updates, inner products and gradient
//!   norms (the inner products in the fixed chunks of the reductions below).
//!
//! Smaller arrays, and everything when the pool has one thread, take the serial code path.
//!
//! # Results do not depend on the thread count
//!
//! FFTs (but for the one exception below) and elementwise ops compute every element with the
//! same operations whatever the split.
//! Reductions (also those fused into an elementwise chain, and the shares of a scalar operand of
//! a chain in its reverse rule) always add in chunks of [`REDUCE_CHUNK`] elements, each summed
//! left to right, and then the chunk sums left to right, with the feature or without, on one
//! thread or many; so every result is bitwise the same for any number of threads, and the same
//! as a build without the feature.
//!
//! One exception: a 1-D FFT of a single line of at least [`THRESHOLD`] points (an array whose
//! other axes all have length 1), of even length, on more than one thread. rustfft runs one
//! transform on one thread, so this line is computed as two half-length transforms at once and one
//! radix-2 pass that combines them (on one thread that costs more than rustfft's own plan, so it
//! is not used there). It is the same DFT with its sums associated differently: the result
//! differs from the one-thread result by rounding only, a few units in the last place of `T`
//! relative to the largest element (about `5e-16` for `f64` in `tests/parallel.rs`), and is the
//! same on 2 threads as on 3. The choice follows the pool's size, not how busy it is; see
//! [`FftPlans::transform`](crate::fft::FftPlans::transform) for many such FFTs at once.
//!
//! # Threads
//!
//! The work runs on the rayon pool of the calling thread: the global pool (one thread per core;
//! set `RAYON_NUM_THREADS=1` to use one), or a pool of your own:
//!
//! ```
//! # #[cfg(feature = "parallel")] {
//! use wirtinger::prelude::*;
//!
//! let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
//! let n = 256;
//! let g = pool.install(|| {
//!     let tape = Tape::new();
//!     let u = tape.array(vec![c64(0.5, -0.25); n * n], &[n, n]);
//!     let loss = u.fft2().norm_sqr_sum();
//!     loss.backward().grad(&u)
//! });
//! // Σ|F u|² = n² Σ|u|² (Parseval), so the gradient is 2n² u.
//! assert!((g[0] - c64(0.5, -0.25) * (2.0 * (n * n) as f64)).norm() < 1e-6);
//! # }
//! ```
//!
//! (`rayon` is then a dependency of your crate as well.) To build without rayon, turn the default
//! features off: `wirtinger = { version = "0.1", default-features = false }`.

#[cfg(feature = "parallel")]
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Arrays of at least this many elements are processed in parallel (`2¹⁵`; with the `parallel`
/// feature and a thread pool of more than one thread).
///
/// Placed by measurement (`threshold_add` in `benches/reverse.rs`) on the 2-core development
/// machine: splitting work in two costs a few microseconds there (more when the cores are busy with
/// other programs), while the cheapest elementwise op, an add of two `Complex<f64>` arrays, takes
/// about 30 µs for 2¹⁵ elements on one core, so from this size on the split costs little against
/// what a second core can save; below it, it would cost as much as it saves. Every other op costs
/// more per element, so the same threshold is on the safe side for them. FFTs apply it to the
/// whole array.
pub const THRESHOLD: usize = 1 << 15;

/// Reductions add in chunks of this many elements (each left to right), then add the chunk sums
/// left to right, whatever the number of threads (and also without the `parallel` feature), so
/// that their results are the same for any thread count.
pub const REDUCE_CHUNK: usize = 1 << 12;

/// The smallest run of elements one task of an elementwise op handles.
#[cfg(feature = "parallel")]
const TASK: usize = 1 << 12;

/// Whether work on `n` elements goes to the thread pool.
#[inline]
pub(crate) fn parallel(n: usize) -> bool {
    #[cfg(feature = "parallel")]
    {
        n >= THRESHOLD && rayon::current_num_threads() > 1
    }
    #[cfg(not(feature = "parallel"))]
    {
        let _ = n;
        false
    }
}

/// `v[i] ← s·v[i]` for a real `s`, on the thread pool for a long array.
pub(crate) fn scale<T: crate::Real>(v: &mut [num_complex::Complex<T>], s: T) {
    for_chunks(v, |_, v| {
        for z in v {
            *z = z.scale(s);
        }
    });
}

/// Calls `f(offset, chunk)` on consecutive chunks of `dst` (the whole slice at once when it is
/// small): on the thread pool for large slices.
#[inline]
pub(crate) fn for_chunks<U, F>(dst: &mut [U], f: F)
where
    U: Send,
    F: Fn(usize, &mut [U]) + Sync + Send,
{
    #[cfg(feature = "parallel")]
    if parallel(dst.len()) {
        dst.par_chunks_mut(TASK)
            .enumerate()
            .for_each(|(k, c)| f(k * TASK, c));
        return;
    }
    f(0, dst)
}

/// Calls `f(offset, a_chunk, b_chunk)` on chunks of `a` and `b` at the same offsets (the whole
/// slices at once when they are small): on the thread pool for long slices.
#[inline]
pub(crate) fn for_chunks2<A, B, F>(a: &mut [A], b: &mut [B], f: F)
where
    A: Send,
    B: Send,
    F: Fn(usize, &mut [A], &mut [B]) + Sync + Send,
{
    assert_eq!(
        a.len(),
        b.len(),
        "wirtinger: internal error: for_chunks2 of different lengths"
    );
    #[cfg(feature = "parallel")]
    if parallel(a.len()) {
        a.par_chunks_mut(TASK)
            .zip(b.par_chunks_mut(TASK))
            .enumerate()
            .for_each(|(k, (a, b))| f(k * TASK, a, b));
        return;
    }
    f(0, a, b)
}

/// [`for_chunks2`] with a third slice.
#[inline]
pub(crate) fn for_chunks3<A, B, C, F>(a: &mut [A], b: &mut [B], c: &mut [C], f: F)
where
    A: Send,
    B: Send,
    C: Send,
    F: Fn(usize, &mut [A], &mut [B], &mut [C]) + Sync + Send,
{
    assert!(
        a.len() == b.len() && a.len() == c.len(),
        "wirtinger: internal error: for_chunks3 of different lengths"
    );
    #[cfg(feature = "parallel")]
    if parallel(a.len()) {
        a.par_chunks_mut(TASK)
            .zip(b.par_chunks_mut(TASK))
            .zip(c.par_chunks_mut(TASK))
            .enumerate()
            .for_each(|(k, ((a, b), c))| f(k * TASK, a, b, c));
        return;
    }
    f(0, a, b, c)
}

/// Replaces the contents of `dst` by `src.len()` elements, `dst[i] = f(&src[i])`, writing into
/// the spare capacity without initialising it first.
#[inline]
pub(crate) fn map_into<S, U, F>(dst: &mut Vec<U>, src: &[S], f: F)
where
    S: Sync,
    U: Send + Copy,
    F: Fn(&S) -> U + Sync + Send,
{
    let n = src.len();
    if !parallel(n) {
        dst.clear();
        dst.extend(src.iter().map(f));
        return;
    }
    fill(dst, n, |off, out| {
        for (o, x) in out.iter_mut().zip(&src[off..]) {
            o.write(f(x));
        }
    });
}

/// Replaces the contents of `dst` by `n` copies of `v`.
#[inline]
pub(crate) fn fill_value<U: Send + Sync + Copy>(dst: &mut Vec<U>, n: usize, v: U) {
    if !parallel(n) {
        dst.clear();
        dst.resize(n, v);
        return;
    }
    fill(dst, n, |_, out| {
        for o in out {
            o.write(v);
        }
    });
}

/// Sets the length of `dst` to `n` after `f(offset, chunk)` has written every element of the
/// chunks of its first `n` spare slots (in parallel).
fn fill<U, F>(dst: &mut Vec<U>, n: usize, f: F)
where
    U: Send + Copy,
    F: Fn(usize, &mut [MaybeUninit<U>]) + Sync + Send,
{
    dst.clear();
    dst.reserve(n);
    let spare = &mut dst.spare_capacity_mut()[..n];
    for_chunks(spare, |off, out| {
        f(off, out);
    });
    // SAFETY: the callers' `f` write every element of every chunk they are given, and the chunks
    // cover `spare[..n]`; `U: Copy`, so a panic part-way leaves nothing to drop.
    unsafe { dst.set_len(n) }
}

/// `dst[i] = f(dst[i], src[i])` for every `i`, in place.
#[inline]
pub(crate) fn update<U, S, F>(dst: &mut [U], src: &[S], f: F)
where
    U: Send,
    S: Sync,
    F: Fn(&mut U, &S) + Sync + Send,
{
    assert_eq!(
        dst.len(),
        src.len(),
        "wirtinger: internal error: update of different lengths"
    );
    for_chunks(dst, |off, out| {
        for (o, x) in out.iter_mut().zip(&src[off..]) {
            f(o, x);
        }
    });
}

/// The sum of `part(range)` over consecutive ranges of [`REDUCE_CHUNK`] indices covering `0..n`,
/// added left to right with `add` (`None` for `n = 0`). The ranges and the order of the additions
/// do not depend on the thread count or on the feature; only where the parts are computed does.
#[inline]
pub(crate) fn chunked_sum<A, P, F>(n: usize, part: P, add: F) -> Option<A>
where
    A: Send,
    P: Fn(Range<usize>) -> A + Sync + Send,
    F: Fn(A, A) -> A,
{
    let chunk = |k: usize| k * REDUCE_CHUNK..((k + 1) * REDUCE_CHUNK).min(n);
    let chunks = n.div_ceil(REDUCE_CHUNK);
    #[cfg(feature = "parallel")]
    if parallel(n) {
        let parts: Vec<A> = (0..chunks)
            .into_par_iter()
            .map(|k| part(chunk(k)))
            .collect();
        return parts.into_iter().reduce(add);
    }
    (0..chunks).map(|k| part(chunk(k))).reduce(add)
}

/// [`chunked_sum`] over the chunks of `v` itself: `part(offset, chunk)` may change the chunk it
/// is given. The same ranges and order of additions as `chunked_sum(v.len(), …)`.
#[inline]
pub(crate) fn chunked_sum_mut<U, A, P, F>(v: &mut [U], part: P, add: F) -> Option<A>
where
    U: Send,
    A: Send,
    P: Fn(usize, &mut [U]) -> A + Sync + Send,
    F: Fn(A, A) -> A,
{
    #[cfg(feature = "parallel")]
    if parallel(v.len()) {
        let parts: Vec<A> = v
            .par_chunks_mut(REDUCE_CHUNK)
            .enumerate()
            .map(|(k, c)| part(k * REDUCE_CHUNK, c))
            .collect();
        return parts.into_iter().reduce(add);
    }
    v.chunks_mut(REDUCE_CHUNK)
        .enumerate()
        .map(|(k, c)| part(k * REDUCE_CHUNK, c))
        .reduce(add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_sum_covers_every_index_once() {
        for n in [
            0,
            1,
            REDUCE_CHUNK - 1,
            REDUCE_CHUNK,
            3 * REDUCE_CHUNK + 5,
            THRESHOLD + 17,
        ] {
            let s = chunked_sum(n, |r| r.map(|i| i as u64).sum::<u64>(), |a, b| a + b);
            assert_eq!(
                s.unwrap_or(0),
                (n as u64) * (n as u64).saturating_sub(1) / 2
            );
            // The same chunks, each changed in place, added in the same order.
            let ranges = |r: std::ops::Range<usize>| vec![(r.start, r.end)];
            let join = |mut a: Vec<(usize, usize)>, b: Vec<(usize, usize)>| {
                a.extend(b);
                a
            };
            let want = chunked_sum(n, ranges, join);
            let mut v: Vec<u64> = (0..n as u64).collect();
            let part = |off: usize, c: &mut [u64]| {
                let first = c[0];
                c.iter_mut().for_each(|x| *x = 1);
                assert_eq!(first, off as u64);
                vec![(off, off + c.len())]
            };
            let got = chunked_sum_mut(&mut v, part, join);
            assert_eq!(got, want);
            assert_eq!(v, vec![1; n]);
        }
    }

    #[test]
    fn fills_and_maps() {
        for n in [0, 5, THRESHOLD + 3] {
            let src: Vec<u32> = (0..n as u32).collect();
            let mut v = vec![7u32; 3];
            map_into(&mut v, &src, |x| x + 1);
            assert_eq!(v, (1..=n as u32).collect::<Vec<_>>());
            update(&mut v, &src, |o, x| *o += x);
            assert_eq!(v, src.iter().map(|x| 2 * x + 1).collect::<Vec<_>>());
            fill_value(&mut v, n, 9);
            assert_eq!(v, vec![9; n]);
            for_chunks(&mut v, |off, c| {
                for (j, x) in c.iter_mut().enumerate() {
                    *x = (off + j) as u32;
                }
            });
            assert_eq!(v, src);
            let mut w = vec![0u32; n];
            for_chunks2(&mut v, &mut w, |off, a, b| {
                for (j, (a, b)) in a.iter_mut().zip(b).enumerate() {
                    *b = *a + 1;
                    *a = (off + j) as u32 * 3;
                }
            });
            assert_eq!(w, (1..=n as u32).collect::<Vec<_>>());
            assert_eq!(v, src.iter().map(|x| 3 * x).collect::<Vec<_>>());
            let mut u = vec![0u64; n];
            for_chunks3(&mut v, &mut w, &mut u, |off, a, b, c| {
                for (j, ((a, b), c)) in a.iter_mut().zip(b).zip(c).enumerate() {
                    *c = (*a + *b) as u64;
                    *a = (off + j) as u32;
                    *b = 0;
                }
            });
            assert_eq!(u, src.iter().map(|&x| 4 * x as u64 + 1).collect::<Vec<_>>());
            assert_eq!((v == src, w == vec![0; n]), (true, true));
        }
    }
}
