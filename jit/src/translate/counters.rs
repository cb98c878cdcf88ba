//! Profile counters in tiered baseline code: one add per function entry and per loop
//! iteration (`VMFuncCounters` in the instance's vmctx). A function entry that brings
//! the count to the policy's threshold makes a cold call to the `tier_up` builtin. A
//! loop header polls the `loop_poll` builtin every [`loop_poll_interval`] iterations:
//! the runtime queues the function (and, for a loop entered on an empty operand stack,
//! an on-stack-replacement variant of it) once the loop count passes its threshold,
//! and answers with the variant's code when it is ready; the baseline frame then
//! tail-calls it with every local, and the loop goes on in optimized code.

use super::FuncTranslator;
use crate::{call_site, func_counters, Builtin};
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
    /// Record the targets of `call_indirect` sites (what profile-guided code needs).
    pub record_targets: bool,
    /// Count which way each `if` and `br_if` goes (what layout from branch counts
    /// needs).
    pub count_branches: bool,
}

impl FuncTranslator<'_, '_> {
    /// Counts an entry into this function (at its start), if the code counts.
    pub(crate) fn count_call(&mut self) {
        if let Some(c) = self.env.counting {
            self.count(func_counters::CALLS, c.call_threshold);
        }
    }

    /// Counts a pass through a loop header, if the code counts, and polls for
    /// optimized code. `osr` is the loop's ordinal if on-stack replacement can enter
    /// it.
    pub(crate) fn count_loop(&mut self, osr: Option<u32>) {
        let Some(c) = self.env.counting else {
            return;
        };
        let Some(base) = self.env.offsets.func_counters(self.index) else {
            return;
        };
        // A variant taking more locals than this is never asked for.
        let osr = osr.filter(|_| self.locals.len() <= MAX_OSR_LOCALS);
        let new = self.bump(base + func_counters::LOOPS);
        let mask = i64::from(loop_poll_interval(c.loop_threshold) - 1);
        let low = self.b.ins().band_imm_s(new, mask);
        let due = self.b.ins().icmp_imm_s(IntCC::Equal, low, 0);
        let next = self.enter_cold_if(due);
        let func = self.b.ins().iconst(I32, i64::from(self.index.as_u32()));
        let ordinal = self.b.ins().iconst(I32, i64::from(osr.unwrap_or(u32::MAX)));
        let code = self
            .call_builtin(Builtin::loop_poll, &[func, ordinal])
            .expect("loop_poll returns code");
        if osr.is_some() {
            let enter = self.b.create_block();
            self.b.ins().brif(code, enter, &[], next, &[]);
            self.b.seal_block(enter);
            self.b.set_cold_block(enter);
            self.b.switch_to_block(enter);
            self.enter_osr(code);
        } else {
            self.b.ins().jump(next, &[]);
        }
        self.b.seal_block(next);
        self.b.switch_to_block(next);
    }

    /// Records the target of the `call_indirect` at the current offset (checked
    /// `func_ref`), if the code counts and records targets: a call to the site's first recorded target is
    /// counted inline; anything else (and the first call, before the function's
    /// feedback exists) goes to the `record_call_target` builtin, unless the site is
    /// megamorphic.
    pub(crate) fn record_call_target(&mut self, func_ref: cranelift_codegen::ir::Value) {
        if !self.env.counting.is_some_and(|c| c.record_targets) {
            return;
        }
        let Some(base) = self.env.offsets.func_counters(self.index) else {
            return;
        };
        let Ok(offset) = u32::try_from(self.offset) else {
            return;
        };
        let site = self.call_sites.len() as u32;
        self.call_sites.push(offset);
        let flags = MemFlagsData::trusted();
        let ptr = crate::signatures::POINTER;
        let feedback = self.b.ins().load(
            ptr,
            flags,
            self.vmctx,
            (base + func_counters::FEEDBACK) as i32,
        );
        let check = self.b.create_block();
        let hit = self.b.create_block();
        let miss = self.b.create_block();
        let record = self.b.create_block();
        let next = self.b.create_block();
        self.b.ins().brif(feedback, check, &[], record, &[]);
        self.b.seal_block(check);
        self.b.switch_to_block(check);
        let at = (site * call_site::SIZE) as i32;
        let first = self
            .b
            .ins()
            .load(ptr, flags, feedback, at + call_site::TARGETS as i32);
        let same = self.b.ins().icmp(IntCC::Equal, first, func_ref);
        self.b.ins().brif(same, hit, &[], miss, &[]);
        self.b.seal_block(hit);
        self.b.seal_block(miss);
        self.b.switch_to_block(hit);
        let count_at = at + call_site::COUNTS as i32;
        let count = self.b.ins().load(I32, flags, feedback, count_at);
        // Saturating: a count that would wrap stays at u32::MAX.
        let bumped = self.b.ins().iadd_imm_s(count, 1);
        let wrapped = self.b.ins().icmp_imm_s(IntCC::Equal, bumped, 0);
        let count = self.b.ins().select(wrapped, count, bumped);
        self.b.ins().store(flags, count, feedback, count_at);
        self.b.ins().jump(next, &[]);
        self.b.switch_to_block(miss);
        let mega = self
            .b
            .ins()
            .load(I32, flags, feedback, at + call_site::MEGAMORPHIC as i32);
        self.b.ins().brif(mega, next, &[], record, &[]);
        self.b.seal_block(record);
        self.b.set_cold_block(record);
        self.b.switch_to_block(record);
        let func = self.b.ins().iconst(I32, i64::from(self.index.as_u32()));
        let site = self.b.ins().iconst(I32, i64::from(site));
        self.call_builtin(Builtin::record_call_target, &[func, site, func_ref]);
        self.b.ins().jump(next, &[]);
        self.b.seal_block(next);
        self.b.switch_to_block(next);
    }

