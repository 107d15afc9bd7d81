//! [`Params`]: the parameters an optimizer moves, as one flat vector of blocks, and [`Leaves`]:
//! those blocks put on a tape as leaves for the loss closure.

use crate::reverse::{Gradients, Tape, Var, VarArray};
use crate::Real;
use num_complex::Complex;

/// The parameters of an optimization: any mix of complex and real scalars and arrays, stored as
/// one flat vector of `Complex<T>` (a real parameter is a complex number with imaginary part 0,
/// and the optimizers keep it 0).
///
/// Adding a block returns a small `Copy` handle ([`Scalar`] or [`Array`]) that reads the block back
/// ([`get`](Self::get), [`slice`](Self::slice)) and, inside a loss closure, puts it on the tape
/// ([`Leaves::var`], [`Leaves::array`]).
///
/// ```
/// use wirtinger::optim::Params;
/// use wirtinger::prelude::*;
///
/// let mut p = Params::new();
/// let field = p.array(vec![c64(1.0, 0.0); 4], &[2, 2]);
/// let phase = p.real_array(vec![0.0; 4], &[2, 2]);
/// let gain = p.scalar(c64(0.5, 0.5));
/// assert_eq!(p.len(), 9);
/// assert_eq!(p.slice(field).len(), 4);
/// assert_eq!(p.get(gain), c64(0.5, 0.5));
/// assert_eq!(p.real_values(phase), vec![0.0; 4]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Params<T: Real = f64> {
    data: Vec<Complex<T>>,
    blocks: Vec<Block>,
}

/// One block of [`Params`]: where it lives in the flat vector, its shape, and whether it is real.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Block {
    offset: usize,
    len: usize,
    /// `None` for a scalar.
    shape: Option<Vec<usize>>,
    real: bool,
}

/// A handle to a scalar block of [`Params`], from [`Params::scalar`] or [`Params::real_scalar`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scalar(usize);

/// A handle to an array block of [`Params`], from [`Params::array`] or [`Params::real_array`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Array(usize);

impl<T: Real> Params<T> {
    /// No parameters yet.
    pub fn new() -> Self {
        Params {
            data: Vec::new(),
            blocks: Vec::new(),
        }
    }

    fn push(
        &mut self,
        values: impl IntoIterator<Item = Complex<T>>,
        shape: Option<Vec<usize>>,
        real: bool,
    ) -> usize {
        let offset = self.data.len();
        self.data.extend(values);
        let len = self.data.len() - offset;
        self.blocks.push(Block {
            offset,
            len,
            shape,
            real,
        });
        self.blocks.len() - 1
    }

    /// A complex scalar parameter.
    pub fn scalar(&mut self, z: Complex<T>) -> Scalar {
        Scalar(self.push([z], None, false))
    }

    /// A real scalar parameter; it stays real (its gradient is `dL/dp`).
    pub fn real_scalar(&mut self, x: T) -> Scalar {
        Scalar(self.push([Complex::new(x, T::zero())], None, true))
    }

    /// A complex array parameter of the given shape (row-major).
    ///
    /// # Panics
    /// If `data` does not have `shape.iter().product()` elements.
    pub fn array(&mut self, data: impl Into<Vec<Complex<T>>>, shape: &[usize]) -> Array {
        let data = data.into();
        check_shape("Params::array", data.len(), shape);
        Array(self.push(data, Some(shape.to_vec()), false))
    }

    /// A real array parameter of the given shape; its elements stay real.
    ///
    /// # Panics
    /// If `data` does not have `shape.iter().product()` elements.
    pub fn real_array(&mut self, data: impl Into<Vec<T>>, shape: &[usize]) -> Array {
        let data = data.into();
        check_shape("Params::real_array", data.len(), shape);
        let values = data.into_iter().map(|x| Complex::new(x, T::zero()));
        Array(self.push(values, Some(shape.to_vec()), true))
    }

    /// The total number of scalar parameters (complex and real), over all blocks.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The value of a scalar block.
    pub fn get(&self, s: Scalar) -> Complex<T> {
        self.data[self.scalar_block(s, "get").offset]
    }

    /// The values of an array block, row-major.
    pub fn slice(&self, a: Array) -> &[Complex<T>] {
        let b = self.array_block(a, "slice");
        &self.data[b.offset..b.offset + b.len]
    }

    /// The values of an array block, mutable.
    pub fn slice_mut(&mut self, a: Array) -> &mut [Complex<T>] {
        let b = self.array_block(a, "slice_mut");
        let (o, n) = (b.offset, b.len);
        &mut self.data[o..o + n]
    }

    /// The real parts of an array block (for a real block, its values).
    pub fn real_values(&self, a: Array) -> Vec<T> {
        self.slice(a).iter().map(|z| z.re).collect()
    }

    /// Sets a scalar block (for a real block, the imaginary part is dropped).
    pub fn set(&mut self, s: Scalar, z: Complex<T>) {
        let b = self.scalar_block(s, "set");
        let z = if b.real {
            Complex::new(z.re, T::zero())
        } else {
            z
        };
        let o = b.offset;
        self.data[o] = z;
    }

    /// The shape of an array block.
    pub fn shape(&self, a: Array) -> &[usize] {
        self.array_block(a, "shape").shape.as_deref().unwrap_or(&[])
    }

    /// Where an array block lives in the flat vector ([`as_slice`](Self::as_slice)), for
    /// objectives that write their gradient by hand.
    pub fn range(&self, a: Array) -> core::ops::Range<usize> {
        let b = self.array_block(a, "range");
        b.offset..b.offset + b.len
    }

