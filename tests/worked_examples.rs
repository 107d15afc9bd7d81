//! The two worked examples of the crate's reference (WIRTINGER.md), in forward mode, checked for
//! exact equality (every intermediate is a small integer, so no rounding occurs).

use wirtinger::forward::{derivative, gradient};
use wirtinger::prelude::*;

/// `L = |z|²` at `3+4i`: value 25, `∂L/∂z = 3−4i`, `∂L/∂z̄ = 3+4i`, `grad L = 6+8i` (PyTorch's
/// `z.grad`; JAX's `grad` is its conjugate `6−8i`).
#[test]
fn norm_sqr_at_3_plus_4i() {
    let z = c64(3.0, 4.0);

    let l = Dual::var(z).norm_sqr();
    assert_eq!(l.value(), c64(25.0, 0.0));
    assert_eq!(l.dz(), c64(3.0, -4.0));
    assert_eq!(l.dzbar(), c64(3.0, 4.0));
    assert_eq!(l.grad(), c64(6.0, 8.0));
    assert_eq!(l.grad().conj(), c64(6.0, -8.0)); // JAX's convention

    // The same through `z · z̄`, the alias `abs2`, and `forward::derivative`.
    for l in [
        Dual::var(z) * Dual::var(z).conj(),
        Dual::var(z).abs2(),
        Dual::var(z).norm().powi(2),
    ] {
        assert_eq!(
            (l.value(), l.dz(), l.dzbar(), l.grad()),
            (c64(25.0, 0.0), c64(3.0, -4.0), c64(3.0, 4.0), c64(6.0, 8.0)),
            "{l:?}"
        );
    }
    let d = derivative(|z| z.norm_sqr(), z);
    assert_eq!(
        (d.value, d.dz, d.dzbar, d.grad()),
        (c64(25.0, 0.0), c64(3.0, -4.0), c64(3.0, 4.0), c64(6.0, 8.0))
    );
}

/// `f(x, y) = 2xy + (x−1)²` at `x = 3, y = 5` (real leaves): value 34, `df/dx = 14`, `df/dy = 6`.
fn f(v: &[Dual]) -> Dual {
    let (x, y) = (v[0], v[1]);
    2.0 * x * y + (x - 1.0).powi(2)
}

#[test]
fn two_xy_plus_x_minus_one_squared_at_3_5() {
    let at = [c64(3.0, 0.0), c64(5.0, 0.0)];

    // A real output is Re of itself: for the real-valued L = Re f, a real leaf p has
    // dL/dp = 2 Re(∂L/∂p̄), which `gradient` gives as Re of `grad()`.
    let g = gradient(|v| f(v).re(), &at);
    assert_eq!(g.value, c64(34.0, 0.0));
    assert_eq!(g.dzbar, vec![c64(7.0, 0.0), c64(3.0, 0.0)]);
    let dl: Vec<f64> = g.grad().iter().map(|d| d.re).collect();
    assert_eq!(dl, vec![14.0, 6.0]);
    assert_eq!(2.0 * g.dzbar[0].re, 14.0);
    assert_eq!(2.0 * g.dzbar[1].re, 6.0);

    // f itself is holomorphic in x and y: ∂f/∂x̄ = 0, and for a real leaf
    // df/dp = ∂f/∂p + ∂f/∂p̄ = ∂f/∂p.
    let g = gradient(f, &at);
    assert_eq!(g.value, c64(34.0, 0.0));
    assert_eq!(g.dz, vec![c64(14.0, 0.0), c64(6.0, 0.0)]);
    assert_eq!(g.dzbar, vec![c64(0.0, 0.0), c64(0.0, 0.0)]);

    // The contributions in forward mode, with x the variable: 2x·y gives 2y = 10, the square
    // gives 2(x − 1) = 4, and 10 + 4 = 14. With y the variable, 2x·y gives 2x = 6.
    let (x, y) = (Dual::var(at[0]), Dual::constant(at[1]));
    assert_eq!((2.0 * x * y).dz(), c64(10.0, 0.0));
    assert_eq!((x - 1.0).powi(2).dz(), c64(4.0, 0.0));
    assert_eq!(f(&[x, y]).dz(), c64(14.0, 0.0));
    let (x, y) = (Dual::constant(at[0]), Dual::var(at[1]));
    assert_eq!((2.0 * x * y).dz(), c64(6.0, 0.0));
    assert_eq!(f(&[x, y]).dz(), c64(6.0, 0.0));
    assert_eq!(f(&[x, y]).value(), c64(34.0, 0.0));
}
