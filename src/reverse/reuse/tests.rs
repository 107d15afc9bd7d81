//! The gradients of expectation values `⟨ψ|A|ψ⟩` and their relatives: against closed forms built
//! from a direct DFT, against finite differences, and whether the backward pass ran transforms.

use crate::fft::tests::naive;
use crate::fft::Direction;
use crate::prelude::*;
use crate::reverse::fft_ops::BACKWARD_TRANSFORMS;
use crate::Norm;

type C = Complex64;

/// The backward transforms `f` runs (on this thread).
fn transforms_in<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = BACKWARD_TRANSFORMS.with(|n| n.get());
    let r = f();
    (r, BACKWARD_TRANSFORMS.with(|n| n.get()) - before)
}

/// A fixed pseudo-random field, smooth enough that nothing cancels.
fn field(n: usize, seed: u64) -> Vec<C> {
    (0..n)
        .map(|j| {
            let t = (j as f64 + 1.0) * (0.37 + seed as f64 * 0.11);
            c64((1.3 * t).sin() + 0.2, (0.7 * t).cos() - 0.1)
        })
        .collect()
}

/// The 1-D DFT of the rows of length `n` of `u`, unscaled, by the definition
/// (`fft::tests::naive`).
fn dft(u: &[C], n: usize, dir: Direction) -> Vec<C> {
    // `Backward` forward and `Forward` inverse are both unscaled.
    let norm = match dir {
        Direction::Forward => Norm::Backward,
        Direction::Inverse => Norm::Forward,
    };
    naive(u, &[u.len() / n, n], &[1], dir, norm)
}

/// `s · Uᴴ(K ⊙ U u)` for a 1-D `u`, `U` the unscaled DFT and `K_j = k(j)`.
fn spectral(u: &[C], k: impl Fn(usize) -> C, s: f64) -> Vec<C> {
    let n = u.len();
    let kf: Vec<C> = dft(u, n, Direction::Forward)
        .iter()
        .enumerate()
        .map(|(j, f)| f * k(j))
        .collect();
    dft(&kf, n, Direction::Inverse)
        .iter()
        .map(|z| z * s)
        .collect()
}

/// `K` with `K_k = k²/2` for the signed frequency `k` (a kinetic symbol), of length `n`.
fn kinetic(n: usize) -> Vec<f64> {
    (0..n)
        .map(|j| {
            let k = if j < n / 2 {
                j as f64
            } else {
                j as f64 - n as f64
            };
            0.5 * k * k + 0.25
        })
        .collect()
}

/// `2 ∂L/∂ψ̄` of a real `L` by central differences in each real coordinate.
fn fd_grad(l: impl Fn(&[C]) -> f64, psi: &[C]) -> Vec<C> {
    let h = 1e-6;
    let mut p = psi.to_vec();
    (0..psi.len())
        .map(|k| {
            let mut d = [0.0; 2];
            for (i, dir) in [c64(h, 0.0), c64(0.0, h)].into_iter().enumerate() {
                p[k] = psi[k] + dir;
                let up = l(&p);
                p[k] = psi[k] - dir;
                d[i] = (up - l(&p)) / (2.0 * h);
                p[k] = psi[k];
            }
            c64(d[0], d[1])
        })
        .collect()
}

fn max_rel(a: &[C], b: &[C]) -> f64 {
    let scale = b.iter().fold(1.0f64, |m, x| m.max(x.norm()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).norm()))
        / scale
}

/// `L = Re vdot(ψ, ifft(K·fft ψ))` with the two norms given, and its gradient.
fn kinetic_energy(psi: &[C], k: &[f64], n1: Norm, n2: Norm) -> (f64, Vec<C>) {
    let tape: Tape = Tape::new();
    let x = tape.vector(psi);
    let kk = tape.real_constant_array(k, &[k.len()]);
    let l = x.vdot(&(x.fft_with(n1) * &kk).ifft_with(n2)).re();
    let g = l.backward();
    (l.value().re, g.grad(&x))
}

