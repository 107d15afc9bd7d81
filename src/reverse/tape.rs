//! The tape: the explicit computational graph, its nodes and the backward walk.

use super::fused::Early;
use super::grads::Gradients;
use super::reuse::{self, Linear, Scaled};
use super::values::Values;
use crate::fft::FftPlans;
use crate::rules::Name;
use crate::Real;
use core::cell::{Ref, RefCell};
use num_complex::Complex;
use std::rc::Rc;

/// What a node is, for the backward walk and for the picture of the graph. A scalar op's kind
/// says how many inputs it has and whether it has `g_ā` partials, so that the walk handles each
/// with straight-line code. The four kinds of scalar op come first: [`Kind::is_op`] is one
/// comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// A scalar op of one input, holomorphic: one partial.
    Unary,
    /// A scalar op of one input, not holomorphic: `conj(g_a)`, then `g_ā`.
    UnaryConj,
    /// A scalar op of two inputs, holomorphic in both: two partials.
    Binary,
    /// A scalar op of two inputs, not holomorphic: `conj(g_a)`, `conj(g_b)`, `g_ā`, `g_b̄`.
    BinaryConj,
    /// An independent scalar variable (`tape.var`, `tape.real_var`).
    Leaf,
    /// A scalar constant.
    Constant,
    /// An independent array variable.
    ArrayLeaf,
    /// An array constant.
    ArrayConstant,
    /// An op with a vector-Jacobian closure (array ops, reductions, custom rules).
    Vjp,
}

impl Kind {
    /// Whether this is a scalar elementary op (inputs and partials in the node's record).
    #[inline(always)]
    pub(crate) fn is_op(self) -> bool {
        (self as u8) <= Kind::BinaryConj as u8
    }

    /// The number of inputs of a scalar op (0 for other nodes).
    fn arity(self) -> usize {
        match self {
            Kind::Unary | Kind::UnaryConj => 1,
            Kind::Binary | Kind::BinaryConj => 2,
            _ => 0,
        }
    }
}

/// An input of a scalar op: its index, `g_a` and `g_ā` (`None` when holomorphic).
pub(crate) type Part<T> = (u32, Complex<T>, Option<Complex<T>>);

/// No input in this slot.
pub(crate) const NONE: u32 = u32::MAX;

/// What the backward walk reads of a node, besides its partials: 16 bytes, whatever the float
/// type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    /// Indices of a scalar op's inputs, `NONE` where there are fewer than two.
    pub inputs: [u32; 2],
    /// A binary non-holomorphic op: the index of its pair `g_ā, g_b̄` in `Graph::conj` (counted
    /// in pairs). An array or closure node: its index in `Tape::extras`. Others: 0.
    pub at: u32,
    pub kind: Kind,
    /// Whether the value is real for every input (tracked from the rules' `Realness`).
    pub real: bool,
    /// Whether the node depends on a leaf; the backward walk skips those that do not.
    pub grad: bool,
    /// The name of a scalar op, leaf or constant (array and closure nodes keep theirs in
    /// `Extra::name`).
    pub name: Option<Name>,
}

// Keep the node at 16 bytes, and a record of `f64`s at one cache line's worth.
const _: () = assert!(core::mem::size_of::<Node>() == 16);
const _: () = assert!(core::mem::size_of::<Rec<f64>>() == 64);
const _: () = assert!(core::mem::size_of::<Rec<f32>>() == 40);

/// One node of the tape, with its scalar value and the partials of a scalar op: a fixed-size
/// record, so that recording an op is one capacity check and one write, and the walk finds an
/// op's partials next to its inputs.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Rec<T> {
    pub node: Node,
    /// The value of a scalar node (0 for an array node).
    pub value: Complex<T>,
    /// The partials of a scalar op as the walk multiplies by them: `conj(g_a)` of the first input,
    /// then `conj(g_b)` of the second, or `g_ā` of a unary non-holomorphic op. A binary
    /// non-holomorphic op keeps `g_ā, g_b̄` in `Graph::conj`. Zeros where unused.
    pub p: [Complex<T>; 2],
}

/// What the rest of the crate reads of a node (`Tape::node`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeInfo {
    pub kind: Kind,
    pub real: bool,
    pub grad: bool,
    /// Index into `Tape::extras` for array-valued and closure nodes, `NONE` for others.
    pub extra: u32,
}

/// What the backward walk does not need of a node: its scalar value (0 for arrays) and op name.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Info<T> {
    pub value: Complex<T>,
    pub name: &'static str,
}

/// The scalar records of a tape, in one `RefCell` so that recording an op borrows once.
pub(crate) struct Graph<T> {
    pub recs: Vec<Rec<T>>,
    /// `g_ā, g_b̄` of each binary non-holomorphic op (rare: `chain2`), which do not fit in its
    /// record.
    pub conj: Vec<Complex<T>>,
}

impl<T> Default for Graph<T> {
    fn default() -> Self {
        Graph {
            recs: Vec::new(),
            conj: Vec::new(),
        }
    }
}

/// The most nodes a tape holds: indices are `u32`, and `NONE` is no index. [`Graph::grow`] keeps
/// the capacity within it, so that the capacity check is also the check of the index range.
const LIMIT: usize = NONE as usize;

/// Makes room for `need` more elements in `v` (doubling its capacity, as `Vec` does, but never
/// beyond `limit`), or panics if that would take it beyond `limit`.
fn grow_to<X>(v: &mut Vec<X>, need: usize, limit: usize) {
    if v.capacity() - v.len() >= need {
        return;
    }
    if v.len() + need > limit {
        panic!("wirtinger: tape is full (2³² − 1 nodes)");
    }
    let cap = (2 * v.capacity()).max(v.len() + need).clamp(64, limit);
    v.reserve_exact(cap - v.len());
    // `push`'s check relies on this; std's `reserve_exact` gives exactly what is asked.
    assert!(
        v.capacity() <= limit,
        "wirtinger: internal error: tape capacity"
    );
}

