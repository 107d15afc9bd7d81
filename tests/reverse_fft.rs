//! FFTs on the tape: values against a naive DFT with numpy's scaling, the reverse rule against the
//! adjoint of the dense matrix (dot-product test), FFT losses against finite differences, and the
//! complex-output derivatives `∂f/∂u = Aᵀ c`, `∂f/∂ū = 0`.

mod common;
use common::Lcg;
use std::f64::consts::PI;
use wirtinger::check;
use wirtinger::prelude::*;

type C = Complex64;

const ZERO: C = c64(0.0, 0.0);

const SHAPES: &[&[usize]] = &[
    &[1],
    &[2],
    &[7],
    &[12],
    &[97],
    &[4, 6],
    &[3, 5, 2],
    &[2, 1, 3],
];

const NORMS: [Option<Norm>; 4] = [
    None,
    Some(Norm::Backward),
    Some(Norm::Ortho),
    Some(Norm::Forward),
];

/// Every transform of the API.
#[derive(Clone, Copy, Debug)]
enum Tr {
    Fft(Option<Norm>),
    Ifft(Option<Norm>),
    Fft2(Option<Norm>),
    Ifft2(Option<Norm>),
    Fftn(Option<Norm>),
    Ifftn(Option<Norm>),
    FftAxis(usize, Norm),
    IfftAxis(usize, Norm),
    Shift,
    IShift,
}

impl Tr {
    fn apply<'t>(self, u: &VarArray<'t>) -> VarArray<'t> {
        match self {
            Tr::Fft(None) => u.fft(),
            Tr::Fft(Some(n)) => u.fft_with(n),
            Tr::Ifft(None) => u.ifft(),
            Tr::Ifft(Some(n)) => u.ifft_with(n),
            Tr::Fft2(None) => u.fft2(),
            Tr::Fft2(Some(n)) => u.fft2_with(n),
            Tr::Ifft2(None) => u.ifft2(),
            Tr::Ifft2(Some(n)) => u.ifft2_with(n),
            Tr::Fftn(None) => u.fftn(),
            Tr::Fftn(Some(n)) => u.fftn_with(n),
            Tr::Ifftn(None) => u.ifftn(),
            Tr::Ifftn(Some(n)) => u.ifftn_with(n),
            Tr::FftAxis(a, n) => u.fft_axis(a, n),
            Tr::IfftAxis(a, n) => u.ifft_axis(a, n),
            Tr::Shift => u.fftshift(),
            Tr::IShift => u.ifftshift(),
        }
    }

    /// The reference: numpy's definition, written out naively.
    fn naive(self, u: &[C], shape: &[usize]) -> Vec<C> {
        let d = shape.len();
        let nb = |n: Option<Norm>| n.unwrap_or(Norm::Backward);
        match self {
            Tr::Fft(n) => naive_dft(u, shape, &[d - 1], false, nb(n)),
            Tr::Ifft(n) => naive_dft(u, shape, &[d - 1], true, nb(n)),
            Tr::Fft2(n) => naive_dft(u, shape, &[d - 2, d - 1], false, nb(n)),
            Tr::Ifft2(n) => naive_dft(u, shape, &[d - 2, d - 1], true, nb(n)),
            Tr::Fftn(n) => naive_dft(u, shape, &(0..d).collect::<Vec<_>>(), false, nb(n)),
            Tr::Ifftn(n) => naive_dft(u, shape, &(0..d).collect::<Vec<_>>(), true, nb(n)),
            Tr::FftAxis(a, n) => naive_dft(u, shape, &[a], false, n),
            Tr::IfftAxis(a, n) => naive_dft(u, shape, &[a], true, n),
            Tr::Shift => naive_shift(u, shape, false),
            Tr::IShift => naive_shift(u, shape, true),
        }
    }
}

