//! Limited-memory BFGS with a strong-Wolfe line search, in the real inner product `Re⟨a, b⟩`.

use super::{axpy_chunk, re_dot, re_dot_serial, update_dot, Objective, Optimizer, StepError};
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
    /// `Re⟨y, y⟩`.
    yy: T,
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

    /// `dir = −H g` by the two-loop recursion; returns `Re⟨g, dir⟩`.
    ///
    /// Each pass over `dir` finishes one update and takes the inner product the next step needs
    /// over the same chunk while it is in cache ([`update_dot`]): `2m + 1` passes for `m` pairs,
    /// the line search's slope included, instead of `4m + 4`, with the same bits as the updates
    /// and [`re_dot`]s one after another (the unit test below compares them).
    fn direction(&mut self, g: &[Complex<T>]) -> T {
        let Lbfgs {
            pairs, dir, alphas, ..
        } = self;
        alphas.clear();
        let k = pairs.len();
        dir.resize(g.len(), Complex::new(T::zero(), T::zero()));
        let negate = |off: usize, d: &mut [Complex<T>]| {
            for (d, g) in d.iter_mut().zip(&g[off..]) {
                *d = -g;
            }
        };
        if k == 0 {
            return update_dot(dir, g, negate);
        }
        // First loop, newest pair first: aᵢ = ρᵢ Re⟨sᵢ, q⟩, q ← q − aᵢ yᵢ, from q = −g.
        let mut dot = update_dot(dir, &pairs[k - 1].s, negate);
        for i in (0..k).rev() {
            let p = &pairs[i];
            let a = p.rho * dot;
            alphas.push(a);
            let y = &p.y;
            dot = if i > 0 {
                update_dot(dir, &pairs[i - 1].s, |off, d| axpy_chunk(-a, &y[off..], d))
            } else {
                // The last update, the scaling by γ = Re⟨s, y⟩ / Re⟨y, y⟩ of the newest pair, and
                // the second loop's first product.
                let newest = &pairs[k - 1];
                let gamma = T::one() / (newest.rho * newest.yy);
                update_dot(dir, &pairs[0].y, |off, d| {
                    axpy_chunk(-a, &y[off..], d);
                    for d in d {
                        *d = d.scale(gamma);
                    }
                })
            };
        }
        // Second loop, oldest pair first: bⱼ = ρⱼ Re⟨yⱼ, q⟩, q ← q + (aⱼ − bⱼ) sⱼ; the last pass
        // takes the line search's slope Re⟨g, dir⟩.
        for j in 0..k {
            let p = &pairs[j];
            let c = alphas[k - 1 - j] - p.rho * dot;
            let next = pairs.get(j + 1).map_or(g, |p| p.y.as_slice());
            dot = update_dot(dir, next, |off, d| axpy_chunk(c, &p.s[off..], d));
        }
        dot
    }

    /// Evaluates `φ(a)`: the point `x + a·dir` into `out.x`, its gradient into `out.grad`.
    fn trial(
        &self,
        obj: &mut dyn Objective<T>,
        x: &[Complex<T>],
        a: T,
        out: Out<'_, T>,
    ) -> Trial<T> {
        let dir = &self.dir;
        crate::parallel::for_chunks(out.x, |off, xt| {
            for ((o, x), d) in xt.iter_mut().zip(&x[off..]).zip(&dir[off..]) {
                *o = x + d.scale(a);
            }
        });
        let f = obj.evaluate(out.x, out.grad);
        Trial {
            a,
            f,
            d: re_dot(out.grad, dir),
        }
    }

    /// A step meeting the strong Wolfe conditions along `dir`, its point and gradient left in
    /// `out`; `None` if the budget runs out first.
    fn line_search(
        &self,
        obj: &mut dyn Objective<T>,
        x: &[Complex<T>],
        (f0, dphi0, a0): (T, T, T),
        mut out: Out<'_, T>,
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
            let cur = self.trial(obj, x, a, out.reborrow());
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
            let cur = self.trial(obj, x, a, out.reborrow());
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
        let zero = Complex::new(T::zero(), T::zero());
        let (mut xt, mut gt) = (core::mem::take(&mut self.xt), core::mem::take(&mut self.gt));
        xt.resize(x.len(), zero);
        gt.resize(x.len(), zero);
        let r = self.advance(
            objective,
            x,
            grad,
            loss,
            Out {
                x: &mut xt,
                grad: &mut gt,
            },
        );
        if r.is_ok() {
            x.copy_from_slice(&xt);
            grad.copy_from_slice(&gt);
        }
        (self.xt, self.gt) = (xt, gt);
        r
    }

    fn step_into(
        &mut self,
        objective: &mut dyn Objective<T>,
        x: &[Complex<T>],
        grad: &[Complex<T>],
        loss: &mut T,
        x_next: &mut [Complex<T>],
        grad_next: &mut [Complex<T>],
    ) -> Result<(), StepError> {
        let out = Out {
            x: x_next,
            grad: grad_next,
        };
        self.advance(objective, x, grad, loss, out)
    }
}

