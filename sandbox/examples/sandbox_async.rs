//! The async sandbox (the `tokio` feature): `build().await`, `call().await`, and
//! cancellation, by a timeout around the call's future or by dropping it.
//!
//! Run with `cargo run -p kiln-sandbox --features tokio --example sandbox_async`.

use kiln_sandbox::{Error, WasmSandbox};
use std::time::Duration;

const GUEST: &str = r#"(module
    (func (export "add") (param i32 i32) (result i32)
        (i32.add (local.get 0) (local.get 1)))
    (func (export "spin") (loop (br 0))))"#;

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()?;
    runtime.block_on(run())?;
    Ok(())
}

async fn run() -> Result<(), Error> {
    let sandbox = WasmSandbox::builder()
        .bytes(GUEST)
        .memory_limit(16 << 20)
        .build()
        .await?;
    let sum: i32 = sandbox.call("add", (20, 22)).await?;
    println!("add(20, 22) = {sum}");
    assert_eq!(sum, 42);

    // Cancellation by timeout: `tokio::time::timeout` drops the call's future at the
    // deadline, which interrupts the guest (it runs on a blocking thread, not here).
    let spin = sandbox.call::<(), ()>("spin", ());
    match tokio::time::timeout(Duration::from_millis(50), spin).await {
        Err(_elapsed) => println!("spin: cancelled after 50 ms"),
        Ok(r) => panic!("spin returned {r:?}"),
    }

    // Cancellation by dropping: start the call as a task, then abort the task.
    let task = tokio::spawn({
        let sandbox = sandbox.clone();
        async move { sandbox.call::<(), ()>("spin", ()).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    task.abort();
    match task.await {
        Err(e) if e.is_cancelled() => println!("spin: task aborted"),
        other => panic!("the task was not cancelled: {other:?}"),
    }

    // The sandbox is still usable: the next call waits for the interrupted one to end.
    assert_eq!(sandbox.call::<(i32, i32), i32>("add", (1, 2)).await?, 3);

    // The sandbox's own timeout works as in the sync API.
    let limited = WasmSandbox::builder()
        .bytes(GUEST)
        .timeout(Duration::from_millis(50))
        .build()
        .await?;
    match limited.call::<(), ()>("spin", ()).await {
        Err(e @ Error::ResourceExhausted { .. }) => println!("spin: {e}"),
        other => panic!("expected the time limit, got {other:?}"),
    }
    Ok(())
}
