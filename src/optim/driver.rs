//! The [`minimize`] driver: the loop around an [`Optimizer`], its stopping rules, callback and
//! progress lines, and what it returns ([`Minimum`]).

use super::params::{Leaves, Params};
use super::{norm_inf, Objective, Optimizer, StepError};
use crate::reverse::{Tape, Var};
use crate::Real;
use core::cell::Cell;
use core::ops::ControlFlow;
use num_complex::Complex;
use std::time::{Duration, Instant};

/// Why [`Minimize`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The gradient's largest element modulus ([`norm_inf`]) fell to the tolerance
    /// ([`Minimize::gtol`]).
    GradientNorm,
    /// The loss changed by at most the relative tolerance in one iteration ([`Minimize::ftol`]).
    LossChange,
    /// The iteration limit was reached ([`Minimize::max_iters`]).
    MaxIterations,
    /// The line search found no step meeting the Wolfe conditions, even along the steepest
    /// descent direction: usually the loss is at its minimum to rounding error, or its gradient is
    /// wrong. The parameters are those of the last accepted step.
    LineSearchFailed,
    /// The loss or its gradient became NaN or infinite. The parameters are those of the last
    /// finite step.
    NotFinite,
    /// The callback asked to stop.
    Callback,
}

impl core::fmt::Display for Stop {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Stop::GradientNorm => "gradient norm below tolerance",
            Stop::LossChange => "relative loss change below tolerance",
            Stop::MaxIterations => "iteration limit reached",
            Stop::LineSearchFailed => {
                "no further decrease (the line search found no step meeting the Wolfe conditions: \
                 a minimum to rounding error, or a wrong gradient)"
            }
            Stop::NotFinite => "loss or gradient not finite",
            Stop::Callback => "stopped by the callback",
        })
    }
}

/// When [`Minimize`] prints progress lines (to standard error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A line about every two seconds once a run has taken two seconds, and a summary at the end
    /// of such a run: quick runs print nothing. The default.
    Auto,
    /// A line every `n` iterations, and a summary at the end.
    Every(usize),
    /// Nothing.
    Off,
}

/// What the callback of [`Minimize::callback`] sees after each iteration.
#[derive(Debug)]
pub struct Iteration<'a, T: Real> {
    /// The iteration just completed, from 1.
    pub iter: usize,
    /// The loss at the new parameters.
    pub loss: T,
    /// The largest `|gᵢ|` of the gradient `g = 2 ∂L/∂x̄` there ([`norm_inf`]: to
    /// within rounding).
    pub grad_norm: T,
    /// Loss evaluations so far (each also computes the gradient), the initial one included.
    pub evaluations: usize,
    /// The new parameters.
    pub params: &'a Params<T>,
    /// The gradient `2 ∂L/∂x̄` at the new parameters, laid out like them.
    pub grad: &'a [Complex<T>],
}

/// The result of a minimization.
#[derive(Clone, Debug)]
pub struct Minimum<T: Real = f64> {
    /// The final parameters.
    pub params: Params<T>,
    /// The loss there.
    pub loss: T,
    /// The largest `|gᵢ|` of the gradient there ([`norm_inf`]).
    pub grad_norm: T,
    /// Iterations completed.
    pub iterations: usize,
    /// Loss-and-gradient evaluations, the initial one included (a line search may use several per
    /// iteration).
    pub evaluations: usize,
    /// Why the run stopped.
    pub stop: Stop,
    /// The loss at the start and after each iteration (`iterations + 1` values).
    pub history: Vec<T>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

type Callback<'a, T> = Box<dyn FnMut(&Iteration<'_, T>) -> ControlFlow<()> + 'a>;

/// A configured minimization: an optimizer, stopping rules, a callback and progress output.
///
/// ```
/// use wirtinger::optim::{Lbfgs, Minimize, Params, Stop};
/// use wirtinger::prelude::*;
///
/// // Minimize Σ|z − z₀|² over a complex vector z.
/// let target = vec![c64(1.0, 2.0), c64(-3.0, 0.5)];
/// let mut p = Params::new();
/// let z = p.array(vec![c64(0.0, 0.0); 2], &[2]);
/// let result = Minimize::new(Lbfgs::new()).gtol(1e-10).run(p, |p| {
///     let d = p.array(z) - target.as_slice();
///     d.norm_sqr_sum()
/// });
/// assert_eq!(result.stop, Stop::GradientNorm);
/// for (a, b) in result.params.slice(z).iter().zip(&target) {
///     assert!((a - b).norm() < 1e-9);
/// }
/// ```
pub struct Minimize<'a, O, T: Real = f64> {
    optimizer: O,
    max_iters: usize,
    gtol: T,
    ftol: T,
    progress: Progress,
    callback: Option<Callback<'a, T>>,
}

/// Minimizes the loss built by `loss` with `optimizer` and the default settings of [`Minimize`]:
/// shorthand for `Minimize::new(optimizer).run(params, loss)`.
pub fn minimize<O, T, F>(optimizer: O, params: Params<T>, loss: F) -> Minimum<T>
where
    O: Optimizer<T>,
    T: Real,
    F: for<'t> FnMut(&Leaves<'t, T>) -> Var<'t, T>,
{
    Minimize::new(optimizer).run(params, loss)
}

