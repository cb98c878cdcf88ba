//! Calls to imported functions that may be typed host functions: when the import's
//! signature fits registers (`typed_host_signature`), the call site loads the
//! instance's `host_entries` slot for it, and a non-null entry is called directly, in
//! the host's C convention, without the wasm-to-host trampoline. The call site then does
//! what the trampoline would: checks the stack limit (the host gets its whole reserve,
//! and an interrupted store traps), hands a pinned fuel counter to the store and takes
//! it back, and traps with `HostError` when the entry reports failure. A null entry (a
//! wasm function, a dynamic or multi-value host function) takes the ordinary call
//! through the import's `VMFuncRef`.

use super::FuncTranslator;
use crate::signatures::{typed_host_signature, POINTER};
use crate::TrapKind;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I32, I64};
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Value};
use kiln_frontend::{FuncIndex, TypeIndex};

impl FuncTranslator<'_, '_> {
    /// Calls imported function `f` (of type `ty`) through the `VMFuncRef` at
    /// `func_ref`, directly when it is a typed host function; returns the results.
    pub(crate) fn call_import(
        &mut self,
        f: FuncIndex,
        ty: TypeIndex,
        func_ref: Value,
        args: &[Value],
    ) -> Vec<Value> {
        let func_type = self.env.info.func_type(f).clone();
        let Some(typed_sig) = typed_host_signature(&func_type, self.env.host_call_conv) else {
            return self.call_func_ref(func_ref, ty, args);
        };
        // Charged once, before the paths part: the host sees it either way.
        self.flush_fuel();
        let flags = MemFlagsData::trusted();
        let entry = self.b.ins().load(
            POINTER,
            flags.with_readonly(),
            self.vmctx,
            self.env.offsets.imported_host_entry(f) as i32,
        );
        let direct = self.b.create_block();
        let generic = self.b.create_block();
        let join = self.b.create_block();
        for &r in func_type.results() {
            self.b
                .append_block_param(join, crate::signatures::ir_type(r));
        }
        self.b.ins().brif(entry, direct, &[], generic, &[]);
        self.b.seal_block(direct);
        self.b.seal_block(generic);

        self.b.switch_to_block(generic);
        let results = self.call_func_ref(func_ref, ty, args);
        let out: Vec<ir::BlockArg> = results.into_iter().map(ir::BlockArg::from).collect();
        self.b.ins().jump(join, &out);

        self.b.switch_to_block(direct);
        let store_ctx = self.b.ins().load(
            POINTER,
            flags.with_readonly(),
            self.vmctx,
            crate::VmOffsets::STORE_CONTEXT as i32,
        );
        let limit = self.b.ins().load(
            POINTER,
            flags,
            store_ctx,
            crate::store_context::STACK_LIMIT as i32,
        );
        let sp = self.b.ins().get_stack_pointer(POINTER);
        let below = self.b.ins().icmp(IntCC::UnsignedLessThan, sp, limit);
        self.b.ins().trapnz(below, TrapKind::StackOverflow.code());
        let fuel_home = self.env.fuel.is_some().then(|| {
            let home = self
                .b
                .ins()
                .iadd_imm_s(store_ctx, i64::from(crate::store_context::FUEL_COUNTER));
            let v = self.b.ins().get_pinned_reg(I64);
            self.b.ins().store(flags, v, home, 0);
            home
        });
        let callee = self
            .b
            .ins()
            .load(POINTER, flags, func_ref, crate::func_ref::VMCTX as i32);
        let slot =
            self.b
                .create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 4, 2));
        let status_addr = self.b.ins().stack_addr(POINTER, slot, 0);
        let sig = self.b.import_signature(typed_sig);
        let mut all = Vec::with_capacity(args.len() + 3);
        all.extend([callee, self.vmctx, status_addr]);
        all.extend_from_slice(args);
        let call = self.b.ins().call_indirect(sig, entry, &all);
        let results = self.b.inst_results(call).to_vec();
        if let Some(home) = fuel_home {
            let v = self.b.ins().load(I64, flags, home, 0);
            self.b.ins().set_pinned_reg(v);
        }
        let status = self.b.ins().load(I32, flags, status_addr, 0);
        self.b.ins().trapnz(status, TrapKind::HostError.code());
        let out: Vec<ir::BlockArg> = results.into_iter().map(ir::BlockArg::from).collect();
        self.b.ins().jump(join, &out);

        self.b.seal_block(join);
        self.b.switch_to_block(join);
        self.b.block_params(join).to_vec()
    }
}
