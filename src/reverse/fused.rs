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
//! [`wide`](crate::wide::wide): compiled a second time with AVX2, used where the CPU has it, with
//! the same bits as the baseline build. The chunks' scratch comes from the per-thread buffer pool
//! and is not zeroed: a pass writes every element it reads first.
//!
//! A real-valued fused sum (a loss) runs the backward sweep in the same pass as its value, for
//! the seed `½` a real output's backward pass gives ([`Expr::sum_with_vjp`]), and keeps the
//! inputs' adjoints for the backward pass ([`Early`]): for a real sum the VJP of any seed `c` is
//! `2 Re(c)` times that one, so the inputs are read once in all. Within a chunk, the first share
//! a cotangent receives is stored, not added to zeros ([`Adj::Set`]).
//!
//! Real arithmetic where it is known to be enough: every input and op carries whether its value
//! is real (the rules' [`Realness`](crate::rules::Realness)). A kernel reads a known-real operand
//! as `(re, 0)` with a literal zero and keeps only the real part of a real-valued result, so the
//! compiler drops the arithmetic on imaginary parts (the rule itself is unchanged; see [`Mode`]).
//! Backward, a real scalar seed (a real loss) makes the cotangents of real ops real, as far as
//! every op reading them has real partials at real operands ([`Kernel::real_partials`]: not `im`
//! or `arg`, whose cotangent at a real operand is imaginary); those cotangents are then carried
//! with imaginary part 0 ([`BackMode`]). Inputs the tape stores as real numbers (real leaves and
//! constants) are read at the size of a real and widened to complex one chunk at a time.
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
    Chunk(&'a [C<T>]),
    Scalar(C<T>),
}

/// Where a kernel puts the adjoint share of one of its operands: added into a chunk
/// (elementwise `+=`), stored into a chunk (`=`, for the first share a chunk receives, so that
/// it needs no zeroing first), or added into a scalar (the sum over the chunk).
pub(crate) enum Adj<'a, T> {
    Chunk(&'a mut [C<T>]),
    Set(&'a mut [C<T>]),
    Scalar(&'a mut C<T>),
}

/// `out += f(a[i], b[i], c[i])` over a chunk (`=` for [`Adj::Set`], summed when `out` is a
/// scalar), one tight loop per combination of chunk and broadcast operands, so the compiler sees
/// plain zipped slices.
#[inline(always)]
fn accumulate<T: Real>(
    a: Arg<'_, T>,
    b: Arg<'_, T>,
    c: &[C<T>],
    out: Adj<'_, T>,
    f: impl Fn(C<T>, C<T>, C<T>) -> C<T>,
) {
    macro_rules! arms {
        ($x:ident, $y:ident, $iter:expr) => {
            match out {
                Adj::Chunk(g) => {
                    for (g, ($x, $y, c)) in g.iter_mut().zip($iter) {
                        *g += f($x, $y, c);
                    }
                }
                Adj::Set(g) => {
                    for (g, ($x, $y, c)) in g.iter_mut().zip($iter) {
                        *g = f($x, $y, c);
                    }
                }
                Adj::Scalar(s) => *s += $iter.fold(zero(), |s, ($x, $y, c)| s + f($x, $y, c)),
            }
        };
    }
    match (a, b) {
        (Arg::Chunk(x), Arg::Chunk(y)) => {
            arms!(x, y, x.iter().zip(y).zip(c).map(|((&x, &y), &c)| (x, y, c)))
        }
        (Arg::Chunk(x), Arg::Scalar(y)) => arms!(x, y, x.iter().zip(c).map(|(&x, &c)| (x, y, c))),
        (Arg::Scalar(x), Arg::Chunk(y)) => arms!(x, y, y.iter().zip(c).map(|(&y, &c)| (x, y, c))),
        (Arg::Scalar(x), Arg::Scalar(y)) => arms!(x, y, c.iter().map(|&c| (x, y, c))),
    }
}

/// What is known to be real where a kernel runs forward: its operands `a`, `b` and its output.
/// A known-real value is read as `(re, 0)` with a literal zero, so the compiler drops the
/// arithmetic on imaginary parts; a real output is stored with imaginary part exactly 0.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Mode {
    pub a: bool,
    pub b: bool,
    pub out: bool,
}

/// What is known to be real where a kernel runs backward: its operands, the cotangent `c` of its
/// output, and the cotangent it adds into (`target`: only when `c` is real and the kernel's
/// partials are real at real operands, see [`Kernel::real_partials`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BackMode {
    pub a: bool,
    pub b: bool,
    pub c: bool,
    pub target: bool,
}

