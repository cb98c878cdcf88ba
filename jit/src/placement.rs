//! Where a function's code should start relative to 64-byte boundaries, so that its
//! innermost loops fall well against instruction-fetch lines.
//!
//! Cranelift 0.135 cannot align loop headers (it has no padding inside a function), and
//! on this project's machines a small hot loop runs up to twice as slow when it straddles
//! a 64-byte line as when it sits inside one (BENCHMARKS.md, "Code placement"). What the
//! compiler *can* choose is the function's start: any byte, unless its constants need
//! alignment. This module picks the offset past a line boundary under which the loops
//! touch the fewest lines (relative to the fewest each could touch), counting deeper
//! loops as hotter, from Cranelift's block layout (`machine_code_cfg_info`).
//!
//! Cranelift's control-flow edges are only right for functions without cold blocks: it
//! emits cold blocks last but pairs each block's successors with the start of the block
//! *emitted* at that block's index in its lowering order (`VCode::emit`, 0.135), so
//! every edge after the first cold block starts in the wrong place. Functions with cold
//! blocks (a profile's cold branch sides, slow paths, blocks that end in a trap) take
//! their edges from the machine code instead ([`x64_branch_edges`]): Cranelift's x86-64
//! backend ends blocks with `jcc rel32` and `jmp rel32` only, whose targets must be
//! block starts.

use std::collections::BTreeMap;

/// Fetch-line size the placement optimizes for.
pub const LINE: u32 = 64;

/// How much hotter a loop nested one level deeper is assumed to be.
const DEPTH_WEIGHT: f64 = 8.0;

/// The least relative gain in cost worth padding for. Below it, placement depends on
/// what this model leaves out (branch-predictor and decoder details, measured to move a
/// 14-line loop by ±20 % on this machine) more than on line crossings.
const MIN_GAIN: f64 = 0.25;

/// Where compiled functions start in executable memory: the policy the runtime applies
/// when it publishes code (the jit only reports each function's preference,
/// [`CompiledFunction::loop_placement`](crate::CompiledFunction)).
///
/// Cranelift cannot align loop headers, and where a small hot loop falls against 64-byte
/// instruction-fetch lines moves some programs by up to 2× on this project's machines
/// (BENCHMARKS.md, "Code placement"). A function's start is the one thing left to choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CodePlacement {
    /// Each function with loops starts where its loops straddle the fewest 64-byte
    /// lines, inner loops first (chosen by the JIT from its block layout; up to 63
    /// bytes of padding before it); others start at the next 16-byte boundary.
    #[default]
    Loops,
    /// Every function at the next boundary its code needs (16 bytes at least).
    Packed,
    /// Every function this many bytes (modulo 64, rounded up to what its constants
    /// need) past a 64-byte boundary. For benchmarks, to average a comparison over
    /// placements.
    Offset(u32),
}

/// Nesting beyond this adds no more weight (keeps the weights from overflowing).
const MAX_DEPTH: u32 = 12;

/// Functions with more loops than this are left packed: no one placement suits them
/// all, and the search's cost grows with the square of the count (a hostile module can
/// have tens of thousands).
const MAX_LOOPS: usize = 256;

/// A loop in code-offset terms: the header's offset and the end of its last block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loop {
    start: u32,
    end: u32,
}

/// The offset past a [`LINE`] boundary (a multiple of `alignment`, below [`LINE`]) at
/// which the function should start, or `None` when it has no loops or every placement
/// is as good as any other.
///
/// `block_starts` are the offsets of the emitted blocks, ascending; `edges` are the
/// control-flow edges between them as `(from block start, to block start)`; `code_len`
/// ends the last block. An edge to a block at or before its source closes a loop.
pub fn loop_placement(
    block_starts: &[u32],
    edges: &[(u32, u32)],
    code_len: u32,
    alignment: u32,
) -> Option<u32> {
    let alignment = alignment.max(1);
    if alignment >= LINE {
        return None;
    }
    let loops = loops(block_starts, edges, code_len);
    if loops.is_empty() || loops.len() > MAX_LOOPS {
        return None;
    }
    // A loop's cost at an offset is the number of lines it touches relative to the
    // fewest it could touch: a 30-byte loop straddling two lines fetches twice what it
    // needs, a 600-byte loop touching 11 lines instead of 10 only a tenth more.
    // Weight and fewest lines per loop, computed once (quadratic in the number of
    // loops, which `MAX_LOOPS` bounds).
    let shapes: Vec<(f64, u32)> = loops
        .iter()
        .map(|l| {
            let depth = loops.iter().filter(|o| contains(o, l)).count() as u32;
            let weight = DEPTH_WEIGHT.powi(depth.min(MAX_DEPTH) as i32);
            (weight, (l.end - l.start).div_ceil(LINE).max(1))
        })
        .collect();
    let cost = |offset: u32| -> f64 {
        loops
            .iter()
            .zip(&shapes)
            .map(|(l, &(weight, fewest))| {
                weight * f64::from(crossings(l, offset) + 1) / f64::from(fewest)
            })
            .sum()
    };
    let costs: Vec<(f64, u32)> = (0..LINE)
        .step_by(alignment as usize)
        .map(|o| (cost(o), o))
        .collect();
    let (best, offset) =
        costs
            .iter()
            .copied()
            .fold((f64::INFINITY, 0), |a, b| if b.0 < a.0 { b } else { a });
    let worst = costs.iter().map(|c| c.0).fold(0.0, f64::max);
    // Where the best placement gains little, any placement is as good (no padding).
    (best * (1.0 + MIN_GAIN) < worst).then_some(offset)
}

