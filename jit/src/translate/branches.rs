//! Branch profiles: profile-guided baseline code counts which way each `if` and
//! `br_if` goes, and profile-guided optimized code lays the cold side of a one-sided
//! branch out after the function's hot code (Cranelift's cold blocks), so that the hot
//! path falls through.
//!
//! Counting costs one add per branch execution, on the side it goes to: in `if`'s two
//! arms, and on `br_if`'s fallthrough and its own edge to the target
//! (`VMBranchCounts`, `crate::branch_site`). The function's array is loaded once, at
//! entry, where the `branch_counters` builtin allocates it on the first call.

use super::FuncTranslator;
use crate::{branch_site, func_counters, Builtin, ColdSide, TrapKind};
use cranelift_codegen::ir::types::I32;
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, Value};

impl FuncTranslator<'_, '_> {
    /// At the entry of baseline code that records a profile for guided code: the
    /// function's branch counters, allocated now if this is its first call.
    pub(crate) fn load_branch_counters(&mut self) {
        if !self.env.counting.is_some_and(|c| c.count_branches) {
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

    /// The counters of the branch at the current offset, numbered now, in baseline code
    /// that counts branches: the function's array, and the byte offset of the branch's
    /// `VMBranchCounts` in it.
    fn branch_counter(&mut self) -> Option<(Value, i32)> {
        let array = self.branch_counters?;
        let offset = u32::try_from(self.offset).ok()?;
        let at = (self.branch_sites.len() as u32)
            .checked_mul(branch_site::SIZE)
            .and_then(|a| i32::try_from(a).ok())?;
        self.branch_sites.push(offset);
        Some((array, at))
    }

    /// Adds one to the counter at `at + field` of the branch `array`.
    fn bump_branch(&mut self, (array, at): (Value, i32), field: u32) {
        let flags = MemFlagsData::trusted();
        let at = at + field as i32;
        let old = self.b.ins().load(I32, flags, array, at);
        let new = self.b.ins().iadd_imm_s(old, 1);
        self.b.ins().store(flags, new, array, at);
    }

    /// `if cond` going to `then_block` or `else_block`, counted in baseline code that
    /// counts branches (each arm adds to its side; the `else` side through a block of
    /// its own), with its cold side (if the profile found one) laid out last. Leaves
    /// the translator in `then_block`.
    pub(crate) fn if_laid_out(
        &mut self,
        cond: Value,
        then_block: ir::Block,
        else_block: ir::Block,
    ) {
        match self.branch_counter() {
            Some(counter) => {
                let counted_else = self.b.create_block();
                self.b.ins().brif(cond, then_block, &[], counted_else, &[]);
                self.b.seal_block(counted_else);
                self.b.switch_to_block(counted_else);
                self.bump_branch(counter, branch_site::NOT_TAKEN);
                self.b.ins().jump(else_block, &[]);
                self.b.seal_block(then_block);
                self.b.switch_to_block(then_block);
                self.bump_branch(counter, branch_site::TAKEN);
            }
            None => {
                self.b.ins().brif(cond, then_block, &[], else_block, &[]);
                match self.cold_side() {
                    Some(ColdSide::Taken) => self.b.set_cold_block(then_block),
                    Some(ColdSide::NotTaken) => self.b.set_cold_block(else_block),
                    None => {}
                }
                self.b.seal_block(then_block);
                self.b.switch_to_block(then_block);
            }
        }
        self.b.seal_block(else_block);
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

    /// `br_if cond` to `target` with `args`, falling through to `next`: counted in
    /// baseline code that counts branches (the branch adds to its side on an edge of its
    /// own, the fallthrough in `next`), with its cold side (if the profile found one)
    /// laid out last. Leaves the translator in `next`.
    pub(crate) fn br_if_laid_out(
        &mut self,
        cond: Value,
        target: ir::Block,
        args: &[ir::BlockArg],
        next: ir::Block,
    ) {
        if let Some(counter) = self.branch_counter() {
            let edge = self.b.create_block();
            self.b.ins().brif(cond, edge, &[], next, &[]);
            self.b.seal_block(edge);
            self.b.switch_to_block(edge);
            self.bump_branch(counter, branch_site::TAKEN);
            self.b.ins().jump(target, args);
            self.b.seal_block(next);
            self.b.switch_to_block(next);
            self.bump_branch(counter, branch_site::NOT_TAKEN);
            return;
        }
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
        self.b.seal_block(next);
        self.b.switch_to_block(next);
    }
}