    /// Replaces this frame with the on-stack-replacement variant at `code`, passing
    /// every local; the variant returns this function's results to its caller.
    fn enter_osr(&mut self, code: cranelift_codegen::ir::Value) {
        let mut args = vec![self.vmctx, self.vmctx];
        let mut types = Vec::with_capacity(self.locals.len());
        for i in 0..self.locals.len() {
            let v = match self.locals[i] {
                super::Local::Var(var) => self.b.use_var(var),
                super::Local::Slot(slot, ty) => {
                    self.b
                        .ins()
                        .stack_load(crate::signatures::POINTER, ty, slot, 0)
                }
            };
            types.push(self.b.func.dfg.value_type(v));
            args.push(v);
        }
        let ty = self
            .env
            .info
            .func_type(self.env.info.func_index(self.index));
        let sig = crate::signatures::osr_signature(ty, &types);
        let sig = self.b.import_signature(sig);
        self.b.ins().return_call_indirect(sig, code, &args);
    }

    fn count(&mut self, field: u32, threshold: u32) {
        let Some(base) = self.env.offsets.func_counters(self.index) else {
            return;
        };
        let new = self.bump(base + field);
        let hot = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, new, i64::from(threshold.max(1)));
        let next = self.enter_cold_if(hot);
        let index = self.b.ins().iconst(I32, i64::from(self.index.as_u32()));
        self.call_builtin(Builtin::tier_up, &[index]);
        self.b.ins().jump(next, &[]);
        self.b.seal_block(next);
        self.b.switch_to_block(next);
    }

    /// Branches to a new cold block when `cond` is non-zero and continues there; returns
    /// the block where the other path goes on (unsealed: the cold path joins it).
    fn enter_cold_if(
        &mut self,
        cond: cranelift_codegen::ir::Value,
    ) -> cranelift_codegen::ir::Block {
        let cold = self.b.create_block();
        let next = self.b.create_block();
        self.b.ins().brif(cond, cold, &[], next, &[]);
        self.b.seal_block(cold);
        self.b.set_cold_block(cold);
        self.b.switch_to_block(cold);
        next
    }

    /// Adds one to the `u32` counter at vmctx offset `offset`; returns the new value.
    fn bump(&mut self, offset: u32) -> cranelift_codegen::ir::Value {
        let offset = offset as i32;
        // The counters are this instance's own and only its store's thread runs it.
        let flags = MemFlagsData::trusted();
        let old = self.b.ins().load(I32, flags, self.vmctx, offset);
        let new = self.b.ins().iadd_imm_s(old, 1);
        self.b.ins().store(flags, new, self.vmctx, offset);
        new
    }
}

/// Functions with more locals than this are not replaced on the stack (the variant
/// would take them all as arguments).
pub const MAX_OSR_LOCALS: usize = 1000;

/// How many iterations pass between two polls of a loop header: the loop threshold
/// rounded up to a power of two, at most 1024 (a poll is a call into the runtime).
pub fn loop_poll_interval(loop_threshold: u32) -> u32 {
    loop_threshold.clamp(1, 1024).next_power_of_two()
}
