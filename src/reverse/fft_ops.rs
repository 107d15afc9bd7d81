//! FFTs of [`VarArray`]s: numpy's transforms and scaling, each one node whose reverse rule is one
//! FFT (the adjoint transform), never a dense Jacobian; none when the adjoint is a multiple of a
//! stored value whose adjoint transform the tape holds already (see `reuse`).

use super::reuse::Linear;
use super::VarArray;
use crate::fft::{self, Direction, Norm};
use crate::Real;
use std::rc::Rc;

#[cfg(test)]
thread_local! {
    /// Transforms run by backward passes on this thread (to test that `reuse` skips them).
    pub(crate) static BACKWARD_TRANSFORMS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

impl<'t, T: Real> VarArray<'t, T> {
    /// Records the linear map "1-D transforms along `axes` in `dir`, scaled per `norm`"; its VJP is
    /// the adjoint transform `c_u += Aᴴ c_y`.
    #[track_caller]
    fn transform(&self, name: &'static str, axes: Vec<usize>, dir: Direction, norm: Norm) -> Self {
        // Out of place: the first pass reads the input where it is, no copy of it first.
        let mut value = super::tape::take_buffer_len(self.len());
        fft::FftPlans::global().transform_outofplace(
            &self.value(),
            &mut value,
            self.shape(),
            &axes,
            dir,
            norm,
        );
        let shape: Rc<[usize]> = self.shape().into();
        let vshape = shape.clone();
        let (adir, anorm) = fft::adjoint(dir, norm);
        let linear = Linear::Transform {
            dir,
            norm,
            axes: axes.clone(),
        };
        let y = self.tape.array_op(
            name,
            Rc::new(value),
            shape,
            false,
            vec![self.id()],
            Box::new(move |mut c, acc| {
                if acc.wants(0) {
                    #[cfg(test)]
                    BACKWARD_TRANSFORMS.with(|n| n.set(n.get() + 1));
                    acc.fft().transform(&mut c, &vshape, &axes, adir, anorm);
                }
                // To the adjoint, or back to the pool.
                acc.give(0, c);
            }),
        );
        self.tape.set_linear(y.id(), linear);
        y
    }

    #[track_caller]
    fn last_axes(&self, op: &str, k: usize) -> Vec<usize> {
        let d = self.shape().len();
        assert!(
            d >= k,
            "wirtinger: `{op}` needs an array of at least {k} dimension(s), got shape {:?}",
            self.shape()
        );
        (d - k..d).collect()
    }

    #[track_caller]
    fn one_axis(&self, op: &str, axis: usize) -> Vec<usize> {
        assert!(
            axis < self.shape().len(),
            "wirtinger: `{op}`: axis {axis} out of range for shape {:?}",
            self.shape()
        );
        vec![axis]
    }

    /// 1-D DFT along the last axis, `y_k = Σ_j u_j e^{−2πi jk/n}` (numpy's `fft`, norm
    /// `"backward"`: unscaled).
    #[track_caller]
    pub fn fft(&self) -> Self {
        self.fft_with(Norm::Backward)
    }

    /// 1-D inverse DFT along the last axis, scaled by `1/n` (numpy's `ifft`).
    #[track_caller]
    pub fn ifft(&self) -> Self {
        self.ifft_with(Norm::Backward)
    }

    /// [`fft`](Self::fft) with numpy's `norm` argument.
    #[track_caller]
    pub fn fft_with(&self, norm: Norm) -> Self {
        let axes = self.last_axes("fft", 1);
        self.transform("fft", axes, Direction::Forward, norm)
    }

    /// [`ifft`](Self::ifft) with numpy's `norm` argument.
    #[track_caller]
    pub fn ifft_with(&self, norm: Norm) -> Self {
        let axes = self.last_axes("ifft", 1);
        self.transform("ifft", axes, Direction::Inverse, norm)
    }

    /// 2-D DFT over the last two axes (numpy's `fft2`).
    #[track_caller]
    pub fn fft2(&self) -> Self {
        self.fft2_with(Norm::Backward)
    }

    /// 2-D inverse DFT over the last two axes, scaled by `1/(n₀n₁)` (numpy's `ifft2`).
    #[track_caller]
    pub fn ifft2(&self) -> Self {
        self.ifft2_with(Norm::Backward)
    }

    /// [`fft2`](Self::fft2) with numpy's `norm` argument.
    #[track_caller]
    pub fn fft2_with(&self, norm: Norm) -> Self {
        let axes = self.last_axes("fft2", 2);
        self.transform("fft2", axes, Direction::Forward, norm)
    }

    /// [`ifft2`](Self::ifft2) with numpy's `norm` argument.
    #[track_caller]
    pub fn ifft2_with(&self, norm: Norm) -> Self {
        let axes = self.last_axes("ifft2", 2);
        self.transform("ifft2", axes, Direction::Inverse, norm)
    }

    /// n-D DFT over every axis (numpy's `fftn`).
    pub fn fftn(&self) -> Self {
        self.fftn_with(Norm::Backward)
    }

    /// n-D inverse DFT over every axis, scaled by `1/N` (numpy's `ifftn`).
    pub fn ifftn(&self) -> Self {
        self.ifftn_with(Norm::Backward)
    }

    /// [`fftn`](Self::fftn) with numpy's `norm` argument.
    pub fn fftn_with(&self, norm: Norm) -> Self {
        let axes = (0..self.shape().len()).collect();
        self.transform("fftn", axes, Direction::Forward, norm)
    }

    /// [`ifftn`](Self::ifftn) with numpy's `norm` argument.
    pub fn ifftn_with(&self, norm: Norm) -> Self {
        let axes = (0..self.shape().len()).collect();
        self.transform("ifftn", axes, Direction::Inverse, norm)
    }

    /// 1-D DFT along one `axis` of an n-D array (numpy's `fft(a, axis=axis, norm=…)`).
    #[track_caller]
    pub fn fft_axis(&self, axis: usize, norm: Norm) -> Self {
        let axes = self.one_axis("fft_axis", axis);
        self.transform("fft_axis", axes, Direction::Forward, norm)
    }

    /// 1-D inverse DFT along one `axis` (numpy's `ifft(a, axis=axis, norm=…)`).
    #[track_caller]
    pub fn ifft_axis(&self, axis: usize, norm: Norm) -> Self {
        let axes = self.one_axis("ifft_axis", axis);
        self.transform("ifft_axis", axes, Direction::Inverse, norm)
    }

    /// Moves the zero-frequency element to the centre along every axis (numpy's `fftshift`); its
    /// reverse rule is `ifftshift`.
    pub fn fftshift(&self) -> Self {
        self.shift("fftshift", false)
    }

    /// The inverse of [`fftshift`](Self::fftshift) (numpy's `ifftshift`; they differ for odd
    /// lengths).
    pub fn ifftshift(&self) -> Self {
        self.shift("ifftshift", true)
    }

    fn shift(&self, name: &'static str, inverse: bool) -> Self {
        let shape: Rc<[usize]> = self.shape().into();
        let axes: Vec<usize> = (0..shape.len()).collect();
        let value = fft::shift(&self.value(), &shape, &axes, inverse);
        let vshape = shape.clone();
        self.tape.array_op(
            name,
            Rc::new(value),
            shape,
            self.is_real(),
            vec![self.id()],
            Box::new(move |c, acc| {
                if acc.wants(0) {
                    acc.give(0, fft::shift(&c, &vshape, &axes, !inverse));
                }
            }),
        )
    }
}