impl<T: Real> Graph<T> {
    /// Appends a record and returns its index. One capacity check, which is also the check that
    /// the index fits in a `u32` (the capacity never exceeds [`LIMIT`]).
    #[inline(always)]
    fn push(&mut self, rec: Rec<T>) -> u32 {
        let id = self.recs.len();
        if id == self.recs.capacity() {
            self.grow();
        }
        // SAFETY: there is room for one more record (checked, or just made by `grow`), and
        // `Rec: Copy` needs no drop; it is written before `set_len` makes it part of the vector.
        unsafe {
            self.recs.as_mut_ptr().add(id).write(rec);
            self.recs.set_len(id + 1);
        }
        id as u32
    }

    /// The slow path of [`push`](Self::push): grows the records (doubling, as `Vec` does, but
    /// never beyond [`LIMIT`]), or panics if the tape is full.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        grow_to(&mut self.recs, 1, LIMIT);
    }

    fn clear(&mut self) {
        self.recs.clear();
        self.conj.clear();
    }

    /// The inputs of node `id` with their `(g_a, g_ā)` (`g_ā` `None` for a holomorphic op).
    pub(crate) fn edges(&self, id: u32) -> impl Iterator<Item = Part<T>> + '_ {
        let r = self.recs[id as usize];
        let n = r.node;
        let k = n.kind.arity();
        (0..k).map(move |j| {
            let dac = match n.kind {
                Kind::UnaryConj => Some(r.p[1]),
                Kind::BinaryConj => Some(self.conj[2 * n.at as usize + j]),
                _ => None,
            };
            (n.inputs[j], r.p[j].conj(), dac)
        })
    }
}

/// The vector-Jacobian product of a closure node: receives the conjugate cotangent of the output
/// (`2 ∂L/∂ȳ` for a real output `L`, see [`Tape::backward_from`]; one element for a scalar
/// output), owned so that it can be transformed in place and handed on with [`Accum::give`], and
/// adds those of its inputs into `acc`.
pub(crate) type Vjp<T> = Box<dyn Fn(Vec<Complex<T>>, &mut Accum<'_, T>)>;

/// Payload of array-valued and closure nodes.
pub(crate) struct Extra<T: Real> {
    /// The op's name, for errors and the picture of the graph.
    pub name: &'static str,
    /// The array value (`None` for a scalar-valued closure node, whose value is in its record).
    pub value: Option<Values<T>>,
    pub shape: Rc<[usize]>,
    pub inputs: Vec<u32>,
    pub vjp: Option<Vjp<T>>,
    /// A VJP computed with the value, for its VJP to use once ([`Accum::take_early`]).
    pub early: RefCell<Option<Early<T>>>,
    /// The node's map from its input, when it is linear in a way that lets it pass on an adjoint
    /// that is a multiple of a stored value ([`reuse`]).
    pub linear: Option<Linear>,
}

/// Where a closure node's VJP adds the conjugate cotangents of its inputs.
pub struct Accum<'a, T: Real> {
    inputs: &'a [u32],
    recs: &'a [Rec<T>],
    extras: &'a [Extra<T>],
    scalars: &'a mut [Complex<T>],
    arrays: &'a mut [Option<Vec<Complex<T>>>],
    /// Adjoints held as a multiple of a stored value (at most one of `arrays[e]`, `scaled[e]`).
    scaled: &'a mut [Option<Scaled<T>>],
    /// Elements of adjoint arrays alive now, for [`MemoryUsage`].
    live: &'a mut usize,
    /// The node whose VJP runs.
    node: &'a Extra<T>,
}

impl<'a, T: Real> Accum<'a, T> {
    /// The accumulator for the VJP of node `x`, over the walk's adjoints.
    fn new(
        x: &'a Extra<T>,
        recs: &'a [Rec<T>],
        extras: &'a [Extra<T>],
        scalars: &'a mut [Complex<T>],
        arrays: &'a mut [Option<Vec<Complex<T>>>],
        scaled: &'a mut [Option<Scaled<T>>],
        live: &'a mut usize,
    ) -> Self {
        Accum {
            inputs: &x.inputs,
            recs,
            extras,
            scalars,
            arrays,
            scaled,
            live,
            node: x,
        }
    }

    /// The accumulator of array input `k` (zeros on first use), or `None` when that input does not
    /// depend on any leaf and needs no adjoint.
    pub(crate) fn array(&mut self, k: usize) -> Option<&mut [Complex<T>]> {
        let id = self.inputs[k] as usize;
        let node = &self.recs[id].node;
        if !node.grad {
            return None;
        }
        let e = node.at as usize;
        self.settle(e);
        let len = match &self.extras[e].value {
            Some(v) if matches!(node.kind, Kind::ArrayLeaf | Kind::Vjp) => v.len(),
            _ => panic!("wirtinger: internal error: input {k} of a VJP is not an array"),
        };
        let live = &mut *self.live;
        Some(self.arrays[e].get_or_insert_with(|| {
            *live += len;
            let mut v = take_buffer(len);
            v.resize(len, Complex::new(T::zero(), T::zero()));
            v
        }))
    }

    /// The adjoint of array input `k` if it exists already (a share has been added into it).
    pub(crate) fn existing_array(&mut self, k: usize) -> Option<&mut [Complex<T>]> {
        let node = &self.recs[self.inputs[k] as usize].node;
        if !node.grad {
            return None;
        }
        let e = node.at as usize;
        self.settle(e);
        self.arrays[e].as_deref_mut()
    }

    /// Turns a [`Scaled`] adjoint of extra `e` into an array (nothing if it has none).
    fn settle(&mut self, e: usize) {
        if let Some(s) = self.scaled[e].take() {
            *self.live += settle(self.extras, &mut self.arrays[e], s);
        }
    }

    /// Adds `by` times the value of input `m` into the adjoint of input `k`; when that adjoint
    /// does not exist yet, it is kept as that pair and no array is written ([`reuse`]).
    pub(crate) fn give_input_value(&mut self, k: usize, by: Complex<T>, m: usize) {
        let of = self.recs[self.inputs[m] as usize].node.at;
        self.give_value(k, by, of);
    }

