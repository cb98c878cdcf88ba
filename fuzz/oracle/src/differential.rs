//! Differential execution: Kiln against Wasmtime 48 on the same module and arguments.
//!
//! What is compared, after instantiation and after every call of an exported function:
//! the call's results (or whether and how it trapped: both engines' trap codes map to
//! [`TrapKind`]), then the contents of every exported memory (byte for byte; a
//! difference is reported with its first offset and FNV-1a hashes), every exported
//! global, and every exported table's size and which elements are null. Instantiation
//! must succeed on both or fail on both in the same way (the same trap, or a non-trap
//! error such as a resource limit on both).
//!
//! What is deliberately not compared, and why:
//!
//! - **Fuel.** Both engines run with the same fuel ([`DIFF_FUEL`], refilled before every
//!   call), and Kiln's per-operator costs are set to Wasmtime's flat ones, but Wasmtime
//!   also charges bulk memory and table operations per byte or element and the two check
//!   fuel at different points. So when either side runs out of fuel the module is
//!   *inconclusive*: comparison stops there (the other side may have run further and left
//!   different state), and the check passes.
//! - **Stack exhaustion.** The spec leaves the depth at which the call stack is exhausted
//!   to the implementation, and the engines' frames differ in size, so `StackOverflow` on
//!   either side is inconclusive in the same way.
//! - **NaN bits.** Wasm lets NaN-producing float operations return any NaN of the right
//!   kind. wasm-smith is asked to canonicalize NaNs after every such operation, so NaN bits
//!   that reach memory, globals or integer reinterpretations are deterministic; on top of
//!   that, any `f32`/`f64` NaN result equals any NaN of the same type, and a `v128` result
//!   equals another if their bytes match or if they match as `f32x4` or as `f64x2` with NaN
//!   lanes equal (see [`Value::same`]).
//! - **References** are compared by null-ness only.

pub use crate::engines::DiffStrategy;
use crate::generate;
use crate::value::{fnv1a, TrapKind, Value};
use crate::{engines, split_args, watchdog, Failure, Target};
use arbitrary::Unstructured;
use std::fmt;
use std::time::Duration;

/// Fuel given to both engines before instantiation and before every call.
pub const DIFF_FUEL: u64 = 100_000;
/// Bytes any one memory may have on either engine (growth past it returns -1 on both).
const MEMORY_LIMIT: u64 = 1 << 20;
/// Elements any one table may have on either engine.
const TABLE_LIMIT: u32 = 10_000;
/// A call that has not returned after this long, with fuel on, is a hang.
const HANG: Duration = Duration::from_secs(30);

/// What a differential run got to compare.
#[derive(Debug, Default, Clone)]
pub struct DiffReport {
    /// A module was generated from the input.
    pub generated: bool,
    /// Both engines instantiated it.
    pub instantiated: bool,
    /// Calls whose outcomes were compared (and agreed).
    pub calls: usize,
    /// Of those, calls that trapped on both engines with the same trap.
    pub traps: usize,
    /// Calls (or instantiations) whose outcome was not compared because fuel or stack ran
    /// out on either side, and what each engine did. After such a call, both instances
    /// are thrown away and the remaining exports are called on fresh ones.
    pub inconclusive: Vec<String>,
}

/// Why wasm did not produce values.
#[derive(Debug, Clone)]
enum Stop {
    Trap(TrapKind),
    /// A non-trap error (e.g. a resource limit at instantiation), with its message.
    Error(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Trap(t) => write!(f, "trap {t:?}"),
            Stop::Error(m) => write!(f, "error `{m}`"),
        }
    }
}

fn kiln_stop(e: &kiln::Error) -> Stop {
    match e.as_trap() {
        Some(t) => Stop::Trap(TrapKind::from_kiln(t.code())),
        None => Stop::Error(e.to_string()),
    }
}

fn wasmtime_stop(e: &wasmtime::Error) -> Stop {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(t) => Stop::Trap(TrapKind::from_wasmtime(*t)),
        None => Stop::Error(format!("{e:#}")),
    }
}

type Outcome = Result<Vec<Value>, Stop>;

fn show(o: &Outcome) -> String {
    match o {
        Ok(vals) => {
            let vals: Vec<String> = vals.iter().map(Value::to_string).collect();
            format!("returned [{}]", vals.join(", "))
        }
        Err(stop) => stop.to_string(),
    }
}

enum Verdict {
    Agree { trapped: bool },
    Inconclusive(String),
}

