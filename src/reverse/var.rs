//! [`Var`]: a scalar value on a tape, and the scalar leaves and constants of [`Tape`].

use super::grads::Gradients;
use super::tape::{Kind, Tape};
use crate::ops::{impl_left_ops, impl_scalar_ops, ScalarArith};
use crate::rules::{self, Binary, Name, Unary};
use crate::Real;
use num_complex::Complex;

/// A complex scalar on a [`Tape`]: a `Copy` handle (the tape, an index, and a copy of the value
/// so that recording an op reads nothing back from the tape).
///
/// It has every operation and operator pairing of [`Dual`](crate::forward::Dual), with the same
/// names; real-valued results (`re`, `im`, `norm`, `norm_sqr`, `arg`, …) are `Var`s too, and the
/// tape tracks that they are real so that [`backward`](Self::backward) can use the cheap pass.
#[derive(Clone, Copy)]
pub struct Var<'t, T: Real = f64> {
    pub(crate) tape: &'t Tape<T>,
    pub(crate) value: Complex<T>,
    pub(crate) id: u32,
    /// Whether the value is real for every input.
    pub(crate) real: bool,
    /// Whether the value depends on a leaf.
    pub(crate) grad: bool,
}

impl<T: Real> core::fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n = self.tape.info(self.id);
        write!(
            f,
            "Var {{ id: {}, op: {}, value: {} }}",
            self.id, n.name, n.value
        )
    }
}

impl<T: Real> Tape<T> {
    fn scalar_node(&self, name: Name, kind: Kind, z: Complex<T>, real: bool) -> Var<'_, T> {
        let grad = kind == Kind::Leaf;
        let id = self.push_scalar(name, kind, z, real, grad);
        Var {
            tape: self,
            value: z,
            id,
            real,
            grad,
        }
    }

    /// The handle of scalar node `id`.
    pub(crate) fn var_at(&self, id: u32) -> Var<'_, T> {
        let n = self.node(id);
        Var {
            tape: self,
            value: self.info(id).value,
            id,
            real: n.real,
            grad: n.grad,
        }
    }

    /// A complex leaf (an independent variable `z`).
    pub fn var(&self, z: Complex<T>) -> Var<'_, T> {
        self.scalar_node(Name::var, Kind::Leaf, z, false)
    }

    /// A real leaf `p`: [`Gradients::grad`] gives the real derivative `dL/dp = 2 Re ∂L/∂p̄`.
    pub fn real_var(&self, x: T) -> Var<'_, T> {
        self.scalar_node(Name::real_var, Kind::Leaf, Complex::new(x, T::zero()), true)
    }

    /// A complex constant (no derivative flows into it). A constant whose imaginary part is exactly
    /// 0 counts as real-valued.
    pub fn constant(&self, z: Complex<T>) -> Var<'_, T> {
        self.scalar_node(Name::constant, Kind::Constant, z, z.im == T::zero())
    }

    /// A real constant.
    pub fn real_constant(&self, x: T) -> Var<'_, T> {
        self.constant(Complex::new(x, T::zero()))
    }
}

/// Panics unless `a` and `b` live on the same tape.
#[track_caller]
pub(crate) fn same_tape<T: Real>(a: &Tape<T>, b: &Tape<T>, op: &str) {
    assert!(
        core::ptr::eq(a, b),
        "wirtinger: `{op}` of variables from two different tapes"
    );
}

/// An input of a scalar op: the value, `g_a` and `g_ā` (`None` when holomorphic).
pub(crate) type VarPart<'t, T> = (Var<'t, T>, Complex<T>, Option<Complex<T>>);

impl<'t, T: Real> Var<'t, T> {
    /// The value, always a `Complex<T>` (imaginary part 0 for real-valued results).
    pub fn value(&self) -> Complex<T> {
        self.value
    }

    /// Whether the value is known to be real for every input (so `backward` needs one pass and
    /// [`Gradients::grad`] is defined).
    pub fn is_real(&self) -> bool {
        self.real
    }

    /// The tape this value lives on.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }

    /// The reverse pass from this output: the Wirtinger derivatives of `self` with respect to every
    /// leaf. A real-valued output takes one walk of the tape (seeded with `2 ∂L/∂L̄ = 1`, so that
    /// its adjoints are gradients), a complex one two (on `Re f` and `Im f`). The tape is left as
    /// it was, so other outputs of the same tape can be differentiated too.
    pub fn backward(&self) -> Gradients<T> {
        self.tape.backward_from(self.id)
    }