    /// [`give_input_value`](Self::give_input_value) of the value of extra `of`.
    fn give_value(&mut self, k: usize, by: Complex<T>, of: u32) {
        let node = &self.recs[self.inputs[k] as usize].node;
        if !node.grad {
            return;
        }
        let e = node.at as usize;
        match (&mut self.arrays[e], &mut self.scaled[e]) {
            (Some(g), _) => add_scaled(g, by, self.extras, of),
            (None, Some(s)) if s.of == of => s.by += by,
            (None, Some(_)) => {
                self.settle(e);
                let g = self.arrays[e].as_mut().expect("settled");
                add_scaled(g, by, self.extras, of);
            }
            (None, slot @ None) => *slot = Some(Scaled { by, of }),
        }
    }

    /// The VJP that the running node computed with its value, if it has one not used yet.
    pub(crate) fn take_early(&mut self) -> Option<Early<T>> {
        self.node.early.borrow_mut().take()
    }

    /// An empty buffer with room for `n` elements (from this thread's pool when one fits).
    pub(crate) fn buffer(&self, n: usize) -> Vec<Complex<T>> {
        take_buffer(n)
    }

    /// Whether input `k` needs an adjoint (it depends on a leaf).
    pub(crate) fn wants(&self, k: usize) -> bool {
        self.recs[self.inputs[k] as usize].node.grad
    }

    /// Adds `buf` into the adjoint of array input `k`; when that adjoint does not exist yet, `buf`
    /// becomes it (no copy, no allocation). A buffer not kept (added, or not wanted) goes back to
    /// this thread's pool.
    pub(crate) fn give(&mut self, k: usize, buf: Vec<Complex<T>>) {
        self.give_scaled(k, buf, None);
    }

    /// [`give`](Self::give) of `buf` times `f` (when given), in the same pass: scaled in place
    /// when it becomes the adjoint, scaled on the way when added. A buffer not kept goes back to
    /// the pool.
    pub(crate) fn give_scaled(&mut self, k: usize, mut buf: Vec<Complex<T>>, f: Option<T>) {
        let id = self.inputs[k] as usize;
        if !self.recs[id].node.grad {
            recycle(buf);
            return;
        }
        let e = self.recs[id].node.at as usize;
        self.settle(e);
        match &mut self.arrays[e] {
            Some(g) => {
                match f {
                    None => crate::parallel::update(g, &buf, |g, b| *g += b),
                    Some(f) => crate::parallel::update(g, &buf, |g, b| *g += b.scale(f)),
                }
                recycle(buf);
            }
            slot @ None => {
                if let Some(f) = f {
                    crate::parallel::scale(&mut buf, f);
                }
                *self.live += buf.len();
                *slot = Some(buf)
            }
        }
    }

    /// Adds `f(x)`, for each element `x` of `src`, into the adjoint of array input `k` (when it
    /// needs one): in place when that adjoint exists, else written into a buffer that becomes it
    /// (not zeroed and then added to).
    pub(crate) fn add_each<F>(&mut self, k: usize, src: &[Complex<T>], f: F)
    where
        F: Fn(Complex<T>) -> Complex<T> + Sync + Send,
    {
        if !self.wants(k) {
            return;
        }
        if let Some(g) = self.existing_array(k) {
            crate::parallel::update(g, src, |g, &x| *g += f(x));
            return;
        }
        let mut buf = take_buffer_len(src.len());
        crate::parallel::update(&mut buf, src, |g, &x| *g = f(x));
        self.give(k, buf);
    }

    /// The accumulator of scalar input `k`, or `None` when it needs no adjoint.
    pub(crate) fn scalar(&mut self, k: usize) -> Option<&mut Complex<T>> {
        let id = self.inputs[k] as usize;
        if self.recs[id].node.grad {
            Some(&mut self.scalars[id])
        } else {
            None
        }
    }

    /// The FFT plans (process-wide, made once per length and direction).
    pub(crate) fn fft(&self) -> &'static FftPlans<T> {
        FftPlans::global()
    }
}

/// A tape of complex scalars and arrays: the computational graph of reverse mode.
///
/// The forward pass records every operation with the indices of its inputs and the partials the
/// [`rules`](crate::rules) table gives; [`Var::backward`](super::Var::backward) walks it once in
/// reverse, each edge adding its share into the adjoint of its input. Every method takes `&self`:
/// values borrow the tape, and leaves and ops may be added after a backward pass.
///
/// Memory: a scalar node is one 64-byte record (`f64`; 40 bytes for `f32`) holding its inputs,
/// its value and up to two partials, after one capacity check and with no allocation; a binary
/// op that is not holomorphic (`chain2`) keeps its two `g_ā` partials in 32 more bytes. An array
/// op holds its output array (its reverse rule re-evaluates the rules table at the input values
/// rather than storing partials); real array leaves and constants are stored as real numbers.
///
/// The backward walk of scalar ops uses fused multiply-adds on x86-64 CPUs that have AVX2 and
/// FMA (detected at run time), so gradients can differ in the last bits from those computed on
/// a CPU without them; on one machine they are the same from run to run.
///
/// When a tape is dropped or [`clear`](Self::clear)ed, and when a
/// [`Gradients`] is dropped, their buffers are kept for the next tape on the same thread (at
/// most 32 array buffers and 1 GiB per float type, plus one set of node vectors), so a loss
/// rebuilt every iteration does not map fresh memory each time;
/// [`release_buffers`] frees them.
///
/// ```
/// use wirtinger::prelude::*;
///
/// let tape = Tape::new();
/// let z = tape.var(c64(3.0, 4.0));
/// let l = z.norm_sqr();
/// let g = l.backward();
/// assert_eq!(g.dz(&z), c64(3.0, -4.0));
/// assert_eq!(g.dzbar(&z), c64(3.0, 4.0));
/// assert_eq!(g.grad(&z), c64(6.0, 8.0));
/// ```
pub struct Tape<T: Real = f64> {
    /// A number no other tape (and no earlier state of this one, before a `clear`) has had, so
    /// that `Gradients` can tell its own tape from any other.
    pub(crate) id: u64,
    pub(crate) graph: RefCell<Graph<T>>,
    pub(crate) extras: RefCell<Vec<Extra<T>>>,
}

