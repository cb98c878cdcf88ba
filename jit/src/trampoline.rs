//! Trampolines between the host's array-call convention and the wasm convention.

use crate::pinned::Pinned;
use crate::signatures::{
    array_call_signature, host_entry_signature, ir_type, typed_host_signature, wasm_signature,
    POINTER,
};
use crate::{TrapKind, VAL_RAW_SIZE};
use cranelift_codegen::ir::types::{I32, I64};
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use kiln_frontend::FuncType;

/// Where the store context keeps the pinned value, from an instance vmctx.
fn pinned_home(
    b: &mut FunctionBuilder<'_>,
    pinned: Pinned,
    instance_vmctx: ir::Value,
) -> Option<ir::Value> {
    let offset = match pinned {
        Pinned::Nothing => return None,
        Pinned::FuelCounter => crate::store_context::FUEL_COUNTER,
    };
    let flags = MemFlagsData::trusted().with_readonly();
    let ctx = b.ins().load(
        POINTER,
        flags,
        instance_vmctx,
        crate::VmOffsets::STORE_CONTEXT as i32,
    );
    Some(b.ins().iadd_imm_s(ctx, i64::from(offset)))
}

/// `extern "C" fn(func_ref, caller_vmctx, values)`: loads the arguments from `values`,
/// calls the function in the wasm convention, stores its results back into `values`.
///
/// It also loads the store's pinned value (see `Pinned`) into the pinned register for
/// the call, stores it back afterwards, and restores the register for its host caller
/// (to which it is callee-saved). With `code_slots` it calls the function's current
/// code through its code slot (the runtime fills the slot before calling this).
pub(crate) fn array_to_wasm(
    ty: &FuncType,
    host: CallConv,
    fc: TargetFrontendConfig,
    pinned: Pinned,
    code_slots: bool,
) -> ir::Function {
    let mut func =
        ir::Function::with_name_signature(ir::UserFuncName::default(), array_call_signature(host));
    let mut fb = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fb);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let (func_ref, caller, values) = {
        let p = b.block_params(entry);
        (p[0], p[1], p[2])
    };
    let flags = MemFlagsData::trusted();
    let code = if code_slots {
        let slot = b
            .ins()
            .load(POINTER, flags, func_ref, crate::func_ref::CODE_SLOT as i32);
        b.ins().load(POINTER, flags, slot, 0)
    } else {
        b.ins()
            .load(POINTER, flags, func_ref, crate::func_ref::WASM_CALL as i32)
    };
    let callee = b
        .ins()
        .load(POINTER, flags, func_ref, crate::func_ref::VMCTX as i32);
    let mut args = vec![callee, caller];
    for (i, &p) in ty.params().iter().enumerate() {
        let off = (i as u32 * VAL_RAW_SIZE) as i32;
        args.push(b.ins().load(ir_type(p), flags, values, off));
    }
    let sig = b.import_signature(wasm_signature(ty));
    let saved = pinned_home(&mut b, pinned, callee).map(|home| {
        let host_value = b.ins().get_pinned_reg(I64);
        let v = b.ins().load(I64, flags, home, 0);
        b.ins().set_pinned_reg(v);
        (host_value, home)
    });
    let call = b.ins().call_indirect(sig, code, &args);
    let results = b.inst_results(call).to_vec();
    if let Some((host_value, home)) = saved {
        let v = b.ins().get_pinned_reg(I64);
        b.ins().store(flags, v, home, 0);
        b.ins().set_pinned_reg(host_value);
    }
    for (i, r) in results.into_iter().enumerate() {
        let off = (i as u32 * VAL_RAW_SIZE) as i32;
        b.ins().store(flags, r, values, off);
    }
    b.ins().return_(&[]);
    b.finalize(fc);
    func
}

