//! Structured control flow: blocks, loops, ifs, branches, `return` and `unreachable`.
//!
//! Values on the operand stack at the start of a block dominate the whole block, so only
//! merge points carry Cranelift block parameters: a frame's `dest` (its results) and a
//! loop's header (its parameters).

use super::{FuncTranslator, Result};
use crate::signatures::ir_type;
use crate::TrapKind;
use cranelift_codegen::ir::{self, BlockArg, InstBuilder, JumpTableData, Type, Value};
use kiln_frontend::wasmparser::{BlockType, BrTable};
use kiln_frontend::TypeIndex;

/// The kind of a control frame.
pub(crate) enum FrameKind {
    /// The function body; `dest` returns.
    Function,
    /// `block`
    Block,
    /// `loop`; branches go to `header`.
    Loop { header: ir::Block },
    /// `if`; `else_block` runs when the condition is zero.
    If {
        else_block: ir::Block,
        /// The block's parameters, re-pushed for the `else` arm.
        else_params: Vec<Value>,
        else_seen: bool,
        /// Fuel cost pending when the `if` branched: each arm starts with it (each
        /// arm's block has the `if` as its only predecessor), so the segment before
        /// the `if` is charged together with the arm's.
        else_fuel: i64,
    },
}

/// One entry of the control stack.
pub(crate) struct Frame {
    pub(crate) kind: FrameKind,
    /// Where execution continues after `end`, with the results as parameters.
    pub(crate) dest: ir::Block,
    /// Number of block parameters.
    pub(crate) params: usize,
    /// Number of block results.
    pub(crate) results: usize,
    /// Operand stack height below the parameters.
    pub(crate) height: usize,
    /// Whether anything jumps to `dest`.
    pub(crate) branched_to: bool,
}

pub(super) fn args(values: &[Value]) -> Vec<BlockArg> {
    values.iter().map(|&v| BlockArg::from(v)).collect()
}

impl FuncTranslator<'_, '_> {
    fn block_types(&self, bt: BlockType) -> (Vec<Type>, Vec<Type>) {
        match bt {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (vec![], vec![ir_type(t.into())]),
            BlockType::FuncType(i) => {
                let ft = &self.env.info.types[TypeIndex::from_u32(i).index()];
                (
                    ft.params().iter().map(|&t| ir_type(t)).collect(),
                    ft.results().iter().map(|&t| ir_type(t)).collect(),
                )
            }
        }
    }

    fn new_block_with(&mut self, tys: &[Type]) -> ir::Block {
        let block = self.b.create_block();
        for &t in tys {
            self.b.append_block_param(block, t);
        }
        block
    }

    fn jump(&mut self, to: ir::Block, values: &[Value]) {
        let a = self.block_args(values);
        self.b.ins().jump(to, &a);
    }

    /// Branch arguments: values as block parameters expect them (canonical vectors).
    pub(crate) fn block_args(&mut self, values: &[Value]) -> Vec<BlockArg> {
        let values = self.canonical_all(values);
        args(&values)
    }

    pub(crate) fn visit_block(&mut self, blockty: BlockType) -> Result {
        if !self.reachable {
            self.unreachable_depth += 1;
            return Ok(());
        }
        let (params, results) = self.block_types(blockty);
        let dest = self.new_block_with(&results);
        self.control.push(Frame {
            kind: FrameKind::Block,
            dest,
            params: params.len(),
            results: results.len(),
            height: self.stack.len() - params.len(),
            branched_to: false,
        });
        Ok(())
    }

    pub(crate) fn visit_loop(&mut self, blockty: BlockType) -> Result {
        if !self.reachable {
            self.unreachable_depth += 1;
            return Ok(());
        }
        let (params, results) = self.block_types(blockty);
        let ordinal = self.loops_seen;
        self.loops_seen += 1;
        // A loop entered with nothing on the operand stack is one where on-stack
        // replacement can enter: its whole state is in the locals.
        let replaceable = params.is_empty() && self.stack.is_empty();
        let header = match self.env.osr_loop {
            Some(l) if l == ordinal && replaceable && self.inline_stack.is_empty() => {
                self.osr_header.take().expect("the entry made the header")
            }
            _ => self.new_block_with(&params),
        };
        let dest = self.new_block_with(&results);
        let entry_args = self.popn(params.len());
        self.flush_fuel();
        self.jump(header, &entry_args);
        self.b.switch_to_block(header);
        // Taken before the counters' code, whose reads of locals may add SSA
        // parameters to the (not yet sealed) header.
        let header_params = self.b.block_params(header).to_vec();
        self.check_interrupts();
        self.count_loop(replaceable.then_some(ordinal));
        let height = self.stack.len();
        self.stack.extend(header_params);
        self.control.push(Frame {
            kind: FrameKind::Loop { header },
            dest,
            params: params.len(),
            results: results.len(),
            height,
            branched_to: false,
        });
        Ok(())
    }

    pub(crate) fn visit_if(&mut self, blockty: BlockType) -> Result {
        if !self.reachable {
            self.unreachable_depth += 1;
            return Ok(());
        }
        let cond = self.pop();
        let (params, results) = self.block_types(blockty);
        let dest = self.new_block_with(&results);
        let then_block = self.b.create_block();
        let else_block = self.b.create_block();
        let else_fuel = self.pending_fuel();
        self.if_laid_out(cond, then_block, else_block);
        let else_params = self.peekn(params.len()).to_vec();
        self.control.push(Frame {
            kind: FrameKind::If {
                else_block,
                else_params,
                else_seen: false,
                else_fuel,
            },
            dest,
            params: params.len(),
            results: results.len(),
            height: self.stack.len() - params.len(),
            branched_to: false,
        });
        Ok(())
    }

