//! The first thing to read: Wirtinger derivatives of a real loss and of a non-holomorphic function,
//! the gradient conventions, and a finite-difference check.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use wirtinger::prelude::*;

fn main() {
    // A real loss, L(z) = |z|², at z = 3+4i. `Dual::var` marks the variable we differentiate by.
    let l = Dual::var(c64(3.0, 4.0)).norm_sqr();
    let (value, dz, dzbar, grad) = (l.value(), l.dz(), l.dzbar(), l.grad());
    println!("L = |z|² at z = 3+4i");
    println!("  L = {value}, ∂L/∂z = {dz}, ∂L/∂z̄ = {dzbar}");
    println!("  grad L = 2∂L/∂z̄ = {grad}; descend with z ← z − η·grad");
    let jax = grad.conj();
    println!("  PyTorch's z.grad = {grad} (ours); JAX's jax.grad = {jax} (its conjugate)");

    // A non-holomorphic function, f(z) = z̄ · sin z: ∂f/∂z = z̄ cos z, ∂f/∂z̄ = sin z.
    let f = |z: Dual| z.conj() * z.sin();
    let z = c64(0.5, -1.0);
    let w = f(Dual::var(z));
    let (exact_dz, exact_dzbar) = (z.conj() * z.cos(), z.sin());
    println!("f = z̄ · sin z at z = {z}");
    println!("  f      = {:.6}", w.value());
    println!("  ∂f/∂z  = {:.6}  (z̄ cos z: {exact_dz:.6})", w.dz());
    println!("  ∂f/∂z̄  = {:.6}  (sin z:   {exact_dzbar:.6})", w.dzbar());
    println!("  2∂f/∂z̄ = {:.6}  (.grad())", w.grad());

    // Check forward mode against central finite differences; panics with a report if they differ.
    wirtinger::check::assert_dual(f, z, 1e-8);
    println!("finite-difference check of f at {z}: ok");
}
