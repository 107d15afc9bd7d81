//! Automatic differentiation of complex-valued code with Wirtinger (CR) calculus.
//!
//! A real loss of complex inputs is not holomorphic, so it has no complex derivative; Wirtinger
//! calculus treats `z` and `z̄` as two coordinates instead:
//!
//! ```text
//! ∂f/∂z = ½(∂f/∂x − i ∂f/∂y),   ∂f/∂z̄ = ½(∂f/∂x + i ∂f/∂y),   df = ∂f/∂z dz + ∂f/∂z̄ dz̄
//! ```
//!
//! Every value this crate differentiates carries both. For a real loss `L` the steepest-ascent
//! direction is `grad L = 2 ∂L/∂z̄ = ∂L/∂x + i ∂L/∂y`, and gradient descent is `z ← z − η grad L`.
//!
//! # Conventions
//!
//! | quantity | this crate | PyTorch | JAX |
//! |---|---|---|---|
//! | `∂L/∂z̄` | `.dzbar()` | `z.grad / 2` | `conj(jax.grad(L)(z)) / 2` |
//! | steepest ascent `2 ∂L/∂z̄` | `.grad()` | `z.grad` | `conj(jax.grad(L)(z))` |
//!
//! For `L = |z|²` at `z = 3+4i`: `∂L/∂z = 3−4i`, `∂L/∂z̄ = 3+4i`, `grad L = 6+8i` (PyTorch's
//! `z.grad`); JAX's `grad` gives `6−8i`.
//!
//! ```
//! use wirtinger::prelude::*;
//!
//! let z = Dual::var(c64(3.0, 4.0));
//! let l = z.norm_sqr();
//! assert_eq!(l.value(), c64(25.0, 0.0));
//! assert_eq!(l.dz(), c64(3.0, -4.0));
//! assert_eq!(l.dzbar(), c64(3.0, 4.0));
//! assert_eq!(l.grad(), c64(6.0, 8.0));
//! ```
//!
//! The same in reverse mode, where one backward pass gives the derivatives with respect to every
//! leaf, scalars and arrays alike:
//!
//! ```
//! use wirtinger::prelude::*;
//!
//! let tape = Tape::new();
//! let z = tape.var(c64(3.0, 4.0));
//! let u = tape.vector(vec![c64(1.0, 0.0), c64(0.0, 1.0)]);
//! let l = z.norm_sqr() + u.fft().norm_sqr_sum();
//! let g = l.backward();
//! assert_eq!(g.grad(&z), c64(6.0, 8.0));
//! // Σ|F u|² = n Σ|u|² (Parseval), so its gradient is 2n u.
//! let gu = g.grad(&u);
//! assert!((gu[0] - c64(4.0, 0.0)).norm() < 1e-12 && (gu[1] - c64(0.0, 4.0)).norm() < 1e-12);
//! ```
//!
//! # Modules
//!
//! - [`rules`]: the one table of elementary rules, each a value with its partials `(g_a, g_ā)`.
//! - [`forward`]: [`Dual`](forward::Dual), forward mode; no graph, one pass per input.
//! - [`reverse`]: [`Tape`](reverse::Tape), [`Var`](reverse::Var) and
//!   [`VarArray`](reverse::VarArray), reverse mode over scalars, arrays and FFTs; one backward pass
//!   per output.
//! - [`fft`]: numpy-compatible FFT scaling ([`Norm`]) and the plan cache behind the array FFTs.
//! - [`optim`]: gradient descent, Adam and L-BFGS over complex and real parameters, and the
//!   [`Minimize`](optim::Minimize) driver.
//! - [`check`]: finite-difference Wirtinger derivatives and assertions for your own code.
//! - [`parallel`]: what runs on rayon's thread pool with the default `parallel` feature (arrays of
//!   at least [`parallel::THRESHOLD`] elements), and how to choose the threads or turn it off.
//!
//! Everything is generic over `f32` and `f64` through [`Real`], with `f64` the default.
//! Branch cuts are those of `num-complex`; at singular points (`ln 0`, `1/0`, `sqrt` at 0) IEEE
//! values pass through, and `norm`, `arg` at 0 have zero partials (see [`rules`]).

#![warn(missing_docs)]

mod ops;
mod pages;
mod scalar;
mod wide;

pub mod check;
pub mod fft;
pub mod forward;
pub mod optim;
pub mod parallel;
pub mod reverse;
pub mod rules;

pub use fft::Norm;
pub use num_complex::{Complex, Complex32, Complex64};
pub use reverse::Leaf;
pub use scalar::Real;

/// `Complex64::new(re, im)`, short for literals.
#[inline]
pub const fn c64(re: f64, im: f64) -> Complex64 {
    Complex64::new(re, im)
}

/// `Complex32::new(re, im)`, short for literals.
#[inline]
pub const fn c32(re: f32, im: f32) -> Complex32 {
    Complex32::new(re, im)
}

/// Everything a user needs: `use wirtinger::prelude::*;`.
pub mod prelude {
    pub use crate::fft::Norm;
    pub use crate::forward::{Derivative, Dual};
    pub use crate::reverse::{Gradients, Leaf, Tape, Var, VarArray};
    pub use crate::{c32, c64, Complex, Complex32, Complex64, Real};
}

/// The README's code blocks, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
