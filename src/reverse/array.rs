//! [`VarArray`]: an n-dimensional array value on the tape; one array op is one node.

use super::tape::{Extra, Kind, Tape, Vjp};
use super::var::{same_tape, Var};
use crate::parallel as par;
use crate::rules::{self, Binary, Unary};
use crate::Real;
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
    pub(crate) id: u32,
    shape: Rc<[usize]>,
}

impl<T: Real> core::fmt::Debug for VarArray<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n = self.tape.info(self.id);
        write!(
            f,
            "VarArray {{ id: {}, op: {}, shape: {:?} }}",
            self.id, n.name, self.shape
        )
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

/// One side of an elementwise binary op.
#[derive(Clone)]
enum Operand<T: Real> {
    Array(Rc<Vec<Complex<T>>>, Option<u32>, bool),
    Scalar(Complex<T>, Option<u32>, bool),
}

impl<T: Real> Operand<T> {
    #[inline(always)]
    fn at(&self, i: usize) -> Complex<T> {
        match self {
            Operand::Array(v, ..) => v[i],
            Operand::Scalar(c, ..) => *c,
        }
    }
    fn input(&self) -> Option<u32> {
        match self {
            Operand::Array(_, i, _) | Operand::Scalar(_, i, _) => *i,
        }
    }
    fn real(&self) -> bool {
        match self {
            Operand::Array(_, _, r) | Operand::Scalar(_, _, r) => *r,
        }
    }
    fn is_array(&self) -> bool {
        matches!(self, Operand::Array(..))
    }
    /// The values, borrowed (shareable between threads, unlike the `Rc`).
    fn view(&self) -> View<'_, T> {
        match self {
            Operand::Array(v, ..) => View::Array(v),
            Operand::Scalar(c, ..) => View::Scalar(*c),
        }
    }
}

/// The values of an [`Operand`].
#[derive(Clone, Copy)]
enum View<'a, T> {
    Array(&'a [Complex<T>]),
    Scalar(Complex<T>),
}

impl<T: Copy> View<'_, T> {
    #[inline(always)]
    fn at(self, i: usize) -> Complex<T> {
        match self {
            View::Array(v) => v[i],
            View::Scalar(c) => c,
        }
    }
}