/// The direct branches at the ends of the blocks of x86-64 code that Cranelift emitted,
/// as `(from block start, to block start)`: each block's trailing `jmp rel32` (`E9`)
/// and `jcc rel32` (`0F 8x`) instructions, read backwards from its end while their
/// targets are block starts. Fallthroughs and jump tables are not included; loops only
/// need the backward edges, which are branches.
pub fn x64_branch_edges(code: &[u8], block_starts: &[u32]) -> Vec<(u32, u32)> {
    let rel32 = |at: usize| -> Option<i64> {
        let b: [u8; 4] = code.get(at..at + 4)?.try_into().ok()?;
        Some(i64::from(i32::from_le_bytes(b)))
    };
    let is_start = |t: i64| u32::try_from(t).is_ok_and(|t| block_starts.binary_search(&t).is_ok());
    let mut edges = Vec::new();
    for (i, &start) in block_starts.iter().enumerate() {
        let end = block_starts
            .get(i + 1)
            .map_or(code.len(), |&e| e as usize)
            .min(code.len());
        let start_at = start as usize;
        let mut at = end;
        loop {
            let jmp = at >= start_at + 5 && code[at - 5] == 0xE9;
            let jcc = at >= start_at + 6 && code[at - 6] == 0x0F && code[at - 5] & 0xF0 == 0x80;
            let (len, target) = match (jmp, jcc) {
                (true, _) => (5, rel32(at - 4).map(|r| at as i64 + r)),
                (false, true) => (6, rel32(at - 4).map(|r| at as i64 + r)),
                _ => break,
            };
            match target.filter(|&t| is_start(t)) {
                Some(t) => edges.push((start, t as u32)),
                None => break,
            }
            at -= len;
        }
    }
    edges
}

/// The loops of a function: one per loop header, spanning from the header to the end of
/// the furthest block that branches back to it.
fn loops(block_starts: &[u32], edges: &[(u32, u32)], code_len: u32) -> Vec<Loop> {
    let end_of = |start: u32| -> u32 {
        let next = block_starts.partition_point(|&s| s <= start);
        block_starts.get(next).copied().unwrap_or(code_len)
    };
    let mut ends: BTreeMap<u32, u32> = BTreeMap::new();
    for &(from, to) in edges {
        if to <= from {
            let end = ends.entry(to).or_insert(0);
            *end = (*end).max(end_of(from));
        }
    }
    ends.into_iter()
        .map(|(start, end)| Loop { start, end })
        .collect()
}

/// Whether `outer` strictly contains `inner`.
fn contains(outer: &Loop, inner: &Loop) -> bool {
    outer != inner && outer.start <= inner.start && inner.end <= outer.end
}

