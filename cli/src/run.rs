//! `kiln run`: compile (within the time limit), link WASI and any preloaded modules,
//! instantiate, and run `_start` or the export `--invoke` names, under the limits given.

use crate::args::{parse_dir, RunArgs};
use crate::limits::show_size;
use crate::Failure;
use kiln::{
    Config, Engine, ErrorKind, Instance, LimitHit, Linker, Module, ResourceKind, Store,
    StoreLimits, TrapCode, Val, ValType,
};
use kiln_wasi::{DirPerms, FastPaths, I32Exit, Stdin, WasiCtx, WasiCtxBuilder};
use std::path::Path;
use std::time::{Duration, Instant};

/// The largest `--max-wasm-stack` accepted.
const MAX_WASM_STACK: u64 = 1 << 30;

fn parse_val(s: &str, ty: ValType) -> Result<Val, String> {
    let bad = |e: &dyn std::fmt::Display| format!("cannot parse `{s}` as {ty}: {e}");
    Ok(match ty {
        ValType::I32 => Val::I32(
            s.parse::<i32>()
                .or_else(|_| s.parse::<u32>().map(|v| v as i32))
                .map_err(|e| bad(&e))?,
        ),
        ValType::I64 => Val::I64(
            s.parse::<i64>()
                .or_else(|_| s.parse::<u64>().map(|v| v as i64))
                .map_err(|e| bad(&e))?,
        ),
        ValType::F32 => Val::F32(s.parse::<f32>().map_err(|e| bad(&e))?.to_bits()),
        ValType::F64 => Val::F64(s.parse::<f64>().map_err(|e| bad(&e))?.to_bits()),
        ValType::V128 => Val::V128(s.parse::<u128>().map_err(|e| bad(&e))?),
        other => {
            return Err(format!(
                "arguments of type {other} cannot be given on the command line"
            ))
        }
    })
}

fn show(v: &Val) -> String {
    match v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(b) => f32::from_bits(*b).to_string(),
        Val::F64(b) => f64::from_bits(*b).to_string(),
        Val::V128(x) => format!("{x:#034x}"),
        Val::FuncRef(None) | Val::ExternRef(None) => "null".into(),
        Val::FuncRef(Some(_)) => "funcref".into(),
        Val::ExternRef(Some(_)) => "externref".into(),
    }
}

/// The guest's argv[0] by default: the file's name without its directory.
fn default_argv0(file: &str) -> String {
    Path::new(file)
        .file_name()
        .map_or_else(|| file.to_string(), |n| n.to_string_lossy().into_owned())
}

fn wasi_ctx(a: &RunArgs) -> Result<WasiCtx, Failure> {
    let mut b = WasiCtxBuilder::new();
    b.arg(a.argv0.clone().unwrap_or_else(|| default_argv0(a.file())));
    if a.invoke.is_none() {
        b.args(a.guest_args().iter().cloned());
    }
    for e in &a.env {
        match e.split_once('=') {
            Some(("", _)) => return Err(Failure::Usage(format!("--env `{e}`: empty name"))),
            Some((k, v)) => {
                b.env(k, v);
            }
            // `--env NAME`: the host's value, as in Wasmtime.
            None => match std::env::var(e) {
                Ok(v) => {
                    b.env(e, v);
                }
                Err(std::env::VarError::NotPresent) => {
                    eprintln!("warning: --env {e}: not set on the host; the guest will not see it");
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(Failure::Usage(format!(
                        "--env {e}: the host's value is not valid UTF-8"
                    )))
                }
            },
        }
    }
    for spec in &a.dirs {
        let (host, guest, read_only) = parse_dir(spec).map_err(Failure::Usage)?;
        let perms = if read_only {
            DirPerms::ReadOnly
        } else {
            DirPerms::ReadWrite
        };
        b.preopened_dir(&host, guest, perms)?;
    }
    if let Some(bytes) = a.max_disk_write {
        b.max_disk_write(bytes);
    }
    b.stdin(Stdin::Inherit);
    Ok(b.build())
}

