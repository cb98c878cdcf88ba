//! Modules shaped to stress the compiler rather than to be typical: the shapes that
//! once made compilation super-linear (many locals live across many blocks, deep loop
//! nests, `br_table`s over many blocks, thousands of live values, long straight-line
//! bodies, many loops under fuel), with sizes and mixes drawn from the input. The
//! compile target times them against a per-input budget (`compile.rs`).

use arbitrary::{Result, Unstructured};
use std::fmt::Write as _;

/// Sizes are divided by this outside `cargo fuzz`, so that the smoke test in
/// `cargo test` (an unoptimized build) stays quick while still covering every shape.
const SMOKE_SCALE: usize = if cfg!(fuzzing) { 1 } else { 20 };

/// A module of one or a few stress-shaped functions, as text.
pub(crate) fn stress_module(u: &mut Unstructured<'_>) -> Result<String> {
    let mut w = String::from("(module (memory 1)");
    let funcs = u.int_in_range(1..=3)?;
    for _ in 0..funcs {
        let locals: usize = u.int_in_range(0..=3000 / SMOKE_SCALE)?;
        let depth: usize = u.int_in_range(0..=800 / SMOKE_SCALE)?;
        let kind = u.int_in_range(0u8..=4)?;
        w.push_str(" (func (param i32) (result i32)");
        for _ in 0..locals {
            w.push_str(if u.arbitrary()? {
                " (local i32)"
            } else {
                " (local i64)"
            });
        }
        let body = |w: &mut String, u: &mut Unstructured<'_>| -> Result<()> {
            let reads: usize = u.int_in_range(0..=locals.min(2000 / SMOKE_SCALE))?;
            for k in 0..reads {
                let _ = write!(w, " local.get {} drop", 1 + k % locals.max(1));
            }
            Ok(())
        };
        match kind {
            // Nested loops (or blocks) with reads of many locals inside.
            0 | 1 => {
                let op = if kind == 0 { " loop" } else { " block" };
                w.push_str(&op.repeat(depth));
                if locals > 0 {
                    body(&mut w, u)?;
                }
                w.push_str(&" end".repeat(depth));
            }
            // A br_table into many blocks, writing locals after each.
            2 => {
                let blocks = depth.max(1);
                w.push_str(&" block".repeat(blocks));
                w.push_str(" local.get 0 br_table");
                for k in 0..blocks {
                    let _ = write!(w, " {k}");
                }
                for k in 0..blocks {
                    w.push_str(" end");
                    if locals > 0 {
                        let _ = write!(w, " local.get 0 local.set {}", 1 + k % locals);
                    }
                }
            }
            // Many values live at once.
            3 => {
                let n = u.int_in_range(1..=20_000 / SMOKE_SCALE)?;
                w.push_str(&" local.get 0".repeat(n));
                w.push_str(&" i32.add".repeat(n - 1));
                w.push_str(" drop");
            }
            // Many small loops in sequence, with memory traffic.
            _ => {
                let n = u.int_in_range(1..=20_000 / SMOKE_SCALE)?;
                w.push_str(&" (loop (br_if 0 (i32.load (local.get 0))))".repeat(n));
            }
        }
        w.push_str(" local.get 0)");
    }
    w.push(')');
    Ok(w)
}
