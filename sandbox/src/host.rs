//! Host functions: typed Rust closures a guest may import
//! ([`crate::SandboxBuilder::host_function`]), and the store data they see.

use kiln_wasi::WasiCtx;
use std::fmt;
use std::sync::Arc;

/// The data of a sandbox's store, as a host function taking a [`Caller`] first sees it.
/// It is opaque (it holds the guest's WASI state); host functions use the `Caller` for
/// the guest's exports (`caller.get_export("memory")`), fuel and deadline.
pub struct HostState {
    pub(crate) wasi: WasiCtx,
}

impl fmt::Debug for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostState").finish_non_exhaustive()
    }
}

/// What a host function may take first to reach the calling guest: Kiln's
/// [`kiln::Caller`] over the sandbox's [`HostState`].
///
/// ```
/// use kiln_sandbox::{Caller, Sandbox};
///
/// // `log(ptr, len)` copies the guest's bytes out of its memory.
/// let sandbox = Sandbox::builder()
///     .bytes(r#"(module
///         (import "host" "log" (func $log (param i32 i32) (result i32)))
///         (memory (export "memory") 1)
///         (data (i32.const 8) "hello")
///         (func (export "run") (result i32) (call $log (i32.const 8) (i32.const 5))))"#)
///     .host_function("host", "log", |mut caller: Caller<'_>, ptr: u32, len: u32| {
///         let memory = caller
///             .get_export("memory")
///             .and_then(|e| e.into_memory())
///             .ok_or_else(|| kiln::Error::msg("no memory"))?;
///         let mut buf = vec![0; len as usize];
///         memory.read(&caller, ptr as usize, &mut buf)?;
///         Ok::<i32, kiln::Error>(if buf == b"hello" { 1 } else { 0 })
///     })
///     .build()?;
/// assert_eq!(sandbox.call::<(), i32>("run", ())?, 1);
/// # Ok::<(), kiln_sandbox::Error>(())
/// ```
pub type Caller<'a> = kiln::Caller<'a, HostState>;

/// Defines one host function in a linker.
type Define = Arc<dyn Fn(&mut kiln::Linker<HostState>) -> kiln::Result<()> + Send + Sync>;

/// A host function the builder was given, defined in each sandbox's linker at
/// `build()`.
#[derive(Clone)]
pub(crate) struct HostFunc {
    pub module: String,
    pub name: String,
    define: Define,
}

impl fmt::Debug for HostFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostFunc({}::{})", self.module, self.name)
    }
}

impl HostFunc {
    pub fn new<Params: 'static, Results: 'static>(
        module: &str,
        name: &str,
        f: impl kiln::IntoFunc<HostState, Params, Results> + Clone,
    ) -> Self {
        let (m, n) = (module.to_string(), name.to_string());
        HostFunc {
            module: module.to_string(),
            name: name.to_string(),
            define: Arc::new(move |linker: &mut kiln::Linker<HostState>| {
                linker.func_wrap(&m, &n, f.clone()).map(|_| ())
            }),
        }
    }

    /// Defines it in `linker`.
    pub fn define(&self, linker: &mut kiln::Linker<HostState>) -> kiln::Result<()> {
        (self.define)(linker)
    }
}

/// A host error's message and causes, `outer: inner`.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        // anyhow's context repeats nothing, but a wrapper may print its cause too.
        if !parts.last().is_some_and(|p| p.ends_with(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
