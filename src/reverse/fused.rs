//! Fusion of elementwise array ops: a chain like `(|F u|² − T)²` followed by `sum` becomes one
//! node that reads its inputs once, instead of one node (and one array of values, and one array of
//! adjoints) per op.
//!
//! An elementwise op on a [`VarArray`](super::VarArray) does not compute anything at first: it
//! extends an [`Expr`], a small graph of [`Kernel`]s over the arrays and scalars it reads. The
//! expression is evaluated (and recorded on the tape as one node) when something needs its values:
//! a non-elementwise op such as an FFT, `value()`, or a reduction, which then folds the sum into
//! the same pass and stores no array at all.
//!
//! Both passes work in chunks of [`CHUNK`] elements that stay in the L1 cache: the forward pass
//! runs every kernel over a chunk before moving on; the backward pass recomputes a chunk's
//! intermediate values (cheaper than storing and re-reading them) and sweeps the chunk's adjoints
//! back through the kernels. Every kernel is one rule of the [`rules`](crate::rules) table, so the
//! partials are the ones scalar and forward mode use. A kernel's loops run through
//! [`wide`]: compiled a second time with AVX2, used where the CPU has it, with
//! the same bits as the baseline build. The chunks' scratch comes from the per-thread buffer pool
//! and is not zeroed: a pass writes every element it reads first.
//!
//! A real-valued fused sum (a loss) runs the backward sweep in the same pass as its value, for
//! the seed `1` a real output's backward pass gives ([`Expr::sum_with_vjp`]), and keeps the
//! inputs' adjoints for the backward pass ([`Early`]): for a real sum the VJP of any seed `c` is
//! `Re(c)` times that one, so the inputs are read once in all. Within a chunk, the first share
//! a cotangent receives is stored, not added to zeros ([`Adj::Set`]).
//!
//! Common loss shapes run as one loop per chunk instead of one per op ([`shapes`]): `Σ (|x|² −
//! t)²` and `Σ |x − y|²`, with the same rules and the same bits as the general pass.
//!
//! Real numbers where the value is known to be real: every input and op carries whether its
//! value is real (the rules' [`Realness`](crate::rules::Realness)). A real op's values, on a
//! chunk, are stored as real numbers ([`Out::Real`]), and real inputs the tape stores as real
//! numbers (real leaves and constants) are read as they are ([`Arg::Real`]): half the memory
//! traffic of complex numbers with imaginary part 0. A real input stored as complex numbers has
//! its real parts copied into the chunk ([`Input::RealParts`]). A kernel reads every real operand
//! as `(x, 0)` with a literal zero (whatever imaginary part was stored: `−0`, or NaN from
//! `∞ · 0`) and keeps only the real part of a real op's result, so the compiler drops the
//! arithmetic on imaginary parts (the rule itself is unchanged). Backward, a real scalar seed
//! (a real loss) makes the cotangents of real ops real, as far as every op reading them has real
//! partials at real operands ([`Kernel::real_partials`]: not `im` or `arg`, whose cotangent at a
//! real operand is imaginary); those cotangents are stored as real numbers too ([`Adj::Real`]).
//! Each combination of operand kinds (complex, real, broadcast scalar) gets its own loop
//! ([`Load`]).
//!
//! Above [`THRESHOLD`](crate::parallel::THRESHOLD) elements (with the `parallel` feature and
//! more than one thread) the passes run on rayon's pool: `values` in tasks of whole chunks, `sum`
//! and the VJP in ranges of [`REDUCE_CHUNK`](crate::parallel::REDUCE_CHUNK) elements, each VJP
//! range writing its own elements of the adjoint arrays. Sums (of the values, and of the shares of
//! scalar inputs) add chunk sums in order within a range and range sums in order, on one thread
//! as on many, so results are bitwise the same for any number of threads. The tasks read a
//! borrowed [`View`] of the expression, so its `Rc` handles never leave the calling thread.

use super::tape::{recycle, take_buffer_len, Accum};
use super::values::Values;
use crate::parallel as par;
use crate::rules::{Binary, Unary};
use crate::wide::wide;
use crate::Real;
use num_complex::Complex;
use std::rc::Rc;

mod shapes;

/// What a kernel computes, for the ops that fused loss shapes ([`shapes`]) are made of: a
/// kernel says so only when it runs exactly that rule of the table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Known {
    /// `rules::norm_sqr`.
    NormSqr,
    /// `rules::powi(·, 2)`.
    Square,
    /// `rules::sub`.
    Sub,
}

/// Elements per chunk: a few kilobytes per op, so a chunk's intermediates stay in L1/L2.
pub(crate) const CHUNK: usize = 256;

/// The most ops one fused node holds; a longer chain is evaluated and starts a new expression.
pub(crate) const MAX_OPS: usize = 24;

type C<T> = Complex<T>;

fn zero<T: Real>() -> C<T> {
    Complex::new(T::zero(), T::zero())
}

/// Where an operand of a kernel comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Src {
    /// An input array (`Expr::arrays`).
    Array(usize),
    /// An input scalar (`Expr::scalars`), broadcast.
    Scalar(usize),
    /// The output of an earlier op of the expression.
    Op(usize),
}