impl<T: Real> Tape<T> {
    fn array_node(
        &self,
        name: &'static str,
        kind: Kind,
        value: Vec<Complex<T>>,
        shape: &[usize],
        real: bool,
    ) -> VarArray<'_, T> {
        check_shape(name, value.len(), shape);
        let shape: Rc<[usize]> = shape.into();
        let extra = Extra {
            value: Some(Rc::new(value)),
            shape: shape.clone(),
            inputs: Vec::new(),
            vjp: None,
        };
        let id = self.push_extra(name, kind, zero(), real, extra);
        VarArray {
            tape: self,
            id,
            shape,
        }
    }

    /// A complex array leaf of the given shape (row-major).
    ///
    /// # Panics
    /// If `data` does not have `shape.iter().product()` elements.
    pub fn array(&self, data: impl Into<Vec<Complex<T>>>, shape: &[usize]) -> VarArray<'_, T> {
        self.array_node("array", Kind::ArrayLeaf, data.into(), shape, false)
    }

    /// A one-dimensional complex array leaf.
    pub fn vector(&self, data: impl Into<Vec<Complex<T>>>) -> VarArray<'_, T> {
        let data = data.into();
        let n = data.len();
        self.array_node("vector", Kind::ArrayLeaf, data, &[n], false)
    }

    /// A real array leaf: every element is a real parameter, and [`Gradients::grad`](super::Gradients::grad)
    /// gives `dL/dp = 2 Re ∂L/∂p̄` for each.
    pub fn real_array(&self, data: impl Into<Vec<T>>, shape: &[usize]) -> VarArray<'_, T> {
        let data = self.complexify(data.into());
        self.array_node("real array", Kind::ArrayLeaf, data, shape, true)
    }

    /// A complex constant array. If every imaginary part is exactly 0 it counts as real-valued.
    pub fn constant_array(
        &self,
        data: impl Into<Vec<Complex<T>>>,
        shape: &[usize],
    ) -> VarArray<'_, T> {
        let data: Vec<Complex<T>> = data.into();
        let real = data.iter().all(|z| z.im == T::zero());
        self.array_node("constant array", Kind::ArrayConstant, data, shape, real)
    }

    /// A real constant array.
    pub fn real_constant_array(&self, data: impl Into<Vec<T>>, shape: &[usize]) -> VarArray<'_, T> {
        let data = self.complexify(data.into());
        self.array_node("constant array", Kind::ArrayConstant, data, shape, true)
    }

    /// Real values as complex ones, in a pooled buffer.
    fn complexify(&self, data: Vec<T>) -> Vec<Complex<T>> {
        let mut v = self.buffer(data.len());
        v.extend(data.into_iter().map(|x| Complex::new(x, T::zero())));
        v
    }

    /// Records an array-valued op with its VJP.
    pub(crate) fn array_op(
        &self,
        name: &'static str,
        value: Rc<Vec<Complex<T>>>,
        shape: Rc<[usize]>,
        real: bool,
        inputs: Vec<u32>,
        vjp: Vjp<T>,
    ) -> VarArray<'_, T> {
        check_shape(name, value.len(), &shape);
        let extra = Extra {
            value: Some(value),
            shape: shape.clone(),
            inputs,
            vjp: Some(vjp),
        };
        let id = self.push_extra(name, Kind::Vjp, zero(), real, extra);
        VarArray {
            tape: self,
            id,
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
        let extra = Extra {
            value: None,
            shape: Rc::from([]),
            inputs,
            vjp: Some(vjp),
        };
        let id = self.push_extra(name, Kind::Vjp, value, real, extra);
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

    /// The values, row-major (shared with the tape, not copied).
    pub fn value(&self) -> Rc<Vec<Complex<T>>> {
        let e = self.tape.node(self.id).extra as usize;
        self.tape.extras()[e]
            .value
            .clone()
            .expect("wirtinger: internal error: array node without a value")
    }

    /// Whether every element is known to be real.
    pub fn is_real(&self) -> bool {
        self.tape.node(self.id).real
    }

    /// This array as an input of an elementwise op (constants included, so the picture of the
    /// graph shows them; the backward walk skips inputs that need no adjoint).
    fn operand(&self) -> Operand<T> {
        let n = self.tape.node(self.id);
        Operand::Array(self.value(), Some(self.id), n.real)
    }

    /// Used by [`rules::unary_methods`]: applies one rule of the table to every element. The
    /// backward pass evaluates the same rule again at the input values (which the tape holds
    /// anyway) rather than storing two arrays of partials per op: less memory traffic, one table.
    fn apply_rule<R>(&self, name: &'static str, rule: R) -> Self
    where
        R: Fn(Complex<T>) -> Unary<T> + Send + Sync + 'static,
    {
        let a = self.value();
        let node = self.tape.node(self.id);
        // A rule is either always holomorphic or never; probe it once.
        let probe = rule(a.first().copied().unwrap_or_else(zero));
        let real = probe.real.of(node.real);
        let mut value = self.tape.buffer(a.len());
        par::map_into(&mut value, &a, |&x| rule(x).value);
        if !node.grad {
            return self
                .tape
                .array_node(name, Kind::ArrayConstant, value, &self.shape, real);
        }
        let holomorphic = probe.da_conj.is_none();
        let vjp: Vjp<T> = Box::new(move |mut c, acc| {
            if !acc.wants(0) {
                return;
            }
            // c_a = conj(g_a) c + g_ā conj(c), in place
            let rule = &rule;
            if holomorphic {
                par::update(&mut c, &a, |c, &x| *c = rule(x).da.conj() * *c);
            } else {
                par::update(&mut c, &a, |c, &x| {
                    let r = rule(x);
                    *c = r.da.conj() * *c + r.da_conj.unwrap_or_else(zero) * c.conj();
                });
            }
            acc.give(0, c);
        });
        self.tape.array_op(
            name,
            Rc::new(value),
            self.shape.clone(),
            real,
            vec![self.id],
            vjp,
        )
    }

    rules::unary_methods!(by_ref);

    /// Elementwise negation (the `-` operator).
    pub(crate) fn apply_neg(&self) -> Self {
        self.apply_rule("neg", rules::neg)
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
        self.apply_rule("powi", move |a| rules::powi(a, n))
    }

    /// Elementwise `aˣ` for a real `x`, principal branch.
    #[must_use]
    pub fn powf(&self, x: T) -> Self {
        self.apply_rule("powf", move |a| rules::powf(a, x))
    }

    /// Elementwise `aᵇ` for an array exponent of the same shape, principal branch.
    #[must_use]
    pub fn powc(&self, b: &Self) -> Self {
        same_tape(self.tape, b.tape, "powc");
        self.check_same_shape("powc", b);
        binary(
            self.tape,
            "powc",
            self.operand(),
            b.operand(),
            &self.shape,
            rules::powc,
            false,
        )
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
        binary_arith(self.tape, op, self.operand(), other.operand(), &self.shape)
    }

    /// `self ⊕ s` (or `s ⊕ self` when `flip`) with a scalar on the tape.
    pub(crate) fn arith_var(&self, s: Var<'t, T>, flip: bool, op: Arith) -> Self {
        same_tape(self.tape, s.tape, op.name());
        let so = Operand::Scalar(s.value, Some(s.id), s.real);
        let (l, r) = if flip {
            (so, self.operand())
        } else {
            (self.operand(), so)
        };
        binary_arith(self.tape, op, l, r, &self.shape)
    }

    /// `self ⊕ c` (or `c ⊕ self`) with a constant.
    pub(crate) fn arith_const(&self, c: Complex<T>, flip: bool, op: Arith) -> Self {
        let so = Operand::Scalar(c, None, c.im == T::zero());
        let (l, r) = if flip {
            (so, self.operand())
        } else {
            (self.operand(), so)
        };
        binary_arith(self.tape, op, l, r, &self.shape)
    }

    /// `self ⊕ data` (or `data ⊕ self`) with a constant array of the same length.
    #[track_caller]
    pub(crate) fn arith_const_array(&self, data: &[Complex<T>], flip: bool, op: Arith) -> Self {
        assert!(
            data.len() == self.len(),
            "wirtinger: `{}` of an array of shape {:?} and a constant slice of length {}",
            op.name(),
            &*self.shape,
            data.len()
        );
        let real = data.iter().all(|z| z.im == T::zero());
        let co = Operand::Array(Rc::new(data.to_vec()), None, real);
        let (l, r) = if flip {
            (co, self.operand())
        } else {
            (self.operand(), co)
        };
        binary_arith(self.tape, op, l, r, &self.shape)
    }

    /// `Σ a_k`.
    pub fn sum(&self) -> Var<'t, T> {
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
                let Some(g) = acc.array(0) else { return };
                let c = c[0];
                // The partials of `norm_sqr` from the table: c_a += conj(g_a) c + g_ā conj(c).
                par::update(g, &a, |g, &x| {
                    let r = rules::norm_sqr(x);
                    *g += r.da.conj() * c + r.da_conj.unwrap_or_else(zero) * c.conj();
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
            if let Some(g) = acc.array(0) {
                // dot: ∂/∂a = b, so c_a += conj(b) c; vdot: ∂/∂ā = b, so c_a += b conj(c).
                par::update(g, &bv, |g, y| {
                    *g += if conj_a { y * c.conj() } else { y.conj() * c };
                });
            }
            if let Some(g) = acc.array(1) {
                // dot: ∂/∂b = a, c_b += conj(a) c; vdot: ∂/∂b = ā, c_b += a c.
                par::update(g, &av, |g, x| {
                    *g += if conj_a { x * c } else { x.conj() * c };
                });
            }
        });
        tape.scalar_op(name, s, real, vec![self.id, b.id], vjp)
    }

    fn reduce(&self, name: &'static str, value: Complex<T>, real: bool, vjp: Vjp<T>) -> Var<'t, T> {
        self.tape.scalar_op(name, value, real, vec![self.id], vjp)
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
            self.value(),
            shape.into(),
            self.is_real(),
            vec![self.id],
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

/// [`binary`] for one of the four operators, each with its own (inlined) rule.
fn binary_arith<'t, T: Real>(
    tape: &'t Tape<T>,
    op: Arith,
    l: Operand<T>,
    r: Operand<T>,
    shape: &Rc<[usize]>,
) -> VarArray<'t, T> {
    let name = op.name();
    match op {
        Arith::Add => binary(tape, name, l, r, shape, rules::add, true),
        Arith::Sub => binary(tape, name, l, r, shape, rules::sub, true),
        Arith::Mul => binary(tape, name, l, r, shape, rules::mul, false),
        Arith::Div => binary(tape, name, l, r, shape, rules::div, false),
    }
}

/// Records `l ⊕ r` elementwise with the rule of the table. `linear`: the partials do not depend on
/// the values, so they are read once; otherwise the backward pass evaluates the rule again at the
/// operand values (held by the tape anyway).
fn binary<'t, T: Real, R>(
    tape: &'t Tape<T>,
    name: &'static str,
    l: Operand<T>,
    r: Operand<T>,
    shape: &Rc<[usize]>,
    rule: R,
    linear: bool,
) -> VarArray<'t, T>
where
    R: Fn(Complex<T>, Complex<T>) -> Binary<T> + Copy + Send + Sync + 'static,
{
    let n: usize = shape.iter().product();
    let fixed = rule(zero(), zero());
    let real = fixed.preserves_real && l.real() && r.real();
    let mut value = tape.buffer(n);
    match (&l, &r) {
        // The common shapes get loops without a per-element match, so they vectorize.
        (Operand::Array(a, ..), Operand::Array(b, ..)) => {
            par::zip_map_into(&mut value, a, b, |&x, &y| rule(x, y).value)
        }
        (Operand::Array(a, ..), Operand::Scalar(y, ..)) => {
            let y = *y;
            par::map_into(&mut value, a, |&x| rule(x, y).value)
        }
        (Operand::Scalar(x, ..), Operand::Array(b, ..)) => {
            let x = *x;
            par::map_into(&mut value, b, |&y| rule(x, y).value)
        }
        _ => value.extend((0..n).map(|i| rule(l.at(i), r.at(i)).value)),
    }
    let needs = |o: &Operand<T>| o.input().is_some_and(|id| tape.node(id).grad);
    if !needs(&l) && !needs(&r) {
        return tape.array_node(name, Kind::ArrayConstant, value, shape, real);
    }
    let inputs: Vec<u32> = [l.input(), r.input()].into_iter().flatten().collect();
    let vjp: Vjp<T> = Box::new(move |mut c, acc| {
        // The partial of side `s` at element `i` (binary rules are holomorphic in each argument,
        // so c_a += conj(g_a) c).
        let (lv, rv) = (l.view(), r.view());
        let partial = move |side: usize, i: usize| {
            let b = if linear {
                fixed
            } else {
                rule(lv.at(i), rv.at(i))
            };
            if side == 0 {
                b.da
            } else {
                b.db
            }
        };
        let slots = [
            l.input().map(|_| 0),
            r.input().map(|_| usize::from(l.input().is_some())),
        ];
        let sides = [&l, &r];
        // The last array side that wants an adjoint transforms `c` in place and hands it on.
        let last_array = (0..2)
            .rev()
            .find(|&s| slots[s].is_some_and(|k| acc.wants(k)) && sides[s].is_array());
        for side in 0..2 {
            let Some(k) = slots[side] else { continue };
            if !acc.wants(k) || Some(side) == last_array {
                continue;
            }
            if sides[side].is_array() {
                if let Some(g) = acc.array(k) {
                    let c = &c;
                    par::for_chunks(g, |off, g| {
                        for (i, (g, c)) in g.iter_mut().zip(&c[off..]).enumerate() {
                            *g += partial(side, off + i).conj() * c;
                        }
                    });
                }
            } else if let Some(g) = acc.scalar(k) {
                let part = |r: core::ops::Range<usize>| {
                    let off = r.start;
                    c[r].iter()
                        .enumerate()
                        .fold(zero(), |s, (i, c)| s + partial(side, off + i).conj() * c)
                };
                *g += par::chunked_sum(c.len(), part, |s, t| s + t).unwrap_or_else(zero);
            }
        }
        if let Some(side) = last_array {
            let one = Complex::new(T::one(), T::zero());
            // A unit partial (`+`, and `−` on the left) hands the cotangent on untouched.
            if !(linear && partial(side, 0) == one) {
                par::for_chunks(&mut c, |off, c| {
                    for (i, c) in c.iter_mut().enumerate() {
                        *c = partial(side, off + i).conj() * *c;
                    }
                });
            }
            acc.give(slots[side].unwrap_or(0), c);
        }
    });
    tape.array_op(name, Rc::new(value), shape.clone(), real, inputs, vjp)
}
