//! [`Gradients`]: the result of a backward pass, and the [`Leaf`] trait that reads it.

use super::tape::{Adjoints, Kind, MemoryUsage, Tape};
use super::{Var, VarArray};
use crate::parallel as par;
use crate::Real;
use num_complex::Complex;
use std::borrow::Cow;

/// The Wirtinger derivatives of one output with respect to every leaf of its tape, from
/// [`Var::backward`].
///
/// - [`dz`](Self::dz): `∂out/∂x`; [`dzbar`](Self::dzbar): `∂out/∂x̄`, exactly, for real and complex
///   outputs alike (a complex output `f` is walked twice, on `Re f` and `Im f`).
/// - [`grad`](Self::grad): `2 ∂out/∂x̄`, the steepest-ascent direction, only for a real-valued
///   output. For a real leaf (`tape.real_var`) it is the real derivative `dL/dp = 2 Re ∂L/∂p̄`
///   (imaginary part 0), while `dz`, `dzbar` are the Wirtinger derivatives as if the leaf were
///   complex.
///
/// A real-valued output `L` is differentiated as the real function it is, following
/// WIRTINGER.md's "a real output is `Re` of itself": when `L` is real only because its leaves are
/// real (`exp(p)` of a real leaf `p`, say), `dz` and `dzbar` are those of `Re L` with the leaves
/// taken complex, so `dz = conj(dzbar)` and, for `exp(p)`, both are `e^p/2`; their sum (and so
/// `grad`, `2 Re dzbar`) is the real derivative `e^p`. Take a complex output (multiply by a
/// complex constant, say) to get the holomorphic pair `(e^p, 0)` instead.
///
/// Scalar leaves ([`Var`]) give a `Complex<T>`, array leaves ([`VarArray`]) a `Vec<Complex<T>>`.
/// Asking about a value that is not a leaf, or a leaf of another tape or recorded after the
/// backward pass, panics.
#[derive(Clone, Debug)]
pub struct Gradients<T: Real = f64> {
    /// The id of the tape (unique per tape and per `clear`), to catch variables of another tape.
    tape: u64,
    output: u32,
    real_output: bool,
    /// How many nodes the tape had at the backward pass.
    len: usize,
    /// Adjoints of the pass on `Re out`: `2 ∂out/∂b̄` for a real output, `∂Re out/∂b̄` for a
    /// complex one (see `Tape::backward_from`); and of the pass on `Im out` for a complex output.
    re: Adjoints<T>,
    im: Option<Adjoints<T>>,
    /// The tape's memory at the backward pass.
    tape_memory: MemoryUsage,
}

impl<T: Real> Gradients<T> {
    pub(crate) fn new(
        tape: &Tape<T>,
        output: u32,
        re: Adjoints<T>,
        im: Option<Adjoints<T>>,
    ) -> Self {
        Gradients {
            tape: tape.id,
            output,
            real_output: im.is_none(),
            len: tape.len(),
            tape_memory: tape.memory(),
            re,
            im,
        }
    }

    /// The bytes this gradient needed: the tape's graph and values at the backward pass and the
    /// peak of the adjoints during it.
    ///
    /// ```
    /// use wirtinger::prelude::*;
    ///
    /// let tape = Tape::new();
    /// let u = tape.vector(vec![c64(1.0, 0.0); 1024]);
    /// let g = u.fft().norm_sqr_sum().backward();
    /// let m = g.memory();
    /// // Values: u and F u, 16 bytes per element each.
    /// assert_eq!(m.values, 2 * 1024 * 16);
    /// assert!(m.adjoints >= 1024 * 16 && m.total() < 5 * 1024 * 16);
    /// ```
    pub fn memory(&self) -> MemoryUsage {
        let peak = self
            .re
            .peak_bytes
            .max(self.im.as_ref().map_or(0, |a| a.peak_bytes));
        MemoryUsage {
            adjoints: peak,
            ..self.tape_memory
        }
    }

    /// Whether the output was real-valued (then [`grad`](Self::grad) is defined).
    pub fn is_real_output(&self) -> bool {
        self.real_output
    }

