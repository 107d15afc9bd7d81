//! [`VarArray`]: an n-dimensional array value on the tape; one array op is one node.

use super::fused::{self, ArrayIn, BinaryKernel, Expr, Kernel, Part, ScalarIn, Seed, UnaryKernel};
use super::reuse::Linear;
use super::tape::{take_buffer, Extra, Kind, Tape, Vjp, NONE};
use super::values::Values;
use super::var::{same_tape, Var};
use crate::parallel as par;
use crate::rules::{self, Binary, Unary};
use crate::Real;
use core::cell::{Cell, RefCell};
use num_complex::Complex;
use std::rc::Rc;

/// An n-dimensional, row-major array of complex values on a [`Tape`]: a cheap `Clone` handle.
///
/// Every unary op of the rules table applies elementwise (`a.exp()`, `a.norm_sqr()`, …);
/// `+ − × ÷` work between arrays of the same shape, with a scalar [`Var`], and with constants
/// (`Complex<T>`, `T`, `&[Complex<T>]`) on either side. Reductions (`sum`, `mean`, `dot`, `vdot`,
/// `norm_sqr_sum`) give a [`Var`]; FFTs follow numpy's conventions. However many elements, one
/// array op records one node.
///
/// ```
/// use wirtinger::prelude::*;
///
/// let tape = Tape::new();
/// let u = tape.vector(vec![c64(1.0, 2.0), c64(-0.5, 0.25)]);
/// let loss = (&u * c64(0.0, 1.0)).exp().norm_sqr_sum();
/// let g = loss.backward();
/// assert_eq!(g.grad(&u).len(), 2);
/// ```
#[derive(Clone)]
pub struct VarArray<'t, T: Real = f64> {
    pub(crate) tape: &'t Tape<T>,
    repr: Repr<T>,
    shape: Rc<[usize]>,
}

/// A node of the tape, or an elementwise expression not evaluated yet (see [`fused`]).
#[derive(Clone)]
enum Repr<T: Real> {
    Node(u32),
    Lazy(Rc<Lazy<T>>),
}

/// An elementwise expression and, once something needed its values, the node that holds them
/// (shared by every clone of the handle, so it is evaluated once).
struct Lazy<T: Real> {
    expr: Rc<Expr<T>>,
    node: Cell<u32>,
}

impl<T: Real> core::fmt::Debug for VarArray<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.recorded_id() {
            Some(id) => write!(
                f,
                "VarArray {{ id: {id}, op: {}, shape: {:?} }}",
                self.tape.info(id).name,
                self.shape
            ),
            None => write!(
                f,
                "VarArray {{ pending elementwise ops, shape: {:?} }}",
                self.shape
            ),
        }
    }
}

#[track_caller]
fn check_shape(op: &str, len: usize, shape: &[usize]) {
    let n: usize = shape.iter().product();
    assert!(
        n == len,
        "wirtinger: `{op}`: data of length {len} does not fit shape {shape:?} ({n} elements)"
    );
}

fn zero<T: Real>() -> Complex<T> {
    Complex::new(T::zero(), T::zero())
}

/// The four arithmetic operators, read from the rules table.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

impl Arith {
    fn name(self) -> &'static str {
        match self {
            Arith::Add => "add",
            Arith::Sub => "sub",
            Arith::Mul => "mul",
            Arith::Div => "div",
        }
    }
}

/// Array values a [`Tape`] can take: an owned `Vec<Complex<T>>`, moved in as it is; a shared
/// `Rc<Vec<Complex<T>>>` (or `&Rc<…>`), kept as it is, without a copy; or borrowed data
/// (`&[Complex<T>]`, `&Vec<Complex<T>>`, arrays), copied into a buffer of the thread's pool.
///
/// A loss rebuilt every iteration from the same borrowed data thus touches no fresh memory: the
/// buffer comes back to the pool when the tape is cleared or dropped, where a fresh `Vec` per
/// call (a `clone()`) costs a page fault per 4 KiB once it exceeds malloc's mapping threshold.
/// An `Rc` costs not even the copy: the tape holds a second reference until it is cleared or
/// dropped, after which `Rc::get_mut` (or `Rc::make_mut`, without copying) lets the caller
/// update the values in place for the next call.
///
/// ```
/// use std::rc::Rc;
/// use wirtinger::prelude::*;
///
/// let mut u = Rc::new(vec![c64(1.0, 2.0); 4]);
/// for _ in 0..3 {
///     let tape = Tape::new();
///     let x = tape.vector(&u); // shares `u`, no copy
///     let g = x.norm_sqr_sum().backward();
///     let step = g.grad(&x);
///     drop(tape);
///     // The tape is gone, so `u` is ours alone again: update it in place.
///     for (z, s) in Rc::get_mut(&mut u).unwrap().iter_mut().zip(&step) {
///         *z -= s * 0.25;
///     }
/// }
/// // |z|² has gradient 2z: each step halves z.
/// assert_eq!(u[0], c64(0.125, 0.25));
/// ```
pub trait ArrayData<T: Real> {
    /// The values in a `Vec` the tape may keep.
    fn into_buffer(self) -> Vec<Complex<T>>;