/// An operand chunk as a kernel reads it.
#[derive(Clone, Copy)]
pub(crate) enum Arg<'a, T> {
    /// Complex values.
    Chunk(&'a [C<T>]),
    /// Real values, read as `(x, 0)` with a literal zero: half the bytes of complex storage, and
    /// the compiler drops the arithmetic on imaginary parts that only feeds a discarded one.
    Real(&'a [T]),
    /// One value for every element.
    Scalar(C<T>),
}

/// Where a kernel writes its values.
pub(crate) enum Out<'a, T> {
    /// Complex numbers.
    Chunk(&'a mut [C<T>]),
    /// The real parts only (of a value known to be real).
    Real(&'a mut [T]),
    /// A value known to be real into complex storage: `(re, 0)`.
    Widen(&'a mut [C<T>]),
}

impl<T> Out<'_, T> {
    fn len(&self) -> usize {
        match self {
            Out::Chunk(o) | Out::Widen(o) => o.len(),
            Out::Real(o) => o.len(),
        }
    }
}

/// Where a kernel puts the adjoint share of one of its operands: added into a chunk
/// (elementwise `+=`), stored into a chunk (`=`, for the first share a chunk receives, so that
/// it needs no zeroing first), the same two for a cotangent known to be real (its real parts
/// only), or added into a scalar (the sum over the chunk).
pub(crate) enum Adj<'a, T> {
    Chunk(&'a mut [C<T>]),
    Set(&'a mut [C<T>]),
    Real(&'a mut [T]),
    RealSet(&'a mut [T]),
    Scalar(&'a mut C<T>),
}

/// Element `i` of an operand, as the kernels' loops read it: one type per kind of [`Arg`], so
/// that each combination of kinds gets its own plain loop.
trait Load<T: Real>: Copy {
    fn at(self, i: usize) -> C<T>;
}

#[derive(Clone, Copy)]
struct Complexes<'a, T>(&'a [C<T>]);

#[derive(Clone, Copy)]
struct Reals<'a, T>(&'a [T]);

#[derive(Clone, Copy)]
struct Broadcast<T>(C<T>);

impl<T: Real> Load<T> for Complexes<'_, T> {
    #[inline(always)]
    fn at(self, i: usize) -> C<T> {
        self.0[i]
    }
}

impl<T: Real> Load<T> for Reals<'_, T> {
    #[inline(always)]
    fn at(self, i: usize) -> C<T> {
        Complex::new(self.0[i], T::zero())
    }
}

impl<T: Real> Load<T> for Broadcast<T> {
    #[inline(always)]
    fn at(self, _: usize) -> C<T> {
        self.0
    }
}

/// Binds `$l` to `$arg`'s [`Load`] over its first `$n` elements and expands `$body` once per
/// kind (sliced to `$n` so that the loops' indexing needs no bounds checks).
macro_rules! load {
    ($arg:expr, $n:expr, |$l:ident| $body:expr) => {
        match $arg {
            Arg::Chunk(x) => {
                let $l = Complexes(&x[..$n]);
                $body
            }
            Arg::Real(x) => {
                let $l = Reals(&x[..$n]);
                $body
            }
            Arg::Scalar(s) => {
                let $l = Broadcast(s);
                $body
            }
        }
    };
}

/// `out[i] = f(i)` for every element of `out`.
#[inline(always)]
fn store<T: Real>(out: Out<'_, T>, f: impl Fn(usize) -> C<T>) {
    match out {
        Out::Chunk(o) => {
            for (i, o) in o.iter_mut().enumerate() {
                *o = f(i);
            }
        }
        Out::Real(o) => {
            for (i, o) in o.iter_mut().enumerate() {
                *o = f(i).re;
            }
        }
        Out::Widen(o) => {
            for (i, o) in o.iter_mut().enumerate() {
                *o = Complex::new(f(i).re, T::zero());
            }
        }
    }
}

/// `out[i] += f(i)` for `i < n` (`=` for a `Set`, the real part for a real target, summed in
/// order for a scalar).
#[inline(always)]
fn accumulate<T: Real>(n: usize, out: Adj<'_, T>, f: impl Fn(usize) -> C<T>) {
    match out {
        Adj::Chunk(g) => {
            for (i, g) in g[..n].iter_mut().enumerate() {
                *g += f(i);
            }
        }
        Adj::Set(g) => {
            for (i, g) in g[..n].iter_mut().enumerate() {
                *g = f(i);
            }
        }
        Adj::Real(g) => {
            for (i, g) in g[..n].iter_mut().enumerate() {
                *g += f(i).re;
            }
        }
        Adj::RealSet(g) => {
            for (i, g) in g[..n].iter_mut().enumerate() {
                *g = f(i).re;
            }
        }
        Adj::Scalar(s) => *s += (0..n).fold(zero(), |s, i| s + f(i)),
    }
}

/// One elementwise op over chunks.
pub(crate) trait Kernel<T: Real>: Send + Sync {
    /// The op's name (for the picture of the graph).
    fn name(&self) -> &'static str;
    /// Whether both partials are real wherever the operands are real, so that a real cotangent
    /// gives real cotangents to real operands (true of the rules that keep real inputs real, and
    /// of `re`, `norm_sqr`, `norm`; not of `im`, `arg`).
    fn real_partials(&self) -> bool;
    /// The rule the kernel runs, when it is one that [`shapes`] recognize.
    fn known(&self) -> Option<Known>;
    /// `out[i] = g(a[i], b[i])` for every element of `out`.
    fn forward(&self, a: Arg<'_, T>, b: Option<Arg<'_, T>>, out: Out<'_, T>);
    /// Puts operand `side`'s share of the conjugate cotangent `c`, over `n` elements, where
    /// `out` says (added, or stored for a first share): `c_side += conj(∂g/∂side) c +
    /// (∂g/∂side̅) conj(c)`.
    fn backward(
        &self,
        side: usize,
        n: usize,
        a: Arg<'_, T>,
        b: Option<Arg<'_, T>>,
        c: Arg<'_, T>,
        out: Adj<'_, T>,
    );
}

/// A unary rule of the table as a kernel.
pub(crate) struct UnaryKernel<R> {
    pub name: &'static str,
    pub rule: R,
    pub holomorphic: bool,
    /// See [`Kernel::real_partials`].
    pub real_partials: bool,
    /// See [`Kernel::known`].
    pub known: Option<Known>,
}

impl<R> UnaryKernel<R> {
    /// The loops of [`Kernel::forward`] (which runs them through [`wide`]).
    #[inline(always)]
    fn fwd<T: Real>(&self, a: Arg<'_, T>, out: Out<'_, T>)
    where
        R: Fn(C<T>) -> Unary<T>,
    {
        let n = out.len();
        load!(a, n, |x| store(out, |i| (self.rule)(x.at(i)).value))
    }

    /// The loops of [`Kernel::backward`].
    #[inline(always)]
    fn bwd<T: Real>(&self, n: usize, a: Arg<'_, T>, c: Arg<'_, T>, out: Adj<'_, T>)
    where
        R: Fn(C<T>) -> Unary<T>,
    {
        load!(a, n, |x| load!(c, n, |k| {
            if self.holomorphic {
                accumulate(n, out, |i| (self.rule)(x.at(i)).da.conj() * k.at(i))
            } else {
                accumulate(n, out, |i| {
                    let (r, g) = ((self.rule)(x.at(i)), k.at(i));
                    r.da.conj() * g + r.da_conj.unwrap_or_else(zero) * g.conj()
                })
            }
        }))
    }
}

impl<T: Real, R: Fn(C<T>) -> Unary<T> + Send + Sync> Kernel<T> for UnaryKernel<R> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn real_partials(&self) -> bool {
        self.real_partials
    }

    fn known(&self) -> Option<Known> {
        self.known
    }

    fn forward(&self, a: Arg<'_, T>, _: Option<Arg<'_, T>>, out: Out<'_, T>) {
        wide(
            #[inline(always)]
            || self.fwd(a, out),
        )
    }

    fn backward(
        &self,
        _: usize,
        n: usize,
        a: Arg<'_, T>,
        _: Option<Arg<'_, T>>,
        c: Arg<'_, T>,
        out: Adj<'_, T>,
    ) {
        wide(
            #[inline(always)]
            || self.bwd(n, a, c, out),
        )
    }
}

/// A binary rule of the table (holomorphic in each argument) as a kernel. `linear`: the partials
/// do not depend on the values (`+`, `−`), so `fixed` holds them.
pub(crate) struct BinaryKernel<T, R> {
    pub name: &'static str,
    pub rule: R,
    pub linear: bool,
    pub fixed: Binary<T>,
    /// See [`Kernel::known`].
    pub known: Option<Known>,
}

impl<T: Real, R: Fn(C<T>, C<T>) -> Binary<T>> BinaryKernel<T, R> {
    /// The loops of [`Kernel::forward`].
    #[inline(always)]
    fn fwd(&self, a: Arg<'_, T>, b: Arg<'_, T>, out: Out<'_, T>) {
        let n = out.len();
        load!(a, n, |x| load!(b, n, |y| store(out, |i| {
            (self.rule)(x.at(i), y.at(i)).value
        })))
    }

    /// The loops of [`Kernel::backward`].
    #[inline(always)]
    fn bwd(
        &self,
        side: usize,
        n: usize,
        a: Arg<'_, T>,
        b: Arg<'_, T>,
        c: Arg<'_, T>,
        out: Adj<'_, T>,
    ) {
        if self.linear {
            let g = if side == 0 {
                self.fixed.da
            } else {
                self.fixed.db
            }
            .conj();
            load!(c, n, |k| if g == Complex::new(T::one(), T::zero()) {
                accumulate(n, out, |i| k.at(i))
            } else {
                accumulate(n, out, |i| g * k.at(i))
            })
        } else {
            load!(a, n, |x| load!(b, n, |y| load!(c, n, |k| if side == 0 {
                accumulate(n, out, |i| {
                    (self.rule)(x.at(i), y.at(i)).da.conj() * k.at(i)
                })
            } else {
                accumulate(n, out, |i| {
                    (self.rule)(x.at(i), y.at(i)).db.conj() * k.at(i)
                })
            })))
        }
    }
}

impl<T: Real, R: Fn(C<T>, C<T>) -> Binary<T> + Send + Sync> Kernel<T> for BinaryKernel<T, R> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn real_partials(&self) -> bool {
        // Holomorphic in each argument and real on real arguments: real partials there.
        self.fixed.preserves_real
    }

    fn known(&self) -> Option<Known> {
        self.known
    }

    fn forward(&self, a: Arg<'_, T>, b: Option<Arg<'_, T>>, out: Out<'_, T>) {
        let b = b.expect("binary kernel without a second operand");
        wide(
            #[inline(always)]
            || self.fwd(a, b, out),
        )
    }

    fn backward(
        &self,
        side: usize,
        n: usize,
        a: Arg<'_, T>,
        b: Option<Arg<'_, T>>,
        c: Arg<'_, T>,
        out: Adj<'_, T>,
    ) {
        let b = b.expect("binary kernel without a second operand");
        wide(
            #[inline(always)]
            || self.bwd(side, n, a, b, c, out),
        )
    }
}

/// An input array of an expression: its node (`None` for a constant slice) and values.
#[derive(Clone)]
pub(crate) struct ArrayIn<T: Real> {
    pub id: Option<u32>,
    pub value: Values<T>,
    /// Whether every element is known to be real.
    pub real: bool,
}

/// An input scalar: its node (`None` for a constant) and value.
#[derive(Clone, Copy)]
pub(crate) struct ScalarIn<T> {
    pub id: Option<u32>,
    pub value: C<T>,
    /// Whether the value is known to be real.
    pub real: bool,
}

/// One op of an expression.
#[derive(Clone)]
pub(crate) struct Op<T: Real> {
    pub kernel: Rc<dyn Kernel<T>>,
    pub args: [Option<Src>; 2],
    /// Whether the op's value is known to be real.
    pub real: bool,
}

/// A lazily evaluated elementwise expression over arrays of one length; its value is the output
/// of the last op.
#[derive(Clone)]
pub(crate) struct Expr<T: Real> {
    pub arrays: Vec<ArrayIn<T>>,
    pub scalars: Vec<ScalarIn<T>>,
    pub ops: Vec<Op<T>>,
    /// Whether the value is known to be real.
    pub real: bool,
    /// The number of elements.
    pub len: usize,
}

/// An operand of a new op, as [`Expr::apply`] takes it.
pub(crate) enum Part<'a, T: Real> {
    Expr(&'a Rc<Expr<T>>),
    Array(ArrayIn<T>),
    Scalar(ScalarIn<T>),
}

impl<T: Real> Expr<T> {
    /// The expression `kernel(parts…)`, merging the expressions among `parts` (an expression that
    /// appears twice, as in `x·x`, is merged once).
    pub(crate) fn apply(
        kernel: Rc<dyn Kernel<T>>,
        parts: &[Part<'_, T>],
        real: bool,
        len: usize,
    ) -> Self {
        let mut e = Expr {
            arrays: Vec::new(),
            scalars: Vec::new(),
            ops: Vec::new(),
            real,
            len,
        };
        let mut merged: Vec<(*const Expr<T>, Src)> = Vec::new();
        let mut args = [None, None];
        for (k, p) in parts.iter().enumerate() {
            args[k] = Some(match p {
                Part::Expr(x) => {
                    let ptr = Rc::as_ptr(x);
                    match merged.iter().find(|(p, _)| *p == ptr) {
                        Some(&(_, s)) => s,
                        None => {
                            let s = e.merge(x);
                            merged.push((ptr, s));
                            s
                        }
                    }
                }
                Part::Array(a) => Src::Array(e.add_array(a)),
                Part::Scalar(s) => {
                    e.scalars.push(*s);
                    Src::Scalar(e.scalars.len() - 1)
                }
            });
        }
        e.ops.push(Op { kernel, args, real });
        e
    }

    fn add_array(&mut self, a: &ArrayIn<T>) -> usize {
        let same = |b: &ArrayIn<T>| b.id == a.id && b.value.same(&a.value) && b.real == a.real;
        match self.arrays.iter().position(same) {
            Some(k) => k,
            None => {
                self.arrays.push(a.clone());
                self.arrays.len() - 1
            }
        }
    }

    /// Appends the ops of `x`, renumbering its inputs; returns where its value is.
    fn merge(&mut self, x: &Expr<T>) -> Src {
        let arrays: Vec<usize> = x.arrays.iter().map(|a| self.add_array(a)).collect();
        let s0 = self.scalars.len();
        self.scalars.extend_from_slice(&x.scalars);
        let o0 = self.ops.len();
        for op in &x.ops {
            let map = |s: Option<Src>| {
                s.map(|s| match s {
                    Src::Array(k) => Src::Array(arrays[k]),
                    Src::Scalar(k) => Src::Scalar(s0 + k),
                    Src::Op(i) => Src::Op(o0 + i),
                })
            };
            self.ops.push(Op {
                kernel: op.kernel.clone(),
                args: [map(op.args[0]), map(op.args[1])],
                real: op.real,
            });
        }
        Src::Op(self.ops.len() - 1)
    }

    /// The name of the node this expression becomes: its op's for a single op, else `fused`.
    pub(crate) fn name(&self) -> &'static str {
        match self.ops.as_slice() {
            [op] => op.kernel.name(),
            _ => "fused",
        }
    }

    /// The node `x` when the expression is `K ⊙ x` (either order) with `K` real and needing no
    /// adjoint (`grad` says which nodes do), and `x` needing one: a self-adjoint map of `x`
    /// (`reuse::Linear::RealDiagonal`).
    pub(crate) fn real_diagonal(&self, grad: impl Fn(u32) -> bool) -> Option<u32> {
        let [op] = &self.ops[..] else { return None };
        if op.kernel.name() != "mul" {
            return None;
        }
        let [Some(a), Some(b)] = op.args else {
            return None;
        };
        // The node of a grad array operand, or `None`; whether an operand is real and constant.
        let var = |s: Src| match s {
            Src::Array(k) => self.arrays[k].id.filter(|&id| grad(id)),
            _ => None,
        };
        let real_const = |s: Src| match s {
            Src::Array(k) => self.arrays[k].real && !self.arrays[k].id.is_some_and(&grad),
            Src::Scalar(k) => self.scalars[k].real && !self.scalars[k].id.is_some_and(&grad),
            Src::Op(_) => false,
        };
        match (var(a), var(b)) {
            (Some(x), None) if real_const(b) => Some(x),
            (None, Some(x)) if real_const(a) => Some(x),
            _ => None,
        }
    }

    /// The tape nodes this expression reads (each once): arrays first, then scalars.
    pub(crate) fn inputs(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = Vec::new();
        let all = self
            .arrays
            .iter()
            .map(|a| a.id)
            .chain(self.scalars.iter().map(|s| s.id));
        for id in all.flatten() {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// A borrowed view for evaluation, shareable between threads.
    fn view(&self) -> View<'_, T> {
        let mut re_parts = 0;
        let arrays = self
            .arrays
            .iter()
            .map(|a| match &a.value {
                Values::Complex(v) if a.real => {
                    re_parts += 1;
                    Input::RealParts(&v[..], re_parts - 1)
                }
                Values::Complex(v) => Input::Complex(&v[..]),
                Values::Real(r) => Input::Real(r.as_slice()),
            })
            .collect();
        // A real scalar is read with imaginary part +0, as a real operand is (whatever its stored
        // imaginary part: −0, or NaN from `∞ · 0`).
        let scalar = |s: &ScalarIn<T>| {
            if s.real {
                Complex::new(s.value.re, T::zero())
            } else {
                s.value
            }
        };
        let mut v = View {
            arrays,
            base: re_parts * CHUNK,
            scalars: self.scalars.iter().map(scalar).collect(),
            ops: self
                .ops
                .iter()
                .map(|o| (&*o.kernel, o.args, o.real))
                .collect(),
            shape: None,
        };
        if shapes::enabled() {
            v.shape = shapes::Shape::of(&v);
        }
        v
    }

    /// Which ops' cotangents are known to be real, given whether the seed is: the last op's when
    /// it and the seed are real; an earlier real op's when every op reading it has a real
    /// cotangent and real partials at real operands (so adds a real share).
    fn real_cotangents(&self, seed_real: bool) -> Vec<bool> {
        let last = self.ops.len() - 1;
        let mut rc = vec![false; self.ops.len()];
        rc[last] = seed_real && self.ops[last].real;
        let mut read = vec![false; self.ops.len()];
        let mut ok = vec![true; self.ops.len()];
        for (k, op) in self.ops.iter().enumerate().rev() {
            if k < last {
                rc[k] = self.ops[k].real && read[k] && ok[k];
            }
            for s in op.args.iter().flatten() {
                if let Src::Op(j) = *s {
                    read[j] = true;
                    ok[j] &= rc[k] && op.kernel.real_partials();
                }
            }
        }
        rc
    }

    /// The values, in a buffer from this thread's pool (not zeroed first: every element is
    /// written). In parallel for a long expression: each task evaluates its own chunks, with the
    /// same operations as on one thread.
    pub(crate) fn values(&self) -> Vec<C<T>> {
        let mut out = take_buffer_len(self.len);
        let v = self.view();
        par::for_chunks(&mut out, |off, dst| v.values_into(off, dst));
        out
    }

    /// `Σ` of the values, without storing them: chunk sums over ranges of
    /// [`par::REDUCE_CHUNK`] elements, added in order whatever the number of threads.
    pub(crate) fn sum(&self) -> C<T> {
        let v = self.view();
        if v.shape.is_some() {
            shapes::count();
        }
        let part = |r| match v.shape {
            Some(shape) => shape.sum_range(&v, r),
            None => v.sum_range(r),
        };
        par::chunked_sum(self.len, part, |s, t| s + t).unwrap_or_else(zero)
    }

    /// The VJP: from the conjugate cotangent of the value (`seed`: an array, or a scalar for a
    /// fused sum, broadcast) adds those of the inputs into `acc`, whose input `k` is
    /// `self.inputs()[k]`. In parallel for a long expression: each range of
    /// [`par::REDUCE_CHUNK`] elements is one task writing only its own elements of the adjoint
    /// arrays; the shares of scalar inputs are summed per range, then over ranges in order.
    ///
    /// An array input whose adjoint exists already gets its share added in place; one that has
    /// none yet gets a buffer of its own, written (not added to) and handed over whole.
    pub(crate) fn backward(&self, seed: Seed<T>, acc: &mut Accum<'_, T>) {
        let ids = self.inputs();
        let plan = self.plan(|id, array| {
            let k = id
                .and_then(|id| ids.iter().position(|&x| x == id))
                .filter(|&k| acc.wants(k))?;
            let add = if array {
                acc.existing_array(k).map(|g| Ptr(g.as_mut_ptr()))
            } else {
                None
            };
            Some((k, add))
        });
        let out = self.pass(seed, &plan, false);
        for (k, s) in plan.scalar_slots.iter().zip(&out.scalars) {
            if let Some(g) = k.and_then(|k| acc.scalar(k)) {
                *g += *s;
            }
        }
        for (k, buf) in plan.owners.into_iter().zip(out.owned) {
            acc.give(k, buf);
        }
    }

    /// `Σ` of the values (as [`sum`](Self::sum) gives it, bit for bit) and, in the same pass,
    /// the VJP of that sum for the seed `1`, the seed of a real loss (`Tape::backward_from`):
    /// the share of every input node for which `wants(id)`, each array input in a buffer of its
    /// own. For a real-valued expression this is the whole VJP for any seed `c`: the share for
    /// `c` is `Re(c)` times the share for `1` ([`Early::apply`]).
    pub(crate) fn sum_with_vjp(&self, wants: impl Fn(u32) -> bool) -> (C<T>, Early<T>) {
        let ids = self.inputs();
        let plan = self.plan(|id, _| {
            let id = id.filter(|&id| wants(id))?;
            Some((ids.iter().position(|&x| x == id)?, None))
        });
        let one = C::new(T::one(), T::zero());
        let out = self.pass(Seed::Scalar(one), &plan, true);
        let scalars = plan
            .scalar_slots
            .iter()
            .zip(&out.scalars)
            .filter_map(|(k, &s)| k.map(|k| (k, s)))
            .collect();
        let early = Early {
            arrays: plan.owners.into_iter().zip(out.owned).collect(),
            scalars,
        };
        (out.value, early)
    }

    /// Where the shares of the inputs go. `slot(id, is_array)` gives, for an input that gets a
    /// share, its position in [`inputs`](Self::inputs) and, for an array whose adjoint exists
    /// already, where to add; an array without one gets a buffer of its own.
    fn plan(
        &self,
        mut slot: impl FnMut(Option<u32>, bool) -> Option<(usize, Option<Ptr<T>>)>,
    ) -> Plan<T> {
        let mut owners = Vec::new();
        let mut targets = Vec::with_capacity(self.arrays.len());
        for a in &self.arrays {
            targets.push(match slot(a.id, true) {
                None => Target::Skip,
                Some((_, Some(p))) => Target::Add(p),
                Some((k, None)) => {
                    owners.push(k);
                    Target::Own(owners.len() - 1)
                }
            });
        }
        let scalar_slots = self
            .scalars
            .iter()
            .map(|s| slot(s.id, false).map(|(k, _)| k))
            .collect();
        Plan {
            targets,
            owners,
            scalar_slots,
        }
    }

    /// One pass of the VJP over all elements, from `seed`, putting each input's share where
    /// `plan` says; with `with_value`, also `Σ` of the values, in the order [`sum`](Self::sum)
    /// adds them.
    fn pass(&self, seed: Seed<T>, plan: &Plan<T>, with_value: bool) -> PassOut<T> {
        let (targets, owned) = (&plan.targets[..], plan.owners.len());
        let wants_scalar: Vec<bool> = plan.scalar_slots.iter().map(Option::is_some).collect();
        // The own buffers: an array seed becomes the first (each range copies its part of the
        // seed out before writing there); the others come from the pool, contents unspecified
        // (the pass writes every element).
        let (seed_arr, seed_c) = match seed {
            Seed::Array(v) => (Some(v), zero()),
            Seed::Scalar(c) => (None, c),
        };
        let rc = self.real_cotangents(seed_arr.is_none() && seed_c.im == T::zero());
        let mut bufs: Vec<Vec<C<T>>> = Vec::with_capacity(owned.max(1));
        let seed_in_buf = seed_arr.is_some();
        bufs.extend(seed_arr);
        while bufs.len() < owned {
            bufs.push(take_buffer_len(self.len));
        }
        let seed = if seed_in_buf {
            SeedPtr::Array(Ptr(bufs[0].as_mut_ptr()))
        } else {
            SeedPtr::Scalar(seed_c)
        };
        let owns: Vec<Ptr<T>> = bufs[..owned]
            .iter_mut()
            .map(|b| Ptr(b.as_mut_ptr()))
            .collect();
        let (set, unwritten) = self.first_writes(targets);
        let v = self.view();
        let mut ctx = Backward {
            view: &v,
            rc: &rc,
            targets,
            owns: &owns,
            set: &set,
            unwritten: &unwritten,
            wants_scalar: &wants_scalar,
            seed,
            with_value,
            shape: None,
        };
        ctx.shape = v.shape.and_then(|s| s.runs(&ctx));
        if ctx.shape.is_some() {
            shapes::count();
        }
        let add = |(mut s, x): (Vec<C<T>>, C<T>), (t, y): (Vec<C<T>>, C<T>)| {
            for (s, t) in s.iter_mut().zip(t) {
                *s += t;
            }
            (s, x + y)
        };
        // SAFETY (of the ranges' writes): `chunked_sum` calls `range` on disjoint ranges covering
        // `0..len`; the seed, own and target arrays are buffers of `len` elements (the targets
        // distinct from the seed and own buffers), and nothing else touches them until it
        // returns.
        let (scalars, value) = par::chunked_sum(self.len, |r| unsafe { ctx.range(r) }, add)
            .unwrap_or_else(|| (vec![zero(); self.scalars.len()], zero()));
        if bufs.len() > owned {
            // An array seed that no input took over.
            for b in bufs.drain(owned..) {
                recycle(b);
            }
        }
        PassOut {
            value,
            owned: bufs,
            scalars,
        }
    }

    /// For [`pass`](Self::pass): which shares are the first their chunk receives, in the order
    /// the backward sweep makes them (ops last to first, then operand `a` before `b`), so they
    /// store rather than add (`set[j][side]`); and the ops whose cotangent chunk receives no
    /// share at all, to be zeroed. Shares added into an existing adjoint array always add.
    fn first_writes(&self, targets: &[Target<T>]) -> (Vec<[bool; 2]>, Vec<usize>) {
        let nops = self.ops.len();
        let mut op_written = vec![false; nops];
        let mut own_written = vec![false; targets.len()];
        let mut set = vec![[false; 2]; nops];
        for j in (0..nops).rev() {
            for (side, src) in self.ops[j].args.iter().enumerate() {
                let seen = match *src {
                    Some(Src::Op(i)) => &mut op_written[i],
                    Some(Src::Array(k)) if matches!(targets[k], Target::Own(_)) => {
                        &mut own_written[k]
                    }
                    _ => continue,
                };
                set[j][side] = !*seen;
                *seen = true;
            }
        }
        let unwritten = (0..nops - 1).filter(|&i| !op_written[i]).collect();
        (set, unwritten)
    }
}

/// Where a VJP pass puts the shares of the inputs ([`Expr::plan`]).
struct Plan<T> {
    /// Per array input.
    targets: Vec<Target<T>>,
    /// Per [`Target::Own`] buffer, in order: its input's position in [`Expr::inputs`].
    owners: Vec<usize>,
    /// Per scalar input: its position in [`Expr::inputs`], `None` when it gets no share.
    scalar_slots: Vec<Option<usize>>,
}

/// What [`Expr::pass`] gives back.
struct PassOut<T> {
    /// `Σ` of the values (0 unless asked for).
    value: C<T>,
    /// The [`Target::Own`] buffers, in order.
    owned: Vec<Vec<C<T>>>,
    /// The shares of the scalar inputs (0 for those not wanted).
    scalars: Vec<C<T>>,
}

/// The VJP of a real-valued fused sum, computed with its value for the seed `1`
/// ([`Expr::sum_with_vjp`]): per input (its position in [`Expr::inputs`]), its share.
pub(crate) struct Early<T: Real> {
    pub arrays: Vec<(usize, Vec<C<T>>)>,
    pub scalars: Vec<(usize, C<T>)>,
}

impl<T: Real> Early<T> {
    /// The bytes of its arrays.
    pub(crate) fn bytes(&self) -> usize {
        self.arrays
            .iter()
            .map(|(_, v)| v.len() * core::mem::size_of::<C<T>>())
            .sum()
    }

    /// Adds the shares for the seed `c` into `acc`: those for `1` times `Re(c)` (exact when that
    /// is 1, as it is for the loss itself: the buffers are then handed over as they are).
    pub(crate) fn apply(self, c: C<T>, acc: &mut Accum<'_, T>) {
        let f = c.re;
        for (k, v) in self.arrays {
            acc.give_scaled(k, v, (f != T::one()).then_some(f));
        }
        for (k, s) in self.scalars {
            if let Some(g) = acc.scalar(k) {
                *g += s.scale(f);
            }
        }
    }

    /// Returns the buffers to this thread's pool.
    pub(crate) fn recycle(self) {
        for (_, v) in self.arrays {
            recycle(v);
        }
    }
}

/// A raw pointer to the start of an array that the tasks of a backward pass write in disjoint
/// ranges.
#[derive(Clone, Copy)]
struct Ptr<T>(*mut C<T>);

// SAFETY: a `Ptr` is only written through in disjoint ranges, one task each (see
// `Backward::range`): as good as a `&mut [C<T>]` split into parts.
unsafe impl<T: Send> Send for Ptr<T> {}
unsafe impl<T: Send> Sync for Ptr<T> {}

/// Where the share of an array input goes.
enum Target<T> {
    /// Nowhere (a constant, or an input that needs no adjoint).
    Skip,
    /// Own buffer `b` of the pass (see [`Expr::pass`]).
    Own(usize),
    /// Added into an adjoint array of the tape.
    Add(Ptr<T>),
}

/// The seed as the tasks read it.
#[derive(Clone, Copy)]
enum SeedPtr<T> {
    /// An array, each chunk copied out before the first own buffer (the same memory) is
    /// written there.
    Array(Ptr<T>),
    Scalar(C<T>),
}

/// What the tasks of [`Expr::pass`] share.
struct Backward<'a, T: Real> {
    view: &'a View<'a, T>,
    rc: &'a [bool],
    targets: &'a [Target<T>],
    owns: &'a [Ptr<T>],
    /// Per op and operand: whether its share is the first its chunk gets (see
    /// [`Expr::first_writes`]).
    set: &'a [[bool; 2]],
    /// Ops whose cotangent no share reaches.
    unwritten: &'a [usize],
    wants_scalar: &'a [bool],
    seed: SeedPtr<T>,
    with_value: bool,
    /// The loss shape that runs this pass in its own loop, if any.
    shape: Option<shapes::Shape>,
}

impl<T: Real> Backward<'_, T> {
    /// The VJP over the elements `r`; returns the shares of the scalar inputs and, when asked,
    /// `Σ` of the values over `r`.
    ///
    /// # Safety
    /// No other thread may use elements `r` of the target, seed and own arrays meanwhile, and
    /// those arrays must have `r` in bounds.
    unsafe fn range(&self, r: core::ops::Range<usize>) -> (Vec<C<T>>, C<T>) {
        if let Some(shape) = self.shape {
            // SAFETY: the caller's promise, passed on.
            return unsafe { shape.range(self, r) };
        }
        let v = self.view;
        let nops = v.ops.len();
        let last = nops - 1;
        let mut scalar_adj = vec![zero(); v.scalars.len()];
        let mut value = zero();
        let mut vals = v.scratch();
        // The cotangent of op `i` at `i·CHUNK`, real numbers when known real (`rc[i]`; see
        // [`reals`]). Unspecified contents: each chunk of a cotangent is set (by the seed, its
        // first share, or zeroing when no share reaches it) before anything adds to it or reads
        // it. A scalar seed is read as a broadcast operand, not stored.
        let mut adj = take_buffer_len(nops * CHUNK);
        let upto = if self.with_value { nops } else { last };
        let seed = match self.seed {
            SeedPtr::Scalar(c) if self.rc[last] => Some(Complex::new(c.re, T::zero())),
            SeedPtr::Scalar(c) => Some(c),
            SeedPtr::Array(_) => None,
        };
        for lo in r.clone().step_by(CHUNK) {
            let n = CHUNK.min(r.end - lo);
            v.forward_chunk(lo, n, upto, &mut vals);
            if self.with_value {
                v.add_chunk_sum(n, &vals, &mut value);
            }
            // An op that no share reaches is read by no op, so its cotangent is not known real
            // (`real_cotangents`): a complex slot.
            for &i in self.unwritten {
                debug_assert!(!self.rc[i]);
                adj[i * CHUNK..i * CHUNK + n].fill(zero());
            }
            if let SeedPtr::Array(p) = self.seed {
                // SAFETY: elements `lo..lo + n` are this task's (the caller's promise); the
                // slice is gone before anything writes there.
                adj[last * CHUNK..last * CHUNK + n]
                    .copy_from_slice(unsafe { std::slice::from_raw_parts(p.0.add(lo), n) });
            }
            for j in (0..=last).rev() {
                let (kernel, args, _) = v.ops[j];
                let (before, cur) = adj.split_at_mut(j * CHUNK);
                let c = match seed {
                    Some(c) if j == last => Arg::Scalar(c),
                    _ => slot_arg(&cur[..CHUNK], n, self.rc[j]),
                };
                let a = v.arg(args[0].expect("op without operand"), lo, n, &vals);
                let b = args[1].map(|s| v.arg(s, lo, n, &vals));
                for (side, src) in args.iter().enumerate() {
                    let Some(src) = *src else { continue };
                    let set = self.set[j][side];
                    let target = match src {
                        Src::Op(i) => {
                            let slot = &mut before[i * CHUNK..(i + 1) * CHUNK];
                            slot_target(slot, n, self.rc[i], set)
                        }
                        Src::Array(k) => match self.targets[k] {
                            Target::Skip => continue,
                            // SAFETY: as for the seed.
                            Target::Own(o) => slot_target(
                                unsafe {
                                    std::slice::from_raw_parts_mut(self.owns[o].0.add(lo), n)
                                },
                                n,
                                false,
                                set,
                            ),
                            // SAFETY: as for the seed.
                            Target::Add(p) => Adj::Chunk(unsafe {
                                std::slice::from_raw_parts_mut(p.0.add(lo), n)
                            }),
                        },
                        Src::Scalar(k) if self.wants_scalar[k] => Adj::Scalar(&mut scalar_adj[k]),
                        Src::Scalar(_) => continue,
                    };
                    kernel.backward(side, n, a, b, c, target);
                }
            }
        }
        recycle(vals);
        recycle(adj);
        (scalar_adj, value)
    }
}

/// An input array as a [`View`] reads it.
#[derive(Clone, Copy)]
enum Input<'a, T> {
    Complex(&'a [C<T>]),
    /// Stored as real numbers (a real leaf or constant): read at the size of a real.
    Real(&'a [T]),
    /// Known to be real but stored as complex numbers (a materialized real chain, a constant
    /// whose imaginary parts are all ±0, a stack of real scalars), and which of the view's such
    /// inputs it is: each chunk's real parts are copied into the chunk's scratch
    /// ([`View::load_re_parts`]) and read from there as real numbers, so that a stored imaginary
    /// part (−0, or NaN from `∞ · 0`) plays no part, as for any real operand.
    RealParts(&'a [C<T>], usize),
}

/// An expression's inputs and ops, borrowed: what evaluating it reads, shareable between threads.
///
/// The scratch of one chunk's values ([`scratch`](Self::scratch)) holds first the real parts of
/// the [`Input::RealParts`] inputs, then the values of op `i` at `base + i·CHUNK`: complex
/// numbers, or for an op known to be real, real numbers (the first `CHUNK` reals of the slot, see
/// [`reals`]).
struct View<'a, T: Real> {
    arrays: Vec<Input<'a, T>>,
    /// Where the ops' values start in the scratch, after the real parts of the
    /// [`Input::RealParts`] inputs (slot `r` for the `r`-th).
    base: usize,
    /// Values (a real one with imaginary part exactly +0).
    scalars: Vec<C<T>>,
    ops: Vec<OpView<'a, T>>,
    /// The loss shape of the ops, if they make one ([`shapes`]).
    shape: Option<shapes::Shape>,
}

/// An op as a [`View`] holds it: kernel, operands, whether the value is known real.
type OpView<'a, T> = (&'a dyn Kernel<T>, [Option<Src>; 2], bool);

/// A slot of complex numbers as the real numbers it holds, twice as many.
fn reals<T: Real>(s: &[C<T>]) -> &[T] {
    // SAFETY: `Complex<T>` is `#[repr(C)]` with fields `re`, `im`: `n` complex numbers are `2n`
    // consecutive `T`s, at the alignment of `T`.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<T>(), 2 * s.len()) }
}

/// [`reals`], mutable.
fn reals_mut<T: Real>(s: &mut [C<T>]) -> &mut [T] {
    // SAFETY: as in `reals`; the borrow of `s` is handed on.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<T>(), 2 * s.len()) }
}

/// The first `n` elements of a slot of [`CHUNK`] complex numbers as an operand: real numbers
/// when `real`.
fn slot_arg<T: Real>(slot: &[C<T>], n: usize, real: bool) -> Arg<'_, T> {
    if real {
        Arg::Real(&reals(slot)[..n])
    } else {
        Arg::Chunk(&slot[..n])
    }
}