    /// `∂out/∂x` for a leaf `x`.
    pub fn dz<L: Leaf<T>>(&self, x: &L) -> L::Value {
        x.read(self, Which::Dz)
    }

    /// `∂out/∂x̄` for a leaf `x`.
    pub fn dzbar<L: Leaf<T>>(&self, x: &L) -> L::Value {
        x.read(self, Which::Dzbar)
    }

    /// `2 ∂out/∂x̄` for a leaf `x` of a real-valued output: the steepest-ascent direction (PyTorch's
    /// `x.grad`). For a real leaf, the real derivative with imaginary part 0.
    ///
    /// # Panics
    /// If the output is complex-valued: its gradient is not a direction; use `dz` and `dzbar`.
    pub fn grad<L: Leaf<T>>(&self, x: &L) -> L::Value {
        x.read(self, Which::Grad)
    }

    /// [`grad`](Self::grad) of an array leaf, written into `out` rather than a new `Vec`: a loop
    /// that reads a gradient every iteration can keep one buffer (a fresh `Vec` of a large array
    /// per call costs a page fault per 4 KiB once malloc maps it).
    ///
    /// ```
    /// use wirtinger::prelude::*;
    ///
    /// let tape = Tape::new();
    /// let u = tape.vector(vec![c64(1.0, 2.0), c64(0.5, 0.0)]);
    /// let g = u.norm_sqr_sum().backward();
    /// let mut grad = vec![c64(0.0, 0.0); 2];
    /// g.grad_into(&u, &mut grad);
    /// assert_eq!(grad, [c64(2.0, 4.0), c64(1.0, 0.0)]);
    /// ```
    ///
    /// # Panics
    /// As `grad`, and if `out` does not have as many elements as `x`.
    pub fn grad_into(&self, x: &VarArray<'_, T>, out: &mut [Complex<T>]) {
        x.read_into(self, Which::Grad, out)
    }