    /// The values as the tape keeps them: shared, so that an `Rc` need not be copied.
    fn into_shared(self) -> Rc<Vec<Complex<T>>>
    where
        Self: Sized,
    {
        Rc::new(self.into_buffer())
    }
}

impl<T: Real> ArrayData<T> for Vec<Complex<T>> {
    fn into_buffer(self) -> Vec<Complex<T>> {
        self
    }
}

impl<T: Real> ArrayData<T> for Rc<Vec<Complex<T>>> {
    /// The `Vec` itself when this is the only reference, else a pooled copy.
    fn into_buffer(self) -> Vec<Complex<T>> {
        Rc::try_unwrap(self).unwrap_or_else(|rc| rc.as_slice().into_buffer())
    }

    fn into_shared(self) -> Rc<Vec<Complex<T>>> {
        self
    }
}

impl<T: Real> ArrayData<T> for &Rc<Vec<Complex<T>>> {
    fn into_buffer(self) -> Vec<Complex<T>> {
        self.as_slice().into_buffer()
    }

    fn into_shared(self) -> Rc<Vec<Complex<T>>> {
        Rc::clone(self)
    }
}

impl<T: Real> ArrayData<T> for &[Complex<T>] {
    fn into_buffer(self) -> Vec<Complex<T>> {
        let mut v = take_buffer(self.len());
        v.extend_from_slice(self);
        v
    }
}

impl<T: Real> ArrayData<T> for &Vec<Complex<T>> {
    fn into_buffer(self) -> Vec<Complex<T>> {
        self.as_slice().into_buffer()
    }
}

impl<T: Real, const N: usize> ArrayData<T> for [Complex<T>; N] {
    fn into_buffer(self) -> Vec<Complex<T>> {
        self.as_slice().into_buffer()
    }
}

impl<T: Real, const N: usize> ArrayData<T> for &[Complex<T>; N] {
    fn into_buffer(self) -> Vec<Complex<T>> {
        self.as_slice().into_buffer()
    }
}

/// Real array data as [`Tape::real_array`] and [`Tape::real_constant_array`] take it: a `Vec<T>`
/// (moved in, not copied), an `Rc<Vec<T>>` (shared, not copied; as for [`ArrayData`], once the
/// tape is cleared or dropped the caller may update it in place), or a borrowed slice, array or
/// `Vec` (copied into a buffer the tape reuses).
///
/// ```
/// use std::rc::Rc;
/// use wirtinger::prelude::*;
///
/// let target = Rc::new(vec![1.0, 4.0]);
/// let tape = Tape::new();
/// let u = tape.vector(vec![c64(1.0, 1.0), c64(2.0, 0.0)]);
/// // The target is shared with the tape, not copied.
/// let t = tape.real_constant_array(&target, &[2]);
/// let loss = (u.norm_sqr() - &t).powi(2).sum();
/// // (2 − 1)² + (4 − 4)².
/// assert_eq!(loss.value().re, 1.0);
/// ```
pub trait RealData<T: Real> {
    /// The values as the tape takes them.
    fn into_source<'a>(self) -> RealSource<'a, T>
    where
        Self: 'a;
}

/// What a [`RealData`] gives the tape: values to keep as they are, or to copy.
pub enum RealSource<'a, T> {
    /// A vector the tape keeps (shares) without copying.
    Keep(Rc<Vec<T>>),
    /// Values the tape copies.
    Copy(&'a [T]),
}

impl<T: Real> RealData<T> for Vec<T> {
    fn into_source<'a>(self) -> RealSource<'a, T>
    where
        Self: 'a,
    {
        RealSource::Keep(Rc::new(self))
    }
}

impl<T: Real> RealData<T> for Rc<Vec<T>> {
    fn into_source<'a>(self) -> RealSource<'a, T>
    where
        Self: 'a,
    {
        RealSource::Keep(self)
    }
}

impl<T: Real> RealData<T> for &Rc<Vec<T>> {
    fn into_source<'a>(self) -> RealSource<'a, T>
    where
        Self: 'a,
    {
        RealSource::Keep(Rc::clone(self))
    }
}