fn engine(a: &RunArgs, artifact: bool) -> Result<Engine, Failure> {
    let mut config = Config::new();
    config.consume_fuel(a.fuel.is_some());
    config.epoch_interruption(a.timeout.is_some());
    if let Some(bytes) = a.max_wasm_stack {
        config.max_wasm_stack(bytes as usize);
    }
    let strategy = a.strategy();
    if artifact && !matches!(strategy, kiln::Strategy::Eager(_)) {
        return Err(Failure::Usage(format!(
            "{}: an artifact holds eagerly compiled code; --strategy {} applies to .wasm \
             and .wat files",
            a.file(),
            strategy.name()
        )));
    }
    config.strategy(strategy);
    if let Some(n) = a.tier_up_threshold {
        config.tier_up_policy(kiln::TierUpPolicy::with_threshold(n));
    }
    config.profile_guided(a.profile_guided);
    if a.branch_layout {
        config.guided_policy(kiln::GuidedPolicy {
            branch_layout: Some(kiln::BranchLayout::default()),
            ..kiln::GuidedPolicy::default()
        });
    }
    if let Some(path) = &a.profile_in {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::Usage(format!("--profile-in: cannot read {}: {e}", path.display()))
        })?;
        let profile = kiln::Profile::from_json(&text).map_err(|e| {
            Failure::Usage(format!(
                "--profile-in: {} is not a profile: {e}",
                path.display()
            ))
        })?;
        config.saved_profile(profile);
    }
    let cache = match (&a.cache, strategy) {
        (Some(c), _) => c.as_str(),
        (None, kiln::Strategy::Eager(_)) => "on",
        (None, _) => "off",
    };
    if let Some(dir) = crate::cache::directory(cache)? {
        config.cache(kiln::CacheConfig::new(dir));
    }
    // `kiln compile` wrote the artifact with the installation's key.
    if artifact {
        config.artifact_key(crate::cache::installation_key()?);
    }
    Ok(Engine::new(&config)?)
}