    pub(crate) fn visit_else(&mut self) -> Result {
        if self.unreachable_depth > 0 {
            return Ok(());
        }
        let reachable = self.reachable;
        let results = self.control.last().map_or(0, |f| f.results);
        if reachable {
            let vals = self.peekn(results).to_vec();
            let dest = self.control.last().expect("validated: else in if").dest;
            self.flush_fuel();
            self.jump(dest, &vals);
        }
        let frame = self.control.last_mut().expect("validated: else in if");
        frame.branched_to |= reachable;
        let height = frame.height;
        let FrameKind::If {
            else_block,
            else_params,
            else_seen,
            else_fuel,
        } = &mut frame.kind
        else {
            unreachable!("validated: else only follows if");
        };
        *else_seen = true;
        let else_block = *else_block;
        let else_fuel = *else_fuel;
        let params = else_params.clone();
        self.stack.truncate(height);
        self.stack.extend(params);
        self.b.switch_to_block(else_block);
        self.set_pending_fuel(else_fuel);
        self.reachable = true;
        Ok(())
    }

    pub(crate) fn visit_end(&mut self) -> Result {
        if self.unreachable_depth > 0 {
            self.unreachable_depth -= 1;
            return Ok(());
        }
        let mut frame = self.control.pop().expect("validated: end matches a frame");
        // Only a block or loop never branched to ends in a block with one predecessor,
        // its fallthrough: there the segment's fuel cost carries on.
        let merges =
            !matches!(frame.kind, FrameKind::Block | FrameKind::Loop { .. }) || frame.branched_to;
        if self.reachable {
            let vals = self.peekn(frame.results).to_vec();
            if merges {
                self.flush_fuel();
            }
            self.jump(frame.dest, &vals);
            frame.branched_to = true;
        }
        match &frame.kind {
            FrameKind::If {
                else_block,
                else_params,
                else_seen: false,
                else_fuel,
            } => {
                // No `else`: the false arm passes the parameters through as results.
                self.b.switch_to_block(*else_block);
                self.set_pending_fuel(*else_fuel);
                self.flush_fuel();
                let a = self.block_args(else_params);
                self.b.ins().jump(frame.dest, &a);
                frame.branched_to = true;
            }
            FrameKind::Loop { header } => self.b.seal_block(*header),
            _ => {}
        }
        self.stack.truncate(frame.height);
        self.reachable = frame.branched_to;
        if frame.branched_to {
            self.b.switch_to_block(frame.dest);
            self.b.seal_block(frame.dest);
            let results = self.b.block_params(frame.dest).to_vec();
            self.stack.extend(results);
        } else {
            self.b.seal_block(frame.dest);
        }
        // An inlined body's end leaves its results on the stack, in its continuation.
        if let (FrameKind::Function, true) = (&frame.kind, self.inline_stack.is_empty()) {
            if self.reachable {
                let vals = self.popn(frame.results);
                let vals = self.canonical_all(&vals);
                self.flush_fuel();
                self.b.ins().return_(&vals);
            }
            self.reachable = false;
        }
        Ok(())
    }

    /// The block a branch to relative `depth` jumps to, and how many values it carries.
    pub(crate) fn branch_target(&mut self, depth: u32) -> (ir::Block, usize) {
        let i = self.control.len() - 1 - depth as usize;
        let frame = &mut self.control[i];
        match frame.kind {
            FrameKind::Loop { header } => (header, frame.params),
            _ => {
                frame.branched_to = true;
                (frame.dest, frame.results)
            }
        }
    }

    pub(crate) fn visit_br(&mut self, relative_depth: u32) -> Result {
        let (block, n) = self.branch_target(relative_depth);
        let vals = self.peekn(n).to_vec();
        self.flush_fuel();
        self.jump(block, &vals);
        self.reachable = false;
        Ok(())
    }

    pub(crate) fn visit_br_if(&mut self, relative_depth: u32) -> Result {
        let cond = self.pop();
        let (block, n) = self.branch_target(relative_depth);
        let top = self.peekn(n).to_vec();
        let vals = self.block_args(&top);
        let next = self.b.create_block();
        self.flush_fuel();
        self.br_if_laid_out(cond, block, &vals, next);
        Ok(())
    }

    pub(crate) fn visit_br_table(&mut self, targets: BrTable<'_>) -> Result {
        let index = self.pop();
        let (default, n) = self.branch_target(targets.default());
        let top = self.peekn(n).to_vec();
        let vals = self.block_args(&top);
        let mut calls = Vec::with_capacity(targets.len() as usize);
        for depth in targets.targets() {
            let (block, _) = self.branch_target(depth?);
            calls.push(self.b.func.dfg.block_call(block, &vals));
        }
        let default_call = self.b.func.dfg.block_call(default, &vals);
        let jt = self
            .b
            .create_jump_table(JumpTableData::new(default_call, &calls));
        self.flush_fuel();
        self.b.ins().br_table(index, jt);
        self.reachable = false;
        Ok(())
    }

    pub(crate) fn visit_return(&mut self) -> Result {
        let n = self.control[0].results;
        let vals = self.peekn(n).to_vec();
        let vals = self.canonical_all(&vals);
        self.flush_fuel();
        if self.inline_stack.is_empty() {
            self.b.ins().return_(&vals);
        } else {
            // An inlined body returns to its continuation.
            self.control[0].branched_to = true;
            let dest = self.control[0].dest;
            self.jump(dest, &vals);
        }
        self.reachable = false;
        Ok(())
    }

    pub(crate) fn visit_unreachable(&mut self) -> Result {
        self.b.ins().trap(TrapKind::Unreachable.code());
        self.reachable = false;
        Ok(())
    }
}