impl<T: Real> RealData<T> for &[T] {
    fn into_source<'a>(self) -> RealSource<'a, T>
    where
        Self: 'a,
    {
        RealSource::Copy(self)
    }
}

impl<T: Real> RealData<T> for &Vec<T> {
    fn into_source<'a>(self) -> RealSource<'a, T>
    where
        Self: 'a,
    {
        RealSource::Copy(self)
    }
}

impl<T: Real, const N: usize> RealData<T> for &[T; N] {
    fn into_source<'a>(self) -> RealSource<'a, T>
    where
        Self: 'a,
    {
        RealSource::Copy(self)
    }
}

impl<T: Real, const N: usize> RealData<T> for [T; N] {
    fn into_source<'a>(self) -> RealSource<'a, T>
    where
        Self: 'a,
    {
        RealSource::Keep(Rc::new(self.to_vec()))
    }
}

impl<T: Real> RealSource<'_, T> {
    fn into_values(self) -> Values<T> {
        match self {
            RealSource::Keep(v) => Values::real_shared(v),
            RealSource::Copy(v) => Values::real(v),
        }
    }
}

impl<T: Real> Tape<T> {
    fn array_node(
        &self,
        name: &'static str,
        kind: Kind,
        value: Values<T>,
        shape: &[usize],
        real: bool,
    ) -> VarArray<'_, T> {
        check_shape(name, value.len(), shape);
        let shape: Rc<[usize]> = shape.into();
        let extra = Extra {
            name,
            value: Some(value),
            shape: shape.clone(),
            inputs: Vec::new(),
            vjp: None,
            early: RefCell::new(None),
            linear: None,
        };
        let id = self.push_extra(kind, zero(), real, extra);
        VarArray {
            tape: self,
            repr: Repr::Node(id),
            shape,
        }
    }

    /// A complex array leaf of the given shape (row-major). `data` is an owned `Vec` (moved in), an
    /// `Rc<Vec<_>>` (shared, not copied) or a borrowed slice (copied into a buffer the tape
    /// reuses); see [`ArrayData`].
    ///
    /// # Panics
    /// If `data` does not have `shape.iter().product()` elements.
    pub fn array(&self, data: impl ArrayData<T>, shape: &[usize]) -> VarArray<'_, T> {
        self.array_node(
            "array",
            Kind::ArrayLeaf,
            data.into_shared().into(),
            shape,
            false,
        )
    }

    /// A one-dimensional complex array leaf.
    pub fn vector(&self, data: impl ArrayData<T>) -> VarArray<'_, T> {
        let data = data.into_shared();
        let n = data.len();
        self.array_node("vector", Kind::ArrayLeaf, data.into(), &[n], false)
    }

    /// A real array leaf: every element is a real parameter, and [`Gradients::grad`](super::Gradients::grad)
    /// gives `dL/dp = 2 Re ∂L/∂p̄` for each. `data`: a `Vec<T>` or an `Rc<Vec<T>>` (kept, not
    /// copied), or a slice or an array (copied into a buffer the tape reuses); see [`RealData`].
    /// The tape stores the values as real numbers, at half the memory (and memory traffic) of
    /// complex ones; [`value`](VarArray::value) converts them.
    pub fn real_array(&self, data: impl RealData<T>, shape: &[usize]) -> VarArray<'_, T> {
        let data = data.into_source().into_values();
        self.array_node("real array", Kind::ArrayLeaf, data, shape, true)
    }

    /// A complex constant array. If every imaginary part is exactly 0 it counts as real-valued.
    pub fn constant_array(&self, data: impl ArrayData<T>, shape: &[usize]) -> VarArray<'_, T> {
        let data = data.into_shared();
        let real = data.iter().all(|z| z.im == T::zero());
        self.array_node(
            "constant array",
            Kind::ArrayConstant,
            data.into(),
            shape,
            real,
        )
    }

    /// A real constant array (`data` as for [`real_array`](Self::real_array), and likewise stored
    /// as real numbers). A complex constant array whose imaginary parts are all 0 counts as real
    /// too, but is stored as complex: prefer this for real data.
    pub fn real_constant_array(&self, data: impl RealData<T>, shape: &[usize]) -> VarArray<'_, T> {
        let data = data.into_source().into_values();
        self.array_node("constant array", Kind::ArrayConstant, data, shape, true)
    }

    /// Records an array-valued op with its VJP.
    pub(crate) fn array_op(
        &self,
        name: &'static str,
        value: impl Into<Values<T>>,
        shape: Rc<[usize]>,
        real: bool,
        inputs: Vec<u32>,
        vjp: Vjp<T>,
    ) -> VarArray<'_, T> {
        let value = value.into();
        check_shape(name, value.len(), &shape);
        let extra = Extra {
            name,
            value: Some(value),
            shape: shape.clone(),
            inputs,
            vjp: Some(vjp),
            early: RefCell::new(None),
            linear: None,
        };
        let id = self.push_extra(Kind::Vjp, zero(), real, extra);
        VarArray {
            tape: self,
            repr: Repr::Node(id),
            shape,
        }
    }

    /// Records a scalar-valued op with its VJP (reductions, `get`, custom scalar rules).
    pub(crate) fn scalar_op(
        &self,
        name: &'static str,
        value: Complex<T>,
        real: bool,
        inputs: Vec<u32>,
        vjp: Vjp<T>,
    ) -> Var<'_, T> {
        self.scalar_op_early(name, value, real, inputs, vjp, None)
    }

    /// [`scalar_op`](Self::scalar_op) with a VJP computed early, for `vjp` to take
    /// ([`Accum::take_early`](super::tape::Accum::take_early)).
    pub(crate) fn scalar_op_early(
        &self,
        name: &'static str,
        value: Complex<T>,
        real: bool,
        inputs: Vec<u32>,
        vjp: Vjp<T>,
        early: Option<fused::Early<T>>,
    ) -> Var<'_, T> {
        let extra = Extra {
            name,
            value: None,
            shape: Rc::from([]),
            inputs,
            vjp: Some(vjp),
            early: RefCell::new(early),
            linear: None,
        };
        let id = self.push_extra(Kind::Vjp, value, real, extra);
        self.var_at(id)
    }
}