impl<'a, O: Optimizer<T>, T: Real> Minimize<'a, O, T> {
    /// Defaults: at most 1000 iterations, `gtol = √ε` (1.5e-8 for `f64`), `ftol = ε`,
    /// [`Progress::Auto`], no callback.
    pub fn new(optimizer: O) -> Self {
        Minimize {
            optimizer,
            max_iters: 1000,
            gtol: T::epsilon().sqrt(),
            ftol: T::epsilon(),
            progress: Progress::Auto,
            callback: None,
        }
    }

    /// The iteration limit.
    pub fn max_iters(mut self, n: usize) -> Self {
        self.max_iters = n;
        self
    }

    /// Stop when the largest element modulus of the gradient `2 ∂L/∂x̄` is at most `gtol`
    /// (`0` disables the test).
    pub fn gtol(mut self, gtol: T) -> Self {
        self.gtol = gtol;
        self
    }

    /// Stop when one iteration changes the loss by at most `ftol · max(|L_old|, |L_new|)`
    /// (`0` disables the test; with a fixed-step optimizer a step may leave the loss unchanged
    /// by accident, so keep it small).
    pub fn ftol(mut self, ftol: T) -> Self {
        self.ftol = ftol;
        self
    }

    /// Progress output; [`Progress::Off`] silences it.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Shorthand for `progress(Progress::Off)`.
    pub fn quiet(self) -> Self {
        self.progress(Progress::Off)
    }

    /// Called after every iteration; return `ControlFlow::Break(())` to stop ([`Stop::Callback`]).
    pub fn callback(
        mut self,
        callback: impl FnMut(&Iteration<'_, T>) -> ControlFlow<()> + 'a,
    ) -> Self {
        self.callback = Some(Box::new(callback));
        self
    }

    /// Minimizes the real loss that `loss` records on a tape, starting from `params`.
    ///
    /// `loss` receives the parameters as leaves of a tape ([`Leaves`]) and returns the loss,
    /// which must be real-valued (built from `norm_sqr`, `re`, …). One tape is kept for the whole
    /// run and cleared before each evaluation, so its buffers are reused.
    ///
    /// # Panics
    /// If the loss is complex-valued.
    pub fn run<F>(self, params: Params<T>, mut loss: F) -> Minimum<T>
    where
        F: for<'t> FnMut(&Leaves<'t, T>) -> Var<'t, T>,
    {
        let mut tape = Tape::new();
        let layout = params.layout();
        // The optimizer's point goes on the tape as it is: no copy into a `Params` first.
        self.drive(params, move |x: &[Complex<T>], grad: &mut [Complex<T>]| {
            tape.clear();
            let leaves = layout.leaves(&tape, x);
            let l = loss(&leaves);
            let g = l.backward();
            assert!(
                g.is_real_output(),
                "wirtinger: Minimize::run: the loss is complex-valued ({}); minimize a real \
                 loss (norm_sqr, re, …)",
                l.value()
            );
            leaves.write_grad(&layout, &g, grad);
            layout.project_real(grad);
            l.value().re
        })
    }

    /// Minimizes a loss whose gradient the caller computes: `objective(params, grad)` returns the
    /// loss at `params` and writes `2 ∂L/∂x̄` into `grad` (laid out like
    /// [`Params::as_slice`]; for real blocks, the real derivative). Imaginary parts written into
    /// real blocks are ignored.
    pub fn run_with_gradient<F>(self, params: Params<T>, mut objective: F) -> Minimum<T>
    where
        F: FnMut(&Params<T>, &mut [Complex<T>]) -> T,
    {
        let mut scratch = params.clone();
        self.drive(params, move |x: &[Complex<T>], grad: &mut [Complex<T>]| {
            scratch.as_mut_slice().copy_from_slice(x);
            let l = objective(&scratch, grad);
            scratch.project_real(grad);
            l
        })
    }