#[test]
fn an_expectation_value_of_a_spectral_operator_takes_no_backward_transform_for_every_norm() {
    let n = 16;
    let psi = field(n, 1);
    let k = kinetic(n);
    let norms = [Norm::Backward, Norm::Ortho, Norm::Forward];
    for n1 in norms {
        for n2 in norms {
            let ((l, g), runs) = transforms_in(|| kinetic_energy(&psi, &k, n1, n2));
            assert_eq!(runs, 0, "{n1:?} {n2:?}");
            // A = s₁s₂·U_inv K U_fwd is Hermitian, so grad Re⟨ψ, Aψ⟩ = 2Aψ.
            let s =
                n1.factor::<f64>(Direction::Forward, n) * n2.factor::<f64>(Direction::Inverse, n);
            let a_psi = spectral(&psi, |j| c64(k[j], 0.0), s);
            let want: Vec<C> = a_psi.iter().map(|a| a * 2.0).collect();
            assert!(max_rel(&g, &want) < 1e-13, "{n1:?} {n2:?}: {g:?}\n{want:?}");
            let lw: f64 = psi.iter().zip(&a_psi).map(|(p, a)| (p.conj() * a).re).sum();
            assert!((l - lw).abs() < 1e-12 * lw.abs());
            let fd = fd_grad(|p| kinetic_energy(p, &k, n1, n2).0, &psi);
            assert!(max_rel(&g, &fd) < 1e-7, "{n1:?} {n2:?}");
        }
    }
}

#[test]
fn the_gross_pitaevskii_energy_matches_its_closed_form_gradient() {
    // E = dx·Re⟨ψ, Aψ⟩ + dx·Σ V|ψ|² + (g/2)·dx·Σ|ψ|⁴, grad = 2dx(Aψ + Vψ + g|ψ|²ψ).
    let n = 32;
    let (dx, gc) = (0.3, 1.7);
    let psi = field(n, 2);
    let k = kinetic(n);
    let v: Vec<f64> = (0..n).map(|j| 0.01 * (j as f64 - 16.0).powi(2)).collect();
    let energy = |p: &[C]| {
        let tape: Tape = Tape::new();
        let x = tape.vector(p);
        let kk = tape.real_constant_array(&k, &[n]);
        let vv = tape.real_constant_array(&v, &[n]);
        let n2 = x.norm_sqr();
        let kin = x.vdot(&(x.fft() * &kk).ifft()).re();
        let e = (kin + (&n2 * &vv).sum() + n2.powi(2).sum() * (gc / 2.0)) * dx;
        let g = e.backward();
        (e.value().re, g.grad(&x))
    };
    let ((_, g), runs) = transforms_in(|| energy(&psi));
    assert_eq!(runs, 0);
    let a_psi = spectral(&psi, |j| c64(k[j], 0.0), 1.0 / n as f64);
    let want: Vec<C> = (0..n)
        .map(|j| (a_psi[j] + psi[j] * v[j] + psi[j] * (gc * psi[j].norm_sqr())) * (2.0 * dx))
        .collect();
    assert!(max_rel(&g, &want) < 1e-13, "{g:?}\n{want:?}");
    assert!(max_rel(&g, &fd_grad(|p| energy(p).0, &psi)) < 1e-7);
}

