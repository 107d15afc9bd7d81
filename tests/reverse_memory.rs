//! `Tape::memory` and `Gradients::memory`: the bytes held by values and adjoints, counted exactly
//! on graphs whose contents are known.

use wirtinger::prelude::*;

const C: usize = core::mem::size_of::<Complex64>();
const R: usize = core::mem::size_of::<f64>();

#[test]
fn phase_retrieval_holds_three_arrays_of_values_and_at_most_two_adjoints() {
    let n = 32 * 32;
    let tape = Tape::new();
    let u = tape.array(vec![c64(0.1, 0.2); n], &[32, 32]);
    let t = tape.real_constant_array(vec![1.0; n], &[32, 32]);
    // Values: u, F u and T (stored as real numbers); the elementwise chain and its sum are one
    // fused node that stores no array.
    let loss = (u.fft2().norm_sqr() - &t).powi(2).sum();
    let before = tape.memory();
    assert_eq!(before.values, 2 * n * C + n * R);
    // The loss is a real fused sum: its VJP (the adjoint of F u) is computed with its value and
    // held until the backward pass.
    assert_eq!(before.adjoints, n * C);
    assert!(before.graph > 0 && before.graph < 4096, "{before:?}");
    let g = loss.backward();
    let m = g.memory();
    assert_eq!((m.graph, m.values), (before.graph, before.values));
    // Walking back, the fused node writes the adjoint of F u, and the FFT's reverse rule turns it
    // into that of u (in place, but counted as two arrays alive at once), plus one scalar adjoint
    // per node.
    assert_eq!(m.adjoints, 2 * n * C + tape.len() * C);
    assert_eq!(m.total(), m.graph + m.values + m.adjoints);
}

#[test]
fn shared_arrays_are_counted_once_and_fan_out_keeps_adjoints_alive() {
    let n = 100;
    let tape = Tape::new();
    let u = tape.vector(vec![c64(1.0, -1.0); n]);
    // `reshape` shares its input's values.
    let r = u.reshape(&[10, 10]);
    assert_eq!(tape.memory().values, n * C);
    // u feeds two ops: its adjoint and those of both branches can be alive together.
    let a = r.exp();
    let b = r.sin();
    // Pending elementwise ops hold no values until something needs them.
    assert_eq!(tape.memory().values, n * C);
    let _ = (a.value(), b.value());
    let l = (a.norm_sqr_sum() + b.norm_sqr_sum()).re();
    assert_eq!(tape.memory().values, 3 * n * C);
    let m = l.backward().memory();
    assert!(m.adjoints >= 2 * n * C, "{m:?}");
    assert!(m.adjoints <= 4 * n * C + tape.len() * C, "{m:?}");
}

#[test]
fn a_scalar_tape_holds_no_array_values() {
    let tape = Tape::new();
    let z = tape.var(c64(1.0, 2.0));
    let mut x = z;
    for _ in 0..100 {
        x = x * z + 1.0;
    }
    let m = x.norm_sqr().backward().memory();
    assert_eq!(m.values, 0);
    assert_eq!(m.adjoints, tape.len() * C);
    // Per node a 64-byte record: 16 bytes of inputs and kind, the value and two partials. No op
    // here is binary and not holomorphic, which would hold two more partials outside it.
    assert_eq!(m.graph, tape.len() * 4 * C, "{m:?}");
}

/// The gradient of a loss that goes through every path that writes into pooled buffers without
/// zeroing them first (a materialized elementwise chain, the chunk scratch of fused passes, the
/// fused sums' early adjoints and their scaling, `vdot`, `norm_sqr_sum`, the FFT's adjoint).
fn pooled_paths_gradient(n: usize) -> (f64, Vec<Complex64>) {
    let tape = Tape::new();
    let u: Vec<Complex64> = (0..n)
        .map(|k| c64((0.37 * k as f64).sin(), (0.11 * k as f64).cos()))
        .collect();
    let u = tape.array(u, &[n]);
    let t = tape.real_constant_array((0..n).map(|k| (k % 7) as f64).collect::<Vec<_>>(), &[n]);
    let w = tape.constant_array(vec![c64(0.5, -0.25); n], &[n]);
    let s = tape.var(c64(0.3, -0.7));
    let h = (u.fft() * &t).ifft();
    // A pending op read twice, a scalar variable as an operand, a chain materialized by an FFT.
    let a = u.exp() * 0.1;
    let m = (&a * &a + &u * s).fft();
    let loss = u.vdot(&h).re() * 0.3
        + (u.norm_sqr() * &t).sum() * 0.7
        + (u.fft().norm_sqr() - &t).powi(2).sum()
        + (&u * &w).norm_sqr_sum()
        + h.vdot(&w).re()
        + m.vdot(&w).re();
    let g = loss.backward();
    let mut grad = g.grad(&u);
    grad.push(g.grad(&s));
    (loss.value().re, grad)
}

/// Buffers come back to a per-thread pool and are reused without being zeroed: every element a
/// pass reads, it has written first. Fill the pool with NaN-holding buffers of many sizes, then
/// take a gradient: it must be bit for bit the one a thread with an empty pool computes.
#[test]
fn reused_buffers_holding_nan_do_not_change_gradients() {
    for n in [300, 5000, 70_000] {
        let clean = std::thread::spawn(move || pooled_paths_gradient(n))
            .join()
            .unwrap();
        let reused = std::thread::spawn(move || {
            for m in [n / 2, n, 2 * n, 256, 1024, 1500, 4096, 8192] {
                let tape = Tape::new();
                let x = tape.array(vec![c64(f64::NAN, f64::NAN); m], &[m]);
                // Values of pending chains, FFTs and adjoints, all NaN, dropped to the pool.
                let y = (x.exp() * 2.0).fft();
                let _ = (y.norm_sqr().sum() + x.norm_sqr_sum()).backward();
            }
            pooled_paths_gradient(n)
        })
        .join()
        .unwrap();
        assert!(clean.0.is_finite() && clean.1.iter().all(|z| z.is_finite()));
        assert!(clean.1.iter().any(|z| z.norm() > 0.0));
        assert_eq!(clean.0.to_bits(), reused.0.to_bits(), "n = {n}");
        assert_eq!(clean.1, reused.1, "n = {n}");
    }
}
