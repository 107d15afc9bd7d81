//! The lecture example `f(x, y) = 2·x·y + (x − 1)²` at `x = 3`, `y = 5`, on a tape, drawn.
//!
//! Prints the value (34) and the gradient (14, 6), explains how the adjoints arrive at the leaves,
//! and writes the graph in Graphviz DOT to `target/wirtinger-examples/graph/graph.dot`, each node
//! with its value and adjoint and each edge with its partials. If Graphviz's `dot` is on the PATH
//! it also renders `graph.svg` next to it.
//!
//! ```text
//! cargo run --example graph
//! ```

use std::path::Path;
use std::process::Command;
use wirtinger::prelude::*;

fn main() -> std::io::Result<()> {
    // `Tape` in a type annotation is `Tape<f64>`.
    let tape: Tape = Tape::new();
    let x = tape.real_var(3.0);
    let y = tape.real_var(5.0);
    let f = 2.0 * x * y + (x - 1.0).powi(2);
    let g = f.backward();

    let (dx, dy) = (g.grad(&x), g.grad(&y));
    println!("f(x, y) = 2·x·y + (x − 1)²   at x = 3, y = 5");
    println!("value    f     = {}", f.value().re);
    println!("gradient df/dx = {}, df/dy = {}", dx.re, dy.re);
    assert_eq!(f.value(), c64(34.0, 0.0));
    assert_eq!((dx, dy), (c64(14.0, 0.0), c64(6.0, 0.0)));

    println!();
    println!("How the adjoints arrive (reverse mode walks the tape from f back to the leaves):");
    println!("  f = 2xy + (x−1)²      adjoint ∂f/∂f = 1 (the seed)");
    println!("  `+`                   passes 1 to 2xy and 1 to (x−1)²");
    println!("  2x·y                  gives y = 5 to 2x and 2x = 6 to y      → df/dy = 6");
    println!("  2·x                   gives 2 · 5 = 10 to x");
    println!("  (x−1)²                gives 2(x−1) = 4 to x−1");
    println!("  x − 1                 passes 4 on to x, which adds up: 10 + 4 → df/dx = 14");
    println!("Each edge of the picture is labelled with its partial g_a = ∂(node)/∂(input);");
    println!("each node shows its value and its adjoint ∂f/∂(node).");

    let dir = Path::new("target/wirtinger-examples/graph");
    std::fs::create_dir_all(dir)?;
    let dot_path = dir.join("graph.dot");
    std::fs::write(&dot_path, tape.to_dot(Some(&g)))?;
    println!();
    println!("DOT written to {}", dot_path.display());

    let svg_path = dir.join("graph.svg");
    let status = Command::new("dot")
        .arg("-Tsvg")
        .arg(&dot_path)
        .arg("-o")
        .arg(&svg_path)
        .status();
    match status {
        Ok(s) if s.success() => println!("SVG written to {}", svg_path.display()),
        other => {
            match other {
                Ok(s) => println!("Graphviz `dot` failed ({s}); render the graph with:"),
                Err(_) => println!("Graphviz `dot` is not on the PATH; install Graphviz and run:"),
            }
            println!(
                "  dot -Tsvg {} -o {}",
                dot_path.display(),
                svg_path.display()
            );
        }
    }
    Ok(())
}