/// A function in the wasm convention that calls the host function of its callee vmctx.
///
/// For a signature of scalars (`typed_host_signature`), a callee with a direct entry
/// (`host_func::TYPED_ENTRY`, set for typed host functions) gets its arguments in
/// registers and returns its result in one; the entry returns only on success (a
/// failure jumps out of generated code). Where nothing needs handing over and the
/// conventions agree, wasm calls that entry without this trampoline at all
/// (`Compiler::wasm_calls_typed_host_entry`). Any other callee gets its arguments
/// through a stack `ValRaw` array and its array entry (`host_func::ENTRY`), which
/// returns a status; the trampoline traps with `HostError` if that reports failure.
///
/// It stores a pinned fuel counter into the store context for the host (which may
/// read or set the fuel), and reloads it afterwards (the host may have changed it).
pub(crate) fn wasm_to_host(
    ty: &FuncType,
    host: CallConv,
    fc: TargetFrontendConfig,
    pinned: Pinned,
) -> ir::Function {
    let mut func =
        ir::Function::with_name_signature(ir::UserFuncName::default(), wasm_signature(ty));
    // The host is entered only with the whole host stack reserve below the limit: the
    // prologue checks the store's stack limit like every wasm function's, so a host
    // call from the deepest wasm frame, or after an interrupt, traps instead.
    let vmctx = func.create_global_value(ir::GlobalValueData::VMContext);
    let readonly = func
        .dfg
        .mem_flags
        .insert_unchecked(MemFlagsData::trusted().with_readonly());
    let store_ctx = func.create_global_value(ir::GlobalValueData::Load {
        base: vmctx,
        offset: (crate::host_func::STORE_CONTEXT as i32).into(),
        global_type: POINTER,
        flags: readonly,
    });
    let stack_limit = func.create_global_value(ir::GlobalValueData::Load {
        base: store_ctx,
        offset: (crate::store_context::STACK_LIMIT as i32).into(),
        global_type: POINTER,
        flags: readonly,
    });
    func.stack_limit = Some(stack_limit);
    let mut fb = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fb);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let params = b.block_params(entry).to_vec();
    let (callee, caller) = (params[0], params[1]);
    let flags = MemFlagsData::trusted();
    let home = pinned_home(&mut b, pinned, caller);
    if let Some(home) = home {
        let v = b.ins().get_pinned_reg(I64);
        b.ins().store(flags, v, home, 0);
    }
    let array = b.create_block();
    if let Some(typed_sig) = typed_host_signature(ty, host) {
        let typed_fn = b.ins().load(
            POINTER,
            flags.with_readonly(),
            callee,
            crate::host_func::TYPED_ENTRY as i32,
        );
        let direct = b.create_block();
        b.ins().brif(typed_fn, direct, &[], array, &[]);
        // Only functions without a direct entry (dynamic ones) take the array path:
        // keep it out of the direct path's way.
        b.set_cold_block(array);
        b.seal_block(direct);
        b.switch_to_block(direct);
        let sig = b.import_signature(typed_sig);
        let call = b.ins().call_indirect(sig, typed_fn, &params);
        let results = b.inst_results(call).to_vec();
        if let Some(home) = home {
            let v = b.ins().load(I64, flags, home, 0);
            b.ins().set_pinned_reg(v);
        }
        b.ins().return_(&results);
    } else {
        b.ins().jump(array, &[]);
    }
    b.seal_block(array);
    b.switch_to_block(array);
    let slots = ty.params().len().max(ty.results().len()).max(1) as u32;
    let slot = b.create_sized_stack_slot(StackSlotData::new(
        StackSlotKind::ExplicitSlot,
        slots * VAL_RAW_SIZE,
        4,
    ));
    let values = b.ins().stack_addr(POINTER, slot, 0);
    for (i, &p) in params[2..].iter().enumerate() {
        b.ins()
            .store(flags, p, values, (i as u32 * VAL_RAW_SIZE) as i32);
    }
    let entry_fn = b.ins().load(
        POINTER,
        flags.with_readonly(),
        callee,
        crate::host_func::ENTRY as i32,
    );
    let sig = b.import_signature(host_entry_signature(host));
    let len = b.ins().iconst(I32, i64::from(slots));
    let call = b
        .ins()
        .call_indirect(sig, entry_fn, &[callee, caller, values, len]);
    let status = b.inst_results(call)[0];
    let results: Vec<ir::Value> = ty
        .results()
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let off = (i as u32 * VAL_RAW_SIZE) as i32;
            b.ins().load(ir_type(r), flags, values, off)
        })
        .collect();
    if let Some(home) = home {
        let v = b.ins().load(I64, flags, home, 0);
        b.ins().set_pinned_reg(v);
    }
    b.ins().trapnz(status, TrapKind::HostError.code());
    b.ins().return_(&results);
    b.finalize(fc);
    func
}