/// Every transform that applies to an array of `shape`.
fn transforms(shape: &[usize]) -> Vec<Tr> {
    let mut out = Vec::new();
    for n in NORMS {
        out.extend([Tr::Fft(n), Tr::Ifft(n), Tr::Fftn(n), Tr::Ifftn(n)]);
        if shape.len() >= 2 {
            out.extend([Tr::Fft2(n), Tr::Ifft2(n)]);
        }
    }
    for axis in 0..shape.len() {
        for n in [Norm::Backward, Norm::Ortho, Norm::Forward] {
            out.extend([Tr::FftAxis(axis, n), Tr::IfftAxis(axis, n)]);
        }
    }
    out.extend([Tr::Shift, Tr::IShift]);
    out
}

/// numpy's `fftn(u, axes=axes, norm=…)` (or `ifftn`) by the definition: along each axis,
/// `y_k = Σ_j u_j exp(∓2πi jk/n)`, then the factor of `norm` with `n` the product of the axis
/// lengths (backward: 1 forward, 1/n inverse; ortho: 1/√n; forward: 1/n forward, 1 inverse).
fn naive_dft(u: &[C], shape: &[usize], axes: &[usize], inverse: bool, norm: Norm) -> Vec<C> {
    let mut x = u.to_vec();
    let mut total = 1usize;
    let sign = if inverse { 1.0 } else { -1.0 };
    for &ax in axes {
        let n = shape[ax];
        total *= n;
        let stride: usize = shape[ax + 1..].iter().product();
        let outer: usize = shape[..ax].iter().product();
        let mut y = x.clone();
        for o in 0..outer {
            for s in 0..stride {
                let base = o * n * stride + s;
                for k in 0..n {
                    let mut acc = ZERO;
                    for j in 0..n {
                        // (j k mod n) keeps the angle exact for large j k.
                        let ang = sign * 2.0 * PI * ((j * k) % n) as f64 / n as f64;
                        acc += x[base + j * stride] * C::from_polar(1.0, ang);
                    }
                    y[base + k * stride] = acc;
                }
            }
        }
        x = y;
    }
    let t = total as f64;
    let f = match (norm, inverse) {
        (Norm::Backward, false) | (Norm::Forward, true) => 1.0,
        (Norm::Backward, true) | (Norm::Forward, false) => 1.0 / t,
        (Norm::Ortho, _) => 1.0 / t.sqrt(),
    };
    x.iter().map(|v| v * f).collect()
}

/// numpy's `fftshift` (`roll` by `n//2` along every axis) or `ifftshift` (`roll` by `-(n//2)`).
fn naive_shift(u: &[C], shape: &[usize], inverse: bool) -> Vec<C> {
    let len = u.len();
    let mut out = vec![ZERO; len];
    for (flat, o) in out.iter_mut().enumerate() {
        // multi-index of the output element, then the source index per axis.
        let mut rem = flat;
        let mut idx = vec![0; shape.len()];
        for ax in (0..shape.len()).rev() {
            idx[ax] = rem % shape[ax];
            rem /= shape[ax];
        }
        let mut src = 0;
        for ax in 0..shape.len() {
            let n = shape[ax];
            let h = n / 2;
            // roll(x, r)[i] = x[(i − r) mod n]
            let i = if inverse {
                (idx[ax] + h) % n
            } else {
                (idx[ax] + n - h) % n
            };
            src = src * n + i;
        }
        *o = u[src];
    }
    out
}

/// The dense matrix `A` of a linear transform (column `j` is `A e_j`), row-major `A[i][j]`.
fn dense(tr: Tr, shape: &[usize]) -> Vec<Vec<C>> {
    let n: usize = shape.iter().product();
    let cols: Vec<Vec<C>> = (0..n)
        .map(|j| {
            let mut e = vec![ZERO; n];
            e[j] = c64(1.0, 0.0);
            tr.naive(&e, shape)
        })
        .collect();
    (0..n)
        .map(|i| (0..n).map(|j| cols[j][i]).collect())
        .collect()
}

fn max_norm(v: &[C]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.norm()))
}

fn assert_vec_close(a: &[C], b: &[C], rtol: f64, what: &dyn std::fmt::Debug) {
    assert_eq!(a.len(), b.len(), "{what:?}");
    let s = 1.0f64.max(max_norm(b));
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).norm() <= rtol * s,
            "{what:?}: element {k}: {x} vs {y} (scale {s:e})"
        );
    }
}

