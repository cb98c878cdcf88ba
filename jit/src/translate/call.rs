//! `call` and `call_indirect`. In eagerly compiled code, a call to a function defined in
//! the same module is a direct, PC-relative call (its callee vmctx is the caller's);
//! every other call loads its target and callee vmctx from a `VMFuncRef`. Code whose
//! callees may be replaced (`ModuleEnv::code_slots`) calls every function through its
//! `VMFuncRef`'s code slot, and asks the runtime to compile a callee whose slot is 0;
//! only a function's final (optimized, not on-stack-replacement) code calls itself
//! directly.

use super::{FuncTranslator, Result};
use crate::signatures::POINTER;
use crate::{Builtin, TrapKind};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::I32;
use cranelift_codegen::ir::{
    ExtFuncData, ExternalName, FuncRef, Inst, InstBuilder, MemFlagsData, SigRef, UserExternalName,
    Value,
};
use kiln_frontend::{DefinedFuncIndex, FuncIndex, TableIndex, TypeIndex};

impl FuncTranslator<'_, '_> {
    /// Pops `ty`'s arguments and makes the call `emit` builds from the full argument
    /// list (callee vmctx, caller vmctx, parameters), pushing its results.
    fn call_with(
        &mut self,
        ty: TypeIndex,
        callee_vmctx: Value,
        emit: impl FnOnce(&mut Self, &[Value]) -> Inst,
    ) {
        let nparams = self.env.info.types[ty.index()].params().len();
        let mut args = Vec::with_capacity(nparams + 2);
        args.push(callee_vmctx);
        args.push(self.vmctx);
        let params = self.popn(nparams);
        args.extend(self.canonical_all(&params));
        self.flush_fuel();
        let call = emit(self, &args);
        let results = self.b.inst_results(call).to_vec();
        self.stack.extend_from_slice(&results);
    }

    /// Calls through the `VMFuncRef` at `func_ref` with the top operands as arguments.
    fn call_func_ref(&mut self, func_ref: Value, sig: SigRef, ty: TypeIndex) {
        let flags = MemFlagsData::trusted();
        let callee_vmctx =
            self.b
                .ins()
                .load(POINTER, flags, func_ref, crate::func_ref::VMCTX as i32);
        self.call_with(ty, callee_vmctx, |t, args| {
            let code = t.code_of(func_ref);
            t.b.ins().call_indirect(sig, code, args)
        });
    }

    /// The code to call for the `VMFuncRef` at `func_ref`: its `wasm_call`, or with code
    /// slots the slot's current code, compiled first by the runtime if there is none.
    fn code_of(&mut self, func_ref: Value) -> Value {
        let flags = MemFlagsData::trusted();
        if !self.env.code_slots {
            return self
                .b
                .ins()
                .load(POINTER, flags, func_ref, crate::func_ref::WASM_CALL as i32);
        }
        // A `VMFuncRef`'s slot address never changes; the slot's contents do.
        let slot = self.b.ins().load(
            POINTER,
            flags.with_readonly(),
            func_ref,
            crate::func_ref::CODE_SLOT as i32,
        );
        let code = self.b.ins().load(POINTER, flags, slot, 0);
        let compile = self.b.create_block();
        let join = self.b.create_block();
        self.b.append_block_param(join, POINTER);
        self.b.ins().brif(code, join, &[code.into()], compile, &[]);
        self.b.seal_block(compile);
        self.b.set_cold_block(compile);
        self.b.switch_to_block(compile);
        let compiled = self
            .call_builtin(Builtin::compile_func_ref, &[func_ref])
            .expect("compile_func_ref returns the code");
        self.b.ins().trapz(compiled, TrapKind::HostError.code());
        self.b.ins().jump(join, &[compiled.into()]);
        self.b.seal_block(join);
        self.b.switch_to_block(join);
        self.b.block_params(join)[0]
    }

    /// The `FuncRef` of defined function `d`, imported into this function once.
    fn direct_callee(&mut self, d: DefinedFuncIndex, sig: SigRef) -> FuncRef {
        if let Some(&f) = self.direct_callees.get(&d) {
            return f;
        }
        let name = self
            .b
            .func
            .declare_imported_user_function(UserExternalName::new(0, d.as_u32()));
        let f = self.b.import_function(ExtFuncData {
            name: ExternalName::User(name),
            signature: sig,
            colocated: true,
            patchable: false,
        });
        self.direct_callees.insert(d, f);
        f
    }

    pub(crate) fn visit_call(&mut self, function_index: u32) -> Result {
        let f = FuncIndex::from_u32(function_index);
        let ty = self.env.info.funcs[f.index()];
        let sig = self.wasm_sig(ty);
        match self.env.info.defined_func_index(f) {
            // Final code calls itself directly: its slot never changes again.
            Some(d) if self.env.code_slots && !(self.env.final_code && d == self.index) => {
                if !self.callees.contains(&d) {
                    self.callees.push(d);
                }
                let func_ref = self
                    .b
                    .ins()
                    .iadd_imm_s(self.vmctx, i64::from(self.env.offsets.defined_func_ref(d)));
                let vmctx = self.vmctx;
                self.call_with(ty, vmctx, |t, args| {
                    let code = t.code_of(func_ref);
                    t.b.ins().call_indirect(sig, code, args)
                });
            }
            Some(d) => {
                let callee = self.direct_callee(d, sig);
                let vmctx = self.vmctx;
                self.call_with(ty, vmctx, |t, args| t.b.ins().call(callee, args));
            }
            None => {
                let func_ref = self.func_ref_address(f);
                self.call_func_ref(func_ref, sig, ty);
            }
        }
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