    /// Records an op with up to two inputs `(var, g_a, g_ā)`.
    #[inline(always)]
    pub(crate) fn record_parts(
        self,
        name: Name,
        value: Complex<T>,
        real: bool,
        parts: [Option<VarPart<'t, T>>; 2],
    ) -> Self {
        let edge = |p: Option<VarPart<'t, T>>| p.map(|(v, da, dac)| (v.id, da, dac));
        let grad = parts.iter().flatten().any(|(v, ..)| v.grad);
        let id = self
            .tape
            .push_op(name, value, real, grad, [edge(parts[0]), edge(parts[1])]);
        Var {
            tape: self.tape,
            value,
            id,
            real,
            grad,
        }
    }

    /// Used by [`rules::unary_methods`]: records one rule of the table.
    #[inline]
    fn apply_rule(self, name: Name, rule: impl Fn(Complex<T>) -> Unary<T>) -> Self {
        let r = rule(self.value);
        self.record_parts(
            name,
            r.value,
            r.real.of(self.real),
            [Some((self, r.da, r.da_conj)), None],
        )
    }

    #[inline]
    fn binary(self, o: Self, name: Name, rule: fn(Complex<T>, Complex<T>) -> Binary<T>) -> Self {
        same_tape(self.tape, o.tape, name.as_str());
        let r = rule(self.value, o.value);
        let real = r.preserves_real && self.real && o.real;
        self.record_parts(
            name,
            r.value,
            real,
            [Some((self, r.da, None)), Some((o, r.db, None))],
        )
    }

    /// `self ⊕ c` (`flip`: `c ⊕ self`) with a constant `c`: one edge, to `self`.
    #[inline]
    fn with_const(
        self,
        c: Complex<T>,
        flip: bool,
        name: Name,
        rule: fn(Complex<T>, Complex<T>) -> Binary<T>,
    ) -> Self {
        let (r, d) = if flip {
            let r = rule(c, self.value);
            (r, r.db)
        } else {
            let r = rule(self.value, c);
            (r, r.da)
        };
        let real = r.preserves_real && self.real && c.im == T::zero();
        self.record_parts(name, r.value, real, [Some((self, d, None)), None])
    }

    rules::unary_methods!(by_value);

    /// Alias of [`norm`](Self::norm): `|a|`.
    #[must_use]
    pub fn abs(self) -> Self {
        self.norm()
    }

    /// Alias of [`norm_sqr`](Self::norm_sqr): `|a|²`.
    #[must_use]
    pub fn abs2(self) -> Self {
        self.norm_sqr()
    }

    /// `aⁿ` for an integer `n`: `(n aⁿ⁻¹, 0)`.
    #[must_use]
    pub fn powi(self, n: i32) -> Self {
        self.apply_rule(Name::powi, |a| rules::powi(a, n))
    }

    /// `aˣ` for a real exponent `x`, principal branch: `(x aˣ/a, 0)`.
    #[must_use]
    pub fn powf(self, x: T) -> Self {
        self.apply_rule(Name::powf, |a| rules::powf(a, x))
    }

    /// `aᵇ = exp(b ln a)`, principal branch: `(b aᵇ/a, aᵇ ln a)`.
    #[must_use]
    pub fn powc(self, b: Self) -> Self {
        self.binary(b, Name::powc, rules::powc)
    }
}

impl<'t, T: Real> ScalarArith<T> for Var<'t, T> {
    fn add_v(self, o: Self) -> Self {
        self.binary(o, Name::add, rules::add)
    }
    fn sub_v(self, o: Self) -> Self {
        self.binary(o, Name::sub, rules::sub)
    }
    fn mul_v(self, o: Self) -> Self {
        self.binary(o, Name::mul, rules::mul)
    }
    fn div_v(self, o: Self) -> Self {
        self.binary(o, Name::div, rules::div)
    }
    fn neg_v(self) -> Self {
        self.apply_rule(Name::neg, rules::neg)
    }
    fn add_c(self, c: Complex<T>) -> Self {
        self.with_const(c, false, Name::add, rules::add)
    }
    fn sub_c(self, c: Complex<T>) -> Self {
        self.with_const(c, false, Name::sub, rules::sub)
    }
    fn rsub_c(self, c: Complex<T>) -> Self {
        self.with_const(c, true, Name::sub, rules::sub)
    }
    fn mul_c(self, c: Complex<T>) -> Self {
        self.with_const(c, false, Name::mul, rules::mul)
    }
    fn div_c(self, c: Complex<T>) -> Self {
        self.with_const(c, false, Name::div, rules::div)
    }
    fn rdiv_c(self, c: Complex<T>) -> Self {
        self.with_const(c, true, Name::div, rules::div)
    }
}

impl_scalar_ops!(['t, T: Real] Var<'t, T>);
impl_left_ops!(['t] Var<'t, f64>, f64);
impl_left_ops!(['t] Var<'t, f32>, f32);

impl<'t, T: Real> core::iter::Sum for Var<'t, T> {
    /// # Panics
    /// On an empty iterator: there is no tape to record the zero on.
    fn sum<I: Iterator<Item = Self>>(mut iter: I) -> Self {
        let first = iter
            .next()
            .expect("wirtinger: sum of an empty iterator of Var (no tape to record on)");
        iter.fold(first, |a, b| a + b)
    }
}

impl<'t, T: Real> core::iter::Product for Var<'t, T> {
    /// # Panics
    /// On an empty iterator: there is no tape to record the one on.
    fn product<I: Iterator<Item = Self>>(mut iter: I) -> Self {
        let first = iter
            .next()
            .expect("wirtinger: product of an empty iterator of Var (no tape to record on)");
        iter.fold(first, |a, b| a * b)
    }
}
