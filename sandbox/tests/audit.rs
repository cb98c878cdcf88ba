//! The audit log: each refusal is a `tracing` warning carrying the sandbox's id.

mod common;

use common::{backends, builder, module};
use kiln_sandbox::{audit, Error, JitSpecialization, OptimizationLevel, RuntimeBackend};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One captured event: level, target and `name=value` fields.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    target: String,
    fields: String,
}

/// A subscriber collecting every event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let captured = Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_string(),
            fields: fields.0,
        };
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(captured);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Runs `f` with a capturing subscriber and returns the audit warnings it logged.
fn audit_warnings(f: impl FnOnce()) -> Vec<Captured> {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), f);
    let events = capture.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    events
        .into_iter()
        .filter(|e| e.target == audit::TARGET && e.level == Level::WARN)
        .collect()
}

/// The warnings that carry `id` and contain every one of `words`.
fn matching<'a>(events: &'a [Captured], id: u64, words: &[&str]) -> Vec<&'a Captured> {
    let id_field = format!("sandbox_id={id}");
    events
        .iter()
        .filter(|e| e.fields.split(' ').any(|f| f == id_field))
        .filter(|e| words.iter().all(|w| e.fields.contains(w)))
        .collect()
}

const SPIN: &str = r#"(func (export "spin") (loop (br 0)))
    (memory 1)
    (func (export "alloc") (param i32)
        (if (i32.eq (memory.grow (local.get 0)) (i32.const -1)) (then unreachable)))
    (func $down (export "recurse") (param i32) (result i32)
        (i32.add (call $down (local.get 0)) (i32.const 1)))
    (table 1 funcref)
    (func (export "grow_table") (param i32) (result i32)
        (table.grow (ref.null func) (local.get 0)))"#;

#[test]
fn limit_hits_carry_the_sandbox_id() {
    for backend in backends() {
        let mut ids = Vec::new();
        let events = audit_warnings(|| {
            let fuel = builder(backend, &module(SPIN)).fuel(1000).build();
            let time = builder(backend, &module(SPIN))
                .timeout(Duration::from_millis(20))
                .memory_limit(2 << 16)
                .max_table_elements(4)
                .build();
            let (Ok(fuel), Ok(time)) = (fuel, time) else {
                panic!("{}: building failed", backend.name());
            };
            ids.extend([fuel.id(), time.id()]);
            assert!(fuel.call::<(), ()>("spin", ()).is_err());
            assert!(time.call::<(), ()>("spin", ()).is_err());
            assert!(time.call::<i32, ()>("alloc", 5).is_err());
            assert!(time.call::<i32, i32>("recurse", 0).is_err());
            assert_eq!(time.call::<i32, i32>("grow_table", 10).ok(), Some(-1));
        });
        let name = backend.name();
        let [fuel, time] = ids[..] else {
            panic!("two sandboxes")
        };
        assert_eq!(
            matching(
                &events,
                fuel,
                &["resource limit hit", "resource=fuel", "limit=1000"]
            )
            .len(),
            1,
            "{name}: {events:#?}"
        );
        for resource in ["time", "memory", "wasm stack", "table elements"] {
            assert_eq!(
                matching(
                    &events,
                    time,
                    &["resource limit hit", &format!("resource={resource}")]
                )
                .len(),
                1,
                "{name}: {resource}: {events:#?}"
            );
        }
        // Nothing is attributed to the wrong sandbox.
        assert!(matching(&events, fuel, &["resource=time"]).is_empty());
    }
}

#[test]
fn unsupported_flags_carry_the_builder_id() {
    let mut id = 0;
    let events = audit_warnings(|| {
        let b = builder(
            RuntimeBackend::CustomJIT {
                optimization_level: OptimizationLevel::None,
                specialization: JitSpecialization::HostFunction,
                code_cache: true,
                profile_guided: true,
            },
            "(module)",
        );
        id = b.id();
        assert!(matches!(b.build(), Err(Error::Unsupported(_))));
    });
    // Host function specialization is implemented: only `profile_guided` (with the
    // code cache) is refused.
    for (flag, refused) in [("profile_guided", 1), ("specialization", 0)] {
        assert_eq!(
            matching(
                &events,
                id,
                &["unsupported flag refused", &format!("flag={flag}")]
            )
            .len(),
            refused,
            "{flag}: {events:#?}"
        );
    }
}

