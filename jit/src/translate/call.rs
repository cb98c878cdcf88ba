//! `call`, `call_indirect` and their tail-call forms. In eagerly compiled code, a call to a function defined in
//! the same module is a direct, PC-relative call (its callee vmctx is the caller's);
//! every other call loads its target and callee vmctx from a `VMFuncRef`. Code whose
//! callees may be replaced (`ModuleEnv::code_slots`) calls every function through its
//! `VMFuncRef`'s code slot, and asks the runtime to compile a callee whose slot is 0;
//! only a function's final (optimized, not on-stack-replacement) code calls itself
//! directly.
//!
//! Profile-guided code (`ModuleEnv::guidance`) may inline a defined callee
//! (`translate/inline.rs`), and turns a `call_indirect` site with a dominant target
//! into a guarded call: the table entry is compared with that function's `VMFuncRef`
//! in the caller's own instance, and only a different entry takes the generic path
//! (null check, signature check, call through the entry). An equal entry is that
//! function, whose type is the site's, so the checks it skips could not fail.
//! Tiered baseline code records each `call_indirect`'s target (`record_call_target`).
//!
//! `return_call` and `return_call_indirect` are Cranelift tail calls (`return_call`,
//! `return_call_indirect`; wasm functions use the `tail` convention), so the caller's
//! frame is gone before the callee runs and mutual tail recursion runs in constant
//! stack. They charge fuel like a call and check the callee exactly like a call. Inside
//! an inlined body, or to an import whose body is inlined, a tail call is a call and a
//! `return` (both bounded: inlining never recurses).

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
    /// Pops the arguments of a call to a function of type `ty`.
    pub(crate) fn pop_args(&mut self, ty: TypeIndex) -> Vec<Value> {
        let nparams = self.env.info.types[ty.index()].params().len();
        let params = self.popn(nparams);
        self.canonical_all(&params)
    }

    /// Makes the call `emit` builds from the full argument list (callee vmctx, caller
    /// vmctx, then `args`); returns its results.
    fn call_with(
        &mut self,
        args: &[Value],
        callee_vmctx: Value,
        emit: impl FnOnce(&mut Self, &[Value]) -> Inst,
    ) -> Vec<Value> {
        let mut all = Vec::with_capacity(args.len() + 2);
        all.push(callee_vmctx);
        all.push(self.vmctx);
        all.extend_from_slice(args);
        self.flush_fuel();
        let call = emit(self, &all);
        self.b.inst_results(call).to_vec()
    }

    /// Calls through the `VMFuncRef` at `func_ref`; returns the results.
    pub(crate) fn call_func_ref(
        &mut self,
        func_ref: Value,
        ty: TypeIndex,
        args: &[Value],
    ) -> Vec<Value> {
        self.call_func_ref_as(func_ref, ty, args, false)
    }

    /// Calls (or with `tail`, tail-calls) through the `VMFuncRef` at `func_ref`;
    /// returns the results (none for a tail call).
    pub(crate) fn call_func_ref_as(
        &mut self,
        func_ref: Value,
        ty: TypeIndex,
        args: &[Value],
        tail: bool,
    ) -> Vec<Value> {
        let sig = self.wasm_sig(ty);
        let flags = MemFlagsData::trusted();
        let callee_vmctx =
            self.b
                .ins()
                .load(POINTER, flags, func_ref, crate::func_ref::VMCTX as i32);
        self.call_with(args, callee_vmctx, |t, args| {
            let code = t.code_of(func_ref);
            t.indirect_call(sig, code, args, tail)
        })
    }

    /// `call_indirect`, or with `tail` `return_call_indirect`, of `code`.
    fn indirect_call(&mut self, sig: SigRef, code: Value, args: &[Value], tail: bool) -> Inst {
        if tail {
            self.b.ins().return_call_indirect(sig, code, args)
        } else {
            self.b.ins().call_indirect(sig, code, args)
        }
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

    /// Calls defined function `d` of this instance with `args` (inlining it when the
    /// guidance allows); returns the results. The translator is unreachable after a
    /// call that never returns.
    fn call_defined(&mut self, d: DefinedFuncIndex, args: &[Value]) -> Result<Vec<Value>> {
        if self.may_inline(d) {
            return self.inline_call(d, args);
        }
        Ok(self.call_defined_code(d, args, false))
    }

    /// Calls (or with `tail`, tail-calls) the code of defined function `d` of this
    /// instance; returns the results (none for a tail call).
    fn call_defined_code(&mut self, d: DefinedFuncIndex, args: &[Value], tail: bool) -> Vec<Value> {
        let ty = self.env.info.funcs[self.env.info.func_index(d).index()];
        let sig = self.wasm_sig(ty);
        let vmctx = self.vmctx;
        // Final code calls itself directly: its slot never changes again.
        if self.env.code_slots && !(self.env.final_code && d == self.index) {
            if !self.callees.contains(&d) {
                self.callees.push(d);
            }
            let func_ref = self
                .b
                .ins()
                .iadd_imm_s(self.vmctx, i64::from(self.env.offsets.defined_func_ref(d)));
            self.call_with(args, vmctx, |t, args| {
                let code = t.code_of(func_ref);
                t.indirect_call(sig, code, args, tail)
            })
        } else {
            let callee = self.direct_callee(d, sig);
            self.call_with(args, vmctx, |t, args| {
                if tail {
                    t.b.ins().return_call(callee, args)
                } else {
                    t.b.ins().call(callee, args)
                }
            })
        }
    }

    pub(crate) fn visit_call(&mut self, function_index: u32) -> Result {
        let f = FuncIndex::from_u32(function_index);
        let ty = self.env.info.funcs[f.index()];
        let args = self.pop_args(ty);
        let results = match self.env.info.defined_func_index(f) {
            Some(d) => self.call_defined(d, &args)?,
            None => match self.host_inline_for(f) {
                Some(body) => self.inline_host(f, ty, body, &args)?,
                None => {
                    let func_ref = self.func_ref_address(f);
                    self.call_func_ref(func_ref, ty, &args)
                }
            },
        };
        self.stack.extend_from_slice(&results);
        Ok(())
    }

    pub(crate) fn visit_call_indirect(&mut self, type_index: u32, table_index: u32) -> Result {
        let ty = TypeIndex::from_u32(type_index);
        let index = self.pop();
        let addr = self.table_element_address(TableIndex::from_u32(table_index), index);
        let func_ref = self.b.ins().load(POINTER, MemFlagsData::trusted(), addr, 0);
        let args = self.pop_args(ty);
        let results = match self.speculated_target(ty) {
            Some(d) => {
                self.speculated.push((self.offset as u32, d));
                self.guarded_call(func_ref, d, ty, &args)?
            }
            None => self.checked_call(func_ref, ty, &args),
        };
        self.stack.extend_from_slice(&results);
        Ok(())
    }

    pub(crate) fn visit_return_call(&mut self, function_index: u32) -> Result {
        let f = FuncIndex::from_u32(function_index);
        if !self.inline_stack.is_empty() || self.host_inline_for(f).is_some() {
            self.visit_call(function_index)?;
            return self.visit_return();
        }
        let ty = self.env.info.funcs[f.index()];
        let args = self.pop_args(ty);
        match self.env.info.defined_func_index(f) {
            Some(d) => self.call_defined_code(d, &args, true),
            None => {
                let func_ref = self.func_ref_address(f);
                self.call_func_ref_as(func_ref, ty, &args, true)
            }
        };
        self.reachable = false;
        Ok(())
    }

    pub(crate) fn visit_return_call_indirect(
        &mut self,
        type_index: u32,
        table_index: u32,
    ) -> Result {
        if !self.inline_stack.is_empty() {
            self.visit_call_indirect(type_index, table_index)?;
            return self.visit_return();
        }
        let ty = TypeIndex::from_u32(type_index);
        let index = self.pop();
        let addr = self.table_element_address(TableIndex::from_u32(table_index), index);
        let func_ref = self.b.ins().load(POINTER, MemFlagsData::trusted(), addr, 0);
        let args = self.pop_args(ty);
        self.check_indirect(func_ref, ty);
        self.call_func_ref_as(func_ref, ty, &args, true);
        self.reachable = false;
        Ok(())
    }

    /// `call_indirect`'s generic path: null and signature checks, then the call.
    fn checked_call(&mut self, func_ref: Value, ty: TypeIndex, args: &[Value]) -> Vec<Value> {
        self.check_indirect(func_ref, ty);
        self.call_func_ref(func_ref, ty, args)
    }

    /// The checks of an indirect call through `func_ref` to type `ty` (null, then
    /// signature), and the recording of its target in profiling code.
    fn check_indirect(&mut self, func_ref: Value, ty: TypeIndex) {
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
        self.record_call_target(func_ref);
    }

    /// The guidance's target for the `call_indirect` at the current offset, if it has
    /// the site's type.
    fn speculated_target(&self, ty: TypeIndex) -> Option<DefinedFuncIndex> {
        let d = *self
            .env
            .guidance_for(self.index)?
            .indirect_targets
            .get(&u32::try_from(self.offset).ok()?)?;
        if d.as_u32() >= self.env.info.num_defined_funcs() {
            return None;
        }
        let info = self.env.info;
        let target_ty = &info.types[info.funcs[info.func_index(d).index()].index()];
        (target_ty == &info.types[ty.index()]).then_some(d)
    }

    /// A `call_indirect` speculated to reach defined function `d`: a direct (or
    /// inlined) call when the entry is `d`'s `VMFuncRef` in this instance, the generic
    /// path otherwise.
    fn guarded_call(
        &mut self,
        func_ref: Value,
        d: DefinedFuncIndex,
        ty: TypeIndex,
        args: &[Value],
    ) -> Result<Vec<Value>> {
        let expected = self
            .b
            .ins()
            .iadd_imm_s(self.vmctx, i64::from(self.env.offsets.defined_func_ref(d)));
        let hit = self.b.ins().icmp(IntCC::Equal, func_ref, expected);
        self.flush_fuel();
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        let join = self.b.create_block();
        for &t in self.env.info.types[ty.index()].results() {
            self.b
                .append_block_param(join, crate::signatures::ir_type(t));
        }
        self.b.ins().brif(hit, fast, &[], slow, &[]);
        self.b.seal_block(fast);
        self.b.seal_block(slow);

        self.b.switch_to_block(slow);
        self.b.set_cold_block(slow);
        let results = self.checked_call(func_ref, ty, args);
        let results = self.canonical_all(&results);
        self.b.ins().jump(join, &super::control::args(&results));

        self.b.switch_to_block(fast);
        let results = self.call_defined(d, args)?;
        if self.reachable {
            let results = self.canonical_all(&results);
            self.b.ins().jump(join, &super::control::args(&results));
        }
        self.reachable = true;
        self.b.seal_block(join);
        self.b.switch_to_block(join);
        Ok(self.b.block_params(join).to_vec())
    }
}
