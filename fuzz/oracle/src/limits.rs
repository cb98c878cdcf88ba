//! Limits: wasm-smith modules (infinite loops and runaway recursion included) run on Kiln
//! with fuel, an epoch timeout and a memory limit all on. Every call of every export must
//! return promptly with values or a trap; no memory may exceed the limit (so `memory.grow`
//! past it must have returned -1), and the host API must refuse to grow past it too.

use crate::generate;
use crate::value::{TrapKind, Value};
use crate::{engines, split_args, watchdog, Failure, Target};
use arbitrary::Unstructured;
use kiln::{ErrorKind, Extern, Instance, Store, StoreLimits, TrapCode, Val};
use std::time::{Duration, Instant};

/// Fuel given before instantiation and before every call, for half the inputs; the other
/// half get practically unlimited fuel (`u64::MAX`), so that the timeout is what stops
/// runaway code.
pub const LIMITS_FUEL: u64 = 100_000;
/// The timeout set before instantiation and before every call.
pub const LIMITS_TIMEOUT: Duration = Duration::from_millis(50);
/// Bytes any one memory may have.
pub const LIMITS_MEMORY: u64 = 1 << 20;
/// A call still running after this long (fuel and a 50 ms timeout notwithstanding) is a
/// failure; one still running after `HANG` aborts the process (a hang).
const TOO_SLOW: Duration = Duration::from_secs(5);
const HANG: Duration = Duration::from_secs(60);

/// What a limits run saw.
#[derive(Debug, Default, Clone)]
pub struct LimitsReport {
    /// A module was generated.
    pub generated: bool,
    /// It instantiated within the limits.
    pub instantiated: bool,
    /// Calls made.
    pub calls: usize,
    /// Calls stopped by running out of fuel.
    pub out_of_fuel: usize,
    /// Calls stopped by the timeout.
    pub interrupted: usize,
    /// Calls that hit some other trap.
    pub other_traps: usize,
    /// Memory growths the limit refused.
    pub refused_growths: usize,
}

/// Generates a module from `data` and runs it under limits.
pub fn limits(data: &[u8]) -> Result<LimitsReport, Failure> {
    match prepare(data) {
        Some((wasm, arg_data)) => check_limits(&wasm, arg_data),
        None => Ok(LimitsReport::default()),
    }
}

/// The module `limits` runs for `data`, and the bytes its arguments come from.
pub(crate) fn prepare(data: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let (module_data, arg_data) = split_args(data, 256);
    let mut u = Unstructured::new(module_data);
    let config = generate::limits_config(&mut u).ok()?;
    Some((generate::module(config, &mut u)?, arg_data))
}

