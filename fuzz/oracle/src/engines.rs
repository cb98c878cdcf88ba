//! Engines, created once per process and shared by every check.

use kiln::{ArtifactKey, CodePlacement, Config, CpuFeatures, Engine, OptLevel};
use std::sync::OnceLock;

type Cached<T> = OnceLock<Result<T, String>>;

fn cached<T>(
    cell: &'static Cached<T>,
    make: impl FnOnce() -> Result<T, String>,
) -> Result<&'static T, String> {
    cell.get_or_init(make).as_ref().map_err(Clone::clone)
}

/// How the differential check's Kiln compiles: drawn from the fuzz input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffStrategy {
    /// Every function up front (the default engine).
    Eager,
    /// Each function at its first call.
    Lazy,
    /// Baseline code first, optimized after this many calls or loop iterations (0 or
    /// 1: queued at the first).
    Tiered(u32),
    /// Tiered, optimized after this many calls or loop iterations, profile-guided:
    /// speculating on any `call_indirect` target seen (however rarely, so the guards'
    /// fallback paths run) and inlining.
    Guided(u32),
}

impl DiffStrategy {
    /// Every strategy the check draws from.
    pub const ALL: [DiffStrategy; 6] = [
        DiffStrategy::Eager,
        DiffStrategy::Lazy,
        DiffStrategy::Tiered(0),
        DiffStrategy::Tiered(1),
        DiffStrategy::Guided(2),
        DiffStrategy::Guided(3),
    ];
}

/// Kiln for the differential check: fuel on, verifier on, compiling as `strategy`
/// says. Kiln's default costs are Wasmtime's flat ones, so the same fuel runs out at
/// about the same point on both engines; Wasmtime also charges per byte or element for
/// bulk memory and table operations, which Kiln does not, so running out of fuel is
/// never compared (see `differential`).
pub(crate) fn kiln_differential(strategy: DiffStrategy) -> Result<&'static Engine, String> {
    static ENGINES: [Cached<Engine>; DiffStrategy::ALL.len()] =
        [const { OnceLock::new() }; DiffStrategy::ALL.len()];
    let i = DiffStrategy::ALL
        .iter()
        .position(|&s| s == strategy)
        .unwrap_or(0);
    cached(&ENGINES[i], || {
        let (kiln_strategy, threshold) = match strategy {
            DiffStrategy::Eager => (kiln::Strategy::Eager(OptLevel::Speed), 1),
            DiffStrategy::Lazy => (kiln::Strategy::Lazy, 1),
            DiffStrategy::Tiered(n) | DiffStrategy::Guided(n) => (kiln::Strategy::Tiered, n),
        };
        let mut config = Config::new();
        config
            .cranelift_verifier(true)
            .parallel_compilation(false)
            .consume_fuel(true)
            .strategy(kiln_strategy)
            .tier_up_policy(kiln::TierUpPolicy::with_threshold(threshold));
        if let DiffStrategy::Guided(_) = strategy {
            config.guided_policy(kiln::GuidedPolicy {
                min_site_calls: 0,
                min_share_percent: 0,
                branch_layout: Some(kiln::BranchLayout {
                    min_count: 0,
                    max_cold_per_mille: 1000,
                }),
                ..kiln::GuidedPolicy::default()
            });
        }
        Engine::new(&config).map_err(|e| format!("cannot create Kiln's engine: {e}"))
    })
}

/// Kiln for the limits check: fuel and epoch interruption on, verifier on.
pub(crate) fn kiln_limits() -> Result<&'static Engine, String> {
    static ENGINE: Cached<Engine> = OnceLock::new();
    cached(&ENGINE, || {
        Engine::new(
            Config::new()
                .cranelift_verifier(true)
                .parallel_compilation(false)
                .consume_fuel(true)
                .epoch_interruption(true),
        )
        .map_err(|e| format!("cannot create Kiln's engine: {e}"))
    })
}