/// Compares the engines' outcomes of `what`; `Err` is a divergence.
fn compare(what: &str, kiln: &Outcome, wasmtime: &Outcome) -> Result<Verdict, String> {
    let inconclusive = |o: &Outcome| matches!(o, Err(Stop::Trap(t)) if t.inconclusive());
    if inconclusive(kiln) || inconclusive(wasmtime) {
        return Ok(Verdict::Inconclusive(format!(
            "{what}: Kiln {}, Wasmtime {}",
            show(kiln),
            show(wasmtime)
        )));
    }
    let agree = match (kiln, wasmtime) {
        (Ok(a), Ok(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y)),
        (Err(Stop::Trap(a)), Err(Stop::Trap(b))) => a == b,
        (Err(Stop::Error(_)), Err(Stop::Error(_))) => true,
        _ => false,
    };
    if agree {
        Ok(Verdict::Agree {
            trapped: kiln.is_err(),
        })
    } else {
        Err(format!(
            "{what}: Kiln {}, Wasmtime {}",
            show(kiln),
            show(wasmtime)
        ))
    }
}

/// Generates a module from `data` and runs it on both engines (see the module docs).
pub fn differential(data: &[u8]) -> Result<DiffReport, Failure> {
    match prepare(data) {
        Some((wasm, arg_data, strategy)) => check_differential_with(&wasm, arg_data, strategy),
        None => Ok(DiffReport::default()),
    }
}

/// The module `differential` runs for `data`, the bytes its arguments come from, and
/// how Kiln compiles it (drawn from what the module left).
pub(crate) fn prepare(data: &[u8]) -> Option<(Vec<u8>, &[u8], DiffStrategy)> {
    let (module_data, arg_data) = split_args(data, 256);
    let mut u = Unstructured::new(module_data);
    let config = generate::differential_config(&mut u).ok()?;
    let module = generate::module(config, &mut u)?;
    let strategy = u
        .choose(&DiffStrategy::ALL)
        .copied()
        .unwrap_or(DiffStrategy::Eager);
    Some((module, arg_data, strategy))
}

/// Runs `wasm` (no imports, Kiln's feature set) on both engines, drawing call arguments
/// from `arg_data` (zeroes once it runs out), and compares everything observable.
/// Kiln compiles eagerly; [`check_differential_with`] chooses.
pub fn check_differential(wasm: &[u8], arg_data: &[u8]) -> Result<DiffReport, Failure> {
    check_differential_with(wasm, arg_data, DiffStrategy::Eager)
}

/// [`check_differential`] with Kiln compiling as `strategy` says.
pub fn check_differential_with(
    wasm: &[u8],
    arg_data: &[u8],
    strategy: DiffStrategy,
) -> Result<DiffReport, Failure> {
    let fail = |m: String| Failure::new(Target::Differential, m, Some(wasm));
    let mut report = DiffReport {
        generated: true,
        ..DiffReport::default()
    };
    if let Err(e) =
        wasmparser::Validator::new_with_features(generate::kiln_features()).validate_all(wasm)
    {
        return Err(fail(format!(
            "the module is outside Kiln's feature set, so the generator is misconfigured: {e}"
        )));
    }
    let kiln_engine = engines::kiln_differential(strategy).map_err(fail)?;
    let wasmtime_engine = engines::wasmtime().map_err(fail)?;
    let kiln_module = kiln::Module::new(kiln_engine, wasm).map_err(|e| {
        fail(format!(
            "Kiln refuses a valid module of Kiln's feature set: {e}"
        ))
    })?;
    let wasmtime_module = wasmtime::Module::new(wasmtime_engine, wasm).map_err(|e| {
        fail(format!(
            "Wasmtime refuses a valid module of Kiln's feature set (is the oracle's Wasmtime \
             configured right?): {e:#}"
        ))
    })?;
    if let Some((module, name, _)) = kiln_module.imports().next() {
        return Err(fail(format!(
            "the module imports {module}.{name}: the generator should make none"
        )));
    }

    let Some(mut pair) = instantiate(&kiln_module, &wasmtime_module, &mut report).map_err(fail)?
    else {
        return Ok(report);
    };
    report.instantiated = true;

    let mut args_u = Unstructured::new(arg_data);
    let funcs: Vec<(String, kiln::FuncType)> = kiln_module
        .exports()
        .filter_map(|(name, ty)| match ty {
            kiln::ExternType::Func(f) => Some((name.to_string(), f)),
            _ => None,
        })
        .collect();
    for (name, ty) in funcs {
        let args: Vec<Value> = ty
            .params()
            .iter()
            .map(|t| Value::arbitrary_of(t, &mut args_u))
            .collect();
        let what = {
            let shown: Vec<String> = args.iter().map(Value::to_string).collect();
            format!("call {name}({})", shown.join(", "))
        };
        let Pair { ks, ws, ki, wi } = &mut pair;
        let (Some(kf), Some(wf)) = (ki.get_func(&*ks, &name), wi.get_func(&mut *ws, &name)) else {
            return Err(fail(format!(
                "export {name} is not a function on both engines"
            )));
        };
        let wty = wf.ty(&*ws);
        if wty.params().len() != ty.params().len() || wty.results().len() != ty.results().len() {
            return Err(fail(format!(
                "export {name}: Kiln's type {ty} and Wasmtime's {wty:?} differ"
            )));
        }
        refuel(ks, ws).map_err(fail)?;
        let (k, w) = {
            let _hang = watchdog::arm(HANG, || format!("differential: {what}"));
            let kargs: Vec<kiln::Val> = args.iter().map(|a| a.to_kiln()).collect();
            let mut kout = vec![kiln::Val::I32(0); ty.results().len()];
            let k = kf
                .call(&mut *ks, &kargs, &mut kout)
                .map(|()| kout.iter().map(Value::from_kiln).collect())
                .map_err(|e| kiln_stop(&e));
            let wargs: Vec<wasmtime::Val> = args.iter().map(|a| a.to_wasmtime()).collect();
            let mut wout = vec![wasmtime::Val::I32(0); ty.results().len()];
            let w = wf
                .call(&mut *ws, &wargs, &mut wout)
                .map(|()| wout.iter().map(Value::from_wasmtime).collect())
                .map_err(|e| wasmtime_stop(&e));
            (k, w)
        };
        match compare(&what, &k, &w).map_err(fail)? {
            Verdict::Agree { trapped } => {
                report.calls += 1;
                report.traps += usize::from(trapped);
                compare_state(&mut pair, &kiln_module, &what).map_err(fail)?;
            }
            Verdict::Inconclusive(why) => {
                // The two instances may now differ legitimately: carry on with fresh ones.
                report.inconclusive.push(why);
                match instantiate(&kiln_module, &wasmtime_module, &mut report).map_err(fail)? {
                    Some(fresh) => pair = fresh,
                    None => return Ok(report),
                }
            }
        }
    }
    Ok(report)
}

