//! Shared helpers of the hostile-module suite (`tests/hostile_*.rs`), included with
//! `#[path = "common/hostile.rs"] mod hostile;`: engines, trap assertions, threads with
//! chosen stack sizes, a child-process runner for cases that could kill the process,
//! and a tiny Wasm binary encoder for modules the text format cannot express cheaply.
#![allow(dead_code, reason = "each test file uses a different subset")]

use kiln::*;
use std::fmt::Debug;
use std::time::{Duration, Instant};

/// The page size, in bytes.
pub const PAGE: u64 = 65536;

/// The strategy the suite runs under: `Strategy::Tiered` (with thresholds of 1, so
/// functions are optimized and replaced on the stack while the attacks run) when the
/// including test binary is `hostile_tiered` or `hostile_guided` (which include the
/// other suites' files), else the default, eager.
pub fn strategy() -> Strategy {
    if module_path!().starts_with("hostile_tiered") || guided() {
        Strategy::Tiered
    } else {
        Strategy::Eager(OptLevel::Speed)
    }
}

/// Whether the suite runs profile-guided tiered code (the including binary is
/// `hostile_guided`): optimized after 2 calls or loop iterations, speculating on any
/// `call_indirect` target seen, and inlining.
pub fn guided() -> bool {
    module_path!().starts_with("hostile_guided")
}

/// A configuration with the suite's strategy: what every test of the suite starts
/// from instead of `Config::new()`.
pub fn config() -> Config {
    let mut c = Config::new();
    c.strategy(strategy());
    if guided() {
        c.tier_up_policy(TierUpPolicy::with_threshold(2))
            .guided_policy(GuidedPolicy {
                min_site_calls: 0,
                min_share_percent: 0,
                branch_layout: Some(BranchLayout {
                    min_count: 0,
                    max_cold_per_mille: 1000,
                }),
                ..GuidedPolicy::default()
            });
    } else {
        c.tier_up_policy(TierUpPolicy::with_threshold(1));
    }
    c
}

/// An engine with the suite's strategy and otherwise default settings.
pub fn engine() -> Engine {
    Engine::new(&config()).expect("an engine")
}

/// An engine with fuel metering and epoch interruption compiled in.
pub fn metered_engine() -> Engine {
    Engine::new(
        config()
            .fuel_costs(FuelCosts::new(1))
            .epoch_interruption(true),
    )
    .expect("an engine with fuel and epochs")
}

/// The trap code of `err`, or a panic naming what `err` is instead.
pub fn trap_code(err: &Error, what: &str) -> TrapCode {
    err.as_trap()
        .unwrap_or_else(|| panic!("{what}: expected a trap, got {:?}: {err}", err.kind()))
        .code()
}

/// Asserts that `r` failed with the trap `code`.
#[track_caller]
pub fn expect_trap<T: Debug>(r: Result<T>, code: TrapCode, what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected trap {code:?}, but it returned {v:?}"),
        Err(e) => assert_eq!(trap_code(&e, what), code, "{what}: {e}"),
    }
}

/// Compiles and instantiates `wat` (text or binary) with no imports.
pub fn instantiate<T>(store: &mut Store<T>, wat: impl AsRef<[u8]>) -> Instance {
    let module = Module::new(store.engine(), wat).expect("the module compiles");
    Instance::new(store, &module, &[]).expect("the module instantiates")
}

/// A module with one export `ok` returning 42: proof that a store, engine or process
/// still works after an attack.
pub const HEALTHY: &str = r#"(module (func (export "ok") (result i32) (i32.const 42)))"#;

/// Asserts that a fresh instance of `HEALTHY` runs correctly in `store`.
#[track_caller]
pub fn assert_store_healthy<T>(store: &mut Store<T>) {
    let i = instantiate(store, HEALTHY);
    let ok = i
        .get_typed_func::<(), i32>(&*store, "ok")
        .expect("`ok` is () -> i32");
    assert_eq!(ok.call(&mut *store, ()).expect("`ok` runs"), 42);
}

/// Asserts that a new engine, store and instance run correctly: the process is healthy.
#[track_caller]
pub fn assert_process_healthy() {
    let mut store = Store::new(&Engine::default(), ());
    assert_store_healthy(&mut store);
}