/// A share's target in the first `n` elements of a slot of complex numbers: real numbers when
/// `real`, stored rather than added when `set` (the first share the chunk receives).
fn slot_target<T: Real>(slot: &mut [C<T>], n: usize, real: bool, set: bool) -> Adj<'_, T> {
    match (real, set) {
        (true, true) => Adj::RealSet(&mut reals_mut(slot)[..n]),
        (true, false) => Adj::Real(&mut reals_mut(slot)[..n]),
        (false, true) => Adj::Set(&mut slot[..n]),
        (false, false) => Adj::Chunk(&mut slot[..n]),
    }
}

impl<'a, T: Real> View<'a, T> {
    /// Operand `s` on the chunk at `lo` of length `n`; `vals`: the chunk's scratch, at least up
    /// to the ops' values that `s` may name.
    fn arg<'b>(&'b self, s: Src, lo: usize, n: usize, vals: &'b [C<T>]) -> Arg<'b, T> {
        match s {
            Src::Array(k) => match self.arrays[k] {
                Input::Complex(v) => Arg::Chunk(&v[lo..lo + n]),
                Input::Real(v) => Arg::Real(&v[lo..lo + n]),
                Input::RealParts(_, r) => Arg::Real(&reals(&vals[r * CHUNK..(r + 1) * CHUNK])[..n]),
            },
            Src::Scalar(k) => Arg::Scalar(self.scalars[k]),
            Src::Op(i) => {
                let at = self.base + i * CHUNK;
                slot_arg(&vals[at..at + CHUNK], n, self.ops[i].2)
            }
        }
    }