#[test]
fn a_complex_symbol_is_not_self_adjoint_and_runs_a_transform() {
    // A = F⁻¹ K F with complex K: grad Re⟨ψ, Aψ⟩ = (A + Aᴴ)ψ, Aᴴ = F⁻¹ K̄ F. The inverse
    // transform's adjoint of ψ is still Fψ, stored; `K̄ ⊙` is not `K ⊙`, so one FFT runs.
    let n = 16;
    let psi = field(n, 3);
    let k: Vec<C> = (0..n)
        .map(|j| c64(1.0 + j as f64, 0.5 - j as f64))
        .collect();
    let run = |p: &[C]| {
        let tape: Tape = Tape::new();
        let x = tape.vector(p);
        let l = x.vdot(&(x.fft() * &k[..]).ifft()).re();
        (l.value().re, l.backward().grad(&x))
    };
    let ((_, g), runs) = transforms_in(|| run(&psi));
    assert_eq!(runs, 1);
    let s = 1.0 / n as f64;
    let (a, ah) = (
        spectral(&psi, |j| k[j], s),
        spectral(&psi, |j| k[j].conj(), s),
    );
    let want: Vec<C> = a.iter().zip(&ah).map(|(a, b)| a + b).collect();
    assert!(max_rel(&g, &want) < 1e-13);
    assert!(max_rel(&g, &fd_grad(|p| run(p).0, &psi)) < 1e-7);
}

#[test]
fn a_transform_of_the_same_value_elsewhere_on_the_tape_is_used_only_when_it_matches() {
    // L = Re⟨ψ, Fψ⟩: grad (F + Fᴴ)ψ. Fᴴψ is n·ifft(ψ): found on the tape when it is there (in
    // any norm), not when only a transform along another axis is.
    let (r, n) = (2, 8);
    let psi = field(r * n, 4);
    let f = dft(&psi, n, Direction::Forward);
    let fh = dft(&psi, n, Direction::Inverse);
    let want: Vec<C> = f.iter().zip(&fh).map(|(a, b)| a + b).collect();
    for (extra, expect_runs) in [(0, 1), (1, 0), (2, 0), (3, 1)] {
        let run = |p: &[C]| {
            let tape: Tape = Tape::new();
            let x = tape.array(p, &[r, n]);
            // Recorded and left unused: only the lookup sees them.
            let _other = match extra {
                1 => Some(x.ifft()),
                2 => Some(x.ifft_with(Norm::Ortho)),
                3 => Some(x.ifft_axis(0, Norm::Backward)),
                _ => None,
            };
            let l = x.vdot(&x.fft()).re();
            (l.value().re, l.backward().grad(&x))
        };
        let ((_, g), runs) = transforms_in(|| run(&psi));
        assert_eq!(runs, expect_runs, "case {extra}");
        assert!(max_rel(&g, &want) < 1e-13, "case {extra}");
        assert!(max_rel(&g, &fd_grad(|p| run(p).0, &psi)) < 1e-7);
    }
}

#[test]
fn two_shares_into_one_adjoint_and_a_complex_output() {
    let n = 16;
    let psi = field(n, 5);
    let k = kinetic(n);
    let apply = |u: &[C]| spectral(u, |j| c64(k[j], 0.0), 1.0 / n as f64);
    let a_psi = apply(&psi);
    // L = Re⟨ψ, Aψ⟩ + Σ|Aψ|²: Aψ's adjoint gets two shares; grad 2Aψ + 2A(Aψ).
    let run = |p: &[C]| {
        let tape: Tape = Tape::new();
        let x = tape.vector(p);
        let kk = tape.real_constant_array(&k, &[n]);
        let h = (x.fft() * &kk).ifft();
        let l = x.vdot(&h).re() + h.norm_sqr_sum();
        (l.value().re, l.backward().grad(&x))
    };
    let (_, g) = run(&psi);
    let aa = apply(&a_psi);
    let want: Vec<C> = a_psi.iter().zip(&aa).map(|(a, b)| (a + b) * 2.0).collect();
    assert!(max_rel(&g, &want) < 1e-12);
    assert!(max_rel(&g, &fd_grad(|p| run(p).0, &psi)) < 1e-7);

    // ⟨ψ, ψ⟩ (both shares one value: added as scalars) and the complex f = ⟨ψ, Aψ⟩: ∂f/∂ψ̄ = Aψ,
    // ∂f/∂ψ = conj(Aᴴψ) = conj(Aψ).
    let tape: Tape = Tape::new();
    let x = tape.vector(&psi);
    let l = x.vdot(&x).re();
    let g = l.backward().grad(&x);
    assert_eq!(g, psi.iter().map(|p| p * 2.0).collect::<Vec<_>>());
    let kk = tape.real_constant_array(&k, &[n]);
    let f = x.vdot(&(x.fft() * &kk).ifft());
    let ((dz, dzbar), runs) = transforms_in(|| {
        let g = f.backward();
        (g.dz(&x), g.dzbar(&x))
    });
    assert_eq!(runs, 0);
    let conj: Vec<C> = a_psi.iter().map(|a| a.conj()).collect();
    assert!(max_rel(&dzbar, &a_psi) < 1e-13);
    assert!(max_rel(&dz, &conj) < 1e-13);
}