fn vdot(a: &[C], b: &[C]) -> C {
    a.iter().zip(b).map(|(x, y)| x.conj() * y).sum()
}

// ---------------------------------------------------------------------------------------------
// (a) Values against the naive DFT.
// ---------------------------------------------------------------------------------------------

#[test]
fn values_match_naive_dft_with_numpy_scaling() {
    let mut rng = Lcg(1);
    let mut count = 0;
    for &shape in SHAPES {
        let n: usize = shape.iter().product();
        let u = rng.vec(n);
        let tape = Tape::new();
        let x = tape.array(u.clone(), shape);
        for tr in transforms(shape) {
            let y = tr.apply(&x);
            assert_eq!(y.shape(), shape, "{tr:?}");
            assert!(!y.is_real());
            assert_vec_close(&y.value(), &tr.naive(&u, shape), 1e-12, &(tr, shape));
            count += 1;
        }
    }
    assert!(count > 150);
}

#[test]
fn known_values() {
    // fft([1, 2, 3, 4]) = [10, -2+2i, -2, -2-2i]; ifft of that is the input; ortho halves it.
    let tape = Tape::new();
    let u = tape.vector(vec![
        c64(1.0, 0.0),
        c64(2.0, 0.0),
        c64(3.0, 0.0),
        c64(4.0, 0.0),
    ]);
    let want = [
        c64(10.0, 0.0),
        c64(-2.0, 2.0),
        c64(-2.0, 0.0),
        c64(-2.0, -2.0),
    ];
    assert_vec_close(&u.fft().value(), &want, 1e-15, &"fft");
    let half: Vec<C> = want.iter().map(|w| w * 0.5).collect();
    assert_vec_close(&u.fft_with(Norm::Ortho).value(), &half, 1e-15, &"ortho");
    let quarter: Vec<C> = want.iter().map(|w| w * 0.25).collect();
    assert_vec_close(
        &u.fft_with(Norm::Forward).value(),
        &quarter,
        1e-15,
        &"forward",
    );
    assert_vec_close(&u.fft().ifft().value(), &u.value(), 1e-15, &"roundtrip");
    for n in [Norm::Backward, Norm::Ortho, Norm::Forward] {
        assert_vec_close(&u.fft_with(n).ifft_with(n).value(), &u.value(), 1e-15, &n);
        assert_vec_close(&u.ifft_with(n).fft_with(n).value(), &u.value(), 1e-15, &n);
    }
    // fftshift([0, 1, 2, 3, 4]) = [3, 4, 0, 1, 2]; ifftshift undoes it.
    let r: Vec<C> = (0..5).map(|k| c64(k as f64, 0.0)).collect();
    let v = tape.vector(r.clone());
    let s: Vec<f64> = v.fftshift().value().iter().map(|z| z.re).collect();
    assert_eq!(s, [3.0, 4.0, 0.0, 1.0, 2.0]);
    let s: Vec<f64> = v.ifftshift().value().iter().map(|z| z.re).collect();
    assert_eq!(s, [2.0, 3.0, 4.0, 0.0, 1.0]);
    assert_eq!(*v.fftshift().ifftshift().value(), r);
    // A shift of a real array is real.
    let p = tape.real_array(vec![1.0, 2.0, 3.0], &[3]);
    assert!(p.fftshift().is_real() && !p.fft().is_real());
}

// ---------------------------------------------------------------------------------------------
// (b) The reverse rule is the adjoint: dot-product test on the tape.
// ---------------------------------------------------------------------------------------------

