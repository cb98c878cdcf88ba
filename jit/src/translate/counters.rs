//! Profile counters in tiered baseline code: one add per function entry and per loop
//! iteration (`VMFuncCounters` in the instance's vmctx), and a cold call to the
//! `tier_up` builtin when a counter reaches the policy's threshold.

use super::FuncTranslator;
use crate::{func_counters, Builtin};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::I32;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData};

/// What baseline code counts, and when it asks for optimization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Counting {
    /// Entries after which a function is queued for optimization (0 and 1: the first).
    pub call_threshold: u32,
    /// Loop iterations (over all of the function's loops) after which it is queued.
    pub loop_threshold: u32,
}

impl FuncTranslator<'_, '_> {
    /// Counts an entry into this function (at its start), if the code counts.
    pub(crate) fn count_call(&mut self) {
        if let Some(c) = self.env.counting {
            self.count(func_counters::CALLS, c.call_threshold);
        }
    }

    /// Counts a pass through a loop header, if the code counts.
    pub(crate) fn count_loop(&mut self) {
        if let Some(c) = self.env.counting {
            self.count(func_counters::LOOPS, c.loop_threshold);
        }
    }

    fn count(&mut self, field: u32, threshold: u32) {
        let Some(base) = self.env.offsets.func_counters(self.index) else {
            return;
        };
        let offset = (base + field) as i32;
        // The counters are this instance's own and only its store's thread runs it.
        let flags = MemFlagsData::trusted();
        let old = self.b.ins().load(I32, flags, self.vmctx, offset);
        let new = self.b.ins().iadd_imm_s(old, 1);
        self.b.ins().store(flags, new, self.vmctx, offset);
        let hot = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, new, i64::from(threshold.max(1)));
        let request = self.b.create_block();
        let next = self.b.create_block();
        self.b.ins().brif(hot, request, &[], next, &[]);
        self.b.seal_block(request);
        self.b.set_cold_block(request);
        self.b.switch_to_block(request);
        let index = self.b.ins().iconst(I32, i64::from(self.index.as_u32()));
        self.call_builtin(Builtin::tier_up, &[index]);
        self.b.ins().jump(next, &[]);
        self.b.seal_block(next);
        self.b.switch_to_block(next);
    }
}