impl<T: Real> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Real> core::fmt::Debug for Tape<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Tape {{ nodes: {} }}", self.len())
    }
}

impl<T: Real> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        // The node storage of the last tape dropped on this thread, if it had the same float type:
        // a loss rebuilt on a fresh tape every iteration then grows no vectors.
        let spare = SPARE
            .try_with(|s| s.borrow_mut().take())
            .ok()
            .flatten()
            .and_then(|b| b.downcast::<Storage<T>>().ok());
        let st = spare.map_or_else(Storage::default, |b| *b);
        Tape {
            id: next_tape_id(),
            graph: RefCell::new(st.graph),
            extras: RefCell::new(st.extras),
        }
    }

    /// The number of nodes recorded (an array op is one node).
    pub fn len(&self) -> usize {
        self.graph.borrow().recs.len()
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every node, keeping the allocated buffers, so the tape can be refilled (for example
    /// once per optimizer iteration). Needs `&mut self`, so no value of the old graph survives it.
    pub fn clear(&mut self) {
        self.id = next_tape_id();
        self.graph.get_mut().clear();
        recycle_extras(self.extras.get_mut());
    }

    /// Records a scalar leaf or constant (`grad`: whether it needs an adjoint, as a leaf does)
    /// and returns its index.
    pub(crate) fn push_scalar(
        &self,
        name: Name,
        kind: Kind,
        value: Complex<T>,
        real: bool,
        grad: bool,
    ) -> u32 {
        let node = Node {
            inputs: [NONE; 2],
            at: 0,
            kind,
            real,
            grad,
            name: Some(name),
        };
        let zero = Complex::new(T::zero(), T::zero());
        self.graph.borrow_mut().push(Rec {
            node,
            value,
            p: [zero; 2],
        })
    }

    /// Records a node with a payload (its name in `extra`, and `value` if it is a scalar) and
    /// returns its index.
    pub(crate) fn push_extra(
        &self,
        kind: Kind,
        value: Complex<T>,
        real: bool,
        extra: Extra<T>,
    ) -> u32 {
        let mut g = self.graph.borrow_mut();
        let grad = match kind {
            Kind::ArrayLeaf => true,
            Kind::ArrayConstant => false,
            _ => extra.inputs.iter().any(|&i| g.recs[i as usize].node.grad),
        };
        let e = {
            let mut extras = self.extras.borrow_mut();
            extras.push(extra);
            extras.len() - 1
        };
        let node = Node {
            // There are no more extras than nodes, so `e < LIMIT` once the record is pushed.
            at: e as u32,
            inputs: [NONE; 2],
            kind,
            real,
            grad,
            name: None,
        };
        let zero = Complex::new(T::zero(), T::zero());
        g.push(Rec {
            node,
            value,
            p: [zero; 2],
        })
    }

    /// Records a scalar op with one or two inputs `(index, g_a, g_ā)` (constants included, so
    /// the picture of the graph shows them; `grad` says whether any input needs an adjoint).
    /// Inlined into each op, where it is known which inputs and partials there are: one record
    /// written after one capacity check.
    #[inline(always)]
    pub(crate) fn push_op(
        &self,
        name: Name,
        value: Complex<T>,
        real: bool,
        grad: bool,
        parts: [Option<Part<T>>; 2],
    ) -> u32 {
        let mut g = self.graph.borrow_mut();
        let zero = Complex::new(T::zero(), T::zero());
        let mut at = 0;
        // `conj(g_a)` of each input first, as the walk multiplies by it.
        let (kind, inputs, p) = match parts {
            [Some((a, da, None)), None] => (Kind::Unary, [a, NONE], [da.conj(), zero]),
            [Some((a, da, Some(dac))), None] => (Kind::UnaryConj, [a, NONE], [da.conj(), dac]),
            [Some((a, da, None)), Some((b, db, None))] => {
                (Kind::Binary, [a, b], [da.conj(), db.conj()])
            }
            [Some((a, da, dac)), Some((b, db, dbc))] => {
                // Counted in pairs: there are fewer pairs than nodes, so `at < LIMIT`.
                at = (g.conj.len() / 2) as u32;
                g.conj.push(dac.unwrap_or(zero));
                g.conj.push(dbc.unwrap_or(zero));
                (Kind::BinaryConj, [a, b], [da.conj(), db.conj()])
            }
            [None, _] => unreachable!("a scalar op records its first input first"),
        };
        let node = Node {
            inputs,
            at,
            kind,
            real,
            grad,
            name: Some(name),
        };
        g.push(Rec { node, value, p })
    }

    /// Marks array node `id` as the linear map `linear` of its inputs ([`reuse`]).
    pub(crate) fn set_linear(&self, id: u32, linear: Linear) {
        let at = self.node(id).extra as usize;
        self.extras.borrow_mut()[at].linear = Some(linear);
    }

    /// The value and name of node `id`.
    pub(crate) fn info(&self, id: u32) -> Info<T> {
        info_of(&self.graph.borrow(), &self.extras.borrow(), id)
    }

    pub(crate) fn node(&self, id: u32) -> NodeInfo {
        let n = self.graph.borrow().recs[id as usize].node;
        NodeInfo {
            kind: n.kind,
            real: n.real,
            grad: n.grad,
            extra: if n.name.is_some() { NONE } else { n.at },
        }
    }

    pub(crate) fn extras(&self) -> Ref<'_, Vec<Extra<T>>> {
        self.extras.borrow()
    }

    /// The reverse walk from node `out`, seeded with the conjugate cotangent `seed`. Returns the
    /// adjoints of every scalar node and of every array leaf: `seed / ∂L/∂L̄` times `∂L/∂b̄`
    /// (see [`backward_from`](Self::backward_from) for the seeds).
    pub(crate) fn walk(&self, out: u32, seed: Complex<T>) -> Adjoints<T> {
        let g = self.graph.borrow();
        let (recs, conj) = (&g.recs[..], &g.conj[..]);
        let extras = self.extras.borrow();
        let zero = Complex::new(T::zero(), T::zero());
        let n = out as usize + 1;
        let mut scalars = take_buffer(n);
        scalars.resize(n, zero);
        let mut arrays: Vec<Option<Vec<Complex<T>>>> = Vec::new();
        arrays.resize_with(extras.len(), || None);
        let mut scaled: Vec<Option<Scaled<T>>> = vec![None; extras.len()];
        scalars[out as usize] = seed;
        let (mut live, mut peak) = (0usize, 0usize);
        let mut i = n;
        while i > 0 {
            i -= 1;
            let node = &recs[i].node;
            if !node.grad {
                continue;
            }
            match node.kind {
                Kind::Unary | Kind::UnaryConj | Kind::Binary | Kind::BinaryConj => {
                    i = op_run_best(recs, conj, &mut scalars, i);
                }
                Kind::Vjp => {
                    let x = &extras[node.at as usize];
                    let Some(vjp) = &x.vjp else { continue };
                    // Scalar outputs keep their adjoint in `scalars`, arrays in `arrays`; an
                    // intermediate array's adjoint is moved out (and so freed or reused) here.
                    let at = node.at as usize;
                    if let Some(sc) = scaled[at] {
                        // Passed on as a multiple of another stored value when the node's map
                        // allows it ([`reuse`]); else made an array for the VJP.
                        let on =
                            reuse::pass_on(&extras, at as u32, sc, |id| recs[id as usize].node.at);
                        if let Some((k, by, of)) = on {
                            scaled[at] = None;
                            let (ar, sc) = (&mut arrays[..], &mut scaled[..]);
                            Accum::new(x, recs, &extras, &mut scalars, ar, sc, &mut live)
                                .give_value(k, by, of);
                            peak = peak.max(live);
                            continue;
                        }
                        scaled[at] = None;
                        live += settle(&extras, &mut arrays[at], sc);
                    }
                    let mut taken = 0;
                    let c_out = if x.value.is_some() {
                        match arrays[at].take() {
                            Some(v) => {
                                taken = v.len();
                                v
                            }
                            None => continue,
                        }
                    } else {
                        if scalars[i] == zero {
                            continue;
                        }
                        vec![scalars[i]]
                    };
                    let (ar, sc) = (&mut arrays[..], &mut scaled[..]);
                    vjp(
                        c_out,
                        &mut Accum::new(x, recs, &extras, &mut scalars, ar, sc, &mut live),
                    );
                    // The output's adjoint is alive until its VJP has run.
                    peak = peak.max(live);
                    live -= taken;
                }
                Kind::Leaf | Kind::Constant | Kind::ArrayLeaf | Kind::ArrayConstant => {}
            }
        }
        // Leaves' adjoints still held as multiples of stored values become arrays.
        for (e, sc) in scaled.into_iter().enumerate() {
            if let Some(sc) = sc {
                live += settle(&extras, &mut arrays[e], sc);
            }
        }
        peak = peak.max(live);
        let elem = core::mem::size_of::<Complex<T>>();
        let peak_bytes = (peak + scalars.len()) * elem;
        Adjoints {
            scalars,
            arrays,
            peak_bytes,
        }
    }

    /// The bytes this tape holds now: its records and the array values of its nodes (each shared
    /// array counted once). See [`MemoryUsage`].
    pub fn memory(&self) -> MemoryUsage {
        let elem = core::mem::size_of::<Complex<T>>();
        let g = self.graph.borrow();
        let graph = g.recs.len() * core::mem::size_of::<Rec<T>>()
            + g.conj.len() * elem
            + self.extras.borrow().len() * core::mem::size_of::<Extra<T>>();
        let mut seen = std::collections::HashSet::new();
        let values = self
            .extras
            .borrow()
            .iter()
            .filter_map(|x| x.value.as_ref())
            .filter(|v| seen.insert(v.addr()))
            .map(Values::bytes)
            .sum();
        // Adjoints computed early, with their values (see `VarArray::sum`), held until backward.
        let adjoints = self
            .extras
            .borrow()
            .iter()
            .filter_map(|x| x.early.borrow().as_ref().map(Early::bytes))
            .sum();
        MemoryUsage {
            graph,
            values,
            adjoints,
        }
    }

    /// Backward from a scalar node: one pass for a real output, two (on `Re f` and `Im f`) for a
    /// complex one.
    ///
    /// A real output `L` is walked from the seed `1 = 2 ∂L/∂L̄`, so that every adjoint is
    /// `2 ∂L/∂b̄` and a leaf's is its gradient as it stands, with no pass to double it (a
    /// gradient can then be lent without a copy, [`Gradients::grad_ref`]). The walks of a
    /// complex `f` start from `½` and `i/2`, `∂Re f/∂f̄` and `∂Im f/∂f̄`, and give `∂/∂b̄` itself.
    /// Doubling the seed doubles every product and sum of the walk, which is exact in floating
    /// point short of overflow and of subnormal results: `∂L/∂b̄` is the halved adjoint, bit for
    /// bit, as long as custom VJPs are homogeneous in their cotangent (as linear maps are).
    pub(crate) fn backward_from(&self, out: u32) -> Gradients<T> {
        let node = self.node(out);
        let half = T::from_f64c(0.5);
        let (re, im) = if node.real {
            (self.walk(out, Complex::new(T::one(), T::zero())), None)
        } else {
            let re = self.walk(out, Complex::new(half, T::zero()));
            (re, Some(self.walk(out, Complex::new(T::zero(), half))))
        };
        Gradients::new(self, out, re, im)
    }
}

