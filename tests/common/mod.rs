//! Shared test vocabulary: the unary ops of the rules table as data, where each is smooth, and a
//! macro that applies one to a `Dual`, a `Var` or a `&VarArray` alike.

#![allow(dead_code)]

pub mod files;

use wirtinger::Complex64 as C;

/// The unary ops of `Var` (and `Dual`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Un {
    Conj,
    Re,
    Im,
    Norm,
    NormSqr,
    Arg,
    Abs,
    Abs2,
    Inv,
    Exp,
    Ln,
    Sqrt,
    Cbrt,
    Cis,
    Sin,
    Cos,
    Tan,
    Sinh,
    Cosh,
    Tanh,
    Asin,
    Acos,
    Atan,
    Asinh,
    Acosh,
    Atanh,
    Powi(i32),
    Powf(f64),
    Neg,
}

pub const ALL_UN: &[Un] = &[
    Un::Conj,
    Un::Re,
    Un::Im,
    Un::Norm,
    Un::NormSqr,
    Un::Arg,
    Un::Abs,
    Un::Abs2,
    Un::Inv,
    Un::Exp,
    Un::Ln,
    Un::Sqrt,
    Un::Cbrt,
    Un::Cis,
    Un::Sin,
    Un::Cos,
    Un::Tan,
    Un::Sinh,
    Un::Cosh,
    Un::Tanh,
    Un::Asin,
    Un::Acos,
    Un::Atan,
    Un::Asinh,
    Un::Acosh,
    Un::Atanh,
    Un::Powi(0),
    Un::Powi(1),
    Un::Powi(2),
    Un::Powi(3),
    Un::Powi(-2),
    Un::Powf(0.5),
    Un::Powf(2.5),
    Un::Powf(-1.3),
    Un::Neg,
];

/// Whether `op` is smooth in a disk of radius ~0.2 around `z` (away from branch cuts, poles and
/// the non-differentiable points of `norm`/`arg`), so finite differences are meaningful.
pub fn ok(op: Un, z: C) -> bool {
    let d = 0.2;
    let near_neg_real_axis = z.re < d && z.im.abs() < d;
    match op {
        Un::Norm | Un::Abs | Un::Inv => z.norm() > d,
        Un::Powi(n) if n < 0 => z.norm() > d,
        Un::Arg | Un::Ln | Un::Sqrt | Un::Cbrt | Un::Powf(_) => !near_neg_real_axis,
        Un::Tan => z.cos().norm() > 0.3,
        Un::Tanh => z.cosh().norm() > 0.3,
        Un::Asin | Un::Acos | Un::Atanh => !(z.im.abs() < d && z.re.abs() > 1.0 - d),
        Un::Atan | Un::Asinh => !(z.re.abs() < d && z.im.abs() > 1.0 - d),
        Un::Acosh => !(z.im.abs() < d && z.re < 1.0 + d),
        _ => true,
    }
}

/// The same method call on a `Dual`, a `Var` or a `&VarArray`.
#[macro_export]
macro_rules! un {
    ($x:expr, $op:expr) => {
        match $op {
            Un::Conj => $x.conj(),
            Un::Re => $x.re(),
            Un::Im => $x.im(),
            Un::Norm => $x.norm(),
            Un::NormSqr => $x.norm_sqr(),
            Un::Arg => $x.arg(),
            Un::Abs => $x.abs(),
            Un::Abs2 => $x.abs2(),
            Un::Inv => $x.inv(),
            Un::Exp => $x.exp(),
            Un::Ln => $x.ln(),
            Un::Sqrt => $x.sqrt(),
            Un::Cbrt => $x.cbrt(),
            Un::Cis => $x.cis(),
            Un::Sin => $x.sin(),
            Un::Cos => $x.cos(),
            Un::Tan => $x.tan(),
            Un::Sinh => $x.sinh(),
            Un::Cosh => $x.cosh(),
            Un::Tanh => $x.tanh(),
            Un::Asin => $x.asin(),
            Un::Acos => $x.acos(),
            Un::Atan => $x.atan(),
            Un::Asinh => $x.asinh(),
            Un::Acosh => $x.acosh(),
            Un::Atanh => $x.atanh(),
            Un::Powi(n) => $x.powi(n),
            Un::Powf(p) => $x.powf(p),
            Un::Neg => -$x,
        }
    };
}

/// A small deterministic generator (a 64-bit LCG) of numbers uniform in [−1, 1), so tests need no
/// `rand` and their data is the same everywhere.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next real number in [−1, 1).
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    /// The next complex number in the square [−1, 1)².
    pub fn c(&mut self) -> C {
        C::new(self.next(), self.next())
    }

    /// `n` complex numbers.
    pub fn vec(&mut self, n: usize) -> Vec<C> {
        (0..n).map(|_| self.c()).collect()
    }

    /// A well-conditioned n×n matrix, row-major: random plus 3 + 0.5i on the diagonal.
    pub fn matrix(&mut self, n: usize) -> Vec<C> {
        (0..n * n)
            .map(|k| {
                self.c()
                    + if k / n == k % n {
                        C::new(3.0, 0.5)
                    } else {
                        C::new(0.0, 0.0)
                    }
            })
            .collect()
    }
}
