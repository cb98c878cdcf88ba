//! Hostile import declarations: every missing or mismatched import is an
//! `ErrorKind::Link` naming it as `module::name`, through the `Linker` and through
//! `Instance::new`; failed links leave nothing behind in the store. (`api.rs` checks a
//! missing and a mistyped function.)

#[path = "common/hostile.rs"]
mod hostile;

use hostile::*;
use kiln::*;

/// Asserts that `r` is a link error whose message names `module::name`.
#[track_caller]
fn assert_link_error<T: std::fmt::Debug>(r: Result<T>, module: &str, name: &str, what: &str) {
    let err = r.expect_err(what);
    assert!(
        matches!(err.kind(), ErrorKind::Link(_)),
        "{what}: not a link error: {:?}: {err}",
        err.kind()
    );
    let needle = format!("{module}::{name}");
    assert!(
        err.to_string().contains(&needle),
        "{what}: the message does not name `{needle}`: {err}"
    );
}

/// Host-side definitions of every kind, made in `store`.
struct Defs {
    func_i32: Func,
    func_i64: Func,
    func_multi: Func,
    mem_1: Memory,
    mem_1_max_3: Memory,
    mem_2_max_2: Memory,
    table_func_1: Table,
    table_func_10_max_10: Table,
    table_extern: Table,
    global_const_i32: Global,
    global_var_i32: Global,
    global_var_i64: Global,
}

fn defs(store: &mut Store<()>) -> Defs {
    let table = |store: &mut Store<()>, ty, init| Table::new(store, ty, init).expect("table");
    Defs {
        func_i32: Func::wrap(&mut *store, |_: i32| {}),
        func_i64: Func::wrap(&mut *store, |_: i64| {}),
        func_multi: Func::wrap(&mut *store, |x: i32| -> (i32, i32) { (x, x) }),
        mem_1: Memory::new(&mut *store, MemoryType::new(1, None)).expect("memory"),
        mem_1_max_3: Memory::new(&mut *store, MemoryType::new(1, Some(3))).expect("memory"),
        mem_2_max_2: Memory::new(&mut *store, MemoryType::new(2, Some(2))).expect("memory"),
        table_func_1: table(
            store,
            TableType::new(RefType::FUNCREF, 1, None),
            Val::FuncRef(None),
        ),
        table_func_10_max_10: table(
            store,
            TableType::new(RefType::FUNCREF, 10, Some(10)),
            Val::FuncRef(None),
        ),
        table_extern: table(
            store,
            TableType::new(RefType::EXTERNREF, 1, None),
            Val::ExternRef(None),
        ),
        global_const_i32: Global::new(
            &mut *store,
            GlobalType::new(ValType::I32, Mutability::Const),
            Val::I32(1),
        )
        .expect("global"),
        global_var_i32: Global::new(
            &mut *store,
            GlobalType::new(ValType::I32, Mutability::Var),
            Val::I32(1),
        )
        .expect("global"),
        global_var_i64: Global::new(
            &mut *store,
            GlobalType::new(ValType::I64, Mutability::Var),
            Val::I64(1),
        )
        .expect("global"),
    }
}

#[test]
fn every_mismatched_import_is_a_link_error_naming_it() {
    let engine = hostile::engine();
    let mut store = Store::new(&engine, ());
    // At most one instance: the failures below must not count as instances.
    store.limiter(StoreLimits::new().instances(1));
    let d = defs(&mut store);
    let cases: Vec<(&str, &str, Extern)> = vec![
        // Functions of the wrong type.
        ("(func (param i32))", "i64 param", d.func_i64.into()),
        (
            "(func (param i32) (result i32))",
            "missing result",
            d.func_i32.into(),
        ),
        (
            "(func (param i32) (result i32))",
            "two results",
            d.func_multi.into(),
        ),
        ("(func)", "extra param", d.func_i32.into()),
        // Memories too small, or with a looser maximum.
        ("(memory 2)", "1 page for 2", d.mem_1.into()),
        ("(memory 1 2)", "no maximum for max 2", d.mem_1.into()),
        ("(memory 1 2)", "maximum 3 for max 2", d.mem_1_max_3.into()),
        ("(memory 3)", "2 pages for 3", d.mem_2_max_2.into()),
        // Globals of the wrong mutability or type.
        (
            "(global (mut i32))",
            "const for mut",
            d.global_const_i32.into(),
        ),
        ("(global i32)", "mut for const", d.global_var_i32.into()),
        ("(global (mut i32))", "i64 for i32", d.global_var_i64.into()),
        ("(global f64)", "i32 for f64", d.global_const_i32.into()),
        // Tables of the wrong element type, too small, or with a looser maximum.
        (
            "(table 1 funcref)",
            "externref for funcref",
            d.table_extern.into(),
        ),
        (
            "(table 1 externref)",
            "funcref for externref",
            d.table_func_1.into(),
        ),
        (
            "(table 2 funcref)",
            "1 element for 2",
            d.table_func_1.into(),
        ),
        (
            "(table 1 5 funcref)",
            "no maximum for max 5",
            d.table_func_1.into(),
        ),
        (
            "(table 1 5 funcref)",
            "maximum 10 for max 5",
            d.table_func_10_max_10.into(),
        ),
        // The wrong kind altogether.
        ("(func (param i32))", "memory for func", d.mem_1.into()),
        (
            "(func (param i32))",
            "global for func",
            d.global_var_i32.into(),
        ),
        ("(memory 1)", "func for memory", d.func_i32.into()),
        ("(memory 1)", "table for memory", d.table_func_1.into()),
        ("(table 1 funcref)", "memory for table", d.mem_1.into()),
        ("(global i32)", "func for global", d.func_i32.into()),
        ("(global i32)", "table for global", d.table_func_1.into()),
    ];
    for (desc, what, given) in cases {
        // The mismatched import comes after two good ones, and has an odd name.
        let (module_name, name) = ("hostile env", "imp\u{1F525}rt");
        let wat = format!(
            r#"(module (import "ok" "f" (func (param i32))) (import "ok" "g" (global (mut i32)))
                 (import "{module_name}" "{name}" {desc}))"#
        );
        let module = Module::new(&engine, &wat).expect("compiles");
        let what = format!("{desc}: {what}");
        assert_link_error(
            Instance::new(
                &mut store,
                &module,
                &[d.func_i32.into(), d.global_var_i32.into(), given],
            ),
            module_name,
            name,
            &what,
        );
        let mut linker = Linker::new(&engine);
        linker
            .define(&store, "ok", "f", d.func_i32)
            .expect("define");
        linker
            .define(&store, "ok", "g", d.global_var_i32)
            .expect("define");
        linker
            .define(&store, module_name, name, given)
            .expect("define");
        assert_link_error(
            linker.instantiate(&mut store, &module),
            module_name,
            name,
            &what,
        );
    }
    // The matching definitions link (and this is the store's first instance).
    let module = Module::new(
        &engine,
        r#"(module (import "e" "f" (func (param i32))) (import "e" "m" (memory 1 2))
             (import "e" "g" (global (mut i32))) (import "e" "t" (table 1 funcref))
             (func (export "ok") (result i32) (i32.const 42)))"#,
    )
    .expect("compiles");
    let mem_1_max_2 = Memory::new(&mut store, MemoryType::new(1, Some(2))).expect("memory");
    let i = Instance::new(
        &mut store,
        &module,
        &[
            d.func_i32.into(),
            mem_1_max_2.into(),
            d.global_var_i32.into(),
            d.table_func_10_max_10.into(),
        ],
    )
    .expect("every import matches");
    let ok = i.get_typed_func::<(), i32>(&store, "ok").expect("ok");
    assert_eq!(ok.call(&mut store, ()).expect("runs"), 42);
}