    /// [`grad`](Self::grad) of an array leaf, lent rather than copied where it can be: for a
    /// real-valued output and a complex leaf, the backward pass's own adjoint buffer, which holds
    /// the gradient as it is (no pass over the array at all); otherwise (a real leaf, or a leaf
    /// the output does not depend on) a new `Vec`. Of the ways to read a large gradient this is the
    /// cheapest: `grad_into` is one more pass over the array, which on a gradient of 16 MiB
    /// (a 1024² field) measured about 7% of a phase-retrieval loss's value and gradient.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use wirtinger::prelude::*;
    ///
    /// let tape = Tape::new();
    /// let u = tape.vector(vec![c64(1.0, 2.0), c64(0.5, 0.0)]);
    /// let g = u.norm_sqr_sum().backward();
    /// let grad = g.grad_ref(&u);
    /// assert!(matches!(grad, Cow::Borrowed(_)));
    /// assert_eq!(*grad, [c64(2.0, 4.0), c64(1.0, 0.0)]);
    /// ```
    ///
    /// # Panics
    /// As `grad`.
    pub fn grad_ref(&self, x: &VarArray<'_, T>) -> Cow<'_, [Complex<T>]> {
        x.grad_ref(self)
    }

    /// [`dz`](Self::dz) of an array leaf, written into `out` (see [`grad_into`](Self::grad_into)).
    ///
    /// # Panics
    /// As `dz`, and if `out` does not have as many elements as `x`.
    pub fn dz_into(&self, x: &VarArray<'_, T>, out: &mut [Complex<T>]) {
        x.read_into(self, Which::Dz, out)
    }

    /// [`dzbar`](Self::dzbar) of an array leaf, written into `out` (see
    /// [`grad_into`](Self::grad_into)).
    ///
    /// # Panics
    /// As `dzbar`, and if `out` does not have as many elements as `x`.
    pub fn dzbar_into(&self, x: &VarArray<'_, T>, out: &mut [Complex<T>]) {
        x.read_into(self, Which::Dzbar, out)
    }

    /// The index of the output node.
    pub(crate) fn output(&self) -> u32 {
        self.output
    }

    /// The pair `(∂out/∂b, ∂out/∂b̄)` of the scalar node `id` (any node, not only leaves), for the
    /// picture of the graph.
    pub(crate) fn scalar_pair(&self, id: u32) -> Option<(Complex<T>, Complex<T>)> {
        let i = id as usize;
        let c1 = *self.re.scalars.get(i)?;
        Some(match &self.im {
            None => {
                let dzbar = half(c1);
                (dzbar.conj(), dzbar)
            }
            Some(im) => {
                let c2 = im.scalars[i];
                let i1 = Complex::new(T::zero(), T::one());
                (c1.conj() + i1 * c2.conj(), c1 + i1 * c2)
            }
        })
    }

    /// Panics unless node `id` of `tape` is a leaf this pass knows; returns whether it is real.
    fn check_leaf(&self, tape: &Tape<T>, id: u32, what: &str) -> bool {
        assert!(
            self.tape == tape.id,
            "wirtinger: Gradients::{what} asked about a variable of another tape (or of this tape \
             after Tape::clear)"
        );
        assert!(
            (id as usize) < self.len,
            "wirtinger: Gradients::{what} asked about node {id}, recorded after this backward pass"
        );
        let node = tape.node(id);
        match node.kind {
            Kind::Leaf | Kind::ArrayLeaf => node.real,
            _ => panic!(
                "wirtinger: Gradients::{what} asked about node {id} (`{}`), which is not a leaf; \
                 ask about variables made by tape.var, tape.real_var, tape.array or tape.real_array",
                tape.info(id).name
            ),
        }
    }

    /// Panics (naming `what`) unless the output was real-valued, as `grad` needs.
    fn check_real_output(&self, what: &str) {
        assert!(
            self.im.is_none(),
            "wirtinger: Gradients::{what}: grad asked of a complex-valued output; the gradient \
             2∂L/∂z̄ is defined for real-valued outputs only (use dz and dzbar, or take .re(), \
             .norm_sqr(), … first)"
        );
    }

    fn combine(
        &self,
        which: Which,
        real_leaf: bool,
        c1: Complex<T>,
        c2: Option<Complex<T>>,
        what: &str,
    ) -> Complex<T> {
        let i = Complex::new(T::zero(), T::one());
        if which == Which::Grad {
            self.check_real_output(what);
        }
        match (which, c2) {
            (Which::Grad, Some(_)) => unreachable!("checked above"),
            // A real output's adjoints are `2 ∂out/∂b̄` already.
            (Which::Grad, None) if real_leaf => Complex::new(c1.re, T::zero()),
            (Which::Grad, None) => c1,
            (Which::Dzbar, None) => half(c1),
            (Which::Dz, None) => half(c1).conj(),
            (Which::Dzbar, Some(c2)) => c1 + i * c2,
            (Which::Dz, Some(c2)) => c1.conj() + i * c2.conj(),
        }
    }
}

impl<T: Real> Drop for Gradients<T> {
    fn drop(&mut self) {
        let passes = core::iter::once(&mut self.re).chain(self.im.as_mut());
        for a in passes {
            for v in a.arrays.drain(..).flatten() {
                super::tape::recycle(v);
            }
            super::tape::recycle(core::mem::take(&mut a.scalars));
        }
    }
}

/// Which derivative a [`Leaf`] is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// `∂out/∂x`.
    Dz,
    /// `∂out/∂x̄`.
    Dzbar,
    /// `2 ∂out/∂x̄` (real outputs only).
    Grad,
}

/// A leaf of a tape that [`Gradients`] can be asked about: [`Var`] (giving a `Complex<T>`) or
/// [`VarArray`] (giving a `Vec<Complex<T>>`).
pub trait Leaf<T: Real> {
    /// What a derivative with respect to this leaf is.
    type Value;
    /// Reads one derivative from `g`; called by [`Gradients::dz`], [`Gradients::dzbar`] and
    /// [`Gradients::grad`].
    fn read(&self, g: &Gradients<T>, which: Which) -> Self::Value;
}

/// `c / 2`, exact short of underflow: a real output's adjoint `2 ∂out/∂b̄` back to `∂out/∂b̄`.
#[inline(always)]
fn half<T: Real>(c: Complex<T>) -> Complex<T> {
    c.scale(T::from_f64c(0.5))
}

