//! How the tape stores an array value: complex, or real at half the memory (real leaves and real
//! constants, such as the target `T` of a phase-retrieval loss or a potential `V`).

use super::tape::{recycle, take_buffer_len};
use crate::Real;
use num_complex::Complex;
use std::rc::Rc;

/// An array value of a node or of a fused expression's input.
#[derive(Clone)]
pub(crate) enum Values<T: Real> {
    Complex(Rc<Vec<Complex<T>>>),
    Real(Rc<RealBuf<T>>),
}

impl<T: Real> From<Rc<Vec<Complex<T>>>> for Values<T> {
    fn from(v: Rc<Vec<Complex<T>>>) -> Self {
        Values::Complex(v)
    }
}

impl<T: Real> Values<T> {
    /// Real values, copied into a pooled buffer.
    pub(crate) fn real(data: &[T]) -> Self {
        Values::Real(Rc::new(RealBuf::new(data)))
    }

    /// Real values kept as the caller's vector, not copied.
    pub(crate) fn real_shared(data: Rc<Vec<T>>) -> Self {
        Values::Real(Rc::new(RealBuf::Shared(data)))
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> usize {
        match self {
            Values::Complex(v) => v.len(),
            Values::Real(r) => r.len(),
        }
    }

    /// The bytes of data held.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Values::Complex(v) => v.len() * core::mem::size_of::<Complex<T>>(),
            Values::Real(r) => r.len() * core::mem::size_of::<T>(),
        }
    }

    /// Where the data is: the same for every share of one value (also for one vector of the
    /// caller's shared by several nodes), so that it is counted once.
    pub(crate) fn addr(&self) -> *const u8 {
        match self {
            Values::Complex(v) => Rc::as_ptr(v).cast(),
            Values::Real(r) => r.as_slice().as_ptr().cast(),
        }
    }

    /// Whether `self` and `o` are shares of one value.
    pub(crate) fn same(&self, o: &Self) -> bool {
        self.addr() == o.addr()
    }

    /// The values as complex numbers: shared for a complex value, converted for a real one.
    pub(crate) fn to_complex(&self) -> Rc<Vec<Complex<T>>> {
        match self {
            Values::Complex(v) => Rc::clone(v),
            Values::Real(r) => {
                let mut v = super::tape::take_buffer(r.len());
                crate::parallel::map_into(&mut v, r.as_slice(), |&x| Complex::new(x, T::zero()));
                Rc::new(v)
            }
        }
    }

    /// Gives the buffer back to this thread's pool when this was its last share.
    pub(crate) fn recycle(self) {
        let buf = match self {
            Values::Complex(v) => Rc::try_unwrap(v).ok(),
            Values::Real(r) => match Rc::try_unwrap(r) {
                Ok(RealBuf::Pooled { buf, .. }) => Some(buf),
                _ => None,
            },
        };
        if let Some(b) = buf {
            recycle(b);
        }
    }
}

/// Real values: two to a complex element of a buffer from the tape's pool (so that real arrays
/// rebuilt every iteration reuse memory just as complex ones do), or the caller's own vector,
/// shared or moved in.
pub(crate) enum RealBuf<T: Real> {
    Pooled { buf: Vec<Complex<T>>, len: usize },
    Shared(Rc<Vec<T>>),
}

impl<T: Real> RealBuf<T> {
    /// A copy of `data`, in a pooled buffer.
    pub(crate) fn new(data: &[T]) -> Self {
        let len = data.len();
        let mut buf = take_buffer_len(len.div_ceil(2));
        let dst = Self::view_mut(&mut buf, len);
        crate::parallel::for_chunks(dst, |off, d| d.copy_from_slice(&data[off..off + d.len()]));
        RealBuf::Pooled { buf, len }
    }

    /// The number of values.
    pub(crate) fn len(&self) -> usize {
        match self {
            RealBuf::Pooled { len, .. } => *len,
            RealBuf::Shared(v) => v.len(),
        }
    }

    /// The values.
    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            // SAFETY: `Complex<T>` is `#[repr(C)]` with fields `re, im` of type `T`, so a slice
            // of `k` of them is a slice of `2k ≥ len` initialised `T`s, aligned for `T`.
            RealBuf::Pooled { buf, len } => unsafe {
                core::slice::from_raw_parts(buf.as_ptr().cast::<T>(), *len)
            },
            RealBuf::Shared(v) => v,
        }
    }

    /// The first `len` reals of `buf` (which has at least `len / 2` elements).
    fn view_mut(buf: &mut [Complex<T>], len: usize) -> &mut [T] {
        assert!(2 * buf.len() >= len);
        // SAFETY: as in `as_slice`, borrowing `buf` mutably.
        unsafe { core::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<T>(), len) }
    }
}