/// Runs every export of `wasm` (which must have no imports) under [`LIMITS_FUEL`] (or
/// unlimited fuel, as `arg_data` decides), [`LIMITS_TIMEOUT`] and [`LIMITS_MEMORY`], with
/// arguments drawn from `arg_data`.
pub fn check_limits(wasm: &[u8], arg_data: &[u8]) -> Result<LimitsReport, Failure> {
    let fail = |m: String| Failure::new(Target::Limits, m, Some(wasm));
    let mut report = LimitsReport {
        generated: true,
        ..LimitsReport::default()
    };
    let engine = engines::kiln_limits().map_err(fail)?;
    let module = kiln::Module::new(engine, wasm).map_err(|e| {
        fail(format!(
            "Kiln refuses a generated module of Kiln's feature set: {e}"
        ))
    })?;
    let mut args_u = Unstructured::new(arg_data);
    // Without argument bytes (e.g. a `.wat` regression), the timeout decides.
    let fuel = if args_u.ratio(1, 2).unwrap_or(true) {
        u64::MAX
    } else {
        LIMITS_FUEL
    };
    let mut store = Store::new(engine, ());
    store.limiter(StoreLimits::new().memory_size(LIMITS_MEMORY));
    let arm = |store: &mut Store<()>| -> Result<Instant, Failure> {
        store
            .set_fuel(fuel)
            .map_err(|e| fail(format!("cannot set fuel: {e}")))?;
        let start = Instant::now();
        store
            .set_timeout(LIMITS_TIMEOUT)
            .map_err(|e| fail(format!("cannot set a timeout: {e}")))?;
        Ok(start)
    };

    let start = arm(&mut store)?;
    let instance = {
        let _hang = watchdog::arm(HANG, || "limits: instantiation".to_string());
        Instance::new(&mut store, &module, &[])
    };
    let instance = match instance {
        Ok(i) => i,
        Err(e) => {
            return match e.kind() {
                ErrorKind::Trap(t) => {
                    check_trap(
                        &store,
                        TrapKind::from_kiln(t.code()),
                        start.elapsed(),
                        "instantiation",
                    )
                    .map_err(fail)?;
                    Ok(report)
                }
                ErrorKind::ResourceExhausted(_) | ErrorKind::Instantiation(_) => Ok(report),
                _ => Err(fail(format!(
                    "instantiation failed with neither a trap nor a limit: {e}"
                ))),
            };
        }
    };
    report.instantiated = true;
    check_memories(&mut store, &instance, "instantiation", &mut report).map_err(fail)?;

    for (name, ext) in instance.exports(&store) {
        let Extern::Func(f) = ext else { continue };
        let ty = f.ty(&store);
        let args: Vec<Val> = ty
            .params()
            .iter()
            .map(|t| Value::arbitrary_of(t, &mut args_u).to_kiln())
            .collect();
        let mut out = vec![Val::I32(0); ty.results().len()];
        let what = format!("call {name}");
        let start = arm(&mut store)?;
        let result = {
            let _hang = watchdog::arm(HANG, || format!("limits: {what}"));
            f.call(&mut store, &args, &mut out)
        };
        let elapsed = start.elapsed();
        report.calls += 1;
        if elapsed > TOO_SLOW {
            return Err(fail(format!(
                "{what} ran for {elapsed:?} despite {fuel} fuel and a {LIMITS_TIMEOUT:?} timeout"
            )));
        }
        match result {
            Ok(()) => {}
            Err(e) => match e.as_trap() {
                Some(t) => {
                    let kind = TrapKind::from_kiln(t.code());
                    match kind {
                        TrapKind::Known(TrapCode::OutOfFuel) => report.out_of_fuel += 1,
                        TrapKind::Known(TrapCode::Interrupted) => report.interrupted += 1,
                        _ => report.other_traps += 1,
                    }
                    check_trap(&store, kind, elapsed, &what).map_err(fail)?;
                }
                None if matches!(e.kind(), ErrorKind::ResourceExhausted(_)) => {}
                None => {
                    return Err(fail(format!(
                        "{what} failed with neither a trap nor a limit: {e}"
                    )))
                }
            },
        }
        check_memories(&mut store, &instance, &what, &mut report).map_err(fail)?;
    }
    Ok(report)
}

/// A trap from the limits must be consistent with them: fuel is used up after
/// `OutOfFuel`, and `Interrupted` does not come before the timeout.
fn check_trap(
    store: &Store<()>,
    kind: TrapKind,
    elapsed: Duration,
    what: &str,
) -> Result<(), String> {
    match kind {
        TrapKind::Known(TrapCode::OutOfFuel) => {
            let left = store
                .get_fuel()
                .map_err(|e| format!("cannot read fuel: {e}"))?;
            if left != 0 {
                return Err(format!("{what} ran out of fuel with {left} fuel left"));
            }
        }
        TrapKind::Known(TrapCode::Interrupted) if elapsed < LIMITS_TIMEOUT => {
            return Err(format!(
                "{what} was interrupted after {elapsed:?}, before its {LIMITS_TIMEOUT:?} timeout"
            ));
        }
        TrapKind::Other(name) => {
            return Err(format!("{what} trapped with an unknown code: {name}"))
        }
        _ => {}
    }
    Ok(())
}

/// No memory is larger than the limit, and the host cannot grow one past it.
fn check_memories(
    store: &mut Store<()>,
    instance: &Instance,
    when: &str,
    report: &mut LimitsReport,
) -> Result<(), String> {
    if store.take_last_limit_hit().is_some() {
        report.refused_growths += 1;
    }
    for (name, ext) in instance.exports(&*store) {
        let Extern::Memory(m) = ext else { continue };
        let size = m.data_size(&*store) as u64;
        if size > LIMITS_MEMORY {
            return Err(format!(
                "after {when}: memory {name} has {size} bytes, past the limit of {LIMITS_MEMORY}"
            ));
        }
        let pages_past = (LIMITS_MEMORY - size) / kiln::PAGE_SIZE + 1;
        if m.grow(&mut *store, pages_past).is_ok() {
            return Err(format!(
                "after {when}: the host grew memory {name} from {size} bytes by {pages_past} \
                 pages, past the limit of {LIMITS_MEMORY}"
            ));
        }
        let after = m.data_size(&*store) as u64;
        if after != size {
            return Err(format!(
                "after {when}: a refused growth changed memory {name} from {size} to {after} bytes"
            ));
        }
        store.take_last_limit_hit();
    }
    Ok(())
}
