//! Forward mode against plain complex arithmetic, side by side in one criterion group.
//!
//! The expression, fixed, mixing holomorphic (`sin`, `exp`, `ln`, products) and non-holomorphic
//! (`conj`, `|z|²`) operations:
//!
//! ```text
//! f(z) = exp(z̄ · sin z) / 2 + |z|² · ln z
//! ```
//!
//! evaluated at 10⁵ points `z = x + iy`, `x ∈ [−2, 2)`, `y ∈ [−1.5, 1.5)`, drawn from a fixed
//! linear congruential generator.
//!
//! - `complex64`: `f` on plain `Complex64`, summing the values.
//! - `dual`: `f` on `Dual::var(z)`, summing the value, `∂f/∂z` and `∂f/∂z̄`.
//!
//! Both evaluate the very same source text (the `f!` macro). The ratio `dual / complex64` is the
//! cost of forward mode; the goal is at most 2.
//!
//! ```text
//! cargo bench --bench forward -- --warm-up-time 1 --measurement-time 5
//! ```

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use wirtinger::prelude::*;

const N: usize = 100_000;

/// The benchmarked expression, written once and expanded for both number types.
macro_rules! f {
    ($z:expr) => {{
        let z = $z;
        (z.conj() * z.sin()).exp() * 0.5 + z.norm_sqr() * z.ln()
    }};
}

/// `N` points from a 64-bit LCG (Knuth's MMIX constants), top 53 bits as a uniform `[0, 1)`.
fn points() -> Vec<Complex64> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..N)
        .map(|_| c64(4.0 * uniform() - 2.0, 3.0 * uniform() - 1.5))
        .collect()
}

fn plain(zs: &[Complex64]) -> Complex64 {
    let mut acc = c64(0.0, 0.0);
    for &z in zs {
        acc += f!(z);
    }
    acc
}

fn dual(zs: &[Complex64]) -> (Complex64, Complex64, Complex64) {
    let (mut v, mut dz, mut dzbar) = (c64(0.0, 0.0), c64(0.0, 0.0), c64(0.0, 0.0));
    for &z in zs {
        let w = f!(Dual::var(z));
        v += w.value();
        dz += w.dz();
        dzbar += w.dzbar();
    }
    (v, dz, dzbar)
}

fn bench(c: &mut Criterion) {
    let zs = points();
    let mut group = c.benchmark_group("forward");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("complex64", |b| b.iter(|| plain(black_box(&zs))));
    group.bench_function("dual", |b| b.iter(|| dual(black_box(&zs))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
