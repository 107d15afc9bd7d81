//! Operators for [`VarArray`]: with arrays (by value and by reference), scalar [`Var`]s, and
//! constants on either side (complex or real scalars, and complex or real slices and `Vec`s).

use super::array::Arith;
use super::{Var, VarArray};
use crate::Real;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};
use num_complex::Complex;

macro_rules! array_ops {
    ($Op:ident, $op:ident, $OpA:ident, $opa:ident, $k:expr) => {
        impl<'t, T: Real> $Op<&VarArray<'t, T>> for &VarArray<'t, T> {
            type Output = VarArray<'t, T>;
            #[track_caller]
            fn $op(self, o: &VarArray<'t, T>) -> VarArray<'t, T> {
                self.arith(o, $k)
            }
        }
        impl<'t, T: Real> $Op<VarArray<'t, T>> for VarArray<'t, T> {
            type Output = VarArray<'t, T>;
            #[track_caller]
            fn $op(self, o: VarArray<'t, T>) -> VarArray<'t, T> {
                self.arith(&o, $k)
            }
        }
        impl<'t, T: Real> $Op<&VarArray<'t, T>> for VarArray<'t, T> {
            type Output = VarArray<'t, T>;
            #[track_caller]
            fn $op(self, o: &VarArray<'t, T>) -> VarArray<'t, T> {
                self.arith(o, $k)
            }
        }
        impl<'t, T: Real> $Op<VarArray<'t, T>> for &VarArray<'t, T> {
            type Output = VarArray<'t, T>;
            #[track_caller]
            fn $op(self, o: VarArray<'t, T>) -> VarArray<'t, T> {
                self.arith(&o, $k)
            }
        }
        impl<'t, T: Real> $OpA<&VarArray<'t, T>> for VarArray<'t, T> {
            #[track_caller]
            fn $opa(&mut self, o: &VarArray<'t, T>) {
                *self = self.arith(o, $k);
            }
        }
        impl<'t, T: Real> $OpA<VarArray<'t, T>> for VarArray<'t, T> {
            #[track_caller]
            fn $opa(&mut self, o: VarArray<'t, T>) {
                *self = self.arith(&o, $k);
            }
        }
        array_ops!(@rhs $Op, $op, $OpA, $opa, $k, Var<'t, T>, |a, s| a.arith_var(s, false, $k), |a, s| a.arith_var(s, true, $k));
        array_ops!(@rhs $Op, $op, $OpA, $opa, $k, Complex<T>, |a, s| a.arith_const(s, false, $k), |a, s| a.arith_const(s, true, $k));
        array_ops!(@rhs $Op, $op, $OpA, $opa, $k, &[Complex<T>], |a, s| a.arith_const_array(s, false, $k), |a, s| a.arith_const_array(s, true, $k));
        array_ops!(@rhs $Op, $op, $OpA, $opa, $k, &Vec<Complex<T>>, |a, s| a.arith_const_array(s, false, $k), |a, s| a.arith_const_array(s, true, $k));
        array_ops!(@rhs $Op, $op, $OpA, $opa, $k, Vec<Complex<T>>, |a, s| a.arith_const_array(&s, false, $k), |a, s| a.arith_const_array(&s, true, $k));
        array_ops!(@rhs $Op, $op, $OpA, $opa, $k, &[T], |a, s| a.arith_real_const_array(s, false, $k), |a, s| a.arith_real_const_array(s, true, $k));
        array_ops!(@rhs $Op, $op, $OpA, $opa, $k, &Vec<T>, |a, s| a.arith_real_const_array(s, false, $k), |a, s| a.arith_real_const_array(s, true, $k));
        array_ops!(@rhs $Op, $op, $OpA, $opa, $k, Vec<T>, |a, s| a.arith_real_const_array(&s, false, $k), |a, s| a.arith_real_const_array(&s, true, $k));
        impl<'t, T: Real> $Op<T> for &VarArray<'t, T> {
            type Output = VarArray<'t, T>;
            fn $op(self, o: T) -> VarArray<'t, T> {
                self.arith_const(Complex::new(o, T::zero()), false, $k)
            }
        }
        impl<'t, T: Real> $Op<T> for VarArray<'t, T> {
            type Output = VarArray<'t, T>;
            fn $op(self, o: T) -> VarArray<'t, T> {
                self.arith_const(Complex::new(o, T::zero()), false, $k)
            }
        }
        impl<'t, T: Real> $OpA<T> for VarArray<'t, T> {
            fn $opa(&mut self, o: T) {
                *self = self.arith_const(Complex::new(o, T::zero()), false, $k);
            }
        }
        array_ops!(@float $Op, $op, $k, f64);
        array_ops!(@float $Op, $op, $k, f32);
    };
    (@rhs $Op:ident, $op:ident, $OpA:ident, $opa:ident, $k:expr, $R:ty, |$a:ident, $s:ident| $right:expr, |$a2:ident, $s2:ident| $left:expr) => {
        impl<'t, T: Real> $Op<$R> for &VarArray<'t, T> {
            type Output = VarArray<'t, T>;
            #[track_caller]
            fn $op(self, $s: $R) -> VarArray<'t, T> {
                let $a = self;
                $right
            }
        }
        impl<'t, T: Real> $Op<$R> for VarArray<'t, T> {
            type Output = VarArray<'t, T>;
            #[track_caller]
            fn $op(self, $s: $R) -> VarArray<'t, T> {
                let $a = &self;
                $right
            }
        }
        impl<'t, T: Real> $OpA<$R> for VarArray<'t, T> {
            #[track_caller]
            fn $opa(&mut self, $s: $R) {
                let $a = &*self;
                *self = $right;
            }
        }
        impl<'t, T: Real> $Op<&VarArray<'t, T>> for $R {
            type Output = VarArray<'t, T>;
            #[track_caller]
            fn $op(self, $a2: &VarArray<'t, T>) -> VarArray<'t, T> {
                let $s2 = self;
                $left
            }
        }
        impl<'t, T: Real> $Op<VarArray<'t, T>> for $R {
            type Output = VarArray<'t, T>;
            #[track_caller]
            fn $op(self, $a2: VarArray<'t, T>) -> VarArray<'t, T> {
                let $s2 = self;
                let $a2 = &$a2;
                $left
            }
        }
    };
    (@float $Op:ident, $op:ident, $k:expr, $f:ty) => {
        impl<'t> $Op<&VarArray<'t, $f>> for $f {
            type Output = VarArray<'t, $f>;
            fn $op(self, a: &VarArray<'t, $f>) -> VarArray<'t, $f> {
                a.arith_const(Complex::new(self, 0.0), true, $k)
            }
        }
        impl<'t> $Op<VarArray<'t, $f>> for $f {
            type Output = VarArray<'t, $f>;
            fn $op(self, a: VarArray<'t, $f>) -> VarArray<'t, $f> {
                a.arith_const(Complex::new(self, 0.0), true, $k)
            }
        }
    };
}

array_ops!(Add, add, AddAssign, add_assign, Arith::Add);
array_ops!(Sub, sub, SubAssign, sub_assign, Arith::Sub);
array_ops!(Mul, mul, MulAssign, mul_assign, Arith::Mul);
array_ops!(Div, div, DivAssign, div_assign, Arith::Div);

impl<'t, T: Real> Neg for &VarArray<'t, T> {
    type Output = VarArray<'t, T>;
    fn neg(self) -> VarArray<'t, T> {
        self.apply_neg()
    }
}

impl<'t, T: Real> Neg for VarArray<'t, T> {
    type Output = VarArray<'t, T>;
    fn neg(self) -> VarArray<'t, T> {
        self.apply_neg()
    }
}