/// Makes the adjoint `s` an array: added into `slot` when that holds one, else a new array
/// there. Returns the elements newly alive.
fn settle<T: Real>(extras: &[Extra<T>], slot: &mut Option<Vec<Complex<T>>>, s: Scaled<T>) -> usize {
    if let Some(g) = slot {
        add_scaled(g, s.by, extras, s.of);
        return 0;
    }
    let by = s.by;
    let g = match value_of(extras, s.of) {
        Values::Complex(v) => {
            let mut g = take_buffer(v.len());
            crate::parallel::map_into(&mut g, v, |&x| x * by);
            g
        }
        Values::Real(r) => {
            let mut g = take_buffer(r.len());
            crate::parallel::map_into(&mut g, r.as_slice(), |&x| by.scale(x));
            g
        }
    };
    let n = g.len();
    *slot = Some(g);
    n
}

/// `g += by · (the value of extra of)`.
fn add_scaled<T: Real>(g: &mut [Complex<T>], by: Complex<T>, extras: &[Extra<T>], of: u32) {
    match value_of(extras, of) {
        Values::Complex(v) => crate::parallel::update(g, v, |g, &x| *g += x * by),
        Values::Real(r) => crate::parallel::update(g, r.as_slice(), |g, &x| *g += by.scale(x)),
    }
}