/// An instance of the module on each engine, each in its own store.
struct Pair {
    ks: kiln::Store<()>,
    ws: wasmtime::Store<wasmtime::StoreLimits>,
    ki: kiln::Instance,
    wi: wasmtime::Instance,
}

/// Instantiates the module on both engines, with fuel and limits, and compares the
/// outcome and the state it leaves. `None` when both failed alike or either was
/// inconclusive (recorded in `report`); `Err` is a divergence.
fn instantiate(
    kiln_module: &kiln::Module,
    wasmtime_module: &wasmtime::Module,
    report: &mut DiffReport,
) -> Result<Option<Pair>, String> {
    let mut ks = kiln::Store::new(kiln_module.engine(), ());
    ks.limiter(
        kiln::StoreLimits::new()
            .memory_size(MEMORY_LIMIT)
            .table_elements(TABLE_LIMIT),
    );
    let mut ws = wasmtime::Store::new(
        wasmtime_module.engine(),
        wasmtime::StoreLimitsBuilder::new()
            .memory_size(MEMORY_LIMIT as usize)
            .table_elements(TABLE_LIMIT as usize)
            .build(),
    );
    ws.limiter(|limits| limits);
    refuel(&mut ks, &mut ws)?;
    let (ki, wi) = {
        let _hang = watchdog::arm(HANG, || "differential: instantiation".to_string());
        (
            kiln::Instance::new(&mut ks, kiln_module, &[]),
            wasmtime::Instance::new(&mut ws, wasmtime_module, &[]),
        )
    };
    match (ki, wi) {
        (Ok(ki), Ok(wi)) => {
            let mut pair = Pair { ks, ws, ki, wi };
            compare_state(&mut pair, kiln_module, "instantiation")?;
            Ok(Some(pair))
        }
        (k, w) => {
            let k = k.map(|_| Vec::new()).map_err(|e| kiln_stop(&e));
            let w = w.map(|_| Vec::new()).map_err(|e| wasmtime_stop(&e));
            if let Verdict::Inconclusive(why) = compare("instantiation", &k, &w)? {
                report.inconclusive.push(why);
            }
            Ok(None)
        }
    }
}

fn refuel(
    ks: &mut kiln::Store<()>,
    ws: &mut wasmtime::Store<wasmtime::StoreLimits>,
) -> Result<(), String> {
    ks.set_fuel(DIFF_FUEL)
        .map_err(|e| format!("Kiln: cannot set fuel: {e}"))?;
    ws.set_fuel(DIFF_FUEL)
        .map_err(|e| format!("Wasmtime: cannot set fuel: {e:#}"))
}

