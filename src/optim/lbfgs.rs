//! Limited-memory BFGS with a strong-Wolfe line search, in the real inner product `Re⟨a, b⟩`.

use super::{axpy, re_dot, Objective, Optimizer, StepError};
use crate::Real;
use num_complex::Complex;
use std::collections::VecDeque;

/// Limited-memory BFGS over complex parameters.
///
/// `ℂⁿ` is treated as the Euclidean space `ℝ²ⁿ` through the real inner product `Re⟨a, b⟩`
/// (`⟨a, b⟩ = Σ āᵢ bᵢ`): the search direction is `d = −H g` from the two-loop recursion over the
/// last `m` pairs `sₖ = zₖ₊₁ − zₖ`, `yₖ = gₖ₊₁ − gₖ` (with `g = 2 ∂L/∂z̄`) and the initial scaling
/// `Re⟨s, y⟩ / Re⟨y, y⟩`. This is exactly L-BFGS on the real and imaginary parts, written without
/// splitting them.
///
/// Every accepted step `α` meets the strong Wolfe conditions, with `φ(α) = L(z + α d)` and
/// `φ'(α) = Re⟨g(z + α d), d⟩`:
///
/// ```text
/// φ(α) ≤ φ(0) + c₁ α φ'(0)        (sufficient decrease, c₁ = 1e-4)
/// |φ'(α)| ≤ c₂ |φ'(0)|            (curvature, c₂ = 0.9)
/// ```
///
/// found by bracketing and safeguarded cubic interpolation (Nocedal & Wright, Algorithms 3.5 and
/// 3.6). The first trial step is 1 (after the first iteration) or `1/‖g‖` (before it). If no
/// acceptable step is found within the evaluation budget, the memory is dropped and steepest
/// descent is tried once more before the step fails
/// ([`Stop::LineSearchFailed`](super::Stop::LineSearchFailed)).
#[derive(Clone, Debug)]
pub struct Lbfgs<T: Real = f64> {
    memory: usize,
    c1: T,
    c2: T,
    max_evals: usize,
    pairs: VecDeque<Pair<T>>,
    dir: Vec<Complex<T>>,
    xt: Vec<Complex<T>>,
    gt: Vec<Complex<T>>,
    alphas: Vec<T>,
}

#[derive(Clone, Debug)]
struct Pair<T: Real> {
    s: Vec<Complex<T>>,
    y: Vec<Complex<T>>,
    /// `1 / Re⟨s, y⟩`.
    rho: T,
}

/// One trial of the line search: step, `φ`, `φ'`.
#[derive(Clone, Copy, Debug)]
struct Trial<T> {
    a: T,
    f: T,
    d: T,
}

impl<T: Real> Default for Lbfgs<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Real> Lbfgs<T> {
    /// L-BFGS with memory 10, `c₁ = 1e-4`, `c₂ = 0.9` and at most 25 evaluations per line search.
    pub fn new() -> Self {
        let c = |x: f64| T::from_f64(x).expect("Lbfgs: constant fits the float type");
        Lbfgs {
            memory: 10,
            c1: c(1e-4),
            c2: c(0.9),
            max_evals: 25,
            pairs: VecDeque::new(),
            dir: Vec::new(),
            xt: Vec::new(),
            gt: Vec::new(),
            alphas: Vec::new(),
        }
    }

    /// The number of curvature pairs kept (at least 1).
    pub fn memory(mut self, m: usize) -> Self {
        self.memory = m.max(1);
        self
    }

    /// The Wolfe constants, `0 < c₁ < c₂ < 1`.
    ///
    /// # Panics
    /// If they are not in that order.
    pub fn wolfe(mut self, c1: T, c2: T) -> Self {
        assert!(
            T::zero() < c1 && c1 < c2 && c2 < T::one(),
            "wirtinger: Lbfgs::wolfe needs 0 < c1 < c2 < 1"
        );
        self.c1 = c1;
        self.c2 = c2;
        self
    }

    /// The most loss evaluations one line search may use (at least 2).
    pub fn max_line_search(mut self, n: usize) -> Self {
        self.max_evals = n.max(2);
        self
    }

    /// `dir = −H g` by the two-loop recursion.
    fn direction(&mut self, g: &[Complex<T>]) {
        self.dir.clear();
        self.dir.extend(g.iter().map(|g| -g));
        self.alphas.clear();
        for p in self.pairs.iter().rev() {
            let a = p.rho * re_dot(&p.s, &self.dir);
            axpy(-a, &p.y, &mut self.dir);
            self.alphas.push(a);
        }
        if let Some(p) = self.pairs.back() {
            let gamma = T::one() / (p.rho * re_dot(&p.y, &p.y));
            for d in &mut self.dir {
                *d = d.scale(gamma);
            }
        }
        for (p, &a) in self.pairs.iter().zip(self.alphas.iter().rev()) {
            let b = p.rho * re_dot(&p.y, &self.dir);
            axpy(a - b, &p.s, &mut self.dir);
        }
    }

    /// Evaluates `φ(a)` into `xt`, `gt`.
    fn trial(&mut self, obj: &mut dyn Objective<T>, x: &[Complex<T>], a: T) -> Trial<T> {
        self.xt.clear();
        self.xt
            .extend(x.iter().zip(&self.dir).map(|(x, d)| x + d.scale(a)));
        let f = obj.evaluate(&self.xt, &mut self.gt);
        Trial {
            a,
            f,
            d: re_dot(&self.gt, &self.dir),
        }
    }

