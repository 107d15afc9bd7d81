//! The tape: the explicit computational graph, its nodes and the backward walk.

use super::fused::Early;
use super::grads::Gradients;
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

/// One node of the tape as the backward walk reads it: 16 bytes, whatever the float type. A
/// scalar node's value and the partials of a scalar op follow each other in `Graph::data`
/// (the value, then one complex number per input, two per input of a non-holomorphic op), so
/// that recording an op makes two pushes, each with one capacity check. No allocation per scalar
/// op. Array and closure nodes keep their payload in `Tape::extras`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    /// Indices of a scalar op's inputs, `NONE` where there are fewer than two.
    pub inputs: [u32; 2],
    /// A scalar op, leaf or constant: the index in `Graph::data` of its value (its partials
    /// follow). An array or closure node: its index in `Tape::extras`.
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

// The walk reads one node per op: keep it at 16 bytes.
const _: () = assert!(core::mem::size_of::<Node>() == 16);

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
    pub nodes: Vec<Node>,
    /// Per scalar node, its value; per scalar op, then its partials as the walk multiplies by
    /// them: `conj(g_a)` of each input, then, for a non-holomorphic op, `g_ā` of each input.
    pub data: Vec<Complex<T>>,
}

impl<T> Default for Graph<T> {
    fn default() -> Self {
        Graph {
            nodes: Vec::new(),
            data: Vec::new(),
        }
    }
}

/// The most complex numbers of data a scalar op records: its value and four partials.
const OP_DATA: usize = 5;

/// The most nodes, and the most complex numbers of data, a tape holds: indices are `u32`, and
/// `NONE` is no index. [`Graph::grow`] keeps both capacities within it, so that a capacity
/// check is also the check of the index range.
const LIMIT: usize = NONE as usize;

/// Writes `vals` after the last element of `v`.
///
/// # Safety
/// `v` must have room for them: `v.capacity() - v.len() >= N` ([`Graph::room`]).
#[inline(always)]
unsafe fn append<X: Copy, const N: usize>(v: &mut Vec<X>, vals: [X; N]) {
    let len = v.len();
    debug_assert!(v.capacity() - len >= N);
    // SAFETY: the `N` elements after `len` are within the allocation (the caller's promise),
    // `X: Copy` needs no drop, and all of them are written before `set_len` makes them part of
    // the vector.
    unsafe {
        v.as_mut_ptr()
            .add(len)
            .cast::<[X; N]>()
            .write_unaligned(vals);
        v.set_len(len + N);
    }
}

/// Makes room for `need` more elements in `v` (doubling its capacity, as `Vec` does, but never
/// beyond `limit`), or panics if that would take it beyond `limit`.
fn grow_to<X>(v: &mut Vec<X>, need: usize, limit: usize) {
    if v.capacity() - v.len() >= need {
        return;
    }
    if v.len() + need > limit {
        panic!("wirtinger: tape is full (2³² − 1 nodes, or values and partials)");
    }
    let cap = (2 * v.capacity()).max(v.len() + need).clamp(64, limit);
    v.reserve_exact(cap - v.len());
    // `room`'s check relies on this; std's `reserve_exact` gives exactly what is asked.
    assert!(
        v.capacity() <= limit,
        "wirtinger: internal error: tape capacity"
    );
}

impl<T: Real> Graph<T> {
    /// Makes sure there is room for one more node and one more op's data, and returns the index
    /// the node will have and that of its data. Recording a scalar op thus checks capacity once
    /// for both vectors and everything it writes, and that is also the check that the indices
    /// fit in a `u32` (the capacities never exceed [`LIMIT`]).
    #[inline(always)]
    fn room(&mut self) -> (usize, usize) {
        let (id, at) = (self.nodes.len(), self.data.len());
        if self.nodes.capacity() == id || self.data.capacity() - at < OP_DATA {
            self.grow();
        }
        (id, at)
    }