    /// Copies the real parts of the chunk at `lo` of length `n` of every [`Input::RealParts`]
    /// input into its slot of `vals`.
    fn load_re_parts(&self, lo: usize, n: usize, vals: &mut [C<T>]) {
        for input in &self.arrays {
            if let Input::RealParts(v, r) = *input {
                let dst = &mut reals_mut(&mut vals[r * CHUNK..(r + 1) * CHUNK])[..n];
                for (d, z) in dst.iter_mut().zip(&v[lo..lo + n]) {
                    *d = z.re;
                }
            }
        }
    }

    /// Scratch for the values of every op on one chunk, from this thread's pool (give it back
    /// with [`recycle`]). Its contents are unspecified: every element a pass reads, it has
    /// written first.
    fn scratch(&self) -> Vec<C<T>> {
        take_buffer_len(self.base + self.ops.len() * CHUNK)
    }

    /// Loads the [`Input::RealParts`] inputs and runs ops `0..upto` on the chunk at `lo` of
    /// length `n`, op `i`'s values in its slot of `vals`.
    fn forward_chunk(&self, lo: usize, n: usize, upto: usize, vals: &mut [C<T>]) {
        self.load_re_parts(lo, n, vals);
        for j in 0..upto {
            let (kernel, args, real) = self.ops[j];
            let (done, rest) = vals.split_at_mut(self.base + j * CHUNK);
            let a = self.arg(args[0].expect("op without operand"), lo, n, done);
            let b = args[1].map(|s| self.arg(s, lo, n, done));
            let out = if real {
                Out::Real(&mut reals_mut(&mut rest[..CHUNK])[..n])
            } else {
                Out::Chunk(&mut rest[..n])
            };
            kernel.forward(a, b, out);
        }
    }

