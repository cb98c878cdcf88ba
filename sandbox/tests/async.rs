//! The async API (`--features tokio`): builds and calls off the runtime's threads,
//! and cancellation: dropping a call's future stops the guest, and the sandbox stays
//! usable.

mod common;

#[path = "../examples/sandbox_async.rs"]
mod async_example;

use common::backends;
use kiln_sandbox::{Error, ResourceKind, RuntimeBackend, WasmSandbox};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

const GUEST: &str = r#"(module
    (import "wasi_snapshot_preview1" "poll_oneoff"
        (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (global $top (mut i32) (i32.const 1024))
    (func (export "add") (param i32 i32) (result i32)
        (i32.add (local.get 0) (local.get 1)))
    (func (export "spin") (loop (br 0)))
    ;; Sleeps an hour in WASI (a relative clock subscription at 256).
    (func (export "sleep")
        (i64.store (i32.const 256) (i64.const 0))        ;; userdata
        (i32.store8 (i32.const 264) (i32.const 0))       ;; eventtype clock
        (i32.store (i32.const 272) (i32.const 1))        ;; clock id monotonic
        (i64.store (i32.const 280) (i64.const 3600000000000)) ;; timeout (ns)
        (i64.store (i32.const 288) (i64.const 0))        ;; precision
        (i32.store16 (i32.const 296) (i32.const 0))      ;; flags: relative
        (drop (call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600))))
    (func $alloc (export "alloc") (param $n i32) (result i32)
        (global.get $top)
        (global.set $top (i32.add (global.get $top) (local.get $n))))
    (func (export "echo") (param i32 i32) (result i32 i32) (local.get 0) (local.get 1))
    (func (export "_start")))"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap_or_else(|e| panic!("cannot start a tokio runtime: {e}"))
}

async fn sandbox(backend: RuntimeBackend) -> Result<WasmSandbox, Error> {
    WasmSandbox::builder()
        .bytes(GUEST)
        .runtime_backend(backend)
        .wasi(true)
        .build()
        .await
}

#[test]
fn build_and_call_await() -> Result<(), Error> {
    runtime().block_on(async {
        for backend in backends() {
            let s = sandbox(backend).await?;
            assert_eq!(s.runtime_backend(), backend);
            assert_eq!(s.call::<(i32, i32), i32>("add", (40, 2)).await?, 42);
            let sum = s
                .call_dynamic(
                    "add",
                    &[kiln_sandbox::Val::I32(1), kiln_sandbox::Val::I32(2)],
                )
                .await?;
            assert_eq!(sum, vec![kiln_sandbox::Val::I32(3)]);
            assert_eq!(s.call_bytes("echo", b"bytes").await?, b"bytes");
            assert_eq!(s.call_string("echo", "text").await?, "text");
            s.write_memory(100, b"mem").await?;
            assert_eq!(s.read_memory(100, 3).await?, b"mem");
            assert!(matches!(
                s.read_memory(65535, 2).await,
                Err(Error::OutOfBounds { .. })
            ));
            assert_eq!(s.run().await?, 0);
            assert!(matches!(s.run().await, Err(Error::AlreadyRan)));
            assert_eq!(s.stdout().await?, b"");
            // The sync sandbox underneath answers too.
            assert_eq!(s.as_sandbox().call::<(i32, i32), i32>("add", (1, 1))?, 2);
        }
        Ok(())
    })
}

