//! The graph made visible: Graphviz DOT output of a tape.

use super::tape::{Kind, Tape};
use super::Gradients;
use crate::Real;
use core::fmt::Write;
use num_complex::Complex;

/// A complex number in few characters: `3`, `-0.5i`, `1.25+2i`.
fn fmt_c<T: Real>(z: Complex<T>) -> String {
    let r = |x: T| {
        let s = format!("{:.6}", x.to_f64c());
        let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        if s == "-0" {
            "0".to_string()
        } else {
            s
        }
    };
    if z.im == T::zero() {
        r(z.re)
    } else if z.re == T::zero() {
        format!("{}i", r(z.im))
    } else if z.im < T::zero() {
        format!("{}-{}i", r(z.re), r(-z.im))
    } else {
        format!("{}+{}i", r(z.re), r(z.im))
    }
}

impl<T: Real> Tape<T> {
    /// The graph in Graphviz DOT: one node per op with its name and primal value, edges from each
    /// input labelled with the partials `(g_a, g_ā)` of the rules table (`g_ā` only where it is not
    /// zero). With `grads`, every scalar node also shows its adjoint: for a real-valued output `L`,
    /// `∂L/∂b` for a real node and `2∂L/∂b̄` (the gradient) for a complex one; for a complex output,
    /// `∂f/∂b` and `∂f/∂b̄`. Array nodes show their shape.
    ///
    /// Render it with `dot -Tsvg graph.dot -o graph.svg`.
    ///
    /// ```
    /// use wirtinger::prelude::*;
    ///
    /// let tape = Tape::new();
    /// let x = tape.real_var(3.0);
    /// let f = x * x;
    /// let dot = tape.to_dot(Some(&f.backward()));
    /// assert!(dot.starts_with("digraph"));
    /// ```
    pub fn to_dot(&self, grads: Option<&Gradients<T>>) -> String {
        let graph = self.graph.borrow();
        let nodes = graph.recs.iter().map(|r| r.node);
        let extras = self.extras.borrow();
        let mut s = String::from(
            "digraph tape {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n  edge [fontname=\"monospace\", fontsize=10];\n",
        );
        for (i, n) in nodes.enumerate() {
            let array = matches!(n.kind, Kind::ArrayLeaf | Kind::ArrayConstant)
                || (n.kind == Kind::Vjp && extras[n.at as usize].value.is_some());
            let info = super::tape::info_of(&graph, &extras, i as u32);
            let mut label = format!("#{i} {}", info.name);
            if array {
                let _ = write!(label, "\\nshape {:?}", &*extras[n.at as usize].shape);
            } else {
                let _ = write!(label, "\\nvalue {}", fmt_c(info.value));
                if let Some((dz, dzbar)) = grads.and_then(|g| g.scalar_pair(i as u32)) {
                    let g = grads.unwrap();
                    if g.is_real_output() {
                        let grad = dzbar + dzbar;
                        if n.real {
                            let _ = write!(
                                label,
                                "\\nadjoint {}",
                                fmt_c(Complex::new(grad.re, T::zero()))
                            );
                        } else {
                            let _ = write!(label, "\\ngrad {}", fmt_c(grad));
                        }
                    } else {
                        let _ = write!(label, "\\n∂f/∂b {}\\n∂f/∂b̄ {}", fmt_c(dz), fmt_c(dzbar));
                    }
                }
            }
            let style = match n.kind {
                Kind::Leaf | Kind::ArrayLeaf => ", style=filled, fillcolor=\"#dbeafe\"",
                Kind::Constant | Kind::ArrayConstant => ", style=dashed",
                _ if grads.is_some_and(|g| g.output() == i as u32) => {
                    ", style=filled, fillcolor=\"#fde68a\""
                }
                _ => "",
            };
            let _ = writeln!(s, "  n{i} [label=\"{label}\"{style}];");
            match n.kind {
                Kind::Unary | Kind::UnaryConj | Kind::Binary | Kind::BinaryConj => {
                    for (input, da, dac) in graph.edges(i as u32) {
                        let mut el = format!("g_a {}", fmt_c(da));
                        if let Some(g) = dac {
                            if g != Complex::new(T::zero(), T::zero()) {
                                let _ = write!(el, "\\ng_ā {}", fmt_c(g));
                            }
                        }
                        let _ = writeln!(s, "  n{input} -> n{i} [label=\"{el}\"];");
                    }
                }
                Kind::Vjp => {
                    for inp in &extras[n.at as usize].inputs {
                        let _ = writeln!(s, "  n{inp} -> n{i} [label=\"vjp\"];");
                    }
                }
                _ => {}
            }
        }
        s.push_str("}\n");
        s
    }
}