fn name(which: Which) -> &'static str {
    match which {
        Which::Dz => "dz",
        Which::Dzbar => "dzbar",
        Which::Grad => "grad",
    }
}

impl<'t, T: Real> Leaf<T> for Var<'t, T> {
    type Value = Complex<T>;
    fn read(&self, g: &Gradients<T>, which: Which) -> Complex<T> {
        let what = name(which);
        let real = g.check_leaf(self.tape, self.id, what);
        let i = self.id as usize;
        let c1 = g.re.scalars.get(i).copied().unwrap_or_default();
        let c2 =
            g.im.as_ref()
                .map(|im| im.scalars.get(i).copied().unwrap_or_default());
        g.combine(which, real, c1, c2, what)
    }
}

impl<'t, T: Real> Leaf<T> for VarArray<'t, T> {
    type Value = Vec<Complex<T>>;
    fn read(&self, g: &Gradients<T>, which: Which) -> Vec<Complex<T>> {
        let mut out = super::tape::take_buffer_len(self.len());
        self.read_into(g, which, &mut out);
        out
    }
}

impl<'t, T: Real> VarArray<'t, T> {
    /// The node of this leaf; panics (naming `what`) if it is not a leaf.
    fn leaf_id(&self, what: &str) -> u32 {
        // An array with pending elementwise ops is not a leaf (and is not evaluated here).
        let Some(id) = self.recorded_id() else {
            panic!(
                "wirtinger: Gradients::{what} asked about an array (`{}`), which is not a leaf; ask \
                 about variables made by tape.array or tape.real_array",
                self.pending_name()
            )
        };
        id
    }

    /// [`Gradients::grad_ref`].
    fn grad_ref<'g>(&self, g: &'g Gradients<T>) -> Cow<'g, [Complex<T>]> {
        let what = "grad_ref";
        let id = self.leaf_id(what);
        let real = g.check_leaf(self.tape, id, what);
        g.check_real_output(what);
        let e = self.tape.node(id).extra as usize;
        match g.re.arrays.get(e).and_then(|a| a.as_deref()) {
            // A real output's adjoint of a complex leaf is its gradient (`Tape::backward_from`).
            Some(a) if !real => {
                debug_assert_eq!(a.len(), self.len());
                Cow::Borrowed(a)
            }
            _ => {
                let mut out = super::tape::take_buffer_len(self.len());
                self.read_into(g, Which::Grad, &mut out);
                Cow::Owned(out)
            }
        }
    }

    /// One derivative with respect to this leaf, written into `out`.
    fn read_into(&self, g: &Gradients<T>, which: Which, out: &mut [Complex<T>]) {
        let what = name(which);
        let id = self.leaf_id(what);
        let real = g.check_leaf(self.tape, id, what);
        assert!(
            out.len() == self.len(),
            "wirtinger: Gradients::{what}_into: the output has {} elements, the array of shape {:?} \
             has {}",
            out.len(),
            self.shape(),
            self.len()
        );
        let e = self.tape.node(id).extra as usize;
        let zero = Complex::new(T::zero(), T::zero());
        let a1 = g.re.arrays.get(e).and_then(|a| a.as_ref());
        let a2 =
            g.im.as_ref()
                .map(|im| im.arrays.get(e).and_then(|a| a.as_ref()));
        if let (Some(a1), None) = (a1, &g.im) {
            // A real output (adjoints `2 ∂out/∂b̄`): one tight pass, no per-element dispatch.
            match which {
                Which::Dzbar => par::update(out, a1, |o, &c| *o = half(c)),
                Which::Dz => par::update(out, a1, |o, &c| *o = half(c).conj()),
                Which::Grad if real => {
                    par::update(out, a1, |o, c| *o = Complex::new(c.re, T::zero()))
                }
                Which::Grad => par::update(out, a1, |o, &c| *o = c),
            }
            return;
        }
        for (k, o) in out.iter_mut().enumerate() {
            let c1 = a1.map_or(zero, |a| a[k]);
            let c2 = a2.map(|a| a.map_or(zero, |a| a[k]));
            *o = g.combine(which, real, c1, c2, what);
        }
    }
}