    /// The slow path of [`room`](Self::room): grows either vector (doubling, as `Vec` does, but
    /// never beyond [`LIMIT`]), or panics if the tape is full.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        grow_to(&mut self.nodes, 1, LIMIT);
        grow_to(&mut self.data, OP_DATA, LIMIT);
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.data.clear();
    }

    /// The inputs of node `id` with their `(g_a, g_ā)` (`g_ā` `None` for a holomorphic op).
    pub(crate) fn edges(&self, id: u32) -> impl Iterator<Item = Part<T>> + '_ {
        let n = self.nodes[id as usize];
        let k = n.kind.arity();
        let conj = matches!(n.kind, Kind::UnaryConj | Kind::BinaryConj);
        let at = n.at as usize + 1;
        (0..k).map(move |j| {
            let da = self.data[at + j].conj();
            let dac = conj.then(|| self.data[at + k + j]);
            (n.inputs[j], da, dac)
        })
    }
}

/// The vector-Jacobian product of a closure node: receives the conjugate cotangent of the output
/// (`∂L/∂ȳ`, one element for a scalar output), owned so that it can be transformed in place and
/// handed on with [`Accum::give`], and adds those of its inputs into `acc`.
pub(crate) type Vjp<T> = Box<dyn Fn(Vec<Complex<T>>, &mut Accum<'_, T>)>;

/// Payload of array-valued and closure nodes.
pub(crate) struct Extra<T: Real> {
    /// The op's name, for errors and the picture of the graph.
    pub name: &'static str,
    /// The value of a scalar-valued closure node (0 for array nodes).
    pub scalar: Complex<T>,
    /// The array value (`None` for a scalar-valued closure node, whose value is `scalar`).
    pub value: Option<Values<T>>,
    pub shape: Rc<[usize]>,
    pub inputs: Vec<u32>,
    pub vjp: Option<Vjp<T>>,
    /// A VJP computed with the value, for its VJP to use once ([`Accum::take_early`]).
    pub early: RefCell<Option<Early<T>>>,
}

/// Where a closure node's VJP adds the conjugate cotangents of its inputs.
pub struct Accum<'a, T: Real> {
    inputs: &'a [u32],
    nodes: &'a [Node],
    extras: &'a [Extra<T>],
    scalars: &'a mut [Complex<T>],
    arrays: &'a mut [Option<Vec<Complex<T>>>],
    /// Elements of adjoint arrays alive now, for [`MemoryUsage`].
    live: &'a mut usize,
    /// The node whose VJP runs.
    node: &'a Extra<T>,
}

impl<'a, T: Real> Accum<'a, T> {
    /// The accumulator of array input `k` (zeros on first use), or `None` when that input does not
    /// depend on any leaf and needs no adjoint.
    pub(crate) fn array(&mut self, k: usize) -> Option<&mut [Complex<T>]> {
        let id = self.inputs[k] as usize;
        let node = &self.nodes[id];
        if !node.grad {
            return None;
        }
        let e = node.at as usize;
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
        let node = &self.nodes[self.inputs[k] as usize];
        if !node.grad {
            return None;
        }
        self.arrays[node.at as usize].as_deref_mut()
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
        self.nodes[self.inputs[k] as usize].grad
    }

    /// Adds `buf` into the adjoint of array input `k`; when that adjoint does not exist yet, `buf`
    /// becomes it (no copy, no allocation).
    pub(crate) fn give(&mut self, k: usize, buf: Vec<Complex<T>>) {
        let id = self.inputs[k] as usize;
        if !self.nodes[id].grad {
            return;
        }
        let e = self.nodes[id].at as usize;
        match &mut self.arrays[e] {
            Some(g) => {
                crate::parallel::update(g, &buf, |g, b| *g += b);
            }
            slot @ None => {
                *self.live += buf.len();
                *slot = Some(buf)
            }
        }
    }