/// Where a trial point and its gradient go: the caller's next iterate
/// ([`Optimizer::step_into`]), or the optimizer's own buffers ([`Optimizer::step`]).
struct Out<'a, T: Real> {
    x: &'a mut [Complex<T>],
    grad: &'a mut [Complex<T>],
}

impl<T: Real> Out<'_, T> {
    fn reborrow(&mut self) -> Out<'_, T> {
        Out {
            x: self.x,
            grad: self.grad,
        }
    }
}

impl<T: Real> Lbfgs<T> {
    /// One iteration from `x`: the accepted point and its gradient end in `out`, its loss in
    /// `loss`, and the new curvature pair in the memory.
    fn advance(
        &mut self,
        objective: &mut dyn Objective<T>,
        x: &[Complex<T>],
        grad: &[Complex<T>],
        loss: &mut T,
        mut out: Out<'_, T>,
    ) -> Result<(), StepError> {
        let accepted = loop {
            let dphi0 = self.direction(grad);
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
            let search = (*loss, dphi0, a0);
            if let Some(t) = self.line_search(objective, x, search, out.reborrow()) {
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
                yy: T::zero(),
            }
        };
        crate::parallel::map_into(&mut pair.s, &self.dir, |d| d.scale(accepted.a));
        // y = g₊ − g, with Re⟨s, y⟩ and Re⟨y, y⟩ in the same pass (the bits of `re_dot`).
        let gt: &[Complex<T>] = out.grad;
        let s = &pair.s;
        pair.y.resize(gt.len(), Complex::new(T::zero(), T::zero()));
        let part = |off: usize, y: &mut [Complex<T>]| {
            for ((y, a), b) in y.iter_mut().zip(&gt[off..]).zip(&grad[off..]) {
                *y = a - b;
            }
            let s = &s[off..off + y.len()];
            (re_dot_serial(s, y), re_dot_serial(y, y))
        };
        let add = |(a, b): (T, T), (c, d): (T, T)| (a + c, b + d);
        let zero = (T::zero(), T::zero());
        let (sy, yy) = crate::parallel::chunked_sum_mut(&mut pair.y, part, add).unwrap_or(zero);
        pair.yy = yy;
        if sy > T::epsilon() * pair.yy {
            pair.rho = T::one() / sy;
            self.pairs.push_back(pair);
        }
        *loss = accepted.f;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `y ← y + α x`.
    fn axpy(alpha: f64, x: &[Complex<f64>], y: &mut [Complex<f64>]) {
        for (y, x) in y.iter_mut().zip(x) {
            *y += x.scale(alpha);
        }
    }

    /// The two-loop recursion one pass at a time, as written in Nocedal & Wright.
    fn reference(pairs: &VecDeque<Pair<f64>>, g: &[Complex<f64>]) -> Vec<Complex<f64>> {
        let mut dir: Vec<Complex<f64>> = g.iter().map(|g| -g).collect();
        let mut alphas = Vec::new();
        for p in pairs.iter().rev() {
            let a = p.rho * re_dot(&p.s, &dir);
            axpy(-a, &p.y, &mut dir);
            alphas.push(a);
        }
        if let Some(p) = pairs.back() {
            let gamma = 1.0 / (p.rho * re_dot(&p.y, &p.y));
            crate::parallel::scale(&mut dir, gamma);
        }
        for (p, &a) in pairs.iter().zip(alphas.iter().rev()) {
            let b = p.rho * re_dot(&p.y, &dir);
            axpy(a - b, &p.s, &mut dir);
        }
        dir
    }

    /// `Σ wᵢ|zᵢ − 1|⁴`, gradient `4wᵢ|dᵢ|²dᵢ`.
    struct Quartic(Vec<f64>);

    impl Objective<f64> for Quartic {
        fn evaluate(&mut self, x: &[Complex<f64>], grad: &mut [Complex<f64>]) -> f64 {
            let mut l = 0.0;
            for ((z, w), g) in x.iter().zip(&self.0).zip(grad.iter_mut()) {
                let d = z - 1.0;
                l += w * d.norm_sqr() * d.norm_sqr();
                *g = d * (4.0 * w * d.norm_sqr());
            }
            l
        }
    }

    #[test]
    fn each_step_stores_its_curvature_pair() {
        for n in [5, crate::parallel::THRESHOLD + 3] {
            let mut obj = Quartic((0..n).map(|i| 1.0 + (i % 7) as f64).collect());
            let mut x: Vec<Complex<f64>> = (0..n)
                .map(|i| Complex::new((i % 5) as f64 * 0.3, -((i % 3) as f64)))
                .collect();
            let mut g = vec![Complex::new(0.0, 0.0); n];
            let mut l = obj.evaluate(&x, &mut g);
            let mut opt = Lbfgs::<f64>::new();
            for k in 0..3 {
                let (x0, g0) = (x.clone(), g.clone());
                opt.step(&mut obj, &mut x, &mut l, &mut g).unwrap();
                let p = opt.pairs.back().unwrap();
                assert_eq!(opt.pairs.len(), k + 1);
                let s: Vec<_> = x.iter().zip(&x0).map(|(a, b)| a - b).collect();
                let y: Vec<_> = g.iter().zip(&g0).map(|(a, b)| a - b).collect();
                assert_eq!(p.y, y, "y, n {n}");
                let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
                // `s` is α·dir, `x − x₀` the same to rounding.
                assert!(rel(re_dot(&p.s, &s), re_dot(&s, &s)) < 1e-12, "s, n {n}");
                assert_eq!(p.yy.to_bits(), re_dot(&y, &y).to_bits());
                assert_eq!(p.rho.to_bits(), (1.0 / re_dot(&p.s, &p.y)).to_bits());
            }
        }
    }

    #[test]
    fn fused_passes_give_the_bits_of_one_pass_at_a_time() {
        let mut state = 5u64;
        let mut r = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        // Shorter and longer than a reduction chunk, and above the thread pool's threshold.
        for n in [3, 4097, crate::parallel::THRESHOLD + 9] {
            let mut v = |n: usize| -> Vec<Complex<f64>> {
                (0..n).map(|_| Complex::new(r(), r())).collect()
            };
            let g = v(n);
            let mut opt = Lbfgs::<f64>::new();
            for k in 0..4 {
                let slope = opt.direction(&g);
                let want = reference(&opt.pairs, &g);
                let bits = |d: &[Complex<f64>]| -> Vec<(u64, u64)> {
                    d.iter().map(|z| (z.re.to_bits(), z.im.to_bits())).collect()
                };
                assert_eq!(bits(&opt.dir), bits(&want), "n {n}, {k} pairs");
                assert_eq!(slope.to_bits(), re_dot(&g, &want).to_bits());
                let (s, y) = (v(n), v(n));
                let (sy, yy) = (re_dot(&s, &y), re_dot(&y, &y));
                // Any ρ will do for the algebra; keep it positive as the optimizer does.
                opt.pairs.push_back(Pair {
                    s,
                    y,
                    rho: 1.0 / sy.abs().max(0.1),
                    yy,
                });
            }
        }
    }
}