/// Kiln for the artifact check, in the `variant` configuration: fuel on, the oracle's
/// fixed key, the verifier off (the compile check covers it). `loader` picks a second
/// engine with the same settings and key: artifacts must load in any such engine, not
/// only the one that wrote them.
pub(crate) fn kiln_artifact(
    variant: crate::ArtifactEngine,
    loader: bool,
) -> Result<&'static Engine, String> {
    use crate::ArtifactEngine as V;
    static ENGINES: [Cached<Engine>; 8] = [const { OnceLock::new() }; 8];
    let (i, configure): (usize, fn(&mut Config)) = match variant {
        V::Default => (0, |_| {}),
        V::NoImage => (1, |c| {
            c.memory_init_cow(false);
        }),
        V::Baseline => (2, |c| {
            c.cpu_features(CpuFeatures::Baseline);
        }),
        V::Unoptimized => (3, |c| {
            c.opt_level(OptLevel::None)
                .code_placement(CodePlacement::Packed);
        }),
    };
    cached(&ENGINES[i * 2 + usize::from(loader)], || {
        let mut config = Config::new();
        config
            .cranelift_verifier(false)
            .parallel_compilation(false)
            .consume_fuel(true)
            .artifact_key(ArtifactKey::from_bytes(crate::ARTIFACT_KEY));
        configure(&mut config);
        Engine::new(&config)
            .map_err(|e| format!("cannot create Kiln's {variant:?} artifact engine: {e}"))
    })
}

/// Kiln engines for the compile check, all with the verifier on: they differ in what
/// the generated code looks like.
pub(crate) fn kiln_compile(variant: crate::CompileEngine) -> Result<&'static Engine, String> {
    use crate::CompileEngine as V;
    static ENGINES: [Cached<Engine>; 5] = [const { OnceLock::new() }; 5];
    let (i, configure): (usize, fn(&mut Config)) = match variant {
        V::Default => (0, |_| {}),
        V::Instrumented => (1, |c| {
            c.consume_fuel(true).epoch_interruption(true);
        }),
        V::Unoptimized => (2, |c| {
            c.opt_level(OptLevel::None);
        }),
        V::Baseline => (3, |c| {
            c.cpu_features(CpuFeatures::Baseline)
                .opt_level(OptLevel::SpeedAndSize);
        }),
        V::Parallel => (4, |c| {
            c.parallel_compilation(true).consume_fuel(true);
        }),
    };
    cached(&ENGINES[i], || {
        let mut config = Config::new();
        config.cranelift_verifier(true).parallel_compilation(false);
        configure(&mut config);
        Engine::new(&config).map_err(|e| format!("cannot create Kiln's {variant:?} engine: {e}"))
    })
}

/// Wasmtime 48 for the differential check: Kiln's feature set exactly, fuel on, no NaN
/// canonicalization, the default 512 KiB wasm stack (as Kiln's).
pub(crate) fn wasmtime() -> Result<&'static wasmtime::Engine, String> {
    static ENGINE: Cached<wasmtime::Engine> = OnceLock::new();
    cached(&ENGINE, || {
        let mut c = wasmtime::Config::new();
        c.consume_fuel(true)
            .parallel_compilation(false)
            .cranelift_nan_canonicalization(false)
            .max_wasm_stack(512 << 10)
            .wasm_bulk_memory(true)
            .wasm_reference_types(true)
            .wasm_multi_value(true)
            .wasm_simd(true)
            .wasm_relaxed_simd(true)
            // Kiln's relaxed SIMD is deterministic, with the same choices.
            .relaxed_simd_deterministic(true)
            .wasm_tail_call(true)
            .wasm_function_references(true)
            .wasm_gc(false)
            .wasm_exceptions(false)
            .wasm_multi_memory(true)
            .wasm_memory64(true)
            .wasm_extended_const(true)
            .wasm_wide_arithmetic(false)
            .wasm_custom_page_sizes(false)
            .wasm_stack_switching(false);
        wasmtime::Engine::new(&c).map_err(|e| format!("cannot create Wasmtime's engine: {e:#}"))
    })
}