    /// The accumulator of scalar input `k`, or `None` when it needs no adjoint.
    pub(crate) fn scalar(&mut self, k: usize) -> Option<&mut Complex<T>> {
        let id = self.inputs[k] as usize;
        if self.nodes[id].grad {
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
/// Memory: a scalar op is one 16-byte record, 16 bytes of value and 16 bytes per input for its
/// partials (32 for a non-holomorphic op) (`f64`); an array op holds
/// its output array (its reverse rule re-evaluates the rules table at the input values rather
/// than storing partials); real array leaves and constants are stored as real numbers. When a tape is dropped or [`clear`](Self::clear)ed, and when a
/// [`Gradients`] is dropped, their buffers are kept for the next tape on the same thread (at
/// most 32 array buffers and 1 GiB per float type, plus one set of node vectors), so a loss
/// rebuilt every iteration does not map fresh memory each time;
/// [`release_buffers`](super::release_buffers) frees them.
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
        self.graph.borrow().nodes.len()
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
        let mut g = self.graph.borrow_mut();
        let g = &mut *g;
        let (id, at) = g.room();
        let node = Node {
            inputs: [NONE; 2],
            at: at as u32,
            kind,
            real,
            grad,
            name: Some(name),
        };
        // SAFETY: `room` made room for a node and `OP_DATA` values.
        unsafe {
            append(&mut g.data, [value]);
            append(&mut g.nodes, [node]);
        }
        id as u32
    }

    /// Records a node with a payload (its name, and its value if it is a scalar, in `extra`)
    /// and returns its index.
    pub(crate) fn push_extra(&self, kind: Kind, real: bool, extra: Extra<T>) -> u32 {
        let mut g = self.graph.borrow_mut();
        let grad = match kind {
            Kind::ArrayLeaf => true,
            Kind::ArrayConstant => false,
            _ => extra.inputs.iter().any(|&i| g.nodes[i as usize].grad),
        };
        let (id, _) = g.room();
        let e = {
            let mut extras = self.extras.borrow_mut();
            extras.push(extra);
            // There are no more extras than nodes, so `e < LIMIT`.
            extras.len() - 1
        };
        let node = Node {
            inputs: [NONE; 2],
            at: e as u32,
            kind,
            real,
            grad,
            name: None,
        };
        // SAFETY: `room` made room for a node.
        unsafe { append(&mut g.nodes, [node]) };
        id as u32
    }

    /// Records a scalar op with one or two inputs `(index, g_a, g_ā)` (constants included, so
    /// the picture of the graph shows them; `grad` says whether any input needs an adjoint).
    /// Inlined into each op, where it is known which inputs and partials there are: one push
    /// of the node and one of its value and partials.
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
        let g = &mut *g;
        let (id, at) = g.room();
        let zero = Complex::new(T::zero(), T::zero());
        // `conj(g_a)` of each input first, as the walk multiplies by it.
        let (kind, inputs) = match parts {
            [Some((a, da, None)), None] => {
                // SAFETY (here and below): `room` made room for a node and `OP_DATA` values.
                unsafe { append(&mut g.data, [value, da.conj()]) };
                (Kind::Unary, [a, NONE])
            }
            [Some((a, da, Some(dac))), None] => {
                unsafe { append(&mut g.data, [value, da.conj(), dac]) };
                (Kind::UnaryConj, [a, NONE])
            }
            [Some((a, da, None)), Some((b, db, None))] => {
                unsafe { append(&mut g.data, [value, da.conj(), db.conj()]) };
                (Kind::Binary, [a, b])
            }
            [Some((a, da, dac)), Some((b, db, dbc))] => {
                let vals = [
                    value,
                    da.conj(),
                    db.conj(),
                    dac.unwrap_or(zero),
                    dbc.unwrap_or(zero),
                ];
                unsafe { append(&mut g.data, vals) };
                (Kind::BinaryConj, [a, b])
            }
            [None, _] => unreachable!("a scalar op records its first input first"),
        };
        let node = Node {
            inputs,
            at: at as u32,
            kind,
            real,
            grad,
            name: Some(name),
        };
        unsafe { append(&mut g.nodes, [node]) };
        id as u32
    }

    /// An empty buffer with room for `n` elements, from this thread's pool when one fits.
    pub(crate) fn buffer(&self, n: usize) -> Vec<Complex<T>> {
        take_buffer(n)
    }

    /// The value and name of node `id`.
    pub(crate) fn info(&self, id: u32) -> Info<T> {
        info_of(&self.graph.borrow(), &self.extras.borrow(), id)
    }

