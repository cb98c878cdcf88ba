//! The backend choice and its compiler flags.

/// Which engine runs the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeBackend {
    /// Kiln's own Cranelift JIT (the default, with `Speed` and no other flag).
    ///
    /// Flags whose feature has not landed are refused by `build()` with
    /// [`crate::Error::Unsupported`] naming them: any `specialization` other than
    /// [`JitSpecialization::None`], and `profile_guided: true` together with
    /// `code_cache: true` or `CompileStrategy::Lazy`.
    CustomJIT {
        /// Cranelift's optimization level.
        optimization_level: OptimizationLevel,
        /// Code specialized for the host (not implemented yet: only `None`).
        specialization: JitSpecialization,
        /// Cache compiled code across sandboxes and processes: in memory and on disk
        /// (see the crate docs' "Code cache" and
        /// [`crate::SandboxBuilder::code_cache_directory`]).
        code_cache: bool,
        /// Recompile hot code with profile data: tiered code (the default
        /// `CompileStrategy::Eager` becomes `Tiered`) whose baseline tier records the
        /// targets of indirect calls, and whose optimized tier calls a dominant target
        /// directly behind a guard and inlines small callees (`kiln::Config::profile_guided`).
        profile_guided: bool,
    },
    /// Wasmtime 48 with its default settings (Cranelift at `Speed`). Needs the
    /// `wasmtime-backend` cargo feature; without it `build()` refuses it with
    /// [`crate::Error::Unsupported`].
    Wasmtime,
}

impl Default for RuntimeBackend {
    fn default() -> Self {
        RuntimeBackend::CustomJIT {
            optimization_level: OptimizationLevel::Speed,
            specialization: JitSpecialization::None,
            code_cache: false,
            profile_guided: false,
        }
    }
}

impl RuntimeBackend {
    /// A short name for logs: `"kiln"` or `"wasmtime"`.
    pub fn name(&self) -> &'static str {
        match self {
            RuntimeBackend::CustomJIT { .. } => "kiln",
            RuntimeBackend::Wasmtime => "wasmtime",
        }
    }
}

/// How hard Cranelift optimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptimizationLevel {
    /// No optimization: fastest compilation.
    None,
    /// Optimize for speed (the default).
    #[default]
    Speed,
    /// Optimize for speed and code size.
    SpeedAndSize,
    /// The highest level there is. Cranelift has nothing above `Speed`, so this is
    /// `Speed` today; it will follow Cranelift if it gains a higher level.
    Aggressive,
}

impl OptimizationLevel {
    /// The Cranelift level Kiln compiles with.
    pub(crate) fn to_kiln(self) -> kiln::OptLevel {
        match self {
            OptimizationLevel::None => kiln::OptLevel::None,
            OptimizationLevel::Speed | OptimizationLevel::Aggressive => kiln::OptLevel::Speed,
            OptimizationLevel::SpeedAndSize => kiln::OptLevel::SpeedAndSize,
        }
    }
}

/// When Kiln compiles a sandbox's functions ([`crate::SandboxBuilder::compile_strategy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum CompileStrategy {
    /// Every function before the guest starts, at the backend's optimization level
    /// (the default; the only code `code_cache: true` can hold).
    #[default]
    Eager,
    /// Each function at its first call, at the backend's optimization level.
    Lazy,
    /// Each function at its first call as quickly compiled baseline code with counters;
    /// hot functions are optimized on a background thread.
    Tiered,
}

impl CompileStrategy {
    /// Kiln's strategy, optimizing at `opt`.
    pub(crate) fn to_kiln(self, opt: kiln::OptLevel) -> kiln::Strategy {
        match self {
            CompileStrategy::Eager => kiln::Strategy::Eager(opt),
            CompileStrategy::Lazy => kiln::Strategy::Lazy,
            CompileStrategy::Tiered => kiln::Strategy::Tiered,
        }
    }
}

/// Code specialized for how the sandbox is used.
///
/// Under either, each typed host function (`SandboxBuilder::host_function`, and every
/// WASI function) is called through its direct entry: the arguments in registers, no
/// array of values and no dynamic dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum JitSpecialization {
    /// General code: every host function is called.
    #[default]
    None,
    /// Code specialized for calls to the host: the module is compiled with the WASI
    /// fast paths inlined at each call (`clock_time_get` and `clock_res_get` for the
    /// realtime and monotonic clocks, read through the vDSO, and `sched_yield`; other
    /// clock ids and bad pointers take the generic function). The sandbox's own host
    /// functions are called directly, not inlined.
    HostFunction,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggressive_is_speed() {
        assert_eq!(
            OptimizationLevel::Aggressive.to_kiln(),
            OptimizationLevel::Speed.to_kiln()
        );
        assert_eq!(
            OptimizationLevel::SpeedAndSize.to_kiln(),
            kiln::OptLevel::SpeedAndSize
        );
        assert_eq!(OptimizationLevel::None.to_kiln(), kiln::OptLevel::None);
    }
}