#[test]
fn a_real_symbol_that_is_a_leaf_gets_its_own_gradient() {
    // L = Re⟨ψ, F⁻¹ K F ψ⟩ = Σ K_k |Fψ|²_k / n: ∂L/∂K_k = |Fψ|²_k / n; K needs an adjoint, so the
    // product is not a constant diagonal.
    let n = 16;
    let psi = field(n, 6);
    let k = kinetic(n);
    let tape: Tape = Tape::new();
    let x = tape.vector(&psi);
    let kk = tape.real_array(&k[..], &[n]);
    let l = x.vdot(&(x.fft() * &kk).ifft()).re();
    let g = l.backward();
    let f = dft(&psi, n, Direction::Forward);
    let want: Vec<C> = f
        .iter()
        .map(|f| c64(f.norm_sqr() / n as f64, 0.0))
        .collect();
    assert!(max_rel(&g.grad(&kk), &want) < 1e-13);
    let a_psi = spectral(&psi, |j| c64(k[j], 0.0), 1.0 / n as f64);
    let want: Vec<C> = a_psi.iter().map(|a| a * 2.0).collect();
    assert!(max_rel(&g.grad(&x), &want) < 1e-13);
}

#[test]
fn a_real_leaf_and_a_scalar_factor() {
    // x real: L = Re⟨x, F⁻¹(2·Fx)⟩ = 2|x|², grad 4x; stored as real numbers, scaled from them.
    let n = 16;
    let xs: Vec<f64> = (0..n).map(|j| (j as f64 * 0.7).sin()).collect();
    let tape: Tape = Tape::new();
    let x = tape.real_array(&xs[..], &[n]);
    let l = x.vdot(&(x.fft() * 2.0).ifft()).re();
    let (g, runs) = transforms_in(|| l.backward().grad(&x));
    assert_eq!(runs, 0);
    let want: Vec<C> = xs.iter().map(|x| c64(4.0 * x, 0.0)).collect();
    assert!(max_rel(&g, &want) < 1e-13, "{g:?}");
}

#[test]
fn f32_expectation_values() {
    let n = 64;
    let psi = field(n, 7);
    let k = kinetic(n);
    let p32: Vec<Complex32> = psi.iter().map(|z| c32(z.re as f32, z.im as f32)).collect();
    let k32: Vec<f32> = k.iter().map(|&k| k as f32).collect();
    let tape: Tape<f32> = Tape::new();
    let x = tape.vector(&p32);
    let kk = tape.real_constant_array(&k32, &[n]);
    let l = x.vdot(&(x.fft() * &kk).ifft()).re();
    let (g, runs) = transforms_in(|| l.backward().grad(&x));
    assert_eq!(runs, 0);
    let (_, g64) = kinetic_energy(&psi, &k, Norm::Backward, Norm::Backward);
    let g: Vec<C> = g.iter().map(|z| c64(z.re as f64, z.im as f64)).collect();
    assert!(max_rel(&g, &g64) < 1e-5);
}