    pub(crate) fn node(&self, id: u32) -> NodeInfo {
        let n = self.graph.borrow().nodes[id as usize];
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

    /// The reverse walk from node `out`, seeded with the conjugate cotangent `seed` (`½` for a
    /// real output, `i/2` for the imaginary part of a complex one). Returns the adjoints
    /// `∂L/∂b̄` of every scalar node and of every array leaf.
    pub(crate) fn walk(&self, out: u32, seed: Complex<T>) -> Adjoints<T> {
        let g = self.graph.borrow();
        let (nodes, data) = (&g.nodes[..], &g.data[..]);
        let extras = self.extras.borrow();
        let zero = Complex::new(T::zero(), T::zero());
        let n = out as usize + 1;
        let mut scalars = take_buffer(n);
        scalars.resize(n, zero);
        let mut arrays: Vec<Option<Vec<Complex<T>>>> = Vec::new();
        arrays.resize_with(extras.len(), || None);
        scalars[out as usize] = seed;
        let (mut live, mut peak) = (0usize, 0usize);
        let mut i = n;
        while i > 0 {
            i -= 1;
            let node = &nodes[i];
            if !node.grad {
                continue;
            }
            match node.kind {
                Kind::Unary | Kind::UnaryConj | Kind::Binary | Kind::BinaryConj => {
                    i = op_run_best(nodes, data, &mut scalars, i);
                }
                Kind::Vjp => {
                    let x = &extras[node.at as usize];
                    let Some(vjp) = &x.vjp else { continue };
                    // Scalar outputs keep their adjoint in `scalars`, arrays in `arrays`; an
                    // intermediate array's adjoint is moved out (and so freed or reused) here.
                    let mut taken = 0;
                    let c_out = if x.value.is_some() {
                        match arrays[node.at as usize].take() {
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
                    let mut acc = Accum {
                        inputs: &x.inputs,
                        nodes,
                        extras: &extras,
                        scalars: &mut scalars,
                        arrays: &mut arrays,
                        live: &mut live,
                        node: x,
                    };
                    vjp(c_out, &mut acc);
                    // The output's adjoint is alive until its VJP has run.
                    peak = peak.max(live);
                    live -= taken;
                }
                Kind::Leaf | Kind::Constant | Kind::ArrayLeaf | Kind::ArrayConstant => {}
            }
        }
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
        let graph = g.nodes.len() * core::mem::size_of::<Node>()
            + g.data.len() * elem
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
    pub(crate) fn backward_from(&self, out: u32) -> Gradients<T> {
        let node = self.node(out);
        let half = T::from_f64c(0.5);
        let re = self.walk(out, Complex::new(half, T::zero()));
        let im = if node.real {
            None
        } else {
            Some(self.walk(out, Complex::new(T::zero(), half)))
        };
        Gradients::new(self, out, re, im)
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
fn op_run<T: Real>(
    nodes: &[Node],
    data: &[Complex<T>],
    scalars: &mut [Complex<T>],
    mut i: usize,
) -> usize {
    assert!(i < nodes.len() && i < scalars.len() && nodes[i].kind.is_op());
    let zero = Complex::new(T::zero(), T::zero());
    let s = scalars.as_mut_ptr();
    // SAFETY, for every unchecked access below. The tape records an op only with inputs it
    // recorded before (a `Var` is an index into its own tape: ops between two tapes panic, and
    // `Tape::clear` needs `&mut`, so no `Var` outlives it), so an op's inputs and `i − 1` are
    // below `i`, which is below `nodes.len()` and `scalars.len()` (asserted above; `i` only
    // decreases). `push_op` wrote an op's value and all of its partials (`kind` says how
    // many) to `data[at..]`, so those reads are within `data`.
    let at = |k: u32| -> *mut Complex<T> { unsafe { s.add(k as usize) } };
    let mut c = unsafe { *at(i as u32) };
    loop {
        let node = unsafe { *nodes.get_unchecked(i) };
        let [a, b] = node.inputs;
        debug_assert!((a as usize) < i && (b == NONE || (b as usize) < i));
        let prev = i - 1;
        let mut next = unsafe { *at(prev as u32) };
        if c != zero {
            // c_a += conj(g_a) c_b + g_ā conj(c_b), `conj(g_a)` as stored. A macro, not a
            // closure, and a select of values rather than an `if`/`else` of two adds: either of
            // those leads the compiler to add through a selected pointer, keeping `next` in
            // memory.
            macro_rules! add {
                ($a:expr, $t:expr) => {{
                    let t = $t;
                    let hit = $a as usize == prev;
                    next = if hit { next + t } else { next };
                    if !hit {
                        unsafe { *at($a) += t };
                    }
                }};
            }
            let p = |k: usize| unsafe { *data.get_unchecked(node.at as usize + 1 + k) };
            match node.kind {
                Kind::Unary => add!(a, p(0) * c),
                Kind::UnaryConj => add!(a, p(0) * c + p(1) * c.conj()),
                Kind::Binary => {
                    add!(a, p(0) * c);
                    add!(b, p(1) * c);
                }
                _ => {
                    let cc = c.conj();
                    add!(a, p(0) * c + p(2) * cc);
                    add!(b, p(1) * c + p(3) * cc);
                }
            }
            unsafe { *at(prev as u32) = next };
        }
        let p = unsafe { nodes.get_unchecked(prev) };
        if !(p.grad && p.kind.is_op()) {
            return i;
        }
        i = prev;
        c = next;
    }
}

/// [`op_run`] compiled for AVX2: the three-operand forms of the vector instructions save the
/// register copies of the complex products, which made the walk 5–12% faster on the scalar
/// bench (`benches/reverse.rs`, `scalar_1e5_ops`). The arithmetic, and so every result, is the
/// same: no fused multiply-adds.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn op_run_avx2<T: Real>(
    nodes: &[Node],
    data: &[Complex<T>],
    scalars: &mut [Complex<T>],
    i: usize,
) -> usize {
    op_run(nodes, data, scalars, i)
}

/// [`op_run`], for AVX2 where the CPU has it (detected at run time; std caches the answer).
fn op_run_best<T: Real>(
    nodes: &[Node],
    data: &[Complex<T>],
    scalars: &mut [Complex<T>],
    i: usize,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, just checked.
        return unsafe { op_run_avx2(nodes, data, scalars, i) };
    }
    op_run(nodes, data, scalars, i)
}

/// The value and name of node `id`.
pub(crate) fn info_of<T: Real>(g: &Graph<T>, extras: &[Extra<T>], id: u32) -> Info<T> {
    let n = g.nodes[id as usize];
    match n.name {
        Some(name) => Info {
            value: g.data[n.at as usize],
            name: name.as_str(),
        },
        None => {
            let x = &extras[n.at as usize];
            Info {
                value: x.scalar,
                name: x.name,
            }
        }
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
        None => Vec::with_capacity(n),
    }
}

/// A buffer of `n` elements whose contents are unspecified (left from earlier use, or zeros), for
/// a caller that overwrites every element: the part of a pooled buffer in use before is not
/// written again.
pub(crate) fn take_buffer_len<T: Real>(n: usize) -> Vec<Complex<T>> {
    let mut v = pooled(n).unwrap_or_else(|| Vec::with_capacity(n));
    v.truncate(n);
    v.resize(n, Complex::new(T::zero(), T::zero()));
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
/// the last tape dropped.
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
    use super::{grow_to, op_run, Tape};
    use num_complex::Complex64 as C;

    /// Every kind of scalar op, holomorphic and not, unary and binary, with inputs next to the
    /// op and far from it; the walk of one run of ops over all of them.
    #[test]
    fn the_walk_of_a_run_covers_every_kind_of_op_and_the_avx2_build_gives_the_same_bits() {
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
            if k % 7 == 0 {
                x = x.sin() / (x.norm() + 1.0);
            }
        }
        let loss = x.norm_sqr();
        let g = tape.graph.borrow();
        let n = loss.id as usize + 1;
        let mut a = vec![C::new(0.0, 0.0); n];
        a[n - 1] = C::new(0.5, 0.0);
        #[allow(unused_mut)]
        let mut b = a.clone();
        // The run goes back to the first op, just after the two leaves.
        assert_eq!(op_run(&g.nodes, &g.data, &mut a, n - 1), 2);
        drop(g);
        let gr = loss.backward();
        assert_eq!(gr.dzbar(&z), a[0]);
        assert_eq!(gr.dzbar(&w), a[1]);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            let g = tape.graph.borrow();
            // SAFETY: the CPU supports AVX2.
            unsafe { super::op_run_avx2(&g.nodes, &g.data, &mut b, n - 1) };
            let bits = |v: &[C]| {
                v.iter()
                    .map(|c| (c.re.to_bits(), c.im.to_bits()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&a), bits(&b));
        }
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