#[cfg(not(feature = "wasmtime-backend"))]
#[test]
fn a_missing_backend_is_audited() {
    let mut id = 0;
    let events = audit_warnings(|| {
        let b = builder(RuntimeBackend::Wasmtime, "(module)");
        id = b.id();
        assert!(matches!(b.build(), Err(Error::Unsupported(_))));
    });
    assert_eq!(
        matching(&events, id, &["flag=RuntimeBackend::Wasmtime"]).len(),
        1,
        "{events:#?}"
    );
}

#[test]
fn refused_imports_and_capabilities_carry_the_id() {
    for backend in backends() {
        let mut ids = Vec::new();
        let events = audit_warnings(|| {
            let b = builder(
                backend,
                r#"(module
                    (import "env" "secret" (func))
                    (import "wasi_snapshot_preview1" "fd_write"
                        (func (param i32 i32 i32 i32) (result i32))))"#,
            );
            ids.push(b.id());
            assert!(matches!(b.build(), Err(Error::Link(_))));
            let b = builder(
                backend,
                r#"(module (import "wasi_snapshot_preview1" "sock_accept"
                    (func (param i32 i32 i32) (result i32))))"#,
            )
            .wasi(true);
            ids.push(b.id());
            assert!(b.build().is_ok());
            let b = builder(backend, "(module)").env("K", "V");
            ids.push(b.id());
            assert!(matches!(b.build(), Err(Error::Config(_))));
        });
        let name = backend.name();
        let (link, sock, env) = (ids[0], ids[1], ids[2]);
        assert_eq!(
            matching(&events, link, &["import refused", "import=env::secret"]).len(),
            1,
            "{name}: {events:#?}"
        );
        assert_eq!(
            matching(
                &events,
                link,
                &["import refused", "import=wasi_snapshot_preview1::fd_write"]
            )
            .len(),
            1,
            "{name}: {events:#?}"
        );
        assert_eq!(
            matching(&events, link, &["capability refused", "capability=wasi"]).len(),
            1,
            "{name}: {events:#?}"
        );
        assert_eq!(
            matching(
                &events,
                sock,
                &["capability refused", "capability=network", "sock_accept"]
            )
            .len(),
            1,
            "{name}: {events:#?}"
        );
        assert_eq!(
            matching(&events, env, &["capability refused", "capability=wasi"]).len(),
            1,
            "{name}: {events:#?}"
        );
    }
}

#[test]
fn host_function_refusals_carry_the_id() {
    let (mut mistyped, mut on_wasmtime, mut stdin) = (0, 0, 0);
    let events = audit_warnings(|| {
        let b = builder(
            RuntimeBackend::default(),
            r#"(module (import "host" "f" (func (param i64))))"#,
        )
        .host_function("host", "f", |_: i32| {});
        mistyped = b.id();
        assert!(matches!(b.build(), Err(Error::Link(_))));
        let b = builder(RuntimeBackend::Wasmtime, "(module)").host_function("host", "f", || {});
        on_wasmtime = b.id();
        assert!(matches!(b.build(), Err(Error::Unsupported(_))));
        let b = builder(RuntimeBackend::default(), "(module)").stdin("x");
        stdin = b.id();
        assert!(matches!(b.build(), Err(Error::Config(_))));
    });
    assert_eq!(
        matching(
            &events,
            mistyped,
            &["import refused", "import=host::f", "(i64)"]
        )
        .len(),
        1,
        "{events:#?}"
    );
    assert_eq!(
        matching(
            &events,
            on_wasmtime,
            &["unsupported flag refused", "flag=host_function"]
        )
        .len(),
        1,
        "{events:#?}"
    );
    assert_eq!(
        matching(&events, stdin, &["capability refused", "`.stdin`"]).len(),
        1,
        "{events:#?}"
    );
}