    /// A step meeting the strong Wolfe conditions along `dir`, left in `xt`, `gt`; `None` if the
    /// budget runs out first.
    fn line_search(
        &mut self,
        obj: &mut dyn Objective<T>,
        x: &[Complex<T>],
        f0: T,
        dphi0: T,
        a0: T,
    ) -> Option<Trial<T>> {
        let (c1, c2) = (self.c1, self.c2);
        let armijo = |t: &Trial<T>| t.f <= f0 + c1 * t.a * dphi0;
        let curvature = |t: &Trial<T>| t.d.abs() <= -c2 * dphi0;
        let finite = |t: &Trial<T>| t.f.is_finite() && t.d.is_finite();
        let mut prev = Trial {
            a: T::zero(),
            f: f0,
            d: dphi0,
        };
        let mut a = a0;
        let mut evals = 0;
        // Bracketing phase: grow the step until it brackets an acceptable one.
        let (mut lo, mut hi) = loop {
            if evals == self.max_evals {
                return None;
            }
            evals += 1;
            let cur = self.trial(obj, x, a);
            if !finite(&cur) {
                // Too long a step for the loss: come back towards the last good one.
                a = prev.a + (a - prev.a) * T::from_f64(0.1).unwrap();
                continue;
            }
            if !armijo(&cur) || (prev.a > T::zero() && cur.f >= prev.f) {
                break (prev, cur);
            }
            if curvature(&cur) {
                return Some(cur);
            }
            if cur.d >= T::zero() {
                break (cur, prev);
            }
            prev = cur;
            a = a + a;
        };
        // Zoom phase: `lo` meets sufficient decrease with the lowest loss so far; the acceptable
        // steps lie between `lo` and `hi`.
        while evals < self.max_evals {
            let width = (hi.a - lo.a).abs();
            if width <= T::epsilon() * lo.a.abs().max(hi.a.abs()) {
                return None;
            }
            let (left, right) = if lo.a < hi.a {
                (lo.a, hi.a)
            } else {
                (hi.a, lo.a)
            };
            let margin = width * T::from_f64(0.1).unwrap();
            let mut a = cubic_min(&lo, &hi);
            if !(a >= left + margin && a <= right - margin) {
                a = (lo.a + hi.a) / (T::one() + T::one());
            }
            evals += 1;
            let cur = self.trial(obj, x, a);
            if !finite(&cur) || !armijo(&cur) || cur.f >= lo.f {
                hi = cur;
            } else {
                if curvature(&cur) {
                    return Some(cur);
                }
                if cur.d * (hi.a - lo.a) >= T::zero() {
                    hi = lo;
                }
                lo = cur;
            }
        }
        None
    }
}

/// The minimizer of the cubic through two trials' values and slopes (Nocedal & Wright (3.59));
/// NaN if the cubic has none.
fn cubic_min<T: Real>(p: &Trial<T>, q: &Trial<T>) -> T {
    let three = T::from_f64(3.0).unwrap();
    let d1 = p.d + q.d - three * (p.f - q.f) / (p.a - q.a);
    let disc = d1 * d1 - p.d * q.d;
    if disc < T::zero() {
        return T::nan();
    }
    let d2 = (q.a - p.a).signum() * disc.sqrt();
    q.a - (q.a - p.a) * (q.d + d2 - d1) / (q.d - p.d + d2 + d2)
}

impl<T: Real> Optimizer<T> for Lbfgs<T> {
    fn name(&self) -> &'static str {
        "l-bfgs"
    }

    fn reset(&mut self) {
        self.pairs.clear();
    }

    fn step(
        &mut self,
        objective: &mut dyn Objective<T>,
        x: &mut [Complex<T>],
        loss: &mut T,
        grad: &mut [Complex<T>],
    ) -> Result<(), StepError> {
        self.gt.resize(x.len(), Complex::new(T::zero(), T::zero()));
        let accepted = loop {
            self.direction(grad);
            let dphi0 = re_dot(grad, &self.dir);
            // NaN counts as "not descending".
            let descent = dphi0 < T::zero();
            if !descent && !self.pairs.is_empty() {
                // Not a descent direction (rounding in the memory): start afresh.
                self.pairs.clear();
                continue;
            }
            if !descent {
                return Err(StepError::LineSearchFailed);
            }
            let a0 = if self.pairs.is_empty() {
                let gn = re_dot(grad, grad).sqrt();
                T::one().min(T::one() / gn)
            } else {
                T::one()
            };
            if let Some(t) = self.line_search(objective, x, *loss, dphi0, a0) {
                break t;
            }
            if self.pairs.is_empty() {
                return Err(StepError::LineSearchFailed);
            }
            self.pairs.clear();
        };
        // The new curvature pair, in the oldest pair's buffers once the memory is full.
        let mut pair = if self.pairs.len() == self.memory {
            self.pairs.pop_front().unwrap()
        } else {
            Pair {
                s: Vec::new(),
                y: Vec::new(),
                rho: T::zero(),
            }
        };
        pair.s.clear();
        pair.s.extend(self.dir.iter().map(|d| d.scale(accepted.a)));
        pair.y.clear();
        pair.y
            .extend(self.gt.iter().zip(grad.iter()).map(|(a, b)| a - b));
        let sy = re_dot(&pair.s, &pair.y);
        if sy > T::epsilon() * re_dot(&pair.y, &pair.y) {
            pair.rho = T::one() / sy;
            self.pairs.push_back(pair);
        }
        x.copy_from_slice(&self.xt);
        grad.copy_from_slice(&self.gt);
        *loss = accepted.f;
        Ok(())
    }
}
