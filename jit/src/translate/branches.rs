//! Branch profiles: profile-guided baseline code counts which way each `if` and
//! `br_if` goes, and profile-guided optimized code lays the cold side of a one-sided
//! branch out after the function's hot code (Cranelift's cold blocks), so that the hot
//! path falls through.
//!
//! Counting costs one add per branch, with no branch of its own: the condition picks the
//! counter (`VMBranchCounts`, `crate::branch_site`). The function's array is loaded
//! once, at entry, where the `branch_counters` builtin allocates it on the first call.

use super::FuncTranslator;
use crate::{branch_site, func_counters, Builtin, ColdSide, TrapKind};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I32, I64};
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, Value};

impl FuncTranslator<'_, '_> {
    /// At the entry of baseline code that records a profile for guided code: the
    /// function's branch counters, allocated now if this is its first call.
    pub(crate) fn load_branch_counters(&mut self) {
        if !self.env.counting.is_some_and(|c| c.record_targets) {
            return;
        }
        let Some(base) = self.env.offsets.func_counters(self.index) else {
            return;
        };
        let ptr = crate::signatures::POINTER;
        let loaded = self.b.ins().load(
            ptr,
            MemFlagsData::trusted(),
            self.vmctx,
            (base + func_counters::BRANCHES) as i32,
        );
        let allocate = self.b.create_block();
        let join = self.b.create_block();
        self.b.append_block_param(join, ptr);
        self.b
            .ins()
            .brif(loaded, join, &[loaded.into()], allocate, &[]);
        self.b.seal_block(allocate);
        self.b.set_cold_block(allocate);
        self.b.switch_to_block(allocate);
        let func = self.b.ins().iconst(I32, i64::from(self.index.as_u32()));
        let array = self
            .call_builtin(Builtin::branch_counters, &[func])
            .expect("branch_counters returns the array");
        // Null only if the runtime failed (it never returns null otherwise).
        self.b.ins().trapz(array, TrapKind::HostError.code());
        self.b.ins().jump(join, &[array.into()]);
        self.b.seal_block(join);
        self.b.switch_to_block(join);
        self.branch_counters = Some(self.b.block_params(join)[0]);
    }

    /// Counts the branch at the current offset going the way `cond` says, in baseline
    /// code that counts branches (not in inlined bodies, which optimized code has).
    pub(crate) fn count_branch(&mut self, cond: Value) {
        let Some(array) = self.branch_counters else {
            return;
        };
        let Ok(offset) = u32::try_from(self.offset) else {
            return;
        };
        let Some(at) = (self.branch_sites.len() as u32)
            .checked_mul(branch_site::SIZE)
            .and_then(|a| i32::try_from(a).ok())
        else {
            return;
        };
        self.branch_sites.push(offset);
        // `TAKEN` is `NOT_TAKEN + 4`: the condition's truth, times four, picks it.
        let taken = self.b.ins().icmp_imm_s(IntCC::NotEqual, cond, 0);
        let taken = self.b.ins().uextend(I64, taken);
        let step = (branch_site::TAKEN - branch_site::NOT_TAKEN).trailing_zeros();
        let side = self.b.ins().ishl_imm_s(taken, i64::from(step));
        let addr = self.b.ins().iadd(array, side);
        let flags = MemFlagsData::trusted();
        let at = at + branch_site::NOT_TAKEN as i32;
        let old = self.b.ins().load(I32, flags, addr, at);
        let new = self.b.ins().iadd_imm_s(old, 1);
        self.b.ins().store(flags, new, addr, at);
    }

    /// The cold side the guidance gives the branch at the current offset, if any (and
    /// records that the code laid it out so).
    pub(crate) fn cold_side(&mut self) -> Option<ColdSide> {
        let offset = u32::try_from(self.offset).ok()?;
        let side = *self
            .env
            .guidance_for(self.index)?
            .cold_branches
            .get(&offset)?;
        self.cold_branches.push((offset, side));
        Some(side)
    }

    /// `br_if cond` to `target` with `args`, falling through to `next`, with its cold
    /// side (if the profile found one) laid out last.
    pub(crate) fn br_if_laid_out(
        &mut self,
        cond: Value,
        target: ir::Block,
        args: &[ir::BlockArg],
        next: ir::Block,
    ) {
        match self.cold_side() {
            Some(ColdSide::Taken) => {
                // The branch's own edge, cold: the target may be hot from elsewhere.
                let edge = self.b.create_block();
                self.b.ins().brif(cond, edge, &[], next, &[]);
                self.b.seal_block(edge);
                self.b.set_cold_block(edge);
                self.b.switch_to_block(edge);
                self.b.ins().jump(target, args);
            }
            Some(ColdSide::NotTaken) => {
                self.b.ins().brif(cond, target, args, next, &[]);
                self.b.set_cold_block(next);
            }
            None => {
                self.b.ins().brif(cond, target, args, next, &[]);
            }
        }
    }
}