    /// The values of elements `off .. off + dst.len()` into `dst`.
    fn values_into(&self, off: usize, dst: &mut [C<T>]) {
        let mut vals = self.scratch();
        let last = self.ops.len() - 1;
        for (k, out) in dst.chunks_mut(CHUNK).enumerate() {
            let (lo, n) = (off + k * CHUNK, out.len());
            self.forward_chunk(lo, n, last, &mut vals);
            let (kernel, args, real) = self.ops[last];
            let a = self.arg(args[0].expect("op without operand"), lo, n, &vals);
            let b = args[1].map(|s| self.arg(s, lo, n, &vals));
            kernel.forward(
                a,
                b,
                if real {
                    Out::Widen(out)
                } else {
                    Out::Chunk(out)
                },
            );
        }
        recycle(vals);
    }

    /// `Σ` of the values of elements `r`: chunk sums added in order.
    fn sum_range(&self, r: core::ops::Range<usize>) -> C<T> {
        let mut vals = self.scratch();
        let mut total = zero();
        for lo in r.clone().step_by(CHUNK) {
            let n = CHUNK.min(r.end - lo);
            self.forward_chunk(lo, n, self.ops.len(), &mut vals);
            self.add_chunk_sum(n, &vals, &mut total);
        }
        recycle(vals);
        total
    }

