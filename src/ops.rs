//! Operator boilerplate shared by the scalar value types ([`Dual`](crate::forward::Dual) and
//! [`Var`](crate::reverse::Var)).
//!
//! Each type implements [`ScalarArith`] once (value ⊕ value, value ⊕ `Complex<T>`, `Complex<T>` ⊕
//! value); the macros below write every operator pairing from it, as `num-complex` does with
//! `forward_all_binop!`. A real constant is promoted to a complex one with a zero imaginary part,
//! except as a factor or divisor, where [`ScalarArith::mul_r`] and [`ScalarArith::div_r`] let a type
//! use the real forms of the rules ([`rules::scale`](crate::rules::scale)), half the flops.

use crate::Real;
use num_complex::Complex;

/// The arithmetic every scalar value type provides; the operator impls are written from it.
pub(crate) trait ScalarArith<T: Real>: Sized + Copy {
    fn add_v(self, o: Self) -> Self;
    fn sub_v(self, o: Self) -> Self;
    fn mul_v(self, o: Self) -> Self;
    fn div_v(self, o: Self) -> Self;
    fn neg_v(self) -> Self;
    /// `self + c`.
    fn add_c(self, c: Complex<T>) -> Self;
    /// `self − c`.
    fn sub_c(self, c: Complex<T>) -> Self;
    /// `c − self`.
    fn rsub_c(self, c: Complex<T>) -> Self;
    /// `self · c`.
    fn mul_c(self, c: Complex<T>) -> Self;
    /// `self / c`.
    fn div_c(self, c: Complex<T>) -> Self;
    /// `c / self`.
    fn rdiv_c(self, c: Complex<T>) -> Self;
    /// `self · x` for a real `x` (a type may skip the products by the zero imaginary part).
    #[inline(always)]
    fn mul_r(self, x: T) -> Self {
        self.mul_c(Complex::new(x, T::zero()))
    }
    /// `self / x` for a real `x`.
    #[inline(always)]
    fn div_r(self, x: T) -> Self {
        self.div_c(Complex::new(x, T::zero()))
    }
}

/// Writes `Add`, `Sub`, `Mul`, `Div` (and their `…Assign` forms) for value ⊕ value, value ⊕
/// `Complex<T>` and value ⊕ `T`, plus `Neg`, from [`ScalarArith`].
macro_rules! impl_scalar_ops {
    ([$($gen:tt)*] $ty:ty) => {
        impl<$($gen)*> core::ops::Neg for $ty {
            type Output = $ty;
            #[inline]
            fn neg(self) -> $ty {
                $crate::ops::ScalarArith::neg_v(self)
            }
        }
        $crate::ops::impl_scalar_ops!(@bin [$($gen)*] $ty, Add, add, AddAssign, add_assign, add_v, add_c, |s, x| $crate::ops::ScalarArith::add_c(s, num_complex::Complex::new(x, T::zero())));
        $crate::ops::impl_scalar_ops!(@bin [$($gen)*] $ty, Sub, sub, SubAssign, sub_assign, sub_v, sub_c, |s, x| $crate::ops::ScalarArith::sub_c(s, num_complex::Complex::new(x, T::zero())));
        $crate::ops::impl_scalar_ops!(@bin [$($gen)*] $ty, Mul, mul, MulAssign, mul_assign, mul_v, mul_c, |s, x| $crate::ops::ScalarArith::mul_r(s, x));
        $crate::ops::impl_scalar_ops!(@bin [$($gen)*] $ty, Div, div, DivAssign, div_assign, div_v, div_c, |s, x| $crate::ops::ScalarArith::div_r(s, x));
    };
    (@bin [$($gen:tt)*] $ty:ty, $Op:ident, $op:ident, $OpA:ident, $opa:ident, $v:ident, $c:ident, |$s:ident, $x:ident| $real:expr) => {
        impl<$($gen)*> core::ops::$Op<$ty> for $ty {
            type Output = $ty;
            #[inline]
            fn $op(self, o: $ty) -> $ty {
                $crate::ops::ScalarArith::$v(self, o)
            }
        }
        impl<$($gen)*> core::ops::$Op<num_complex::Complex<T>> for $ty {
            type Output = $ty;
            #[inline]
            fn $op(self, o: num_complex::Complex<T>) -> $ty {
                $crate::ops::ScalarArith::$c(self, o)
            }
        }
        impl<$($gen)*> core::ops::$Op<T> for $ty {
            type Output = $ty;
            #[inline]
            fn $op(self, $x: T) -> $ty {
                let $s = self;
                $real
            }
        }
        impl<$($gen)*> core::ops::$OpA<$ty> for $ty {
            #[inline]
            fn $opa(&mut self, o: $ty) {
                *self = $crate::ops::ScalarArith::$v(*self, o);
            }
        }
        impl<$($gen)*> core::ops::$OpA<num_complex::Complex<T>> for $ty {
            #[inline]
            fn $opa(&mut self, o: num_complex::Complex<T>) {
                *self = $crate::ops::ScalarArith::$c(*self, o);
            }
        }
        impl<$($gen)*> core::ops::$OpA<T> for $ty {
            #[inline]
            fn $opa(&mut self, $x: T) {
                let $s = *self;
                *self = $real;
            }
        }
    };
}

/// Writes `f ⊕ value` and `Complex<f> ⊕ value` for a concrete float `f` (the orphan rule forbids a
/// generic `T ⊕ value`).
macro_rules! impl_left_ops {
    ([$($gen:tt)*] $ty:ty, $f:ty) => {
        $crate::ops::impl_left_ops!(@one [$($gen)*] $ty, $f, Add, add, |s, c| $crate::ops::ScalarArith::add_c(s, c));
        $crate::ops::impl_left_ops!(@one [$($gen)*] $ty, $f, Sub, sub, |s, c| $crate::ops::ScalarArith::rsub_c(s, c));
        $crate::ops::impl_left_ops!(@one [$($gen)*] $ty, $f, Mul, mul, |s, c| $crate::ops::ScalarArith::mul_c(s, c),
            |s, x| $crate::ops::ScalarArith::mul_r(s, x));
        $crate::ops::impl_left_ops!(@one [$($gen)*] $ty, $f, Div, div, |s, c| $crate::ops::ScalarArith::rdiv_c(s, c));
    };
    // A real left operand is promoted to a complex one unless the op has a real form.
    (@one [$($gen:tt)*] $ty:ty, $f:ty, $Op:ident, $op:ident, |$s:ident, $cc:ident| $body:expr) => {
        $crate::ops::impl_left_ops!(@one [$($gen)*] $ty, $f, $Op, $op, |$s, $cc| $body,
            |s, x| { let $s = s; let $cc = num_complex::Complex::<$f>::new(x, 0.0); $body });
    };
    (@one [$($gen:tt)*] $ty:ty, $f:ty, $Op:ident, $op:ident, |$s:ident, $cc:ident| $body:expr, |$rs:ident, $x:ident| $real:expr) => {
        impl<$($gen)*> core::ops::$Op<$ty> for $f {
            type Output = $ty;
            #[inline]
            fn $op(self, $rs: $ty) -> $ty {
                let $x = self;
                $real
            }
        }
        impl<$($gen)*> core::ops::$Op<$ty> for num_complex::Complex<$f> {
            type Output = $ty;
            #[inline]
            fn $op(self, $s: $ty) -> $ty {
                let $cc = self;
                $body
            }
        }
    };
}

pub(crate) use impl_left_ops;
pub(crate) use impl_scalar_ops;