#[test]
fn errors_are_the_sync_errors() {
    runtime().block_on(async {
        let r = WasmSandbox::builder().bytes("(module (func").build().await;
        assert!(matches!(r, Err(Error::Module(_))), "{r:?}");
        let r = WasmSandbox::builder()
            .bytes(r#"(module (import "env" "f" (func)))"#)
            .build()
            .await;
        assert!(matches!(r, Err(Error::Link(_))), "{r:?}");
        let s = WasmSandbox::builder()
            .bytes(GUEST)
            .wasi(true)
            .fuel(10_000)
            .build()
            .await;
        let s = s.unwrap_or_else(|e| panic!("{e}"));
        match s.call::<(), ()>("spin", ()).await {
            Err(Error::ResourceExhausted {
                kind: ResourceKind::Fuel,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            s.call::<(), i32>("add", ()).await,
            Err(Error::Type(_))
        ));
    });
}

#[test]
fn dropping_a_call_future_stops_an_endless_loop() -> Result<(), Error> {
    runtime().block_on(async {
        for backend in backends() {
            let s = sandbox(backend).await?;
            for _ in 0..3 {
                let spin = s.call::<(), ()>("spin", ());
                let r = tokio::time::timeout(Duration::from_millis(20), spin).await;
                assert!(r.is_err(), "{}: spin returned {r:?}", backend.name());
                // The next call waits for the interrupted one: it ends, and the
                // sandbox answers.
                assert_eq!(s.call::<(i32, i32), i32>("add", (2, 3)).await?, 5);
            }
        }
        Ok(())
    })
}

#[test]
fn aborting_a_task_stops_its_call() -> Result<(), Error> {
    // The guest tells the host (through a host function) when it starts spinning.
    let wat = r#"(module
        (import "host" "started" (func $started))
        (global $calls (mut i32) (i32.const 0))
        (func (export "count_then_spin")
            (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
            (call $started)
            (loop (br 0)))
        (func (export "calls") (result i32) (global.get $calls)))"#;
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    runtime().block_on(async {
        let s = WasmSandbox::builder()
            .bytes(wat)
            .host_function("host", "started", move || {
                flag.store(true, Ordering::SeqCst)
            })
            .build()
            .await?;
        let task = tokio::spawn({
            let s = s.clone();
            async move { s.call::<(), ()>("count_then_spin", ()).await }
        });
        while !started.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        task.abort();
        let joined = task.await;
        assert!(
            joined.as_ref().is_err_and(|e| e.is_cancelled()),
            "{joined:?}"
        );
        // It ran once and stopped: the sandbox answers.
        assert_eq!(s.call::<(), i32>("calls", ()).await?, 1);
        Ok(())
    })
}

#[test]
fn cancelling_wakes_a_guest_waiting_in_wasi() -> Result<(), Error> {
    runtime().block_on(async {
        let s = sandbox(RuntimeBackend::default()).await?;
        let sleep = s.call::<(), ()>("sleep", ());
        assert!(tokio::time::timeout(Duration::from_millis(20), sleep)
            .await
            .is_err());
        // Had the hour-long sleep not woken, this would wait an hour.
        assert_eq!(s.call::<(i32, i32), i32>("add", (1, 2)).await?, 3);
        Ok(())
    })
}

#[test]
fn calls_from_many_tasks_are_serialized() -> Result<(), Error> {
    runtime().block_on(async {
        let s = sandbox(RuntimeBackend::default()).await?;
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.call::<(i32, i32), i32>("add", (i, i)).await })
            })
            .collect();
        for (i, t) in (0..).zip(tasks) {
            let r = t
                .await
                .map_err(|e| Error::Runtime(format!("task failed: {e}")))??;
            assert_eq!(r, 2 * i);
        }
        Ok(())
    })
}

#[test]
fn dropping_a_build_stops_a_spinning_start_function() -> Result<(), Error> {
    runtime().block_on(async {
        let wat = r#"(module (func $start (loop (br 0))) (start $start))"#;
        let build = WasmSandbox::builder().bytes(wat).build();
        let r = tokio::time::timeout(Duration::from_millis(20), build).await;
        assert!(r.is_err(), "the build returned {r:?}");
        // The blocking pool is not exhausted by it: other work proceeds.
        let s = sandbox(RuntimeBackend::default()).await?;
        assert_eq!(s.call::<(i32, i32), i32>("add", (1, 2)).await?, 3);
        Ok(())
    })
}

#[test]
fn a_shared_module_serves_async_sandboxes() -> Result<(), Error> {
    let template = WasmSandbox::builder().bytes(GUEST).wasi(true);
    let module = kiln_sandbox::SandboxModule::new(&template)?;
    assert!(module.interruptible());
    runtime().block_on(async {
        let a = template.clone().module(&module).build().await?;
        let b = template.clone().module(&module).build().await?;
        let spin = a.call::<(), ()>("spin", ());
        assert!(tokio::time::timeout(Duration::from_millis(20), spin)
            .await
            .is_err());
        assert_eq!(b.call::<(i32, i32), i32>("add", (1, 2)).await?, 3);
        assert_eq!(a.call::<(i32, i32), i32>("add", (2, 2)).await?, 4);
        Ok::<(), Error>(())
    })?;
    // A module compiled for sync sandboxes without a timeout cannot interrupt.
    let plain = kiln_sandbox::SandboxModule::new(
        &kiln_sandbox::Sandbox::builder().bytes(GUEST).wasi(true),
    )?;
    runtime().block_on(async {
        match WasmSandbox::builder()
            .module(&plain)
            .wasi(true)
            .build()
            .await
        {
            Err(Error::Config(m)) => assert!(m.contains("async"), "{m}"),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    });
    Ok(())
}

/// A waker that does nothing, to poll a future outside any runtime.
struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn outside_a_tokio_runtime_is_a_clear_error() {
    let mut build = std::pin::pin!(WasmSandbox::builder().bytes(GUEST).build());
    let waker = Waker::from(Arc::new(Noop));
    match build.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(Err(Error::Runtime(m))) => assert!(m.contains("tokio runtime"), "{m}"),
        Poll::Ready(other) => panic!("expected a runtime error, got {other:?}"),
        Poll::Pending => panic!("the build waited outside a runtime"),
    }
}

#[test]
fn the_async_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    async_example::main()
}
