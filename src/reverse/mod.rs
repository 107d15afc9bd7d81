//! Reverse mode: an explicit tape of complex scalars and arrays, walked backwards once.
//!
//! The forward pass records every op on a [`Tape`] with the indices of its inputs and the partials
//! `(g_a, g_ā)` of the [`rules`](crate::rules) table. [`Var::backward`] walks the tape in reverse,
//! each edge adding its share into the adjoint of its input, the conjugate cotangent
//! `c_a = ∂L/∂ā`:
//!
//! ```text
//! c_a += conj(g_a) · c_b + g_ā · conj(c_b)        (seed c_L = ∂L/∂L̄ = ½ for a real output L)
//! ```
//!
//! The rule is linear in the seed, and a real output is walked from twice that, `1`, as PyTorch
//! seeds it: every adjoint is then `2 ∂L/∂ā`, a leaf's is its gradient with no pass to double it
//! (an array leaf's can be lent as it is, [`Gradients::grad_ref`]), and
//! [`Gradients::dzbar`] halves it back, exactly. A custom rule's VJP receives cotangents on the
//! same scale ([`Tape::custom`]).
//!
//! A real-valued output (built from `re`, `im`, `norm`, `norm_sqr`, `arg`, real leaves and
//! constants and arithmetic on real values) takes one walk; a complex output `f` takes two, on
//! `Re f` and `Im f`, and gets both `∂f/∂z` and `∂f/∂z̄` exactly.
//!
//! Arrays ([`VarArray`]) live on the same tape: one array op is one node, whatever its size, and
//! FFTs are linear nodes whose reverse rule is one FFT. An expectation value
//! `⟨ψ|A|ψ⟩ = ψ.vdot(&Aψ)`, with `A` made of FFTs and products by real constant arrays (a
//! kinetic term `ifft(k²/2 · fft ψ)`, any spectral operator with a real symbol), runs no FFT at
//! all in its backward pass: the adjoints along `Aψ` are multiples of values the forward pass
//! stored, and their transforms are stored too (`reuse`), as in a hand-written gradient `2Aψ`.
//!
//! ```
//! use wirtinger::prelude::*;
//!
//! // f(x, y) = 2xy + (x − 1)² at (3, 5), real leaves. `Tape` in a type annotation is
//! // `Tape<f64>`; without one, `Tape::new()` is generic and literals alone cannot say which float.
//! let tape: Tape = Tape::new();
//! let (x, y) = (tape.real_var(3.0), tape.real_var(5.0));
//! let f = 2.0 * x * y + (x - 1.0).powi(2);
//! let g = f.backward();
//! assert_eq!(f.value(), c64(34.0, 0.0));
//! assert_eq!((g.grad(&x), g.grad(&y)), (c64(14.0, 0.0), c64(6.0, 0.0)));
//! ```

mod array;
mod array_ops;
mod custom;
mod dot;
mod fft_ops;
mod fused;
mod grads;
mod reuse;
mod tape;
mod values;
mod var;

pub use array::{ArrayData, RealData, RealSource, VarArray};
pub use grads::{Gradients, Leaf, Which};
pub use tape::{release_buffers, MemoryUsage, Tape};
pub use var::Var;