/// How many line boundaries `l` crosses when the function starts `offset` past one.
fn crossings(l: &Loop, offset: u32) -> u32 {
    let first = (l.start + offset) / LINE;
    let last = (l.end.max(l.start + 1) - 1 + offset) / LINE;
    last - first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_are_read_from_x64_block_ends() {
        // Block 0 [0, 8): two bytes of code, then `jcc` back to 0 (loop). Block 1
        // [8, 19): `jcc` to 19, then `jmp` back to 8. Block 2 [19, 25): code ending in
        // bytes that look like a `jmp` to no block start.
        let mut code = vec![0x90, 0x90, 0x0F, 0x85];
        code.extend_from_slice(&(-8i32).to_le_bytes());
        code.extend_from_slice(&[0x0F, 0x84]);
        code.extend_from_slice(&(5i32).to_le_bytes());
        code.push(0xE9);
        code.extend_from_slice(&(-11i32).to_le_bytes());
        code.extend_from_slice(&[0x90, 0xE9, 0x40, 0, 0, 0]);
        let starts = [0, 8, 19];
        let edges = x64_branch_edges(&code, &starts);
        assert_eq!(edges, vec![(0, 0), (8, 8), (8, 19)]);
        // Truncated or empty code finds nothing and does not panic.
        assert_eq!(x64_branch_edges(&code[..3], &starts), vec![]);
        assert_eq!(x64_branch_edges(&[], &[]), vec![]);
    }

    #[test]
    fn no_loops_no_preference() {
        assert_eq!(
            loop_placement(&[0, 10, 40], &[(0, 10), (10, 40)], 60, 16),
            None
        );
    }

    #[test]
    fn a_small_loop_is_kept_inside_one_line() {
        // Loop [0x13, 0x30): fits a line at offsets 0, 16 and 48, straddles one at 32.
        let starts = [0, 0x13, 0x30];
        let edges = [(0, 0x13), (0x13, 0x13), (0x13, 0x30)];
        assert_eq!(loop_placement(&starts, &edges, 0x40, 16), Some(0));
        // Loop [0x33, 0x50) crosses 0x40 unless the function moves by 16 or more.
        let starts = [0, 0x33, 0x50];
        let edges = [(0, 0x33), (0x33, 0x33), (0x33, 0x50)];
        assert_eq!(loop_placement(&starts, &edges, 0x60, 16), Some(16));
    }

    #[test]
    fn the_inner_loop_outweighs_the_outer() {
        // Inner loop [0x30, 0x58) fits a line at offsets 16 and 32; outer [0x08, 0x70)
        // at 16 only. Whatever wins, the inner loop must not straddle.
        let starts = [0, 0x08, 0x30, 0x58, 0x70];
        let edges = [
            (0, 0x08),
            (0x08, 0x30),
            (0x30, 0x30),
            (0x30, 0x58),
            (0x58, 0x08),
            (0x58, 0x70),
        ];
        let got = loop_placement(&starts, &edges, 0x80, 16).expect("a preference");
        let inner = Loop {
            start: 0x30,
            end: 0x58,
        };
        assert_eq!(crossings(&inner, got), 0);
    }

    #[test]
    fn sieves_three_loops() {
        // shootout-sieve's main: inner [0xcd, 0xe8) fits a line at offsets 0..=24 and
        // 51..=63, middle [0xa9, 0x105) two lines at 23..=59, outer [0x87, 0x11d)
        // three lines at 0..=35 and 57..=63. All three hold at 23, 24, 57, 58, 59.
        let starts = [
            0, 0x87, 0xa9, 0xbc, 0xcd, 0xe8, 0xee, 0xfd, 0x105, 0x115, 0x11d,
        ];
        let edges = [
            (0, 0x87),
            (0x87, 0xa9),
            (0xa9, 0xbc),
            (0xa9, 0xee),
            (0xbc, 0xcd),
            (0xbc, 0xe8),
            (0xcd, 0xcd),
            (0xcd, 0xe8),
            (0xe8, 0xee),
            (0xee, 0xfd),
            (0xee, 0x105),
            (0xfd, 0xa9),
            (0x105, 0x115),
            (0x105, 0x11d),
            (0x115, 0x87),
        ];
        let got = loop_placement(&starts, &edges, 0x1d0, 1).expect("a preference");
        assert!([23, 24, 57, 58, 59].contains(&got), "{got}");
    }

    #[test]
    fn too_many_loops_are_left_packed() {
        // 300 one-block loops of 40 bytes: each could avoid straddling, but the search
        // is bounded.
        let starts: Vec<u32> = (0..300).map(|i| i * 40).collect();
        let edges: Vec<(u32, u32)> = starts.iter().map(|&s| (s, s)).collect();
        assert_eq!(loop_placement(&starts, &edges, 300 * 40, 1), None);
        assert_eq!(loop_placement(&starts[..1], &edges[..1], 40, 1), Some(0));
    }

    #[test]
    fn wide_alignment_leaves_no_choice() {
        let starts = [0, 0x33, 0x50];
        let edges = [(0x33, 0x33)];
        assert_eq!(loop_placement(&starts, &edges, 0x60, 64), None);
        // With 32-byte alignment only 0 and 32 are candidates.
        assert_eq!(loop_placement(&starts, &edges, 0x60, 32), Some(32));
    }
}
