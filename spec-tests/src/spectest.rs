//! The `spectest` host module that the spec scripts import from.

use kiln::{
    Func, FuncType, Global, GlobalType, Linker, Memory, MemoryType, Mutability, RefType, Store,
    Table, TableType, Val, ValType,
};

/// Name of the host module.
pub(crate) const MODULE: &str = "spectest";

/// Defines the standard `spectest` module in `linker`:
///
/// - functions `print`, `print_i32`, `print_i64`, `print_f32`, `print_f64`,
///   `print_i32_f32`, `print_f64_f64` (they do nothing);
/// - const globals `global_i32` = 666, `global_i64` = 666, `global_f32` = 666.6,
///   `global_f64` = 666.6;
/// - `table`: 10 funcref elements, max 20; `table64`: the same, indexed by `i64`;
/// - `memory`: 1 page, max 2.
pub(crate) fn define(linker: &mut Linker<()>, store: &mut Store<()>) -> Result<(), kiln::Error> {
    let funcs: [(&str, &[ValType]); 7] = [
        ("print", &[]),
        ("print_i32", &[ValType::I32]),
        ("print_i64", &[ValType::I64]),
        ("print_f32", &[ValType::F32]),
        ("print_f64", &[ValType::F64]),
        ("print_i32_f32", &[ValType::I32, ValType::F32]),
        ("print_f64_f64", &[ValType::F64, ValType::F64]),
    ];
    for (name, params) in funcs {
        let ty = FuncType::new(params.iter().cloned(), []);
        let func = Func::new(&mut *store, ty, |_caller, _params, _results| Ok(()));
        linker.define(&mut *store, MODULE, name, func)?;
    }

    let globals = [
        ("global_i32", ValType::I32, Val::I32(666)),
        ("global_i64", ValType::I64, Val::I64(666)),
        ("global_f32", ValType::F32, Val::F32(666.6f32.to_bits())),
        ("global_f64", ValType::F64, Val::F64(666.6f64.to_bits())),
    ];
    for (name, ty, value) in globals {
        let global = Global::new(&mut *store, GlobalType::new(ty, Mutability::Const), value)?;
        linker.define(&mut *store, MODULE, name, global)?;
    }

    let table = Table::new(
        &mut *store,
        TableType::new(RefType::FUNCREF, 10, Some(20)),
        Val::FuncRef(None),
    )?;
    linker.define(&mut *store, MODULE, "table", table)?;
    let table64 = Table::new(
        &mut *store,
        TableType::new64(RefType::FUNCREF, 10, Some(20)),
        Val::FuncRef(None),
    )?;
    linker.define(&mut *store, MODULE, "table64", table64)?;

    let memory = Memory::new(&mut *store, MemoryType::new(1, Some(2)))?;
    linker.define(&mut *store, MODULE, "memory", memory)?;
    Ok(())
}
