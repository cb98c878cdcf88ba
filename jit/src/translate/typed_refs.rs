//! Typed function references (Wasm 3.0): `call_ref`, `return_call_ref`,
//! `ref.as_non_null`, `br_on_null` and `br_on_non_null`.
//!
//! Validation proves that a reference of type `(ref $t)` is a function of signature `$t`
//! (the runtime checks every reference the host hands in), so `call_ref` checks only
//! for null, never the signature.

use super::{FuncTranslator, Result};
use crate::TrapKind;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value};
use kiln_frontend::TypeIndex;

impl FuncTranslator<'_, '_> {
    /// Pops the reference (trapping if it is null) and the arguments of a `call_ref` or
    /// `return_call_ref` of type `type_index`.
    fn pop_call_ref(&mut self, type_index: u32) -> (TypeIndex, Value, Vec<Value>) {
        let ty = TypeIndex::from_u32(type_index);
        let func_ref = self.pop();
        self.b.ins().trapz(func_ref, TrapKind::NullReference.code());
        let args = self.pop_args(ty);
        (ty, func_ref, args)
    }

    pub(crate) fn visit_call_ref(&mut self, type_index: u32) -> Result {
        let (ty, func_ref, args) = self.pop_call_ref(type_index);
        let results = self.call_func_ref(func_ref, ty, &args);
        self.stack.extend_from_slice(&results);
        Ok(())
    }

    pub(crate) fn visit_return_call_ref(&mut self, type_index: u32) -> Result {
        if !self.inline_stack.is_empty() {
            self.visit_call_ref(type_index)?;
            return self.visit_return();
        }
        let (ty, func_ref, args) = self.pop_call_ref(type_index);
        self.call_func_ref_as(func_ref, ty, &args, true);
        self.reachable = false;
        Ok(())
    }

    pub(crate) fn visit_ref_as_non_null(&mut self) -> Result {
        let r = *self.stack.last().expect("validated: a reference");
        self.b.ins().trapz(r, TrapKind::NullReference.code());
        Ok(())
    }

    /// Branches with the label's values when the reference on top is null; otherwise
    /// leaves it (now known non-null) on the stack.
    pub(crate) fn visit_br_on_null(&mut self, relative_depth: u32) -> Result {
        let r = self.pop();
        let (block, n) = self.branch_target(relative_depth);
        let top = self.peekn(n).to_vec();
        let vals = self.block_args(&top);
        let is_null = self.b.ins().icmp_imm_s(IntCC::Equal, r, 0);
        let next = self.b.create_block();
        self.flush_fuel();
        self.br_if_laid_out(is_null, block, &vals, next);
        self.push(r);
        Ok(())
    }

    /// Branches with the label's values, the reference last, when the reference on top
    /// is not null; otherwise drops it.
    pub(crate) fn visit_br_on_non_null(&mut self, relative_depth: u32) -> Result {
        let r = self.pop();
        let (block, n) = self.branch_target(relative_depth);
        // The label's last value is the reference itself.
        let mut top = self.peekn(n - 1).to_vec();
        top.push(r);
        let vals = self.block_args(&top);
        let non_null = self.b.ins().icmp_imm_s(IntCC::NotEqual, r, 0);
        let next = self.b.create_block();
        self.flush_fuel();
        self.br_if_laid_out(non_null, block, &vals, next);
        Ok(())
    }
}
