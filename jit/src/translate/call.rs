//! `call` and `call_indirect`. Every call loads its target from a `VMFuncRef`, so
//! replacing a function's code only means writing its `wasm_call` slot.

use super::{FuncTranslator, Result};
use crate::signatures::POINTER;
use crate::TrapKind;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::I32;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, SigRef, Value};
use kiln_frontend::{FuncIndex, TableIndex, TypeIndex};

impl FuncTranslator<'_, '_> {
    /// Calls through the `VMFuncRef` at `func_ref` with the top operands as arguments.
    fn call_func_ref(&mut self, func_ref: Value, sig: SigRef, ty: TypeIndex) {
        let ft = &self.env.info.types[ty.index()];
        let (nparams, nresults) = (ft.params().len(), ft.results().len());
        let flags = MemFlagsData::trusted();
        let code = self
            .b
            .ins()
            .load(POINTER, flags, func_ref, crate::func_ref::WASM_CALL as i32);
        let callee_vmctx =
            self.b
                .ins()
                .load(POINTER, flags, func_ref, crate::func_ref::VMCTX as i32);
        let mut args = Vec::with_capacity(nparams + 2);
        args.push(callee_vmctx);
        args.push(self.vmctx);
        let params = self.popn(nparams);
        args.extend(self.canonical_all(&params));
        self.spill_fuel();
        let call = self.b.ins().call_indirect(sig, code, &args);
        let results = self.b.inst_results(call).to_vec();
        debug_assert_eq!(results.len(), nresults);
        self.stack.extend_from_slice(&results);
        self.reload_interrupt_state();
    }

    pub(crate) fn visit_call(&mut self, function_index: u32) -> Result {
        let f = FuncIndex::from_u32(function_index);
        let ty = self.env.info.funcs[f.index()];
        let sig = self.wasm_sig(ty);
        let func_ref = self.func_ref_address(f);
        self.call_func_ref(func_ref, sig, ty);
        Ok(())
    }

    pub(crate) fn visit_call_indirect(&mut self, type_index: u32, table_index: u32) -> Result {
        let ty = TypeIndex::from_u32(type_index);
        let sig = self.wasm_sig(ty);
        let index = self.pop();
        let addr = self.table_element_address(TableIndex::from_u32(table_index), index);
        let func_ref = self.b.ins().load(POINTER, MemFlagsData::trusted(), addr, 0);
        self.b
            .ins()
            .trapz(func_ref, TrapKind::IndirectCallToNull.code());
        let actual = self.b.ins().load(
            I32,
            MemFlagsData::trusted(),
            func_ref,
            crate::func_ref::TYPE_ID as i32,
        );
        let expected = self.b.ins().load(
            I32,
            MemFlagsData::trusted().with_readonly(),
            self.vmctx,
            self.env.offsets.type_id(ty) as i32,
        );
        let mismatch = self.b.ins().icmp(IntCC::NotEqual, actual, expected);
        self.trap_if(mismatch, TrapKind::BadSignature);
        self.call_func_ref(func_ref, sig, ty);
        Ok(())
    }
}
