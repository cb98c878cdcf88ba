//! Inlining at translation: a call to a small defined function, in profile-guided
//! optimized code, translates the callee's body in place of the call. The callee gets
//! fresh locals (its parameters hold the arguments), its own control and operand
//! stacks, and a continuation block that its `return`s and final `end` jump to with
//! its results. Everything else is the same translation as the callee's own code, so
//! traps, fuel and epochs behave as if the call had happened: fuel is charged operator
//! by operator either way and flushed at the same boundaries, and the loops of an
//! inlined body check the epoch like any loop. An inlined body has no stack check of
//! its own; the depth limit bounds how much deeper the caller's frame makes it.
//!
//! Every instruction of an inlined body carries the inlining's number (plus one) as
//! its source location; after compilation, the machine-code ranges of those locations
//! become the function's [`InlinedFrames`](crate::InlinedFrames), from which backtraces
//! show the inlined functions as frames.

use super::control::Frame;
use super::{FuncTranslator, Result};
use crate::shape::LocalsIn;
use crate::signatures::ir_type;
use cranelift_codegen::ir::SourceLoc;
use kiln_frontend::DefinedFuncIndex;

/// The caller's translation state, put aside while an inlined body is translated.
struct Saved {
    stack: Vec<cranelift_codegen::ir::Value>,
    control: Vec<Frame>,
    locals: Vec<super::Local>,
    unreachable_depth: u32,
    offset: usize,
    loops_seen: u32,
    srcloc: SourceLoc,
}

impl FuncTranslator<'_, '_> {
    /// Whether the guidance allows inlining defined function `d` here.
    pub(crate) fn may_inline(&self, d: DefinedFuncIndex) -> bool {
        let Some(budget) = self.env.guidance_for(self.index).and_then(|g| g.inline) else {
            return false;
        };
        let size = self.env.info.bodies[d.index()].range.len();
        d != self.index
            && self.inline_stack.len() < budget.max_depth as usize
            && !self.inline_stack.iter().any(|&(f, _)| f == d)
            && size <= budget.max_callee_bytes as usize
            && self.inlined_bytes + size <= budget.max_total_bytes as usize
    }

    /// Translates defined function `d`'s body here, with `args` as its parameters;
    /// returns its results (none, and unreachable, if it never returns).
    pub(crate) fn inline_call(
        &mut self,
        d: DefinedFuncIndex,
        args: &[cranelift_codegen::ir::Value],
    ) -> Result<Vec<cranelift_codegen::ir::Value>> {
        let info = self.env.info;
        let f = info.func_index(d);
        let ty = info.func_type(f);
        let body = info.body_reader(d);
        self.inlined_bytes += info.bodies[d.index()].range.len();
        // A call ends a fuel segment; so does entering the inlined body.
        self.flush_fuel();

        let site = u32::try_from(self.inline_frames.sites.len()).expect("few inlinings");
        let parent = self.inline_stack.last().map_or(u32::MAX, |&(_, s)| s);
        self.inline_frames.sites.push((f, parent));
        let cont = self.b.create_block();
        for &t in ty.results() {
            self.b.append_block_param(cont, ir_type(t));
        }
        let saved = Saved {
            stack: std::mem::take(&mut self.stack),
            control: std::mem::take(&mut self.control),
            locals: std::mem::take(&mut self.locals),
            unreachable_depth: std::mem::take(&mut self.unreachable_depth),
            offset: self.offset,
            loops_seen: self.loops_seen,
            srcloc: self.b.srcloc(),
        };
        self.inline_stack.push((d, site));
        self.b.set_srcloc(SourceLoc::new(site + 1));
        self.reachable = true;

        let outcome = self.translate_inlined(ty, &body, args, cont);

        let results = std::mem::take(&mut self.stack);
        self.inline_stack.pop();
        self.b.set_srcloc(saved.srcloc);
        self.stack = saved.stack;
        self.control = saved.control;
        self.locals = saved.locals;
        self.unreachable_depth = saved.unreachable_depth;
        self.offset = saved.offset;
        self.loops_seen = saved.loops_seen;
        outcome?;
        Ok(if self.reachable { results } else { Vec::new() })
    }

    fn translate_inlined(
        &mut self,
        ty: &kiln_frontend::FuncType,
        body: &kiln_frontend::wasmparser::FunctionBody<'_>,
        args: &[cranelift_codegen::ir::Value],
        cont: cranelift_codegen::ir::Block,
    ) -> Result {
        self.declare_locals_with(ty, args, body, LocalsIn::Variables)?;
        self.translate_body(body, ty.results().len(), cont)?;
        Ok(())
    }
}