    /// Adds the sum of the last op's values on a chunk of length `n` (from the chunk's scratch)
    /// into `total`: to the real part only when the value is known real.
    fn add_chunk_sum(&self, n: usize, vals: &[C<T>], total: &mut C<T>) {
        let last = self.ops.len() - 1;
        let at = self.base + last * CHUNK;
        let slot = &vals[at..at + CHUNK];
        if self.ops[last].2 {
            total.re += lane_sum(&reals(slot)[..n], |&x| x, T::zero());
        } else {
            *total += lane_sum(&slot[..n], |&x| x, zero());
        }
    }
}

/// `Σ f(v[i])` in [`LANES`] interleaved partial sums, added pairwise at the end: one long chain
/// of dependent additions would wait on each one's latency. The order is fixed, so the result
/// is the same on every run and thread count.
#[inline(always)]
fn lane_sum<X, S>(v: &[X], f: impl Fn(&X) -> S, zero: S) -> S
where
    S: Copy + core::ops::Add<Output = S>,
{
    let mut acc = [zero; LANES];
    let mut blocks = v.chunks_exact(LANES);
    for b in &mut blocks {
        for (a, x) in acc.iter_mut().zip(b) {
            *a = *a + f(x);
        }
    }
    for (a, x) in acc.iter_mut().zip(blocks.remainder()) {
        *a = *a + f(x);
    }
    let [a, b, c, d, e, g, h, k] = acc;
    ((a + b) + (c + d)) + ((e + g) + (h + k))
}

