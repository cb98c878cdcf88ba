//! `WasmSandbox`: the async API (the `tokio` feature), as the wasm-sandbox crate has
//! it: `WasmSandbox::builder()...build().await?` and `sandbox.call(...).await?`.
//!
//! Guests never run on the async runtime's worker threads: every build and call runs
//! on tokio's blocking pool (`spawn_blocking`). Dropping a call's (or a build's) future
//! cancels it: a guard in the future interrupts the guest through its store's
//! interrupt handle, so the blocking thread is released within one loop iteration or
//! function call of wasm (or at once from a WASI wait), and the sandbox stays usable.

use crate::builder::SandboxBuilder;
use crate::cancel::Cancel;
use crate::config::RuntimeBackend;
use crate::error::Error;
use crate::sandbox::Sandbox;
use crate::value::{Val, WasmValues};
use std::sync::Arc;

/// The mode of a builder whose `build()` is async and makes a [`WasmSandbox`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Async;

/// The builder of a [`WasmSandbox`]: a [`SandboxBuilder`] (every setting is the same)
/// whose `build()` is async.
pub type WasmSandboxBuilder = SandboxBuilder<Async>;

/// A [`Sandbox`] with an async API (the `tokio` feature). Cheap to clone: clones share
/// the sandbox, whose calls run one at a time.
///
/// Every build and call runs on tokio's blocking pool, never on the runtime's worker
/// threads; each needs a tokio runtime (else [`Error::Runtime`]). Dropping the future
/// of a call — `tokio::time::timeout`, `select!`, an aborted task — interrupts the
/// guest (its engine always checks epochs, timeout or not); a call that had not
/// started yet never starts. The sandbox stays usable, like after a timeout. A dropped
/// build stops before instantiation or interrupts it (a compilation in progress runs
/// to its end, or to the build's `.timeout`, first).
///
/// The guest's native stack is that of tokio's blocking threads (2 MiB unless
/// `Builder::thread_stack_size` says otherwise): keep `max_wasm_stack` well below it
/// (Kiln never lets wasm use the last 128 KiB; past that, the guest gets
/// `ResourceExhausted { Stack }` before `max_wasm_stack`).
///
/// ```
/// use kiln_sandbox::{Error, WasmSandbox};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rt = tokio::runtime::Builder::new_multi_thread().enable_time().build()?;
/// rt.block_on(async {
///     let sandbox = WasmSandbox::builder()
///         .bytes(r#"(module
///             (func (export "add") (param i32 i32) (result i32)
///                 (i32.add (local.get 0) (local.get 1)))
///             (func (export "spin") (loop (br 0))))"#)
///         .fuel(1_000_000_000_000)
///         .build()
///         .await?;
///     assert_eq!(sandbox.call::<(i32, i32), i32>("add", (1, 2)).await?, 3);
///     // Dropping the future (here, at the deadline) stops the endless loop.
///     let spin = sandbox.call::<(), ()>("spin", ());
///     assert!(tokio::time::timeout(Duration::from_millis(20), spin).await.is_err());
///     assert_eq!(sandbox.call::<(i32, i32), i32>("add", (2, 2)).await?, 4);
///     Ok::<(), Error>(())
/// })?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct WasmSandbox {
    inner: Arc<Sandbox>,
}

/// Cancels the call unless disarmed: dropped with the future of a call that did not
/// finish.
struct CancelOnDrop(Option<Arc<Cancel>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.cancel();
        }
    }
}

/// Runs `f` on tokio's blocking pool with a cancellation token its future's drop
/// guard fires.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce(&Arc<Cancel>) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        Error::Runtime(
            "WasmSandbox must be used within a tokio runtime (it runs guests on its blocking pool)"
                .into(),
        )
    })?;
    let cancel = Arc::new(Cancel::default());
    let mut guard = CancelOnDrop(Some(cancel.clone()));
    let joined = runtime.spawn_blocking(move || f(&cancel)).await;
    guard.0 = None;
    match joined {
        Ok(r) => r,
        // A host function's panic reaches the caller, as in the sync API.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::Runtime(
            "the call was dropped by the tokio runtime (shutting down)".into(),
        )),
    }
}

