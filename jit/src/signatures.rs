//! Calling conventions: how wasm functions, trampolines and builtins are called.

use crate::builtins::{Builtin, BuiltinType};
use cranelift_codegen::ir::{types, AbiParam, ArgumentPurpose, Signature, Type};
use cranelift_codegen::isa::CallConv;
use kiln_frontend::{FuncType, ValType};

/// Pointer type of the host (Kiln supports 64-bit hosts only).
pub(crate) const POINTER: Type = types::I64;

/// The calling convention between wasm functions. `Tail` leaves room for `return_call`.
pub(crate) const WASM_CALL_CONV: CallConv = CallConv::Tail;

/// The Cranelift type of a wasm value.
pub(crate) fn ir_type(t: ValType) -> Type {
    match t {
        ValType::I32 => types::I32,
        ValType::I64 => types::I64,
        ValType::F32 => types::F32,
        ValType::F64 => types::F64,
        ValType::V128 => types::I8X16,
        ValType::Ref(_) => POINTER,
    }
}

/// `fn(callee_vmctx, caller_vmctx, params...) -> results` in the wasm convention.
pub(crate) fn wasm_signature(ty: &FuncType) -> Signature {
    let mut sig = Signature::new(WASM_CALL_CONV);
    sig.params
        .push(AbiParam::special(POINTER, ArgumentPurpose::VMContext));
    sig.params.push(AbiParam::new(POINTER));
    sig.params
        .extend(ty.params().iter().map(|&t| AbiParam::new(ir_type(t))));
    sig.returns
        .extend(ty.results().iter().map(|&t| AbiParam::new(ir_type(t))));
    sig
}

/// The entry of an on-stack-replacement variant: `fn(callee_vmctx, caller_vmctx,
/// locals...) -> results`, every local (parameters first) passed in, in the wasm
/// convention so that baseline code can tail-call it in place of its own frame.
pub(crate) fn osr_signature(ty: &FuncType, locals: &[Type]) -> Signature {
    let mut sig = Signature::new(WASM_CALL_CONV);
    sig.params
        .push(AbiParam::special(POINTER, ArgumentPurpose::VMContext));
    sig.params.push(AbiParam::new(POINTER));
    sig.params.extend(locals.iter().map(|&t| AbiParam::new(t)));
    sig.returns
        .extend(ty.results().iter().map(|&t| AbiParam::new(ir_type(t))));
    sig
}

/// The IR types of every local of a function: its parameters, then its declared
/// locals.
pub(crate) fn local_types(
    ty: &FuncType,
    body: &kiln_frontend::wasmparser::FunctionBody<'_>,
) -> Result<Vec<Type>, kiln_frontend::wasmparser::BinaryReaderError> {
    let mut out: Vec<Type> = ty.params().iter().map(|&t| ir_type(t)).collect();
    for local in body.get_locals_reader()? {
        let (count, vt) = local?;
        out.extend(std::iter::repeat_n(ir_type(vt.into()), count as usize));
    }
    Ok(out)
}

/// `extern "C" fn(func_ref, caller_vmctx, values)`: host-to-wasm trampolines.
pub(crate) fn array_call_signature(host: CallConv) -> Signature {
    let mut sig = Signature::new(host);
    sig.params.extend([AbiParam::new(POINTER); 3]);
    sig
}

/// `extern "C" fn(callee_vmctx, caller_vmctx, values, len) -> status`: host entries.
pub(crate) fn host_entry_signature(host: CallConv) -> Signature {
    let mut sig = Signature::new(host);
    sig.params.extend([AbiParam::new(POINTER); 3]);
    sig.params.push(AbiParam::new(types::I32));
    sig.returns.push(AbiParam::new(types::I32));
    sig
}

/// The native signature of a typed host function's direct entry
/// (`host_func::TYPED_ENTRY`), if `ty` can have one: `extern "C" fn(callee_vmctx,
/// caller_vmctx, params...) -> result`.
pub(crate) fn typed_host_signature(ty: &FuncType, host: CallConv) -> Option<Signature> {
    if !has_typed_entry(ty) {
        return None;
    }
    let mut sig = Signature::new(host);
    sig.params.extend([AbiParam::new(POINTER); 2]);
    sig.params
        .extend(ty.params().iter().map(|&t| AbiParam::new(ir_type(t))));
    sig.returns
        .extend(ty.results().iter().map(|&t| AbiParam::new(ir_type(t))));
    Some(sig)
}

/// Whether a host function of type `ty` can have a direct entry: scalar parameters and
/// at most one scalar result.
fn has_typed_entry(ty: &FuncType) -> bool {
    let scalar =
        |t: &ValType| matches!(t, ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64);
    ty.params().iter().all(scalar) && ty.results().len() <= 1 && ty.results().iter().all(scalar)
}

/// Whether wasm code may call the direct entry of a typed host function of type `ty`
/// as if it were a wasm function: on x86-64 the wasm convention (`Tail`) and System V
/// agree for a signature whose arguments all go in registers (the two vmctx and at
/// most four integers, at most eight floats) and whose one result comes back in `rax`
/// or `xmm0`; they clobber the same registers.
pub(crate) fn typed_host_wasm_callable(ty: &FuncType, host: CallConv) -> bool {
    let ints = ty
        .params()
        .iter()
        .filter(|t| matches!(t, ValType::I32 | ValType::I64))
        .count();
    let floats = ty.params().len() - ints;
    cfg!(target_arch = "x86_64")
        && host == CallConv::SystemV
        && has_typed_entry(ty)
        && ints <= 4
        && floats <= 8
}

/// The native signature of a builtin.
pub(crate) fn builtin_signature(b: Builtin, host: CallConv) -> Signature {
    let abi = |t: BuiltinType| match t {
        BuiltinType::vmctx | BuiltinType::ptr | BuiltinType::i64 => Some(AbiParam::new(POINTER)),
        BuiltinType::i32 | BuiltinType::status => Some(AbiParam::new(types::I32)),
        BuiltinType::void => None,
    };
    let mut sig = Signature::new(host);
    sig.params.extend(b.params().iter().filter_map(|&t| abi(t)));
    sig.returns.extend(abi(b.result()));
    sig
}