fn value_of<T: Real>(extras: &[Extra<T>], of: u32) -> &Values<T> {
    extras[of as usize]
        .value
        .as_ref()
        .expect("wirtinger: internal error: a scaled adjoint of a node without an array value")
}

/// `n + a·c.re + b·c.im`, the share of an edge added into an adjoint `n`: the map
/// `c ↦ conj(g_a) c + g_ā c̄` of an edge is real-linear, `a` and `b` are its columns
/// ([`columns`]). With `FMA`, two fused multiply-adds per part: the chain of adjoints along a
/// long expression waits for two of them per link, rather than a product and two sums. Their
/// order is chosen so that a holomorphic edge (`b = i a`) gives exactly `i` times its share
/// for `i c`, as the unfused product does: the walks of `Re f` and `Im f` then agree exactly
/// where they should, and a derivative that is zero (`∂f/∂z̄` of a holomorphic `f`) comes out
/// exactly zero rather than as rounding.
#[inline(always)]
fn share<T: Real, const FMA: bool>(
    n: Complex<T>,
    a: Complex<T>,
    b: Complex<T>,
    c: Complex<T>,
) -> Complex<T> {
    if FMA {
        Complex::new(
            b.re.mul_add(c.im, a.re.mul_add(c.re, n.re)),
            a.im.mul_add(c.re, b.im.mul_add(c.im, n.im)),
        )
    } else {
        Complex::new(
            n.re + (a.re * c.re + b.re * c.im),
            n.im + (a.im * c.re + b.im * c.im),
        )
    }
}

/// The columns `(a, b)` of the real-linear map `c ↦ p c + q c̄` (`p = conj(g_a)`, `q = g_ā`):
/// its values at `c = 1` and `c = i`. For a holomorphic edge (`q = 0`), `b = i p`, and
/// [`share`] computes `n + p c` with the same roundings as the complex product.
#[inline(always)]
fn columns<T: Real>(p: Complex<T>, q: Option<Complex<T>>) -> (Complex<T>, Complex<T>) {
    match q {
        None => (p, Complex::new(-p.im, p.re)),
        Some(q) => (p + q, Complex::new(q.im - p.im, p.re - q.re)),
    }
}

/// The backward walk through a run of scalar ops that ends at node `i` (an op that needs an
/// adjoint): adds each op's shares into the adjoints of its inputs, going back as long as the
/// node before is an op that needs one too. Returns the index of the first op of the run.
///
/// Each op hands the adjoint of node `i − 1` on in a register: the chain of a long expression
/// then does not wait for a store-to-load round trip through `scalars` at every link. What goes
/// to node `i − 1` is summed in `next`, in the same order as through `scalars`.
#[inline(always)]
fn op_run<T: Real, const FMA: bool>(
    recs: &[Rec<T>],
    conj: &[Complex<T>],
    scalars: &mut [Complex<T>],
    mut i: usize,
) -> usize {
    assert!(i < recs.len() && i < scalars.len() && recs[i].node.kind.is_op());
    let zero = Complex::new(T::zero(), T::zero());
    let s = scalars.as_mut_ptr();
    // SAFETY, for every unchecked access below. The tape records an op only with inputs it
    // recorded before (a `Var` is an index into its own tape: ops between two tapes panic, and
    // `Tape::clear` needs `&mut`, so no `Var` outlives it), so an op's inputs and `i − 1` are
    // below `i`, which is below `recs.len()` and `scalars.len()` (asserted above; `i` only
    // decreases). `push_op` wrote the pair of `g_ā, g_b̄` of a binary non-holomorphic op to
    // `conj[2 at..]`.
    let at = |k: u32| -> *mut Complex<T> { unsafe { s.add(k as usize) } };
    let mut c = unsafe { *at(i as u32) };
    loop {
        let r = unsafe { recs.get_unchecked(i) };
        let node = r.node;
        let [a, b] = node.inputs;
        debug_assert!((a as usize) < i && (b == NONE || (b as usize) < i));
        let prev = i - 1;
        let mut next = unsafe { *at(prev as u32) };
        if c != zero {
            // Into the adjoint of input `$a`: `next` when that is node `i − 1`, else through
            // `scalars`. Selects of values rather than an `if`/`else` of two adds, which leads the
            // compiler to add through a selected pointer and keep `next` in memory.
            macro_rules! add {
                ($a:expr, $cols:expr) => {{
                    let (ca, cb) = $cols;
                    let hit = $a as usize == prev;
                    let old = unsafe { *at($a) };
                    let new = share::<T, FMA>(if hit { next } else { old }, ca, cb, c);
                    next = if hit { new } else { next };
                    if !hit {
                        unsafe { *at($a) = new };
                    }
                }};
            }
            match node.kind {
                Kind::Unary => add!(a, columns(r.p[0], None)),
                Kind::UnaryConj => add!(a, columns(r.p[0], Some(r.p[1]))),
                Kind::Binary => {
                    add!(a, columns(r.p[0], None));
                    add!(b, columns(r.p[1], None));
                }
                _ => {
                    let q = |k: usize| unsafe { *conj.get_unchecked(2 * node.at as usize + k) };
                    add!(a, columns(r.p[0], Some(q(0))));
                    add!(b, columns(r.p[1], Some(q(1))));
                }
            }
            unsafe { *at(prev as u32) = next };
        }
        let p = unsafe { &recs.get_unchecked(prev).node };
        if !(p.grad && p.kind.is_op()) {
            return i;
        }
        i = prev;
        c = next;
    }
}

