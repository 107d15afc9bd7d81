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