    /// The loop of [`run`](Self::run) and [`run_with_gradient`](Self::run_with_gradient), on an
    /// objective of the flat parameter vector that keeps real blocks' gradients real.
    ///
    /// Two buffers each for the parameters and the gradient: the optimizer writes the next
    /// iterate into the spare pair ([`Optimizer::step_into`]), which is swapped in when the step
    /// is accepted; after a failed or non-finite step the last point is still in place. So an
    /// iteration copies no full vector but for the objective's own copies (onto the tape and off
    /// it in `run`, into the scratch `Params` in `run_with_gradient`).
    fn drive<F>(mut self, mut params: Params<T>, mut objective: F) -> Minimum<T>
    where
        F: FnMut(&[Complex<T>], &mut [Complex<T>]) -> T,
    {
        let start = Instant::now();
        let n = params.len();
        let zero = Complex::new(T::zero(), T::zero());
        let mut grad = vec![zero; n];
        let evals = Cell::new(0usize);
        let mut eval = |x: &[Complex<T>], g: &mut [Complex<T>]| -> T {
            evals.set(evals.get() + 1);
            objective(x, g)
        };
        let mut loss = eval(params.as_slice(), &mut grad);
        let mut gnorm = norm_inf(&grad);
        let mut history = vec![loss];
        self.optimizer.reset();
        let mut printer = Printer::new(self.progress, self.optimizer.name(), start);
        let mut iterations = 0;
        let finite = |l: T, g: T| l.is_finite() && g.is_finite();
        let mut stop = if !finite(loss, gnorm) {
            Stop::NotFinite
        } else if gnorm <= self.gtol {
            Stop::GradientNorm
        } else {
            Stop::MaxIterations
        };
        // The spare buffers, allocated once a step is to be taken.
        let (mut next, mut grad_next) = (Vec::new(), Vec::new());
        while stop == Stop::MaxIterations && iterations < self.max_iters {
            next.resize(n, zero);
            grad_next.resize(n, zero);
            let old_loss = loss;
            let mut new_loss = loss;
            let mut obj = FnObjective(&mut eval);
            let step = self.optimizer.step_into(
                &mut obj,
                params.as_slice(),
                &grad,
                &mut new_loss,
                &mut next,
                &mut grad_next,
            );
            let failed = match step {
                Err(StepError::LineSearchFailed) => Some(Stop::LineSearchFailed),
                Ok(()) => {
                    params.project_real(&mut next);
                    let g = norm_inf(&grad_next);
                    if finite(new_loss, g) {
                        gnorm = g;
                        None
                    } else {
                        Some(Stop::NotFinite)
                    }
                }
            };
            if let Some(why) = failed {
                // `params`, `grad`, `loss` and `gnorm` are still those of the last accepted point.
                stop = why;
                break;
            }
            core::mem::swap(params.data_mut(), &mut next);
            core::mem::swap(&mut grad, &mut grad_next);
            loss = new_loss;
            iterations += 1;
            history.push(loss);
            printer.line(iterations, loss, gnorm, evals.get());
            if let Some(cb) = self.callback.as_mut() {
                let it = Iteration {
                    iter: iterations,
                    loss,
                    grad_norm: gnorm,
                    evaluations: evals.get(),
                    params: &params,
                    grad: &grad,
                };
                if cb(&it).is_break() {
                    stop = Stop::Callback;
                    break;
                }
            }
            if gnorm <= self.gtol {
                stop = Stop::GradientNorm;
            } else if self.ftol > T::zero()
                && (old_loss - loss).abs() <= self.ftol * old_loss.abs().max(loss.abs())
            {
                stop = Stop::LossChange;
            }
        }
        printer.summary(iterations, loss, gnorm, evals.get(), stop);
        Minimum {
            params,
            loss,
            grad_norm: gnorm,
            iterations,
            evaluations: evals.get(),
            stop,
            history,
            elapsed: start.elapsed(),
        }
    }
}

/// A closure as an [`Objective`].
struct FnObjective<'f, F>(&'f mut F);

impl<'f, T: Real, F: FnMut(&[Complex<T>], &mut [Complex<T>]) -> T> Objective<T>
    for FnObjective<'f, F>
{
    fn evaluate(&mut self, x: &[Complex<T>], grad: &mut [Complex<T>]) -> T {
        (self.0)(x, grad)
    }
}

/// Progress lines on standard error.
struct Printer {
    mode: Progress,
    name: &'static str,
    start: Instant,
    last: Instant,
    printed: bool,
}

impl Printer {
    fn new(mode: Progress, name: &'static str, start: Instant) -> Self {
        Printer {
            mode,
            name,
            start,
            last: start,
            printed: false,
        }
    }

    fn line<T: Real>(&mut self, iter: usize, loss: T, gnorm: T, evals: usize) {
        let due = match self.mode {
            Progress::Off => false,
            Progress::Every(n) => n > 0 && iter % n == 0,
            Progress::Auto => self.last.elapsed() >= Duration::from_secs(2),
        };
        if due {
            self.last = Instant::now();
            self.printed = true;
            eprintln!(
                "{}: iter {iter:>6}  loss {:<12.6e}  |g|∞ {:<10.3e}  evals {evals:>6}  {:>7.1} s",
                self.name,
                loss.to_f64().unwrap_or(f64::NAN),
                gnorm.to_f64().unwrap_or(f64::NAN),
                self.start.elapsed().as_secs_f64()
            );
        }
    }

    fn summary<T: Real>(&self, iter: usize, loss: T, gnorm: T, evals: usize, stop: Stop) {
        if self.printed {
            eprintln!(
                "{}: stopped after {iter} iterations ({stop}); loss {:.6e}, |g|∞ {:.3e}, {evals} \
                 evaluations, {:.1} s",
                self.name,
                loss.to_f64().unwrap_or(f64::NAN),
                gnorm.to_f64().unwrap_or(f64::NAN),
                self.start.elapsed().as_secs_f64()
            );
        }
    }
}
