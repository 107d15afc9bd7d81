//! Adjoints that are a multiple of a value the forward pass stored, and the linear nodes that
//! pass them on without computing anything.
//!
//! `vdot(a, b) = Σ āₖ bₖ` gives `b` the adjoint `c·a`: a scalar times a stored array. The
//! backward walk keeps such an adjoint as that pair, [`Scaled`], and a linear node receiving it
//! may find its own VJP already computed by the forward pass:
//!
//! - a transform `X = s_X·U(x)` (an FFT, `U` unscaled, `s_X` its norm's factor) with adjoint
//!   `λ·v` needs `s_X·Uᴴ v`; when the tape holds `Y = s_Y·Uᴴ(v)` (the opposite direction over the
//!   same axes, of the very node whose value `v` is), that is `(s_X/s_Y)·Y`: no FFT;
//! - an elementwise product `M = K ⊙ x` with `K` real and constant with respect to the leaves
//!   (a [`Linear::RealDiagonal`]) passes `λ·x` on as `conj(K) ⊙ λx = λ·M`: no pass.
//!
//! An expectation value `⟨ψ|A|ψ⟩ = vdot(ψ, A ψ)` with `A = F⁻¹ K F` (a kinetic or any spectral
//! operator with a real symbol `K`) so takes no FFT in its backward pass: the adjoints of `Aψ`,
//! `K F ψ` and `F ψ` are multiples of `ψ`, `F ψ` and `K F ψ`, whose transforms the forward pass
//! made; the gradient `2Aψ` of `Re⟨ψ|A|ψ⟩` is then one pass over `ψ`'s adjoint. Anything else (a
//! second share into the same adjoint, a node that cannot pass the pair on) turns the pair into
//! an array first, an ordinary adjoint; the numbers differ from that route by rounding only.
//! Finding `Y` scans the tape's array nodes, once per transform that receives such a pair.

use super::tape::Extra;
use crate::fft::{Direction, Norm};
use crate::Real;
use num_complex::Complex;

/// An adjoint equal to `by` times the value of the array node whose extra is `of`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scaled<T> {
    pub by: Complex<T>,
    pub of: u32,
}

/// A linear node's map from its input to its value, for passing on a [`Scaled`] adjoint.
#[derive(Clone, Debug)]
pub(crate) enum Linear {
    /// 1-D transforms along `axes` of input 0, in `dir`, scaled per `norm`.
    Transform {
        dir: Direction,
        norm: Norm,
        axes: Vec<usize>,
    },
    /// `K ⊙ x` of input `input`, `K` real and not depending on any leaf (no other input needs an
    /// adjoint): a self-adjoint map.
    RealDiagonal { input: usize },
}

/// Where the adjoint of a node with a [`Linear`] map goes when it is `s`: `Some((k, by, of))`
/// to add `by` times the value of extra `of` into the adjoint of input `k`, or `None` when that
/// is not known without computing (the caller makes `s` an array and runs the VJP).
///
/// `me` is the node's extra index; `extra_of` maps a node to its extra index (array nodes only).
pub(crate) fn pass_on<T: Real>(
    extras: &[Extra<T>],
    me: u32,
    s: Scaled<T>,
    extra_of: impl Fn(u32) -> u32,
) -> Option<(usize, Complex<T>, u32)> {
    let x = &extras[me as usize];
    match x.linear.as_ref()? {
        Linear::RealDiagonal { input } => {
            (extra_of(x.inputs[*input]) == s.of).then_some((*input, s.by, me))
        }
        Linear::Transform { dir, norm, axes } => {
            let back = dir.reverse();
            let (y, ynorm) = extras
                .iter()
                .enumerate()
                .find_map(|(e, y)| match &y.linear {
                    Some(Linear::Transform {
                        dir: d,
                        norm: n,
                        axes: a,
                    }) if *d == back
                        && a == axes
                        && y.shape == x.shape
                        && extra_of(y.inputs[0]) == s.of =>
                    {
                        Some((e as u32, *n))
                    }
                    _ => None,
                })?;
            let n: usize = axes.iter().map(|&a| x.shape[a]).product();
            // X = s_X·U, Y = s_Y·Uᴴ(v): Xᴴ(λv) = s_X·Uᴴ(λv) = λ·(s_X/s_Y)·Y.
            let ratio = norm.factor::<T>(*dir, n) / ynorm.factor::<T>(back, n);
            Some((0, s.by.scale(ratio), y))
        }
    }
}

#[cfg(test)]
mod tests;