/// Runs the guest `a` describes on a thread whose stack holds the whole wasm stack
/// limit, the host's reserve below it, and room for the host's own work above: the
/// limit asked for is the limit the guest gets, never clamped by a smaller thread.
pub fn run_on_sized_thread(mut a: RunArgs) -> Result<(), Failure> {
    a.validate().map_err(Failure::Usage)?;
    a.apply_wasmtime_options().map_err(Failure::Usage)?;
    let wasm = a.max_wasm_stack.unwrap_or(512 << 10);
    if wasm > MAX_WASM_STACK {
        return Err(Failure::Usage(format!(
            "--max-wasm-stack {} is more than the largest allowed, {}",
            show_size(wasm),
            show_size(MAX_WASM_STACK)
        )));
    }
    let size = wasm as usize + kiln::DEFAULT_HOST_STACK_RESERVE + (8 << 20);
    std::thread::Builder::new()
        .name("kiln-guest".into())
        .stack_size(size)
        .spawn(move || run(&a))
        .map_err(|e| Failure::Usage(format!("cannot start the guest's thread: {e}")))?
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn run(a: &RunArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let artifact = crate::cache::is_artifact(Path::new(a.file()));
    let engine = engine(a, artifact)?;
    // The time limit covers everything the user waits for, compilation included.
    let deadline = a.timeout.map(|t| started + t);
    let mut store = Store::new(&engine, wasi_ctx(a)?);
    // The WASI fast paths are compiled into the module: link before compiling.
    let mut linker: Linker<WasiCtx> = Linker::new(&engine);
    let fast = if a.no_wasi_fast_paths {
        FastPaths::Off
    } else {
        FastPaths::WithStore(&mut store)
    };
    kiln_wasi::add_to_linker_with(&mut linker, |ctx| ctx, fast)?;
    let compile = |linker: &Linker<WasiCtx>, path: &str, artifact: bool| {
        if artifact {
            return Module::deserialize_file(&engine, path);
        }
        linker.module_from_file(path, deadline)
    };
    let module = compile(&linker, a.file(), artifact)
        .map_err(|e| explain(e.into(), None, a, started.elapsed()))?;
    if a.max_memory.is_some() || a.max_table_elements.is_some() {
        let mut limits = StoreLimits::new();
        if let Some(bytes) = a.max_memory {
            limits = limits.total_memory(bytes);
        }
        if let Some(n) = a.max_table_elements {
            limits = limits.table_elements(n);
        }
        store.limiter(limits);
    }
    if let Some(fuel) = a.fuel {
        store.set_fuel(fuel)?;
    }
    if let Some(d) = deadline {
        store.set_timeout(d.saturating_duration_since(Instant::now()))?;
    }
    let result = (|| {
        for p in &a.preload {
            let (name, path) = p
                .split_once('=')
                .filter(|(n, f)| !n.is_empty() && !f.is_empty())
                .ok_or_else(|| Failure::Usage(format!("--preload `{p}`: expected NAME=FILE")))?;
            let m = compile(&linker, path, crate::cache::is_artifact(Path::new(path)))?;
            let instance = linker.instantiate(&mut store, &m)?;
            linker.instance(&mut store, name, instance)?;
        }
        if a.default_imports {
            linker.define_unknown_imports_as_default_values(&module)?;
        }
        instantiate_and_call(&mut store, &linker, &module, a)
    })();
    result.map_err(|f| explain(f, Some(&store), a, started.elapsed()))
}

fn instantiate_and_call(
    store: &mut Store<WasiCtx>,
    linker: &Linker<WasiCtx>,
    module: &Module,
    a: &RunArgs,
) -> Result<(), Failure> {
    let instance = linker.instantiate(&mut *store, module)?;
    let result = (|| {
        // A reactor is initialized once, before any other export is called.
        let name = a.invoke.as_deref().unwrap_or("_start");
        if a.invoke.is_some()
            && name != "_initialize"
            && instance.get_func(&*store, "_initialize").is_some()
        {
            instance
                .get_typed_func::<(), ()>(&*store, "_initialize")?
                .call(&mut *store, ())?;
        }
        call(store, instance, name, a, module)
    })();
    // The profile describes the run however it ended.
    if let Some(path) = &a.profile {
        write_profile(store, instance, path)?;
    }
    result
}

fn write_profile(store: &Store<WasiCtx>, instance: Instance, path: &Path) -> Result<(), Failure> {
    let profile = instance
        .profile(store)
        .ok_or_else(|| Failure::Usage("--profile: this module's code records no profile".into()))?;
    std::fs::write(path, profile.to_json())
        .map_err(|e| Failure::Usage(format!("--profile: cannot write {}: {e}", path.display())))
}

fn call(
    store: &mut Store<WasiCtx>,
    instance: Instance,
    name: &str,
    a: &RunArgs,
    module: &Module,
) -> Result<(), Failure> {
    let func = instance.get_func(&*store, name).ok_or_else(|| {
        let exports: Vec<&str> = module.exports().map(|(n, _)| n).collect();
        Failure::Usage(format!(
            "`{}` exports no function `{name}`; its exports are: {}",
            a.file(),
            exports.join(", ")
        ))
    })?;
    let ty = func.ty(&*store);
    let given = if a.invoke.is_some() {
        a.guest_args().len()
    } else {
        0
    };
    if given != ty.params().len() {
        return Err(Failure::Usage(format!(
            "`{name}` has type {ty} and takes {} arguments, {given} given",
            ty.params().len()
        )));
    }
    let params = if a.invoke.is_some() {
        a.guest_args()
            .iter()
            .zip(ty.params())
            .map(|(s, &t)| parse_val(s, t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Failure::Usage)?
    } else {
        Vec::new()
    };
    let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
    func.call(&mut *store, &params, &mut results)?;
    for r in &results {
        println!("{}", show(r));
    }
    Ok(())
}

/// Turns a failure caused by a limit into a report of that limit. `store` is `None`
/// when the failure came before there was one (compiling the module).
fn explain(f: Failure, store: Option<&Store<WasiCtx>>, a: &RunArgs, elapsed: Duration) -> Failure {
    let Failure::Kiln(e) = f else {
        return f;
    };
    if let ErrorKind::IncompatibleArtifact(refusal) = e.kind() {
        let hint = match refusal.reason() {
            kiln::ArtifactRefusal::Settings => {
                "; compile it for these options (`kiln compile --consume-fuel` for --fuel, \
                 `--interruptible` for --timeout), or run the .wasm"
            }
            kiln::ArtifactRefusal::KilnVersion | kiln::ArtifactRefusal::CpuFeatures => {
                "; compile it again with this kiln on this machine, or run the .wasm"
            }
            _ => "",
        };
        return Failure::Usage(format!("{}: {e}{hint}", a.file()));
    }
    let code = e.as_trap().map(|t| t.code());
    let msg = match (code, e.kind()) {
        (Some(TrapCode::OutOfFuel), _) => {
            let fuel = a.fuel.unwrap_or(0);
            format!("fuel limit of {fuel} units reached: all {fuel} used")
        }
        (Some(TrapCode::Interrupted), _) => format!(
            "time limit of {:?} reached{}: stopped after {:.1?}",
            a.timeout.unwrap_or_default(),
            if store.is_none() {
                " while compiling"
            } else {
                ""
            },
            elapsed
        ),
        // Without --max-wasm-stack, running out of stack is reported as the trap it is.
        (Some(TrapCode::StackOverflow), _) if a.max_wasm_stack.is_some() => format!(
            "wasm stack limit of {} reached\n{e}",
            show_size(a.max_wasm_stack.unwrap_or_default())
        ),
        (_, ErrorKind::ResourceExhausted(hit)) => limit_hit(hit),
        _ => match store.and_then(Store::last_limit_hit) {
            // A refused memory.grow or table.grow made the guest fail.
            Some(hit) if e.downcast_ref::<I32Exit>().is_none_or(|x| x.0 != 0) => {
                format!("{}\n{e}", limit_hit(&hit))
            }
            _ => return Failure::Kiln(e),
        },
    };
    Failure::Limit(msg)
}

fn limit_hit(hit: &LimitHit) -> String {
    match hit.kind {
        ResourceKind::Memory => format!(
            "memory limit of {} reached: {} requested",
            show_size(hit.limit),
            show_size(hit.requested)
        ),
        kind => format!(
            "{kind} limit of {} reached: {} requested",
            hit.limit, hit.requested
        ),
    }
}