impl SandboxBuilder<Async> {
    /// Builds the sandbox on tokio's blocking pool: what [`SandboxBuilder::build`]
    /// does, with the sandbox's engine checking epochs so that calls can be cancelled.
    /// Dropping the future cancels the build.
    pub async fn build(self) -> Result<WasmSandbox, Error> {
        let sandbox = blocking(move |cancel| self.build_with(Some(cancel.clone()))).await?;
        Ok(WasmSandbox {
            inner: Arc::new(sandbox),
        })
    }
}

impl WasmSandbox {
    /// A builder (see [`SandboxBuilder`]; `build()` is async).
    pub fn builder() -> WasmSandboxBuilder {
        SandboxBuilder::with_mode()
    }

    /// The sandbox's id, unique in the process (see [`Sandbox::id`]).
    pub fn id(&self) -> u64 {
        self.inner.id()
    }

    /// The backend it runs on.
    pub fn runtime_backend(&self) -> RuntimeBackend {
        self.inner.runtime_backend()
    }

    /// The synchronous sandbox underneath, for blocking code (from async code, its
    /// calls would block a worker thread, and cannot be cancelled).
    pub fn as_sandbox(&self) -> &Sandbox {
        &self.inner
    }

    /// Runs `f` on the sandbox on the blocking pool, cancellably.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut crate::sandbox::Inner) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let sandbox = self.inner.clone();
        blocking(move |cancel| sandbox.with_cancel(cancel, f)).await
    }

    /// [`Sandbox::call`], on the blocking pool. Dropping the future stops the guest.
    pub async fn call<P, R>(&self, name: &str, params: P) -> Result<R, Error>
    where
        P: WasmValues + Send + 'static,
        R: WasmValues + Send + 'static,
    {
        let name = name.to_string();
        self.with(move |s| s.call(&name, params)).await
    }

    /// [`Sandbox::call_dynamic`], on the blocking pool. Dropping the future stops the
    /// guest.
    pub async fn call_dynamic(&self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        let (name, args) = (name.to_string(), args.to_vec());
        self.with(move |s| s.call_dynamic(&name, &args)).await
    }

    /// [`Sandbox::call_bytes`], on the blocking pool. Dropping the future stops the
    /// guest.
    pub async fn call_bytes(&self, func: &str, input: &[u8]) -> Result<Vec<u8>, Error> {
        let (func, input) = (func.to_string(), input.to_vec());
        self.with(move |s| crate::bytes::call_bytes(&mut s.backend, &func, &input))
            .await
    }

    /// [`Sandbox::call_string`], on the blocking pool. Dropping the future stops the
    /// guest.
    pub async fn call_string(&self, func: &str, input: &str) -> Result<String, Error> {
        let (func, input) = (func.to_string(), input.to_string());
        self.with(move |s| crate::bytes::call_string(&mut s.backend, &func, &input))
            .await
    }

    /// [`Sandbox::run`], on the blocking pool. Dropping the future stops the guest
    /// (the command still counts as run).
    pub async fn run(&self) -> Result<i32, Error> {
        self.with(|s| s.run()).await
    }

    /// [`Sandbox::read_memory`] (waits for a running call to end).
    pub async fn read_memory(&self, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
        self.with(move |s| s.backend.read_memory(offset, len)).await
    }

    /// [`Sandbox::write_memory`] (waits for a running call to end).
    pub async fn write_memory(&self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        let bytes = bytes.to_vec();
        self.with(move |s| s.backend.write_memory(offset, &bytes))
            .await
    }

    /// [`Sandbox::stdout`] (waits for a running call to end).
    pub async fn stdout(&self) -> Result<Vec<u8>, Error> {
        self.with(|s| Ok(s.backend.stdout())).await
    }

    /// [`Sandbox::stderr`] (waits for a running call to end).
    pub async fn stderr(&self) -> Result<Vec<u8>, Error> {
        self.with(|s| Ok(s.backend.stderr())).await
    }
}