impl<'t, T: Real> VarArray<'t, T> {
    /// The shape (row-major).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tape this array lives on.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }

    /// The node holding this array's values, recording the pending elementwise ops first.
    pub(crate) fn id(&self) -> u32 {
        match &self.repr {
            Repr::Node(id) => *id,
            Repr::Lazy(l) => {
                if l.node.get() == NONE {
                    l.node.set(self.materialize(&l.expr));
                }
                l.node.get()
            }
        }
    }

    /// The node, if this array has one already (without evaluating pending ops).
    pub(crate) fn recorded_id(&self) -> Option<u32> {
        match &self.repr {
            Repr::Node(id) => Some(*id),
            Repr::Lazy(l) => Some(l.node.get()).filter(|&id| id != NONE),
        }
    }

    /// The name of the pending expression (for messages).
    pub(crate) fn pending_name(&self) -> &'static str {
        self.pending().map_or("array", |e| e.name())
    }

    /// The pending expression, if this array is one not evaluated yet.
    fn pending(&self) -> Option<&Rc<Expr<T>>> {
        match &self.repr {
            Repr::Lazy(l) if l.node.get() == NONE => Some(&l.expr),
            _ => None,
        }
    }

    /// Evaluates `expr` and records it as one node.
    fn materialize(&self, expr: &Rc<Expr<T>>) -> u32 {
        let tape = self.tape;
        let value = expr.values();
        let inputs = expr.inputs();
        let name = expr.name();
        if !inputs.iter().any(|&id| tape.node(id).grad) {
            let c = tape.array_node(
                name,
                Kind::ArrayConstant,
                Rc::new(value).into(),
                &self.shape,
                expr.real,
            );
            return c.id();
        }
        let diagonal = expr
            .real_diagonal(|id| tape.node(id).grad)
            .and_then(|x| inputs.iter().position(|&i| i == x));
        let e = expr.clone();
        let vjp: Vjp<T> = Box::new(move |c, acc| e.backward(Seed::Array(c), acc));
        let id = tape
            .array_op(
                name,
                Rc::new(value),
                self.shape.clone(),
                expr.real,
                inputs,
                vjp,
            )
            .id();
        if let Some(input) = diagonal {
            tape.set_linear(id, Linear::RealDiagonal { input });
        }
        id
    }

    /// A pending elementwise op: `kernel(parts…)`.
    fn lazy(&self, kernel: Rc<dyn Kernel<T>>, parts: &[Part<'_, T>], real: bool) -> Self {
        let expr = Expr::apply(kernel, parts, real, self.len());
        VarArray {
            tape: self.tape,
            repr: Repr::Lazy(Rc::new(Lazy {
                expr: Rc::new(expr),
                node: Cell::new(NONE),
            })),
            shape: self.shape.clone(),
        }
    }

    /// The values, row-major (shared with the tape, not copied; except that a real array leaf or
    /// constant, which the tape stores as real numbers, is converted).
    pub fn value(&self) -> Rc<Vec<Complex<T>>> {
        self.values().to_complex()
    }

    /// The values as the tape stores them.
    fn values(&self) -> Values<T> {
        let e = self.tape.node(self.id()).extra as usize;
        self.tape.extras()[e]
            .value
            .clone()
            .expect("wirtinger: internal error: array node without a value")
    }

    /// Whether every element is known to be real.
    pub fn is_real(&self) -> bool {
        match self.pending() {
            Some(e) => e.real,
            None => self.tape.node(self.id()).real,
        }
    }

    /// This array as an operand of an elementwise op: its pending expression (while it is short
    /// enough to extend) or its node.
    fn part(&self) -> Part<'_, T> {
        match self.pending() {
            Some(e) if e.ops.len() < fused::MAX_OPS => Part::Expr(e),
            _ => Part::Array(ArrayIn {
                id: Some(self.id()),
                value: self.values(),
                real: self.is_real(),
            }),
        }
    }

    /// Used by [`rules::unary_methods`]: applies one rule of the table to every element, lazily
    /// (see [`fused`]). The backward pass evaluates the same rule again at the input values
    /// rather than storing arrays of partials: less memory traffic, one table.
    fn apply_rule<R>(&self, name: rules::Name, rule: R) -> Self
    where
        R: Fn(Complex<T>) -> Unary<T> + Send + Sync + 'static,
    {
        // `unary_methods!` pairs each name with the rule of that name.
        let known = (name == rules::Name::norm_sqr).then_some(fused::Known::NormSqr);
        self.apply_known_rule(name, rule, known)
    }

    /// [`apply_rule`](Self::apply_rule), saying which rule it is when [`fused::Known`].
    fn apply_known_rule<R>(&self, name: rules::Name, rule: R, known: Option<fused::Known>) -> Self
    where
        R: Fn(Complex<T>) -> Unary<T> + Send + Sync + 'static,
    {
        // A rule is either always holomorphic or never, and its realness does not depend on the
        // value; probe it once at a regular point.
        let probe = rule(Complex::new(T::from_f64c(0.5), T::from_f64c(0.25)));
        let real = probe.real.of(self.is_real());
        // Real partials at real operands (see `Kernel::real_partials`): so for every rule that
        // keeps real inputs real (analytic, or `conj`); a real-valued rule says so at two points.
        let real_partials = probe.real == rules::Realness::Preserves
            || [0.5, -1.5].into_iter().all(|x| {
                let r = rule(Complex::new(T::from_f64c(x), T::zero()));
                r.da.im == T::zero() && r.da_conj.map_or(true, |g| g.im == T::zero())
            });
        let kernel = Rc::new(UnaryKernel {
            name: name.as_str(),
            rule,
            holomorphic: probe.da_conj.is_none(),
            real_partials,
            known,
        });
        self.lazy(kernel, &[self.part()], real)
    }

    rules::unary_methods!(by_ref);

    /// Elementwise negation (the `-` operator).
    pub(crate) fn apply_neg(&self) -> Self {
        self.apply_rule(rules::Name::neg, rules::neg)
    }

    /// Alias of [`norm`](Self::norm), elementwise `|a|`.
    #[must_use]
    pub fn abs(&self) -> Self {
        self.norm()
    }

    /// Alias of [`norm_sqr`](Self::norm_sqr), elementwise `|a|²`.
    #[must_use]
    pub fn abs2(&self) -> Self {
        self.norm_sqr()
    }

    /// Elementwise `aⁿ`.
    #[must_use]
    pub fn powi(&self, n: i32) -> Self {
        if n == 2 {
            // The exponent as a constant: the kernel's loops then have no branch on it (the
            // common square of a loss vectorizes).
            let square = Some(fused::Known::Square);
            return self.apply_known_rule(rules::Name::powi, |a| rules::powi(a, 2), square);
        }
        self.apply_rule(rules::Name::powi, move |a| rules::powi(a, n))
    }

    /// Elementwise `aˣ` for a real `x`, principal branch.
    #[must_use]
    pub fn powf(&self, x: T) -> Self {
        self.apply_rule(rules::Name::powf, move |a| rules::powf(a, x))
    }

    /// Elementwise `aᵇ` for an array exponent of the same shape, principal branch.
    #[must_use]
    pub fn powc(&self, b: &Self) -> Self {
        same_tape(self.tape, b.tape, "powc");
        self.check_same_shape("powc", b);
        let (l, r) = ((self.part(), self.is_real()), (b.part(), b.is_real()));
        self.binary("powc", l, r, rules::powc, false, None)
    }

    #[track_caller]
    fn check_same_shape(&self, op: &str, b: &Self) {
        assert!(
            self.shape == b.shape,
            "wirtinger: `{op}` of arrays with shapes {:?} and {:?}",
            &*self.shape,
            &*b.shape
        );
    }

    /// `self ⊕ other` elementwise, same shapes.
    #[track_caller]
    pub(crate) fn arith(&self, other: &Self, op: Arith) -> Self {
        same_tape(self.tape, other.tape, op.name());
        self.check_same_shape(op.name(), other);
        let (l, r) = (
            (self.part(), self.is_real()),
            (other.part(), other.is_real()),
        );
        self.arith_parts(op, l, r)
    }

    /// `self ⊕ s` (or `s ⊕ self` when `flip`) with a scalar on the tape.
    pub(crate) fn arith_var(&self, s: Var<'t, T>, flip: bool, op: Arith) -> Self {
        same_tape(self.tape, s.tape, op.name());
        let so = Part::Scalar(ScalarIn {
            id: Some(s.id),
            value: s.value,
            real: s.real,
        });
        self.arith_with(op, (so, s.real), flip)
    }

    /// `self ⊕ c` (or `c ⊕ self`) with a constant.
    pub(crate) fn arith_const(&self, c: Complex<T>, flip: bool, op: Arith) -> Self {
        let real = c.im == T::zero();
        let so = Part::Scalar(ScalarIn {
            id: None,
            value: c,
            real,
        });
        self.arith_with(op, (so, real), flip)
    }

    /// `self ⊕ data` (or `data ⊕ self`) with a constant array of the same length.
    #[track_caller]
    pub(crate) fn arith_const_array(&self, data: &[Complex<T>], flip: bool, op: Arith) -> Self {
        self.check_const_len(data.len(), op);
        let real = data.iter().all(|z| z.im == T::zero());
        self.arith_const_values(Rc::new(data.into_buffer()).into(), real, flip, op)
    }

    /// `self ⊕ data` (or `data ⊕ self`) with a real constant array of the same length.
    #[track_caller]
    pub(crate) fn arith_real_const_array(&self, data: &[T], flip: bool, op: Arith) -> Self {
        self.check_const_len(data.len(), op);
        self.arith_const_values(Values::real(data), true, flip, op)
    }

    #[track_caller]
    fn check_const_len(&self, len: usize, op: Arith) {
        assert!(
            len == self.len(),
            "wirtinger: `{}` of an array of shape {:?} and a constant slice of length {}",
            op.name(),
            &*self.shape,
            len
        );
    }

    /// `self ⊕ values` with constant values (in a pooled buffer).
    fn arith_const_values(&self, values: Values<T>, real: bool, flip: bool, op: Arith) -> Self {
        let co = Part::Array(ArrayIn {
            id: None,
            value: values,
            real,
        });
        self.arith_with(op, (co, real), flip)
    }

    fn arith_with(&self, op: Arith, other: (Part<'_, T>, bool), flip: bool) -> Self {
        let me = (self.part(), self.is_real());
        if flip {
            self.arith_parts(op, other, me)
        } else {
            self.arith_parts(op, me, other)
        }
    }

    /// One of the four operators, each with its own (inlined) rule.
    fn arith_parts(&self, op: Arith, l: (Part<'_, T>, bool), r: (Part<'_, T>, bool)) -> Self {
        let name = op.name();
        match op {
            Arith::Add => self.binary(name, l, r, rules::add, true, None),
            Arith::Sub => self.binary(name, l, r, rules::sub, true, Some(fused::Known::Sub)),
            Arith::Mul => self.binary(name, l, r, rules::mul, false, None),
            Arith::Div => self.binary(name, l, r, rules::div, false, None),
        }
    }

    /// A pending `l ⊕ r` with a binary rule of the table (`linear`: its partials do not depend on
    /// the values; `known`: which rule it is, see [`fused::Known`]). `l`, `r` come with whether
    /// they are real.
    fn binary<R>(
        &self,
        name: &'static str,
        l: (Part<'_, T>, bool),
        r: (Part<'_, T>, bool),
        rule: R,
        linear: bool,
        known: Option<fused::Known>,
    ) -> Self
    where
        R: Fn(Complex<T>, Complex<T>) -> Binary<T> + Send + Sync + 'static,
    {
        let fixed = rule(zero(), zero());
        let real = fixed.preserves_real && l.1 && r.1;
        let kernel = Rc::new(BinaryKernel {
            name,
            rule,
            linear,
            fixed,
            known,
        });
        self.lazy(kernel, &[l.0, r.0], real)
    }

    /// `Σ a_k`. Of a pending elementwise expression, one fused pass that stores no array.
    ///
    /// A real-valued fused sum is taken to be a loss: the same pass also computes its VJP (the
    /// adjoints of the arrays it reads that depend on a leaf), held by the tape until the first
    /// backward pass uses it (counted in [`Tape::memory`]'s `adjoints`). The inputs are then
    /// read once in all, as in a hand-written gradient, instead of again in the backward pass.
    pub fn sum(&self) -> Var<'t, T> {
        if let Some(e) = self.pending() {
            return self.fused_sum("sum", e.clone());
        }
        let a = self.value();
        let n = a.len();
        let v: &[Complex<T>] = &a;
        let s = par::chunked_sum(n, |r| v[r].iter().fold(zero(), |s, &x| s + x), |s, t| s + t);
        self.reduce(
            "sum",
            s.unwrap_or_else(zero),
            self.is_real(),
            Box::new(move |c, acc| {
                let mut g = acc.buffer(n);
                par::fill_value(&mut g, n, c[0]);
                acc.give(0, g);
            }),
        )
    }

    /// `Σ a_k / n`.
    pub fn mean(&self) -> Var<'t, T> {
        let n = T::from_usize(self.len()).unwrap_or_else(T::nan);
        self.sum() / n
    }

    /// `Σ |a_k|²` in one node (real-valued), with the partials of `norm_sqr` from the rules table.
    pub fn norm_sqr_sum(&self) -> Var<'t, T> {
        if self.pending().is_some() {
            return self.norm_sqr().sum();
        }
        let a = self.value();
        let v: &[Complex<T>] = &a;
        let s = par::chunked_sum(
            a.len(),
            |r| {
                v[r].iter()
                    .fold(T::zero(), |s, &x| s + rules::norm_sqr(x).value.re)
            },
            |s, t| s + t,
        );
        self.reduce(
            "norm_sqr_sum",
            Complex::new(s.unwrap_or_else(T::zero), T::zero()),
            true,
            Box::new(move |c, acc| {
                let c = c[0];
                // The partials of `norm_sqr` from the table: c_a += conj(g_a) c + g_ā conj(c).
                acc.add_each(0, &a, |x| {
                    let r = rules::norm_sqr(x);
                    r.da.conj() * c + r.da_conj.unwrap_or_else(zero) * c.conj()
                });
            }),
        )
    }

    /// `Σ a_k b_k` (no conjugation; holomorphic in both).
    #[track_caller]
    pub fn dot(&self, b: &Self) -> Var<'t, T> {
        self.bilinear(b, "dot", false)
    }

    /// `Σ ā_k b_k` (numpy's `vdot`: the first argument conjugated).
    ///
    /// An expectation value `⟨ψ|A|ψ⟩` is `psi.vdot(&a_psi)`. When `A` is a chain of FFTs and
    /// products by real constants (a Hermitian spectral operator such as `ifft(K · fft ψ)` with
    /// `K` real), its backward pass runs no FFT: the gradient (`2Aψ` for `Re⟨ψ|A|ψ⟩`) is
    /// assembled from the values the forward pass stored, as a hand-written gradient would be.
    ///
    /// ```
    /// use wirtinger::prelude::*;
    ///
    /// // ⟨ψ|A|ψ⟩ with A = F⁻¹ K F, K real: A is Hermitian and the gradient is 2Aψ.
    /// let tape: Tape = Tape::new();
    /// let psi = tape.vector(vec![c64(1.0, 0.5), c64(-0.25, 2.0), c64(0.5, 0.0), c64(0.0, -1.0)]);
    /// let k = tape.real_constant_array(vec![0.0, 0.5, 2.0, 0.5], &[4]);
    /// let a_psi = (psi.fft() * &k).ifft();
    /// let e = psi.vdot(&a_psi).re();
    /// let g = e.backward().grad(&psi);
    /// for (g, a) in g.iter().zip(a_psi.value().iter()) {
    ///     assert!((g - a * 2.0).norm() < 1e-15);
    /// }
    /// ```
    #[track_caller]
    pub fn vdot(&self, b: &Self) -> Var<'t, T> {
        self.bilinear(b, "vdot", true)
    }

    #[track_caller]
    fn bilinear(&self, b: &Self, name: &'static str, conj_a: bool) -> Var<'t, T> {
        same_tape(self.tape, b.tape, name);
        self.check_same_shape(name, b);
        let (av, bv) = (self.value(), b.value());
        let (x, y): (&[Complex<T>], &[Complex<T>]) = (&av, &bv);
        let s = par::chunked_sum(
            av.len(),
            |r| {
                x[r.clone()].iter().zip(&y[r]).fold(zero(), |s, (&x, &y)| {
                    s + if conj_a { x.conj() * y } else { x * y }
                })
            },
            |s, t| s + t,
        )
        .unwrap_or_else(zero);
        let real = !conj_a && self.is_real() && b.is_real();
        let tape = self.tape;
        let vjp: Vjp<T> = Box::new(move |c, acc| {
            let c = c[0];
            // dot: ∂/∂a = b, so c_a += conj(b) c; vdot: ∂/∂ā = b, so c_a += b conj(c).
            // vdot's shares are multiples of the other operand's value, passed on as such (a
            // linear node downstream may have its VJP computed already: `reuse`).
            if conj_a {
                acc.give_input_value(0, c.conj(), 1);
            } else {
                acc.add_each(0, &bv, |y| y.conj() * c);
            }
            // dot: ∂/∂b = a, c_b += conj(a) c; vdot: ∂/∂b = ā, c_b += a c.
            if conj_a {
                acc.give_input_value(1, c, 0);
            } else {
                acc.add_each(1, &av, |x| x.conj() * c);
            }
        });
        tape.scalar_op(name, s, real, vec![self.id(), b.id()], vjp)
    }

    fn reduce(&self, name: &'static str, value: Complex<T>, real: bool, vjp: Vjp<T>) -> Var<'t, T> {
        self.tape.scalar_op(name, value, real, vec![self.id()], vjp)
    }

    /// `Σ` of a pending expression, fused into its pass.
    ///
    /// A real sum is a loss, recorded to be differentiated, so its VJP is computed in the same
    /// pass as its value (for the seed `1`, see [`Expr::sum_with_vjp`]): the inputs are read once
    /// instead of once more in the backward pass, and the first backward pass hands the buffers
    /// on. Later backward passes of the same tape recompute it.
    fn fused_sum(&self, name: &'static str, e: Rc<Expr<T>>) -> Var<'t, T> {
        let tape = self.tape;
        let inputs = e.inputs();
        let real = e.real;
        let wants = |id: u32| tape.node(id).grad;
        let (mut value, early) = if real && inputs.iter().any(|&id| wants(id)) {
            let (value, early) = e.sum_with_vjp(wants);
            (value, Some(early))
        } else {
            (e.sum(), None)
        };
        if real {
            value.im = T::zero();
        }
        let vjp: Vjp<T> = Box::new(move |c, acc| match acc.take_early() {
            Some(early) => early.apply(c[0], acc),
            None => e.backward(Seed::Scalar(c[0]), acc),
        });
        tape.scalar_op_early(name, value, real, inputs, vjp, early)
    }

    /// The element at a multi-index (one index per axis).
    ///
    /// # Panics
    /// If the index has the wrong number of axes or is out of bounds.
    #[track_caller]
    pub fn get(&self, index: &[usize]) -> Var<'t, T> {
        assert!(
            index.len() == self.shape.len()
                && index.iter().zip(self.shape.iter()).all(|(i, n)| i < n),
            "wirtinger: `get`: index {index:?} out of bounds for shape {:?}",
            &*self.shape
        );
        let flat = index
            .iter()
            .zip(self.shape.iter())
            .fold(0, |f, (i, n)| f * n + i);
        let v = self.value()[flat];
        self.reduce(
            "get",
            v,
            self.is_real(),
            Box::new(move |c, acc| {
                if let Some(g) = acc.array(0) {
                    g[flat] += c[0];
                }
            }),
        )
    }

    /// The same values with another shape of the same number of elements (no copy).
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Self {
        check_shape("reshape", self.len(), shape);
        self.tape.array_op(
            "reshape",
            self.values(),
            shape.into(),
            self.is_real(),
            vec![self.id()],
            Box::new(|c, acc| acc.give(0, c)),
        )
    }

    /// A one-dimensional array of scalar values.
    ///
    /// # Panics
    /// If `vars` is empty (there is no tape to record on) or mixes tapes.
    #[track_caller]
    pub fn stack(vars: &[Var<'t, T>]) -> Self {
        let first = vars
            .first()
            .expect("wirtinger: `stack` of no values (no tape to record on)");
        let tape = first.tape;
        for v in vars {
            same_tape(tape, v.tape, "stack");
        }
        let value: Vec<Complex<T>> = vars.iter().map(|v| v.value()).collect();
        let real = vars.iter().all(|v| v.is_real());
        let n = vars.len();
        tape.array_op(
            "stack",
            Rc::new(value),
            Rc::from([n]),
            real,
            vars.iter().map(|v| v.id).collect(),
            Box::new(move |c, acc| {
                for (k, c) in c.into_iter().enumerate().take(n) {
                    if let Some(g) = acc.scalar(k) {
                        *g += c;
                    }
                }
            }),
        )
    }
}