#[test]
fn every_missing_import_is_a_link_error_naming_it() {
    let engine = hostile::engine();
    let mut store = Store::new(&engine, ());
    let long = "x".repeat(10_000);
    let names: [(&str, &str); 6] = [
        ("env", "f"),
        ("", ""),
        ("env", "memory"),
        ("wasi_snapshot_preview1", "fd_write"),
        ("\u{0}nul", "tab\there"),
        ("m", &long),
    ];
    for (m, n) in names {
        for desc in ["(func)", "(memory 1)", "(table 1 funcref)", "(global i32)"] {
            let wat = format!(
                "(module (import \"{}\" \"{}\" {desc}))",
                m.escape_default(),
                n.escape_default()
            );
            let module = Module::new(&engine, &wat).expect("compiles");
            assert_link_error(
                Linker::new(&engine).instantiate(&mut store, &module),
                m,
                n,
                &format!("missing {desc}"),
            );
        }
    }
    // A linker that defines all but the last of many imports names the last one.
    let mut wat = String::from("(module");
    for k in 0..100 {
        wat.push_str(&format!(" (import \"env\" \"f{k}\" (func))"));
    }
    wat.push(')');
    let module = Module::new(&engine, &wat).expect("compiles");
    let mut linker = Linker::new(&engine);
    for k in 0..99 {
        linker
            .func_wrap("env", &format!("f{k}"), || {})
            .expect("define");
    }
    assert_link_error(
        linker.instantiate(&mut store, &module),
        "env",
        "f99",
        "the last import",
    );
    linker.func_wrap("env", "f99", || {}).expect("define");
    linker
        .instantiate(&mut store, &module)
        .expect("all defined");
    assert_store_healthy(&mut store);
}

#[test]
fn the_wrong_number_of_imports_is_a_link_error() {
    let engine = hostile::engine();
    let mut store = Store::new(&engine, ());
    let module = Module::new(
        &engine,
        r#"(module (import "env" "a" (func)) (import "env" "b" (func)))"#,
    )
    .expect("compiles");
    let f = Func::wrap(&mut store, || {});
    for given in [vec![], vec![f.into()], vec![f.into(), f.into(), f.into()]] {
        let err = Instance::new(&mut store, &module, &given).expect_err("wrong count");
        assert!(matches!(err.kind(), ErrorKind::Link(_)), "{err}");
        assert!(err.to_string().contains("2 imports"), "{err}");
    }
    Instance::new(&mut store, &module, &[f.into(), f.into()]).expect("two imports");
}

#[test]
fn a_host_function_of_the_right_name_but_wrong_type_is_refused_before_it_runs() {
    // The guest would call the host function with an i32 where the host reads an
    // i64: the link must fail, and the host function must never run.
    use std::sync::atomic::{AtomicBool, Ordering};
    static RAN: AtomicBool = AtomicBool::new(false);
    let engine = hostile::engine();
    let mut store = Store::new(&engine, ());
    let module = Module::new(
        &engine,
        r#"(module (import "env" "read" (func $r (param i32) (result i64)))
             (func $start (drop (call $r (i32.const -1))))
             (start $start))"#,
    )
    .expect("compiles");
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("env", "read", |x: i64| -> i64 {
            RAN.store(true, Ordering::SeqCst);
            x
        })
        .expect("define");
    assert_link_error(
        linker.instantiate(&mut store, &module),
        "env",
        "read",
        "i64 for i32",
    );
    assert!(!RAN.load(Ordering::SeqCst), "the host function ran");
    assert_store_healthy(&mut store);
}