/// [`op_run`] compiled for AVX2 and FMA: the three-operand forms of the vector instructions save
/// the register copies of the complex products, and fused multiply-adds shorten the chain of
/// adjoints (see [`share`]). The fused roundings make results differ from those of the generic
/// build in the last bits.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn op_run_fma<T: Real>(
    recs: &[Rec<T>],
    conj: &[Complex<T>],
    scalars: &mut [Complex<T>],
    i: usize,
) -> usize {
    op_run::<T, true>(recs, conj, scalars, i)
}

/// [`op_run`], with fused multiply-adds where the CPU has AVX2 and FMA (detected at run time;
/// std caches the answer).
fn op_run_best<T: Real>(
    recs: &[Rec<T>],
    conj: &[Complex<T>],
    scalars: &mut [Complex<T>],
    i: usize,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, just checked.
        return unsafe { op_run_fma(recs, conj, scalars, i) };
    }
    op_run::<T, false>(recs, conj, scalars, i)
}

/// The value and name of node `id`.
pub(crate) fn info_of<T: Real>(g: &Graph<T>, extras: &[Extra<T>], id: u32) -> Info<T> {
    let r = &g.recs[id as usize];
    let name = match r.node.name {
        Some(name) => name.as_str(),
        None => extras[r.node.at as usize].name,
    };
    Info {
        value: r.value,
        name,
    }
}

/// How many buffers, and how many bytes in all, a thread keeps for reuse.
const POOL_LIMIT: usize = 32;
const POOL_BYTES: usize = 1 << 30;

/// Empties `extras`, keeping their array values for reuse. The VJP closures go first: they hold
/// shares of the values of earlier nodes (a fused expression holds its input arrays), which would
/// otherwise still be shared when those values are looked at, and then be freed instead of kept.
fn recycle_extras<T: Real>(extras: &mut Vec<Extra<T>>) {
    for x in extras.iter_mut() {
        x.vjp = None;
    }
    for x in extras.drain(..) {
        if let Some(v) = x.value {
            v.recycle();
        }
        if let Some(e) = x.early.into_inner() {
            e.recycle();
        }
    }
}

/// Buffers this much smaller than the request are not worth a pooled buffer: a fresh one costs
/// little, and a large pooled buffer is kept for a large request.
const SMALL: usize = 1 << 12;

/// The smallest pooled buffer with room for `n` elements (and not more than twice that, unless
/// both are small), as it was recycled.
fn pooled<T: Real>(n: usize) -> Option<Vec<Complex<T>>> {
    T::buffer_pool().with(|pool| {
        let mut pool = pool.borrow_mut();
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= n && v.capacity() <= 2 * n.max(SMALL))
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        best.map(|i| pool.swap_remove(i))
    })
}

/// An empty buffer with room for `n` elements: a pooled one when one fits, or a new one.
pub(crate) fn take_buffer<T: Real>(n: usize) -> Vec<Complex<T>> {
    match pooled(n) {
        Some(mut v) => {
            v.clear();
            v
        }
        None => crate::pages::with_capacity(n),
    }
}

/// A buffer of `n` elements whose contents are unspecified (left from earlier use, or zeros), for
/// a caller that overwrites every element: the part of a pooled buffer in use before is not
/// written again.
pub(crate) fn take_buffer_len<T: Real>(n: usize) -> Vec<Complex<T>> {
    let mut v = pooled(n).unwrap_or_else(|| crate::pages::with_capacity(n));
    v.truncate(n);
    v.resize(n, Complex::new(T::zero(), T::zero()));
    if cfg!(debug_assertions) {
        // Whatever it holds is not to be read: in tests, an element read before it is written
        // shows up as NaN, on every thread and every run, not only when the pool held NaN.
        v.fill(Complex::new(T::nan(), T::nan()));
    }
    v
}

/// Keeps a no longer needed array buffer for reuse on this thread (within the pool's limits), so
/// that a loss rebuilt on a fresh tape every iteration does not map and fault in fresh memory.
pub(crate) fn recycle<T: Real>(v: Vec<Complex<T>>) {
    if v.capacity() == 0 {
        return;
    }
    // `try_with`: during thread teardown the pool may be gone; then the buffer is simply freed.
    let _ = T::buffer_pool().try_with(|pool| {
        let mut pool = pool.borrow_mut();
        let bytes: usize =
            pool.iter().map(|b| b.capacity()).sum::<usize>() * core::mem::size_of::<Complex<T>>();
        if pool.len() < POOL_LIMIT
            && bytes + v.capacity() * core::mem::size_of::<Complex<T>>() <= POOL_BYTES
        {
            pool.push(v);
        }
    });
}

/// Frees the buffers this thread keeps for reuse: array buffers of dropped or cleared tapes and
/// dropped [`Gradients`] (at most 32 buffers and 1 GiB per float type), and the node storage of
/// the last tape dropped. (With the `parallel` feature, rayon's worker threads keep the scratch
/// of the fused passes they ran, a few kilobytes each; this does not reach those.)
pub fn release_buffers() {
    let _ = SPARE.try_with(|s| s.borrow_mut().take());
    let _ = f64::buffer_pool().try_with(|p| p.borrow_mut().clear());
    let _ = f32::buffer_pool().try_with(|p| p.borrow_mut().clear());
}