/// Partial sums in [`lane_sum`].
const LANES: usize = 8;

/// The conjugate cotangent a fused node receives: an array (a materialized expression) or a
/// scalar (a fused sum).
pub(crate) enum Seed<T> {
    Array(Vec<C<T>>),
    Scalar(C<T>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules;

    fn points(seed: u64) -> Vec<C<f64>> {
        let mut x = seed;
        let mut u = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
        };
        (0..CHUNK).map(|_| Complex::new(u(), u())).collect()
    }

    fn bits(v: &[C<f64>]) -> Vec<(u64, u64)> {
        v.iter().map(|z| (z.re.to_bits(), z.im.to_bits())).collect()
    }

    /// Operands of every kind over the first `n` of `v` (and `re`, its real parts).
    fn kinds<'a>(v: &'a [C<f64>], re: &'a [f64], n: usize) -> [Arg<'a, f64>; 3] {
        [Arg::Chunk(&v[..n]), Arg::Real(&re[..n]), Arg::Scalar(v[1])]
    }

    fn rbits(v: &[f64]) -> Vec<(u64, u64)> {
        v.iter().map(|x| (x.to_bits(), 0)).collect()
    }

    /// The bits of every kind of output after `run`.
    fn outs(n: usize, run: &dyn Fn(Out<'_, f64>)) -> [Vec<(u64, u64)>; 3] {
        let (mut o, mut r, mut w) = (vec![zero(); n], vec![0.0; n], vec![zero(); n]);
        run(Out::Chunk(&mut o));
        run(Out::Real(&mut r));
        run(Out::Widen(&mut w));
        [bits(&o), rbits(&r), bits(&w)]
    }

    /// The bits of every kind of target, each starting from `init`, after `run` adds a share.
    fn targets(init: &[C<f64>], run: &dyn Fn(Adj<'_, f64>)) -> [Vec<(u64, u64)>; 5] {
        let re: Vec<f64> = init.iter().map(|z| z.re).collect();
        let (mut add, mut set, mut radd, mut rset) =
            (init.to_vec(), init.to_vec(), re.clone(), re.clone());
        let mut s = Complex::new(0.5, -0.25);
        run(Adj::Chunk(&mut add));
        run(Adj::Set(&mut set));
        run(Adj::Real(&mut radd));
        run(Adj::RealSet(&mut rset));
        run(Adj::Scalar(&mut s));
        [
            bits(&add),
            bits(&set),
            rbits(&radd),
            rbits(&rset),
            bits(&[s]),
        ]
    }

    /// `k` through [`wide`] and its loops called directly agree bit for bit, for every kind of
    /// operand, cotangent, output and target, on `n` elements; and something is added.
    fn check_unary<R: Fn(C<f64>) -> Unary<f64> + Send + Sync>(k: &UnaryKernel<R>, n: usize) {
        let (a, c, init) = (points(1), points(3), points(2));
        let (ar, cr): (Vec<f64>, Vec<f64>) = a.iter().zip(&c).map(|(x, y)| (x.re, y.re)).unzip();
        for x in kinds(&a, &ar, n) {
            assert_eq!(
                outs(n, &|o| k.forward(x, None, o)),
                outs(n, &|o| k.fwd(x, o))
            );
            for g in kinds(&c, &cr, n) {
                let w = targets(&init[..n], &|t| k.backward(0, n, x, None, g, t));
                assert_eq!(w, targets(&init[..n], &|t| k.bwd(n, x, g, t)), "{}", k.name);
                assert_ne!(w[0], bits(&init[..n]), "{}: nothing added", k.name);
            }
        }
    }

    /// As [`check_unary`], for each side and every pair of operand kinds.
    fn check_binary<R>(k: &BinaryKernel<f64, R>, n: usize)
    where
        R: Fn(C<f64>, C<f64>) -> Binary<f64> + Send + Sync,
    {
        let (a, b, c, init) = (points(1), points(2), points(3), points(4));
        let re = |v: &[C<f64>]| -> Vec<f64> { v.iter().map(|z| z.re).collect() };
        let (ar, br, cr) = (re(&a), re(&b), re(&c));
        for x in kinds(&a, &ar, n) {
            for y in kinds(&b, &br, n) {
                let base = outs(n, &|o| k.fwd(x, y, o));
                assert_eq!(outs(n, &|o| k.forward(x, Some(y), o)), base, "{}", k.name);
                for side in 0..2 {
                    for g in kinds(&c, &cr, n) {
                        let w = targets(&init[..n], &|t| k.backward(side, n, x, Some(y), g, t));
                        let base = targets(&init[..n], &|t| k.bwd(side, n, x, y, g, t));
                        assert_eq!(w, base, "{} side {side}", k.name);
                        assert_ne!(w[0], bits(&init[..n]), "{}: nothing added", k.name);
                    }
                }
            }
        }
    }

    /// The kernels run through [`wide`] (AVX2 where the CPU has it); the same loops called
    /// directly here are the baseline build. Only the vector width differs, so every bit agrees:
    /// over a full chunk and a partial one (a loop remainder), for every kind of operand (every
    /// pair, for a binary kernel), cotangent, output and target (adding, storing and summing,
    /// complex and real). The rules are passed as function items and closures, as the tape does,
    /// so that they are compiled into each build's loops (a function pointer would be called).
    #[test]
    fn kernels_give_the_same_bits_in_the_wide_and_the_baseline_build() {
        #[cfg(target_arch = "x86_64")]
        if !std::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 on this CPU: both builds are the baseline one");
        }
        fn unary<R>(rule: R, holomorphic: bool) -> UnaryKernel<R> {
            UnaryKernel {
                name: "test",
                rule,
                holomorphic,
                real_partials: false,
                known: None,
            }
        }
        fn binary<R: Fn(C<f64>, C<f64>) -> Binary<f64>>(
            name: &'static str,
            rule: R,
            linear: bool,
        ) -> BinaryKernel<f64, R> {
            let fixed = rule(Complex::new(1.0, 0.0), Complex::new(1.0, 0.0));
            BinaryKernel {
                name,
                rule,
                linear,
                fixed,
                known: None,
            }
        }
        for n in [CHUNK, 203] {
            check_unary(&unary(rules::exp, true), n);
            check_unary(&unary(|z| rules::powi(z, 2), true), n);
            check_unary(&unary(rules::norm_sqr, false), n);
            check_unary(&unary(rules::sqrt, true), n);
            check_binary(&binary("div", rules::div, false), n);
            check_binary(&binary("mul", rules::mul, false), n);
            check_binary(&binary("sub", rules::sub, true), n);
        }
    }

    /// A kernel reads a real operand as `(x, 0)` and stores a real value's real part: the same
    /// bits as complex operands with imaginary part +0 and the real part of a complex output.
    #[test]
    fn real_operands_and_outputs_are_the_complex_ones_with_zero_imaginary_parts() {
        let k = BinaryKernel {
            name: "mul",
            rule: rules::mul::<f64>,
            linear: false,
            fixed: rules::mul(zero(), zero()),
            known: None,
        };
        let n = 203;
        let (a, b) = (&points(4)[..n], &points(5)[..n]);
        let (ar, br): (Vec<f64>, Vec<f64>) = a.iter().zip(b).map(|(x, y)| (x.re, y.re)).unzip();
        let complex =
            |v: &[f64]| -> Vec<C<f64>> { v.iter().map(|&x| Complex::new(x, 0.0)).collect() };
        let (ac, bc) = (complex(&ar), complex(&br));
        let mut full = vec![zero(); n];
        k.forward(
            Arg::Chunk(&ac),
            Some(Arg::Chunk(&bc)),
            Out::Chunk(&mut full),
        );
        let mut real = vec![0.0; n];
        k.forward(Arg::Real(&ar), Some(Arg::Real(&br)), Out::Real(&mut real));
        let mut widened = vec![zero(); n];
        k.forward(
            Arg::Real(&ar),
            Some(Arg::Chunk(&bc)),
            Out::Widen(&mut widened),
        );
        let re_bits = |v: &[C<f64>]| -> Vec<u64> { v.iter().map(|z| z.re.to_bits()).collect() };
        let products: Vec<u64> = ar.iter().zip(&br).map(|(x, y)| (x * y).to_bits()).collect();
        assert_eq!(re_bits(&full), products);
        assert_eq!(
            rbits(&real),
            rbits(&ar.iter().zip(&br).map(|(x, y)| x * y).collect::<Vec<_>>())
        );
        assert_eq!(
            bits(&widened),
            bits(&complex(&real)),
            "imaginary parts exactly +0"
        );
        // Backward: a real cotangent into a real target is the real part of the complex share.
        let (mut cg, mut rg) = (vec![zero(); n], vec![0.0; n]);
        let (x, y) = (Arg::Chunk(&ac), Some(Arg::Chunk(&bc)));
        k.backward(0, n, x, y, Arg::Chunk(&ac), Adj::Set(&mut cg));
        let (x, y) = (Arg::Real(&ar), Some(Arg::Real(&br)));
        k.backward(0, n, x, y, Arg::Real(&ar), Adj::RealSet(&mut rg));
        assert_eq!(
            rbits(&rg),
            cg.iter().map(|z| (z.re.to_bits(), 0)).collect::<Vec<_>>()
        );
        let want: Vec<f64> = br.iter().zip(&ar).map(|(b, a)| b * a).collect();
        assert_eq!(rbits(&rg), rbits(&want));
    }

    #[test]
    fn lane_sum_adds_every_element_once() {
        for n in [0, 1, 7, 8, 9, 17, 255, 256] {
            // Distinct powers of two: any element missed or added twice changes the sum.
            let v: Vec<f64> = (0..n).map(|k| f64::powi(2.0, k % 50)).collect();
            let want: f64 = v.iter().sum();
            assert_eq!(lane_sum(&v, |&x| x, 0.0), want, "n = {n}");
            let c: Vec<C<f64>> = v.iter().map(|&x| Complex::new(x, -x)).collect();
            assert_eq!(lane_sum(&c, |&z| z, zero()), Complex::new(want, -want));
        }
    }
}