/// Runs `f` on a new thread with a `stack`-byte stack and returns its result; panics
/// (with the thread's panic message) if the thread panicked.
pub fn on_thread<R: Send + 'static>(
    name: &str,
    stack: usize,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let handle = std::thread::Builder::new()
        .name(name.into())
        .stack_size(stack)
        .spawn(f)
        .expect("spawn a thread");
    match handle.join() {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// Times `f`.
pub fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let start = Instant::now();
    let r = f();
    (r, start.elapsed())
}

/// The variable that tells a re-executed test binary which test to run for real.
const CHILD_VAR: &str = "KILN_HOSTILE_CHILD";

/// Runs `body` in a child process (this test binary, re-executed to run only the
/// test `test_name`), so that a crash of the host (a stack overflow, an abort, a
/// signal) fails this one test instead of killing the whole test binary. Pass the
/// test function's name; the child runs `body`, the parent checks that it passed.
pub fn in_child_process(test_name: &str, body: impl FnOnce()) {
    if std::env::var(CHILD_VAR).as_deref() == Ok(test_name) {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args([
            test_name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, test_name)
        .output()
        .expect("re-execute the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child process running `{test_name}` failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        describe_status(&out.status)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child did not run `{test_name}`:\n{stdout}"
    );
}

fn describe_status(s: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => format!("{s}"),
    }
}

/// A minimal encoder for the Wasm binary format.
pub mod enc {
    /// The module header: magic and version 1.
    pub const HEADER: [u8; 8] = *b"\0asm\x01\0\0\0";

    /// Section ids.
    pub const TYPE: u8 = 1;
    pub const IMPORT: u8 = 2;
    pub const FUNCTION: u8 = 3;
    pub const TABLE: u8 = 4;
    pub const MEMORY: u8 = 5;
    pub const GLOBAL: u8 = 6;
    pub const EXPORT: u8 = 7;
    pub const CODE: u8 = 10;
    pub const DATA: u8 = 11;

    /// Appends `v` as unsigned LEB128.
    pub fn uleb(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// Appends `v` as signed LEB128.
    pub fn sleb(out: &mut Vec<u8>, mut v: i64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
            if done {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// `v` as unsigned LEB128.
    pub fn u(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        uleb(&mut out, v);
        out
    }

    /// A section: id, size, body.
    pub fn section(id: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![id];
        uleb(&mut out, body.len() as u64);
        out.extend_from_slice(body);
        out
    }

    /// A vector: count, then the items.
    pub fn vec_of(items: &[Vec<u8>]) -> Vec<u8> {
        let mut out = u(items.len() as u64);
        for i in items {
            out.extend_from_slice(i);
        }
        out
    }

    /// A name: length, then the bytes.
    pub fn name(s: &str) -> Vec<u8> {
        let mut out = u(s.len() as u64);
        out.extend_from_slice(s.as_bytes());
        out
    }

    /// A module from its header and the given sections.
    pub fn module(sections: &[Vec<u8>]) -> Vec<u8> {
        let mut out = HEADER.to_vec();
        for s in sections {
            out.extend_from_slice(s);
        }
        out
    }

    /// The type section entry of `(func (param ..) (result ..))`, types as bytes
    /// (0x7f i32, 0x7e i64, 0x7d f32, 0x7c f64, 0x7b v128).
    pub fn func_type(params: &[u8], results: &[u8]) -> Vec<u8> {
        let mut out = vec![0x60];
        uleb(&mut out, params.len() as u64);
        out.extend_from_slice(params);
        uleb(&mut out, results.len() as u64);
        out.extend_from_slice(results);
        out
    }

    /// A function body: locals as `(count, type)` runs, then the code (which must end
    /// with `end`, 0x0b), prefixed by its size.
    pub fn body(locals: &[(u32, u8)], code: &[u8]) -> Vec<u8> {
        let mut inner = u(locals.len() as u64);
        for &(n, t) in locals {
            uleb(&mut inner, n.into());
            inner.push(t);
        }
        inner.extend_from_slice(code);
        let mut out = u(inner.len() as u64);
        out.extend_from_slice(&inner);
        out
    }

    /// An export of function `index` as `name`.
    pub fn export_func(name_: &str, index: u32) -> Vec<u8> {
        let mut out = name(name_);
        out.push(0x00);
        uleb(&mut out, index.into());
        out
    }
}