/// The (emptied) node vectors of a tape, kept for the next tape of this thread.
struct Storage<T: Real> {
    graph: Graph<T>,
    extras: Vec<Extra<T>>,
}

impl<T: Real> Default for Storage<T> {
    fn default() -> Self {
        Storage {
            graph: Graph::default(),
            extras: Vec::new(),
        }
    }
}

thread_local! {
    /// One spare `Storage<T>` (of whichever float type was dropped last).
    static SPARE: RefCell<Option<Box<dyn core::any::Any>>> = const { RefCell::new(None) };
}

impl<T: Real> Drop for Tape<T> {
    fn drop(&mut self) {
        recycle_extras(self.extras.get_mut());
        let mut st = Storage {
            graph: core::mem::take(self.graph.get_mut()),
            extras: core::mem::take(self.extras.get_mut()),
        };
        st.graph.clear();
        let _ = SPARE.try_with(|s| *s.borrow_mut() = Some(Box::new(st)));
    }
}

fn next_tape_id() -> u64 {
    static NEXT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed)
}

/// The result of one reverse walk.
#[derive(Clone, Debug)]
pub(crate) struct Adjoints<T> {
    /// `2 ∂L/∂b̄` for a real output `L`; `∂Re f/∂b̄` or `∂Im f/∂b̄` for a complex `f`.
    pub scalars: Vec<Complex<T>>,
    pub arrays: Vec<Option<Vec<Complex<T>>>>,
    /// The most bytes of adjoints alive at once during the walk.
    pub peak_bytes: usize,
}

/// Bytes held for a gradient, from [`Tape::memory`] (the graph and its values) or
/// [`Gradients::memory`] (the same at the backward pass, plus the adjoints).
///
/// Counts the data, not allocator overhead or spare capacity, nor the short-lived scratch buffers
/// of FFTs and VJPs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// The node records: inputs, partials, scalar values and names, array shapes.
    pub graph: usize,
    /// The array values the nodes hold (leaves, constants and intermediate results), each shared
    /// array once.
    pub values: usize,
    /// The most adjoint bytes alive at once during the backward pass (scalar adjoints and array
    /// adjoints; the array adjoint of an intermediate result is freed once its VJP has run). For
    /// a complex output, the larger of its two passes. From [`Tape::memory`]: the adjoint
    /// arrays computed ahead of the backward pass (a real sum computes its VJP with its value,
    /// see [`VarArray::sum`](super::VarArray::sum)), 0 when there are none.
    pub adjoints: usize,
}

impl MemoryUsage {
    /// `graph + values + adjoints`.
    pub fn total(&self) -> usize {
        self.graph + self.values + self.adjoints
    }
}

#[cfg(test)]
mod tests {
    use super::{grow_to, op_run, op_run_best, Tape};
    use num_complex::Complex64 as C;

    /// Every kind of scalar op, holomorphic and not, unary and binary, with inputs next to the
    /// op and far from it; the walk of one run of ops over all of them, in both builds.
    #[test]
    fn the_walk_of_a_run_covers_every_kind_of_op_and_both_builds_agree() {
        let tape: Tape = Tape::new();
        let z = tape.var(C::new(0.3, -0.7));
        let w = tape.var(C::new(1.1, 0.4));
        let mut x = z;
        for k in 0..50 {
            let a = x * w + x.conj() * 0.5;
            let b = (a.norm_sqr() * -0.1).exp() * a;
            let v = b.value();
            // A binary op with `g_ā` partials (`BinaryConj`): b·x̄.
            x = b.chain2(
                x,
                v * x.value().conj(),
                (x.value().conj(), C::new(0.0, 0.0)),
                (C::new(0.0, 0.0), v),
            );
            // Keeps |x| near 1, so that no adjoint vanishes.
            x = x / (x.norm() + 0.1);
            if k % 7 == 0 {
                x = x.sin() + z;
            }
        }
        let loss = x.norm_sqr();
        let g = tape.graph.borrow();
        let n = loss.id as usize + 1;
        let mut seeded = vec![C::new(0.0, 0.0); n];
        seeded[n - 1] = C::new(0.5, 0.0);
        let (mut plain, mut best) = (seeded.clone(), seeded.clone());
        // The run goes back to the first op, just after the two leaves.
        assert_eq!(op_run::<f64, false>(&g.recs, &g.conj, &mut plain, n - 1), 2);
        assert_eq!(op_run_best(&g.recs, &g.conj, &mut best, n - 1), 2);
        drop(g);
        // `backward` walks with the best build for this CPU.
        let gr = loss.backward();
        assert_eq!(gr.dzbar(&z), best[0]);
        assert_eq!(gr.dzbar(&w), best[1]);
        // The generic and the fused builds agree to rounding (they are the same build without
        // FMA).
        for k in 0..n {
            let (p, b) = (plain[k], best[k]);
            assert!(
                (p - b).norm() <= 1e-13 * p.norm().max(1e-300),
                "node {k}: {p} vs {b}"
            );
        }
        assert!(plain[0].norm() > 1e-3 && plain[1].norm() > 1e-3);
    }

    #[test]
    fn growth_stops_at_the_limit() {
        let mut v: Vec<u8> = Vec::new();
        grow_to(&mut v, 5, 100);
        assert!(v.capacity() >= 64 && v.capacity() <= 100);
        v.resize(v.capacity(), 0);
        grow_to(&mut v, 5, 100);
        assert_eq!(v.capacity(), 100, "capped, not doubled");
        v.resize(96, 0);
        // Room for 4 more, not for 5: full.
        let full = std::panic::catch_unwind(move || grow_to(&mut v, 5, 100));
        let msg = *full.unwrap_err().downcast::<&str>().unwrap();
        assert!(msg.contains("tape is full"), "{msg}");
    }
}