    /// Where a scalar block lives in the flat vector.
    pub fn index(&self, s: Scalar) -> usize {
        self.scalar_block(s, "index").offset
    }

    /// Whether a block is real.
    pub fn is_real_array(&self, a: Array) -> bool {
        self.array_block(a, "is_real_array").real
    }

    /// All parameters as one flat vector, blocks in the order they were added.
    pub fn as_slice(&self) -> &[Complex<T>] {
        &self.data
    }

    /// All parameters as one flat mutable vector. Writing a non-zero imaginary part into a real
    /// block is undone at the next optimizer step.
    pub fn as_mut_slice(&mut self) -> &mut [Complex<T>] {
        &mut self.data
    }

    /// The flat vector itself, for the driver to swap in the next iterate (same length).
    pub(crate) fn data_mut(&mut self) -> &mut Vec<Complex<T>> {
        &mut self.data
    }

    /// The blocks without the values: all that [`leaves`](Self::leaves),
    /// [`project_real`](Self::project_real) and [`Leaves::write_grad`] read. Not a set of
    /// parameters: its `len` and `as_slice` are empty.
    pub(crate) fn layout(&self) -> Params<T> {
        Params {
            data: Vec::new(),
            blocks: self.blocks.clone(),
        }
    }

    /// Zeroes the imaginary parts of `v` (a vector laid out like these parameters) in the real
    /// blocks: what keeps real parameters real.
    pub(crate) fn project_real(&self, v: &mut [Complex<T>]) {
        for b in self.blocks.iter().filter(|b| b.real) {
            for z in &mut v[b.offset..b.offset + b.len] {
                z.im = T::zero();
            }
        }
    }

    fn scalar_block(&self, s: Scalar, what: &str) -> &Block {
        match self.blocks.get(s.0) {
            Some(b) if b.shape.is_none() => b,
            _ => panic!(
                "wirtinger: Params::{what}: scalar handle #{} does not belong to these parameters \
                 ({} blocks)",
                s.0,
                self.blocks.len()
            ),
        }
    }

    fn array_block(&self, a: Array, what: &str) -> &Block {
        match self.blocks.get(a.0) {
            Some(b) if b.shape.is_some() => b,
            _ => panic!(
                "wirtinger: Params::{what}: array handle #{} does not belong to these parameters \
                 ({} blocks)",
                a.0,
                self.blocks.len()
            ),
        }
    }

    /// Puts every block on `tape` as a leaf, at the values `x` (laid out like these parameters).
    pub(crate) fn leaves<'t>(&self, tape: &'t Tape<T>, x: &[Complex<T>]) -> Leaves<'t, T> {
        debug_assert_eq!(x.len(), self.blocks.last().map_or(0, |b| b.offset + b.len));
        let leaves = self
            .blocks
            .iter()
            .map(|b| {
                let v = &x[b.offset..b.offset + b.len];
                match (&b.shape, b.real) {
                    (None, false) => Leaf::Scalar(tape.var(v[0])),
                    (None, true) => Leaf::Scalar(tape.real_var(v[0].re)),
                    (Some(s), false) => Leaf::Array(tape.array(v, s)),
                    (Some(s), true) => {
                        Leaf::Array(tape.real_array(v.iter().map(|z| z.re).collect::<Vec<T>>(), s))
                    }
                }
            })
            .collect();
        Leaves { tape, leaves }
    }
}

fn check_shape(what: &str, len: usize, shape: &[usize]) {
    let n: usize = shape.iter().product();
    assert!(
        n == len,
        "wirtinger: {what}: {len} values do not fill shape {shape:?} ({n} elements)"
    );
}

#[derive(Clone)]
enum Leaf<'t, T: Real> {
    Scalar(Var<'t, T>),
    Array(VarArray<'t, T>),
}

/// The parameters as leaves of one tape, handed to the loss closure of
/// [`Minimize::run`](super::Minimize::run): read each block as a [`Var`] or [`VarArray`] with its
/// handle, and make constants with [`tape`](Self::tape).
pub struct Leaves<'t, T: Real = f64> {
    tape: &'t Tape<T>,
    leaves: Vec<Leaf<'t, T>>,
}

impl<'t, T: Real> Leaves<'t, T> {
    /// The tape the loss is recorded on (for constants: `p.tape().constant_array(..)`).
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }

    /// The scalar block `s` as a leaf.
    ///
    /// # Panics
    /// If `s` is not a scalar handle of these parameters.
    pub fn var(&self, s: Scalar) -> Var<'t, T> {
        match self.leaves.get(s.0) {
            Some(Leaf::Scalar(v)) => *v,
            _ => panic!(
                "wirtinger: Leaves::var: scalar handle #{} does not belong to these parameters",
                s.0
            ),
        }
    }

    /// The array block `a` as a leaf (a cheap handle clone).
    ///
    /// # Panics
    /// If `a` is not an array handle of these parameters.
    pub fn array(&self, a: Array) -> VarArray<'t, T> {
        match self.leaves.get(a.0) {
            Some(Leaf::Array(v)) => v.clone(),
            _ => panic!(
                "wirtinger: Leaves::array: array handle #{} does not belong to these parameters",
                a.0
            ),
        }
    }

    /// Writes `2 ∂L/∂x̄` of every block into `grad` (laid out like the parameters).
    pub(crate) fn write_grad(&self, params: &Params<T>, g: &Gradients<T>, grad: &mut [Complex<T>]) {
        for (b, leaf) in params.blocks.iter().zip(&self.leaves) {
            let out = &mut grad[b.offset..b.offset + b.len];
            match leaf {
                Leaf::Scalar(v) => out[0] = g.grad(v),
                Leaf::Array(a) => g.grad_into(a, out),
            }
        }
    }
}