/// Compares every exported memory, global and table, after `when`.
fn compare_state(pair: &mut Pair, module: &kiln::Module, when: &str) -> Result<(), String> {
    let Pair { ks, ws, ki, wi } = pair;
    let ks = &*ks;
    for (name, ty) in module.exports() {
        match ty {
            kiln::ExternType::Func(_) => {}
            kiln::ExternType::Memory(_) => {
                let (Some(km), Some(wm)) = (ki.get_memory(ks, name), wi.get_memory(&mut *ws, name))
                else {
                    return Err(format!("export {name} is not a memory on both engines"));
                };
                let (k, w) = (km.data(ks), wm.data(&*ws));
                if k.len() != w.len() {
                    return Err(format!(
                        "after {when}: memory {name} has {} bytes on Kiln, {} on Wasmtime",
                        k.len(),
                        w.len()
                    ));
                }
                if let Some(at) = k.iter().zip(w).position(|(a, b)| a != b) {
                    return Err(format!(
                        "after {when}: memory {name} differs first at offset {at:#x} \
                         (Kiln {:#04x}, Wasmtime {:#04x}; contents hash {:#018x} vs {:#018x})",
                        k[at],
                        w[at],
                        fnv1a(k),
                        fnv1a(w)
                    ));
                }
            }
            kiln::ExternType::Global(_) => {
                let (Some(kg), Some(wg)) = (ki.get_global(ks, name), wi.get_global(&mut *ws, name))
                else {
                    return Err(format!("export {name} is not a global on both engines"));
                };
                let (k, w) = (
                    Value::from_kiln(&kg.get(ks)),
                    Value::from_wasmtime(&wg.get(&mut *ws)),
                );
                if !k.same(&w) {
                    return Err(format!(
                        "after {when}: global {name} is {k} on Kiln, {w} on Wasmtime"
                    ));
                }
            }
            kiln::ExternType::Table(_) => {
                let (Some(kt), Some(wt)) = (ki.get_table(ks, name), wi.get_table(&mut *ws, name))
                else {
                    return Err(format!("export {name} is not a table on both engines"));
                };
                let (ksize, wsize) = (kt.size(ks), wt.size(&*ws));
                if u64::from(ksize) != wsize {
                    return Err(format!(
                        "after {when}: table {name} has {ksize} elements on Kiln, {wsize} on Wasmtime"
                    ));
                }
                for i in 0..ksize {
                    let k = kt.get(ks, i).map(|v| Value::from_kiln(&v));
                    let w = wt.get(&mut *ws, u64::from(i)).map(|r| r.is_null());
                    let k_null = match k {
                        Some(Value::FuncRef { null } | Value::ExternRef { null }) => Some(null),
                        _ => None,
                    };
                    if k_null != w {
                        return Err(format!(
                            "after {when}: table {name}[{i}] is {k:?} on Kiln, null={w:?} on Wasmtime"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln::TrapCode;

    fn trap(t: TrapKind) -> Outcome {
        Err(Stop::Trap(t))
    }

    #[test]
    fn verdicts() {
        let ok = |v: i32| -> Outcome { Ok(vec![Value::I32(v)]) };
        assert!(matches!(
            compare("c", &ok(1), &ok(1)),
            Ok(Verdict::Agree { trapped: false })
        ));
        assert!(compare("c", &ok(1), &ok(2)).is_err());
        assert!(matches!(
            compare(
                "c",
                &trap(TrapKind::Known(TrapCode::Unreachable)),
                &trap(TrapKind::Known(TrapCode::Unreachable))
            ),
            Ok(Verdict::Agree { trapped: true })
        ));
        assert!(compare(
            "c",
            &trap(TrapKind::Known(TrapCode::Unreachable)),
            &trap(TrapKind::Known(TrapCode::MemoryOutOfBounds))
        )
        .is_err());
        assert!(compare("c", &ok(1), &trap(TrapKind::Known(TrapCode::Unreachable))).is_err());
        for t in [
            TrapKind::Known(TrapCode::OutOfFuel),
            TrapKind::Known(TrapCode::StackOverflow),
        ] {
            assert!(matches!(
                compare("c", &ok(1), &trap(t.clone())),
                Ok(Verdict::Inconclusive(_))
            ));
            assert!(matches!(
                compare(
                    "c",
                    &trap(t.clone()),
                    &trap(TrapKind::Known(TrapCode::Unreachable))
                ),
                Ok(Verdict::Inconclusive(_))
            ));
        }
        let error: Outcome = Err(Stop::Error("limit".into()));
        assert!(matches!(
            compare("c", &error, &error.clone()),
            Ok(Verdict::Agree { .. })
        ));
        assert!(compare(
            "c",
            &error,
            &trap(TrapKind::Known(TrapCode::MemoryOutOfBounds))
        )
        .is_err());
    }
}