/// `x`, or `(Re x, 0)` with a literal zero when `R`.
#[inline(always)]
fn re_if<const R: bool, T: Real>(x: C<T>) -> C<T> {
    if R {
        Complex::new(x.re, T::zero())
    } else {
        x
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
    /// `out[i] = g(a[i], b[i])`.
    fn forward(&self, a: Arg<'_, T>, b: Option<Arg<'_, T>>, out: &mut [C<T>], mode: Mode);
    /// Adds operand `side`'s share of the conjugate cotangent `c`:
    /// `c_side += conj(∂g/∂side) c + (∂g/∂side̅) conj(c)`.
    fn backward(
        &self,
        side: usize,
        a: Arg<'_, T>,
        b: Option<Arg<'_, T>>,
        c: &[C<T>],
        out: Adj<'_, T>,
        mode: BackMode,
    );
}

/// A unary rule of the table as a kernel.
pub(crate) struct UnaryKernel<R> {
    pub name: &'static str,
    pub rule: R,
    pub holomorphic: bool,
    /// See [`Kernel::real_partials`].
    pub real_partials: bool,
}

impl<R> UnaryKernel<R> {
    #[inline(always)]
    fn fwd<T: Real, const RA: bool, const RO: bool>(&self, a: Arg<'_, T>, out: &mut [C<T>])
    where
        R: Fn(C<T>) -> Unary<T>,
    {
        let f = |x: C<T>| re_if::<RO, T>((self.rule)(re_if::<RA, T>(x)).value);
        match a {
            Arg::Chunk(x) => {
                for (o, &x) in out.iter_mut().zip(x) {
                    *o = f(x);
                }
            }
            Arg::Scalar(x) => out.fill(f(x)),
        }
    }

    #[inline(always)]
    fn bwd<T: Real, const RA: bool, const RC: bool, const RT: bool>(
        &self,
        a: Arg<'_, T>,
        c: &[C<T>],
        out: Adj<'_, T>,
    ) where
        R: Fn(C<T>) -> Unary<T>,
    {
        let none = Arg::Scalar(zero());
        let (x, k) = (|x| re_if::<RA, T>(x), |g| re_if::<RC, T>(g));
        if self.holomorphic {
            accumulate(a, none, c, out, |a, _, g| {
                re_if::<RT, T>((self.rule)(x(a)).da.conj() * k(g))
            });
        } else {
            accumulate(a, none, c, out, |a, _, g| {
                let (r, g) = ((self.rule)(x(a)), k(g));
                re_if::<RT, T>(r.da.conj() * g + r.da_conj.unwrap_or_else(zero) * g.conj())
            });
        }
    }
}

impl<T: Real, R: Fn(C<T>) -> Unary<T> + Send + Sync> Kernel<T> for UnaryKernel<R> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn real_partials(&self) -> bool {
        self.real_partials
    }

    fn forward(&self, a: Arg<'_, T>, _: Option<Arg<'_, T>>, out: &mut [C<T>], m: Mode) {
        wide(
            #[inline(always)]
            || match (m.a, m.out) {
                (false, false) => self.fwd::<T, false, false>(a, out),
                (false, true) => self.fwd::<T, false, true>(a, out),
                (true, false) => self.fwd::<T, true, false>(a, out),
                (true, true) => self.fwd::<T, true, true>(a, out),
            },
        )
    }

    fn backward(
        &self,
        _: usize,
        a: Arg<'_, T>,
        _: Option<Arg<'_, T>>,
        c: &[C<T>],
        out: Adj<'_, T>,
        m: BackMode,
    ) {
        wide(
            #[inline(always)]
            || match (m.a, m.c, m.c && m.target) {
                (false, false, _) => self.bwd::<T, false, false, false>(a, c, out),
                (false, true, false) => self.bwd::<T, false, true, false>(a, c, out),
                (false, true, true) => self.bwd::<T, false, true, true>(a, c, out),
                (true, false, _) => self.bwd::<T, true, false, false>(a, c, out),
                (true, true, false) => self.bwd::<T, true, true, false>(a, c, out),
                (true, true, true) => self.bwd::<T, true, true, true>(a, c, out),
            },
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
}

impl<T: Real, R: Fn(C<T>, C<T>) -> Binary<T>> BinaryKernel<T, R> {
    #[inline(always)]
    fn fwd<const RA: bool, const RB: bool, const RO: bool>(
        &self,
        a: Arg<'_, T>,
        b: Arg<'_, T>,
        out: &mut [C<T>],
    ) {
        let f = |x, y| re_if::<RO, T>((self.rule)(re_if::<RA, T>(x), re_if::<RB, T>(y)).value);
        // The common shapes get loops without a per-element match, so they vectorize.
        match (a, b) {
            (Arg::Chunk(x), Arg::Chunk(y)) => {
                for ((o, &x), &y) in out.iter_mut().zip(x).zip(y) {
                    *o = f(x, y);
                }
            }
            (Arg::Chunk(x), Arg::Scalar(y)) => {
                for (o, &x) in out.iter_mut().zip(x) {
                    *o = f(x, y);
                }
            }
            (Arg::Scalar(x), Arg::Chunk(y)) => {
                for (o, &y) in out.iter_mut().zip(y) {
                    *o = f(x, y);
                }
            }
            (Arg::Scalar(x), Arg::Scalar(y)) => out.fill(f(x, y)),
        }
    }

    #[inline(always)]
    fn bwd<const RAB: bool, const RC: bool, const RT: bool>(
        &self,
        side: usize,
        a: Arg<'_, T>,
        b: Arg<'_, T>,
        c: &[C<T>],
        out: Adj<'_, T>,
    ) {
        let none = Arg::Scalar(zero());
        let r = |x, y| (self.rule)(re_if::<RAB, T>(x), re_if::<RAB, T>(y));
        let k = |g| re_if::<RC, T>(g);
        if self.linear {
            let g = if side == 0 {
                self.fixed.da
            } else {
                self.fixed.db
            }
            .conj();
            if g == Complex::new(T::one(), T::zero()) {
                accumulate(none, none, c, out, |_, _, c| re_if::<RT, T>(k(c)));
            } else {
                accumulate(none, none, c, out, |_, _, c| re_if::<RT, T>(g * k(c)));
            }
        } else if side == 0 {
            accumulate(a, b, c, out, |x, y, c| {
                re_if::<RT, T>(r(x, y).da.conj() * k(c))
            });
        } else {
            accumulate(a, b, c, out, |x, y, c| {
                re_if::<RT, T>(r(x, y).db.conj() * k(c))
            });
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

    fn forward(&self, a: Arg<'_, T>, b: Option<Arg<'_, T>>, out: &mut [C<T>], m: Mode) {
        let b = b.expect("binary kernel without a second operand");
        wide(
            #[inline(always)]
            || match (m.a, m.b, m.out) {
                (true, true, true) => self.fwd::<true, true, true>(a, b, out),
                (true, true, false) => self.fwd::<true, true, false>(a, b, out),
                (true, false, _) => self.fwd::<true, false, false>(a, b, out),
                (false, true, _) => self.fwd::<false, true, false>(a, b, out),
                (false, false, _) => self.fwd::<false, false, false>(a, b, out),
            },
        )
    }

    fn backward(
        &self,
        side: usize,
        a: Arg<'_, T>,
        b: Option<Arg<'_, T>>,
        c: &[C<T>],
        out: Adj<'_, T>,
        m: BackMode,
    ) {
        let b = b.expect("binary kernel without a second operand");
        wide(
            #[inline(always)]
            || match (m.a && m.b, m.c, m.c && m.target) {
                (false, false, _) => self.bwd::<false, false, false>(side, a, b, c, out),
                (false, true, false) => self.bwd::<false, true, false>(side, a, b, c, out),
                (false, true, true) => self.bwd::<false, true, true>(side, a, b, c, out),
                (true, false, _) => self.bwd::<true, false, false>(side, a, b, c, out),
                (true, true, false) => self.bwd::<true, true, false>(side, a, b, c, out),
                (true, true, true) => self.bwd::<true, true, true>(side, a, b, c, out),
            },
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
        let mut reals = 0;
        let arrays = self
            .arrays
            .iter()
            .map(|a| {
                let data = match &a.value {
                    Values::Complex(v) => Input::Complex(&v[..]),
                    Values::Real(r) => {
                        reals += 1;
                        Input::Real(r.as_slice(), reals - 1)
                    }
                };
                (data, a.real)
            })
            .collect();
        View {
            arrays,
            base: reals * CHUNK,
            scalars: self.scalars.iter().map(|s| (s.value, s.real)).collect(),
            ops: self
                .ops
                .iter()
                .map(|o| (&*o.kernel, o.args, o.real))
                .collect(),
        }
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
        par::chunked_sum(self.len, |r| v.sum_range(r), |s, t| s + t).unwrap_or_else(zero)
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
    /// the VJP of that sum for the seed `½`, the seed of a real loss: the share of every input
    /// node for which `wants(id)`, each array input in a buffer of its own. For a real-valued
    /// expression this is the whole VJP for any seed `c`: the share for `c` is `2 Re(c)` times
    /// the share for `½` ([`Early::apply`]).
    pub(crate) fn sum_with_vjp(&self, wants: impl Fn(u32) -> bool) -> (C<T>, Early<T>) {
        let ids = self.inputs();
        let plan = self.plan(|id, _| {
            let id = id.filter(|&id| wants(id))?;
            Some((ids.iter().position(|&x| x == id)?, None))
        });
        let half = C::new(T::from_f64c(0.5), T::zero());
        let out = self.pass(Seed::Scalar(half), &plan, true);
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
        let ctx = Backward {
            view: &v,
            rc: &rc,
            targets,
            owns: &owns,
            set: &set,
            unwritten: &unwritten,
            wants_scalar: &wants_scalar,
            seed,
            with_value,
        };
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

/// The VJP of a real-valued fused sum, computed with its value for the seed `½`
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

    /// Adds the shares for the seed `c` into `acc`: those for `½` times `2 Re(c)` (exact when
    /// that is 1, as it is for the loss itself: the buffers are then handed over as they are).
    pub(crate) fn apply(self, c: C<T>, acc: &mut Accum<'_, T>) {
        let f = c.re + c.re;
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
}

impl<T: Real> Backward<'_, T> {
    /// The VJP over the elements `r`; returns the shares of the scalar inputs and, when asked,
    /// `Σ` of the values over `r`.
    ///
    /// # Safety
    /// No other thread may use elements `r` of the target, seed and own arrays meanwhile, and
    /// those arrays must have `r` in bounds.
    unsafe fn range(&self, r: core::ops::Range<usize>) -> (Vec<C<T>>, C<T>) {
        let v = self.view;
        let nops = v.ops.len();
        let last = nops - 1;
        let mut scalar_adj = vec![zero(); v.scalars.len()];
        let mut value = zero();
        let mut vals = v.scratch();
        // Cotangents of the ops only (no slots for real inputs, which `vals` has). Unspecified
        // contents: each chunk of a cotangent is set (by the seed, its first share, or zeroing
        // when no share reaches it) before anything adds to it or reads it.
        let mut adj = take_buffer_len(nops * CHUNK);
        let upto = if self.with_value { nops } else { last };
        for lo in r.clone().step_by(CHUNK) {
            let n = CHUNK.min(r.end - lo);
            v.forward_chunk(lo, n, upto, &mut vals);
            if self.with_value {
                v.add_chunk_sum(n, &vals, &mut value);
            }
            for &i in self.unwritten {
                adj[i * CHUNK..i * CHUNK + n].fill(zero());
            }
            match self.seed {
                // SAFETY: elements `lo..lo + n` are this task's (the caller's promise); the
                // slice is gone before anything writes there.
                SeedPtr::Array(p) => adj[last * CHUNK..last * CHUNK + n]
                    .copy_from_slice(unsafe { std::slice::from_raw_parts(p.0.add(lo), n) }),
                SeedPtr::Scalar(c) => adj[last * CHUNK..last * CHUNK + n].fill(c),
            }
            for j in (0..=last).rev() {
                let (kernel, args, _) = v.ops[j];
                let (before, cur) = adj.split_at_mut(j * CHUNK);
                let c = &cur[..n];
                let a = v.arg(args[0].expect("op without operand"), lo, n, &vals);
                let b = args[1].map(|s| v.arg(s, lo, n, &vals));
                let fwd = v.mode(j);
                for (side, src) in args.iter().enumerate() {
                    let Some(src) = *src else { continue };
                    let mode = BackMode {
                        a: fwd.a,
                        b: fwd.b,
                        c: self.rc[j],
                        target: matches!(src, Src::Op(i) if self.rc[i]),
                    };
                    let set = self.set[j][side];
                    fn chunk<T>(set: bool, g: &mut [C<T>]) -> Adj<'_, T> {
                        if set {
                            Adj::Set(g)
                        } else {
                            Adj::Chunk(g)
                        }
                    }
                    let target = match src {
                        Src::Op(i) => chunk(set, &mut before[i * CHUNK..i * CHUNK + n]),
                        Src::Array(k) => match self.targets[k] {
                            Target::Skip => continue,
                            // SAFETY: as for the seed.
                            Target::Own(o) => chunk(set, unsafe {
                                std::slice::from_raw_parts_mut(self.owns[o].0.add(lo), n)
                            }),
                            // SAFETY: as for the seed.
                            Target::Add(p) => Adj::Chunk(unsafe {
                                std::slice::from_raw_parts_mut(p.0.add(lo), n)
                            }),
                        },
                        Src::Scalar(k) if self.wants_scalar[k] => Adj::Scalar(&mut scalar_adj[k]),
                        Src::Scalar(_) => continue,
                    };
                    kernel.backward(side, a, b, c, target, mode);
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
    /// Stored as real numbers, and which of the view's real inputs it is: each chunk of it is
    /// converted to complex in the scratch of the chunk's values ([`View::load_reals`]), so the
    /// kernels read complex operands as always, while memory traffic is that of the reals.
    Real(&'a [T], usize),
}

/// An expression's inputs and ops, borrowed: what evaluating it reads, shareable between threads.
///
/// The scratch of one chunk's values ([`scratch`](Self::scratch)) holds first the chunks of the
/// real inputs, converted, then the values of each op: op `i` at `base + i·CHUNK`.
struct View<'a, T: Real> {
    /// Values, and whether known real.
    arrays: Vec<(Input<'a, T>, bool)>,
    /// Where the ops' values start in the scratch.
    base: usize,
    scalars: Vec<(C<T>, bool)>,
    ops: Vec<OpView<'a, T>>,
}

/// An op as a [`View`] holds it: kernel, operands, whether the value is known real.
type OpView<'a, T> = (&'a dyn Kernel<T>, [Option<Src>; 2], bool);

impl<'a, T: Real> View<'a, T> {
    /// Operand `s` on the chunk at `lo` of length `n`; `vals`: the chunk's scratch, at least up
    /// to the ops' values that `s` may name, with the real inputs loaded.
    fn arg<'b>(&'b self, s: Src, lo: usize, n: usize, vals: &'b [C<T>]) -> Arg<'b, T> {
        match s {
            Src::Array(k) => match self.arrays[k].0 {
                Input::Complex(v) => Arg::Chunk(&v[lo..lo + n]),
                Input::Real(_, r) => Arg::Chunk(&vals[r * CHUNK..r * CHUNK + n]),
            },
            Src::Scalar(k) => Arg::Scalar(self.scalars[k].0),
            Src::Op(i) => {
                let at = self.base + i * CHUNK;
                Arg::Chunk(&vals[at..at + n])
            }
        }
    }

    /// Converts the chunk at `lo` of length `n` of every real input into its place in `vals`.
    fn load_reals(&self, lo: usize, n: usize, vals: &mut [C<T>]) {
        for (input, _) in &self.arrays {
            if let Input::Real(v, r) = *input {
                let dst = &mut vals[r * CHUNK..r * CHUNK + n];
                for (d, &x) in dst.iter_mut().zip(&v[lo..lo + n]) {
                    *d = Complex::new(x, T::zero());
                }
            }
        }
    }

    /// Op `i`'s values on a chunk of length `n`, from the chunk's scratch.
    fn op_values<'b>(&self, i: usize, n: usize, vals: &'b [C<T>]) -> &'b [C<T>] {
        let at = self.base + i * CHUNK;
        &vals[at..at + n]
    }

    /// Whether operand `s` is known to be real.
    fn real(&self, s: Src) -> bool {
        match s {
            Src::Array(k) => self.arrays[k].1,
            Src::Scalar(k) => self.scalars[k].1,
            Src::Op(i) => self.ops[i].2,
        }
    }

    /// What op `j` knows to be real, forward.
    fn mode(&self, j: usize) -> Mode {
        let (_, args, real) = self.ops[j];
        Mode {
            a: args[0].is_some_and(|s| self.real(s)),
            b: args[1].is_some_and(|s| self.real(s)),
            out: real,
        }
    }

    /// Scratch for the real inputs and the values of every op on one chunk, from this thread's
    /// pool (give it back with [`recycle`]). Its contents are unspecified: every element a pass
    /// reads, it has written first.
    fn scratch(&self) -> Vec<C<T>> {
        take_buffer_len(self.base + self.ops.len() * CHUNK)
    }

    /// Loads the real inputs of the chunk at `lo` of length `n` and runs ops `0..upto` on it, op
    /// `i`'s values in `vals[base + i·CHUNK..]`.
    fn forward_chunk(&self, lo: usize, n: usize, upto: usize, vals: &mut [C<T>]) {
        self.load_reals(lo, n, vals);
        for j in 0..upto {
            let (kernel, args, _) = self.ops[j];
            let (done, rest) = vals.split_at_mut(self.base + j * CHUNK);
            let a = self.arg(args[0].expect("op without operand"), lo, n, done);
            let b = args[1].map(|s| self.arg(s, lo, n, done));
            kernel.forward(a, b, &mut rest[..n], self.mode(j));
        }
    }

    /// The values of elements `off .. off + dst.len()` into `dst`.
    fn values_into(&self, off: usize, dst: &mut [C<T>]) {
        let mut vals = self.scratch();
        let last = self.ops.len() - 1;
        for (k, out) in dst.chunks_mut(CHUNK).enumerate() {
            let (lo, n) = (off + k * CHUNK, out.len());
            self.forward_chunk(lo, n, last, &mut vals);
            let (kernel, args, _) = self.ops[last];
            let a = self.arg(args[0].expect("op without operand"), lo, n, &vals);
            let b = args[1].map(|s| self.arg(s, lo, n, &vals));
            kernel.forward(a, b, out, self.mode(last));
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
    /// into `total`: the real parts only when the value is known real.
    fn add_chunk_sum(&self, n: usize, vals: &[C<T>], total: &mut C<T>) {
        let last = self.ops.len() - 1;
        let v = self.op_values(last, n, vals);
        if self.ops[last].2 {
            total.re += lane_sum(v, |x| x.re, T::zero());
        } else {
            *total += lane_sum(v, |&x| x, zero());
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

    /// The kernels run through [`wide`] (AVX2 where the CPU has it); the same loops called
    /// directly here are the baseline build. Only the vector width differs, so every bit agrees:
    /// over a full chunk and a partial one (a loop remainder), adding, storing and summing, with
    /// complex and with real operands.
    #[test]
    fn kernels_give_the_same_bits_in_the_wide_and_the_baseline_build() {
        #[cfg(target_arch = "x86_64")]
        if !std::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 on this CPU: both builds are the baseline one");
        }
        let unary = |rule: fn(C<f64>) -> Unary<f64>, holomorphic| UnaryKernel {
            name: "test",
            rule,
            holomorphic,
            real_partials: false,
        };
        let square = |z| rules::powi(z, 2);
        let kernels = [
            unary(rules::exp, true),
            unary(square, true),
            unary(rules::norm_sqr, false),
            unary(rules::sqrt, true),
        ];
        let div = BinaryKernel {
            name: "div",
            rule: rules::div::<f64>,
            linear: false,
            fixed: rules::div(Complex::new(1.0, 0.0), Complex::new(1.0, 0.0)),
        };
        for n in [CHUNK, 203] {
            let (a, b, c) = (&points(1)[..n], &points(2)[..n], &points(3)[..n]);
            let real: Vec<C<f64>> = a.iter().map(|z| Complex::new(z.re, 0.0)).collect();
            for k in &kernels {
                for (x, ra) in [(a, false), (&real[..], true)] {
                    let (mut wide_out, mut base) = (vec![zero(); n], vec![zero(); n]);
                    let m = Mode {
                        a: ra,
                        ..Mode::default()
                    };
                    k.forward(Arg::Chunk(x), None, &mut wide_out, m);
                    if ra {
                        k.fwd::<f64, true, false>(Arg::Chunk(x), &mut base);
                    } else {
                        k.fwd::<f64, false, false>(Arg::Chunk(x), &mut base);
                    }
                    assert_eq!(bits(&wide_out), bits(&base), "{n}");
                    let m = BackMode {
                        a: ra,
                        ..BackMode::default()
                    };
                    let base_bwd = |out: Adj<'_, f64>| {
                        if ra {
                            k.bwd::<f64, true, false, false>(Arg::Chunk(x), c, out)
                        } else {
                            k.bwd::<f64, false, false, false>(Arg::Chunk(x), c, out)
                        }
                    };
                    let (mut wide_g, mut base_g) = (b.to_vec(), b.to_vec());
                    k.backward(0, Arg::Chunk(x), None, c, Adj::Chunk(&mut wide_g), m);
                    base_bwd(Adj::Chunk(&mut base_g));
                    assert_eq!(bits(&wide_g), bits(&base_g), "{n}");
                    assert_ne!(bits(&wide_g), bits(b));
                    k.backward(0, Arg::Chunk(x), None, c, Adj::Set(&mut wide_g), m);
                    base_bwd(Adj::Set(&mut base_g));
                    assert_eq!(bits(&wide_g), bits(&base_g), "{n}");
                    let (mut ws, mut bs) = (zero(), zero());
                    k.backward(0, Arg::Chunk(x), None, c, Adj::Scalar(&mut ws), m);
                    base_bwd(Adj::Scalar(&mut bs));
                    assert_eq!(bits(&[ws]), bits(&[bs]), "{n}");
                }
            }
            let (mut wide_out, mut base) = (vec![zero(); n], vec![zero(); n]);
            div.forward(
                Arg::Chunk(a),
                Some(Arg::Chunk(b)),
                &mut wide_out,
                Mode::default(),
            );
            div.fwd::<false, false, false>(Arg::Chunk(a), Arg::Chunk(b), &mut base);
            assert_eq!(bits(&wide_out), bits(&base), "{n}");
            for side in 0..2 {
                let (mut wide_g, mut base_g) = (c.to_vec(), c.to_vec());
                let (x, y) = (Arg::Chunk(a), Arg::Chunk(b));
                let m = BackMode::default();
                div.backward(side, x, Some(y), b, Adj::Chunk(&mut wide_g), m);
                div.bwd::<false, false, false>(side, x, y, b, Adj::Chunk(&mut base_g));
                assert_eq!(bits(&wide_g), bits(&base_g), "{n}");
            }
        }
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