/// For `y = A u` and a constant `v`, the real loss `L = Re vdot(v, A u) = Re vᴴ A u` has
/// `∂L/∂ū = ½ Aᴴ v`, so the tape's gradient `2 ∂L/∂ū` is `Aᴴ v`: the reverse rule applied to `v`.
/// Checked against the dense matrix, and with the dot-product identity
/// `⟨A u, v⟩ = vᴴ A u = (Aᴴ v)ᴴ u = ⟨u, Aᴴ v⟩`.
#[test]
fn reverse_rule_is_the_adjoint() {
    let mut rng = Lcg(7);
    for &shape in SHAPES {
        let n: usize = shape.iter().product();
        for tr in transforms(shape) {
            let (u, v) = (rng.vec(n), rng.vec(n));
            let tape = Tape::new();
            let x = tape.array(u.clone(), shape);
            let y = tr.apply(&x);
            let vc = tape.constant_array(v.clone(), shape);
            let inner = vc.vdot(&y);
            let l = inner.re();
            let g = l.backward();
            let ahv = g.grad(&x);
            // Against the dense matrix: (Aᴴ v)_j = Σ_i conj(A_ij) v_i.
            let a = dense(tr, shape);
            let want: Vec<C> = (0..n)
                .map(|j| (0..n).map(|i| a[i][j].conj() * v[i]).sum())
                .collect();
            assert_vec_close(&ahv, &want, 1e-12, &(tr, shape, "Aᴴ v"));
            // The dot-product identity, with A u from the tape and Aᴴ v from its reverse pass.
            let lhs = vdot(&v, &y.value());
            let rhs = vdot(&ahv, &u);
            assert!(
                (lhs - rhs).norm() <= 1e-12 * lhs.norm().max(1.0) * n as f64,
                "{tr:?} {shape:?}: ⟨Au, v⟩ {lhs} vs ⟨u, Aᴴv⟩ {rhs}"
            );
            assert!((inner.value() - lhs).norm() <= 1e-12 * lhs.norm().max(1.0));
            // Same through the tape's complex output vdot(v, A u) = vᴴ A u: holomorphic in u, so
            // ∂/∂u = Aᵀ v̄ = conj(Aᴴ v) and ∂/∂ū = 0.
            let gc = inner.backward();
            let dz = gc.dz(&x);
            let conj_want: Vec<C> = want.iter().map(|w| w.conj()).collect();
            assert_vec_close(&dz, &conj_want, 1e-12, &(tr, shape, "dz of vᴴAu"));
            assert!(max_norm(&gc.dzbar(&x)) <= 1e-13 * max_norm(&want).max(1.0));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (d) Complex output Σ c_k (A u)_k: ∂f/∂u = Aᵀ c, ∂f/∂ū = 0.
// ---------------------------------------------------------------------------------------------

#[test]
fn complex_output_gives_transpose_and_zero_dzbar() {
    let mut rng = Lcg(11);
    for &shape in SHAPES {
        let n: usize = shape.iter().product();
        for tr in transforms(shape) {
            let (u, c) = (rng.vec(n), rng.vec(n));
            let tape = Tape::new();
            let x = tape.array(u.clone(), shape);
            let f = tr.apply(&x).dot(&tape.constant_array(c.clone(), shape));
            assert!(!f.is_real());
            let g = f.backward();
            assert!(!g.is_real_output());
            let a = dense(tr, shape);
            // (Aᵀ c)_j = Σ_i A_ij c_i
            let at_c: Vec<C> = (0..n)
                .map(|j| (0..n).map(|i| a[i][j] * c[i]).sum())
                .collect();
            assert_vec_close(&g.dz(&x), &at_c, 1e-12, &(tr, shape, "Aᵀ c"));
            let dzbar = g.dzbar(&x);
            assert!(
                max_norm(&dzbar) <= 1e-13 * max_norm(&at_c).max(1.0),
                "{tr:?} {shape:?}: dzbar {dzbar:?}"
            );
            // The value: Σ c_k (A u)_k.
            let au = tr.naive(&u, shape);
            let want: C = au.iter().zip(&c).map(|(y, c)| y * c).sum();
            assert!((f.value() - want).norm() <= 1e-12 * want.norm().max(1.0) * n as f64);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (c) FFT losses against finite differences.
// ---------------------------------------------------------------------------------------------

fn fd_check<F>(loss: F, u: &[C], shape: &[usize], rtol: f64, what: &dyn std::fmt::Debug)
where
    F: for<'t> Fn(&'t Tape, &VarArray<'t>) -> Var<'t>,
{
    let tape = Tape::new();
    let x = tape.array(u.to_vec(), shape);
    let l = loss(&tape, &x);
    assert!(l.is_real(), "{what:?}");
    let g = l.backward();
    let fd = check::finite_difference_gradient(
        |w| {
            let t = Tape::new();
            let c = t.constant_array(w.to_vec(), shape);
            loss(&t, &c).value()
        },
        u,
    );
    assert!((l.value() - fd.value).norm() <= 1e-13 * fd.value.norm().max(1.0));
    assert_vec_close(&g.dzbar(&x), &fd.dzbar, rtol, &(what, "dzbar"));
    assert_vec_close(&g.dz(&x), &fd.dz, rtol, &(what, "dz"));
    let grad: Vec<C> = fd.dzbar.iter().map(|d| d * 2.0).collect();
    assert_vec_close(&g.grad(&x), &grad, rtol, &(what, "grad"));
}

#[test]
fn spectral_fit_loss_matches_finite_differences() {
    // L = Σ (|A u|² − T)² for every transform on a 1-D, a 2-D and a 3-D shape.
    let mut rng = Lcg(3);
    for shape in [&[12][..], &[4, 6][..], &[3, 5, 2][..]] {
        let n: usize = shape.iter().product();
        for tr in transforms(shape) {
            let u = rng.vec(n);
            let t: Vec<f64> = (0..n).map(|_| rng.next().abs()).collect();
            fd_check(
                move |tape, x| {
                    let p = tr.apply(x).norm_sqr();
                    let d = &p - &tape.real_constant_array(t.clone(), shape);
                    (&d * &d).sum()
                },
                &u,
                shape,
                1e-8,
                &(tr, shape),
            );
        }
    }
}

#[test]
fn filter_loss_matches_finite_differences() {
    // L = Σ |ifft(fft(u) · h)|² with a constant filter h, for each pair of transforms and norm.
    let mut rng = Lcg(5);
    let pairs: Vec<(&[usize], Tr, Tr)> = {
        let mut v: Vec<(&[usize], Tr, Tr)> = Vec::new();
        for n in NORMS {
            v.push((&[12], Tr::Fft(n), Tr::Ifft(n)));
            v.push((&[7], Tr::Fft(n), Tr::Ifft(n)));
            v.push((&[4, 6], Tr::Fft2(n), Tr::Ifft2(n)));
            v.push((&[3, 5, 2], Tr::Fftn(n), Tr::Ifftn(n)));
        }
        for n in [Norm::Backward, Norm::Ortho, Norm::Forward] {
            v.push((&[3, 5, 2], Tr::FftAxis(1, n), Tr::IfftAxis(1, n)));
        }
        v.push((&[4, 6], Tr::Shift, Tr::IShift));
        v
    };
    for (shape, fwd, inv) in pairs {
        let n: usize = shape.iter().product();
        let u = rng.vec(n);
        let h = rng.vec(n);
        let h1 = h.clone();
        fd_check(
            move |tape, x| {
                let hc = tape.constant_array(h1.clone(), shape);
                inv.apply(&(&fwd.apply(x) * &hc)).norm_sqr_sum()
            },
            &u,
            shape,
            1e-8,
            &(fwd, inv, shape),
        );
        // The same filter through a slice on the left, and the shifted spectrum.
        let h2 = h.clone();
        fd_check(
            move |_, x| {
                let y = &h2[..] * fwd.apply(x);
                let z = inv.apply(&y.fftshift()).ifftshift();
                z.norm_sqr_sum() + z.sum().re()
            },
            &u,
            shape,
            1e-8,
            &(fwd, inv, shape, "shifted"),
        );
    }
}

#[test]
fn circular_convolution_and_parseval() {
    // ifft(fft(u) · fft(k)) is the circular convolution of u and k.
    let mut rng = Lcg(9);
    let n = 12;
    let (u, k) = (rng.vec(n), rng.vec(n));
    let tape = Tape::new();
    let x = tape.vector(u.clone());
    let kf = tape.constant_array(k.clone(), &[n]).fft();
    let conv = (&x.fft() * &kf).ifft();
    let want: Vec<C> = (0..n)
        .map(|i| (0..n).map(|j| u[j] * k[(i + n - j) % n]).sum())
        .collect();
    assert_vec_close(&conv.value(), &want, 1e-13, &"convolution");
    // Parseval: Σ |fft(u)|² = n Σ |u|², so its gradient is 2n u; with ortho it is 2u.
    let g = x.fft().norm_sqr_sum().backward();
    let want: Vec<C> = u.iter().map(|v| v * (2.0 * n as f64)).collect();
    assert_vec_close(&g.grad(&x), &want, 1e-13, &"parseval");
    let g = x.fft_with(Norm::Ortho).norm_sqr_sum().backward();
    let want: Vec<C> = u.iter().map(|v| v * 2.0).collect();
    assert_vec_close(&g.grad(&x), &want, 1e-13, &"parseval ortho");
    // A real array leaf through an FFT: real gradient 2n p.
    let p = tape.real_array(vec![0.5, -1.0, 2.0, 0.25], &[2, 2]);
    let g = p.fft2().norm_sqr_sum().backward();
    let gp = g.grad(&p);
    for (gk, pk) in gp.iter().zip([0.5, -1.0, 2.0, 0.25]) {
        assert_eq!(gk.im, 0.0);
        assert!((gk.re - 8.0 * pk).abs() < 1e-13, "{gk} vs {}", 8.0 * pk);
    }
}

#[test]
fn one_fft_node_per_transform() {
    let tape = Tape::new();
    let x = tape.array(vec![c64(1.0, 0.0); 30], &[3, 5, 2]);
    let before = tape.len();
    let _ = x.fftn().ifft_axis(1, Norm::Ortho).fftshift();
    assert_eq!(tape.len(), before + 3);
}

/// Strided axes long enough that the FFT core gathers them in several batches (one partial), or,
/// for the lengths of 64 on a CPU with AVX2 and FMA, transforms them across the columns
/// with no gather: values against the naive DFT, and the dot-product test of the reverse rule.
#[test]
fn large_strided_transforms() {
    let mut rng = Lcg(13);
    for (shape, tr) in [
        (&[5, 7000][..], Tr::FftAxis(0, Norm::Ortho)),
        (&[3, 11000][..], Tr::IfftAxis(0, Norm::Backward)),
        (&[64, 600][..], Tr::Fftn(None)),
        (&[2, 64, 300][..], Tr::Ifft2(Some(Norm::Forward))),
    ] {
        let n: usize = shape.iter().product();
        let (u, v) = (rng.vec(n), rng.vec(n));
        let tape = Tape::new();
        let x = tape.array(u.clone(), shape);
        let y = tr.apply(&x);
        let au = tr.naive(&u, shape);
        assert_vec_close(&y.value(), &au, 1e-11, &(tr, shape));
        let g = tape
            .constant_array(v.clone(), shape)
            .vdot(&y)
            .re()
            .backward();
        let ahv = g.grad(&x);
        let (lhs, rhs) = (vdot(&v, &au), vdot(&ahv, &u));
        assert!(
            (lhs - rhs).norm() <= 1e-11 * lhs.norm().max(1.0) * (n as f64).sqrt(),
            "{tr:?} {shape:?}: {lhs} vs {rhs}"
        );
        // Aᴴ v is the adjoint transform of v: for these transforms, `naive` of the opposite
        // direction with the adjoint scaling.
        let adj = match tr {
            Tr::FftAxis(a, Norm::Ortho) => naive_dft(&v, shape, &[a], true, Norm::Ortho),
            Tr::IfftAxis(a, Norm::Backward) => naive_dft(&v, shape, &[a], false, Norm::Forward),
            Tr::Fftn(None) => naive_dft(&v, shape, &[0, 1], true, Norm::Forward),
            Tr::Ifft2(Some(Norm::Forward)) => naive_dft(&v, shape, &[1, 2], false, Norm::Backward),
            _ => unreachable!(),
        };
        assert_vec_close(&ahv, &adj, 1e-11, &(tr, shape, "adjoint"));
    }
}
