//! `Engine` and `Config`: compiler settings and engine-wide registries.

use crate::error::{Error, Result};
use crate::types::FuncType;
use crate::vm::{CodeMemory, Symbol};
pub use kiln_frontend::Limits as ModuleLimits;
pub use kiln_jit::{CodePlacement, CompileBudget, CpuFeatures, FuelCosts, OptLevel};
use kiln_jit::{Compiler, CompilerConfig, Tunables};
pub use kiln_profiler::{BranchLayout, GuidedPolicy, InlineLimits, TierUpPolicy};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

/// The default of `Config::host_stack_reserve`.
pub const DEFAULT_HOST_STACK_RESERVE: usize = 128 << 10;

/// How often the ticker advances the epoch of engines whose stores set timeouts.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Engine settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) opt_level: OptLevel,
    pub(crate) verifier: bool,
    pub(crate) cpu_features: CpuFeatures,
    pub(crate) wasm_features: kiln_frontend::Features,
    pub(crate) parallel_compilation: bool,
    pub(crate) max_wasm_stack: usize,
    pub(crate) host_stack_reserve: usize,
    pub(crate) memory_reservation: u64,
    pub(crate) memory_guard: u64,
    pub(crate) max_table_elements: u32,
    pub(crate) fuel: Option<FuelCosts>,
    pub(crate) epoch_interruption: bool,
    pub(crate) perf_map: bool,
    pub(crate) code_placement: CodePlacement,
    pub(crate) memory_init_cow: bool,
    pub(crate) spectre_guards: bool,
    pub(crate) max_module_size: u64,
    pub(crate) compile_budget: CompileBudget,
    pub(crate) module_limits: ModuleLimits,
    pub(crate) artifact_key: Option<crate::ArtifactKey>,
    pub(crate) cache: Option<crate::CacheConfig>,
    pub(crate) strategy: Strategy,
    pub(crate) tier_up: TierUpPolicy,
    pub(crate) profile_guided: Option<GuidedPolicy>,
    pub(crate) saved_profile: Option<Arc<kiln_profiler::Profile>>,
}

/// When functions are compiled, and at which tier (`Config::strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Every function when the module is made, at this level: the code that can be
    /// cached and serialized.
    Eager(OptLevel),
    /// Each function at its first call, at `Config::opt_level`; functions never called
    /// are never compiled.
    Lazy,
    /// Each function at its first call as baseline code with counters (Cranelift's
    /// `opt_level=none` and single-pass register allocation); functions whose counters
    /// pass the `TierUpPolicy` thresholds are compiled again at `Config::opt_level` on a
    /// background thread and replace their baseline code, in their loops too
    /// (on-stack replacement). With `TierUpPolicy::compile_ahead` (the default) that
    /// thread also compiles the direct callees of each freshly compiled function at
    /// baseline, ahead of their first call, when it has nothing to optimize.
    Tiered,
}

impl Strategy {
    /// The strategy's name on the command line: `eager`, `lazy` or `tiered`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Eager(_) => "eager",
            Strategy::Lazy => "lazy",
            Strategy::Tiered => "tiered",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = Error;

    /// A strategy by its [`name`](Strategy::name); `eager` optimizes at `Speed`.
    fn from_str(s: &str) -> Result<Strategy> {
        [
            Strategy::Eager(OptLevel::Speed),
            Strategy::Lazy,
            Strategy::Tiered,
        ]
        .into_iter()
        .find(|k| k.name() == s)
        .ok_or_else(|| Error::config(format!("`{s}`: expected eager, lazy or tiered")))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            opt_level: OptLevel::Speed,
            verifier: cfg!(debug_assertions),
            cpu_features: CpuFeatures::Native,
            wasm_features: kiln_frontend::Features::default(),
            parallel_compilation: true,
            max_wasm_stack: 512 << 10,
            host_stack_reserve: DEFAULT_HOST_STACK_RESERVE,
            memory_reservation: 1 << 32,
            memory_guard: 32 << 20,
            max_table_elements: 10_000_000,
            fuel: None,
            epoch_interruption: false,
            perf_map: false,
            code_placement: CodePlacement::Loops,
            memory_init_cow: true,
            spectre_guards: true,
            max_module_size: crate::source::DEFAULT_MAX_MODULE_SIZE,
            compile_budget: CompileBudget::default(),
            module_limits: ModuleLimits::default(),
            artifact_key: None,
            cache: None,
            strategy: Strategy::Eager(OptLevel::Speed),
            tier_up: TierUpPolicy::default(),
            profile_guided: None,
            saved_profile: None,
        }
    }
}

impl Config {
    /// Default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// When functions are compiled, and at which tier (default: `Eager(Speed)`).
    /// `Eager(level)` also sets `opt_level`; `Lazy` and `Tiered` compile their
    /// optimized code at `opt_level`. Lazy and tiered modules cannot be serialized, and
    /// the code cache holds eagerly compiled modules only: `Engine::new` refuses a
    /// `Config::cache` with them.
    pub fn strategy(&mut self, strategy: Strategy) -> &mut Self {
        if let Strategy::Eager(level) = strategy {
            self.opt_level = level;
        }
        self.strategy = strategy;
        self
    }

    /// Profile-guided optimization (tiered code): baseline code also records the targets
    /// of its `call_indirect` sites (only then: without it, tiered code records none),
    /// and optimized code speculates on a dominant target (a guarded direct call, with
    /// the generic call as fallback) and inlines small callees, as
    /// `GuidedPolicy::default()` decides (layout from branch counts, off by default,
    /// is `GuidedPolicy::branch_layout`). Needs `Strategy::Tiered` with
    /// counting: `Engine::new` refuses it otherwise (`Unsupported`).
    pub fn profile_guided(&mut self, on: bool) -> &mut Self {
        self.profile_guided = on.then(GuidedPolicy::default);
        self
    }

    /// Profile-guided optimization with `policy` (see [`Config::profile_guided`]).
    pub fn guided_policy(&mut self, policy: GuidedPolicy) -> &mut Self {
        self.profile_guided = Some(policy);
        self
    }

    /// Classic profile-guided optimization from a saved profile (what
    /// `Instance::profile` returned in an earlier run, e.g. `kiln run --profile-out`);
    /// implies `profile_guided`. A module made with this engine must be the profile's
    /// (its BLAKE3 hash is checked, and another module is refused with
    /// `ErrorKind::Profile`).
    ///
    /// - With `Strategy::Eager`, every function is compiled up front following the
    ///   profile: its `call_indirect` sites speculate on their dominant targets, and
    ///   small callees are inlined everywhere. The profile's hash is part of the
    ///   engine's fingerprint, so the code cache keeps such code apart.
    /// - With `Strategy::Tiered`, every function the profile saw optimized is queued for
    ///   optimization as the module is made, ahead of its first call, with the
    ///   profile's call-site feedback (and each loop the profile saw entered by
    ///   on-stack replacement gets its variant first), so a second run reaches its
    ///   steady state without counting its way there.
    /// - `Strategy::Lazy` is refused (`Unsupported`).
    pub fn saved_profile(&mut self, profile: kiln_profiler::Profile) -> &mut Self {
        if self.profile_guided.is_none() {
            self.profile_guided = Some(GuidedPolicy::default());
        }
        self.saved_profile = Some(Arc::new(profile));
        self
    }

    /// When tiered baseline code asks for optimized code (see `TierUpPolicy`).
    pub fn tier_up_policy(&mut self, policy: TierUpPolicy) -> &mut Self {
        self.tier_up = policy;
        self
    }

    /// Cranelift's optimization level.
    pub fn opt_level(&mut self, level: OptLevel) -> &mut Self {
        self.opt_level = level;
        if let Strategy::Eager(_) = self.strategy {
            self.strategy = Strategy::Eager(level);
        }
        self
    }

    /// Run the Cranelift IR verifier on every function (default: in debug builds).
    pub fn cranelift_verifier(&mut self, on: bool) -> &mut Self {
        self.verifier = on;
        self
    }

    /// CPU features generated code may use (default: the host's).
    pub fn cpu_features(&mut self, features: CpuFeatures) -> &mut Self {
        self.cpu_features = features;
        self
    }

    /// Accept extended constant expressions (Wasm 3.0: `i32`/`i64` `add`, `sub` and
    /// `mul`, over constants and imported globals, in initializers and segment offsets;
    /// default: on). Off, such a module is refused as `Unsupported`, as in Wasm 2.0.
    pub fn wasm_extended_const(&mut self, on: bool) -> &mut Self {
        self.wasm_features.extended_const = on;
        self
    }

    /// Accept relaxed SIMD (Wasm 3.0; default: on, with SIMD). Every relaxed operator
    /// gives one fixed result of those the spec allows, the same on every host and with
    /// any CPU features (the table is in `kiln_jit`'s `translate/relaxed_simd.rs`).
    pub fn wasm_relaxed_simd(&mut self, on: bool) -> &mut Self {
        self.wasm_features.relaxed_simd = on;
        self
    }

    /// Accept tail calls (Wasm 3.0: `return_call`, `return_call_indirect`; default: on).
    /// A tail call replaces its caller's frame, so tail recursion runs in constant
    /// stack.
    pub fn wasm_tail_call(&mut self, on: bool) -> &mut Self {
        self.wasm_features.tail_call = on;
        self
    }

    /// Accept several memories per module (Wasm 3.0 multi-memory; default: on).
    pub fn wasm_multi_memory(&mut self, on: bool) -> &mut Self {
        self.wasm_features.multi_memory = on;
        self
    }

    /// Accept 64-bit memories and tables (Wasm 3.0 memory64; default: on). Their
    /// accesses are always bounds-checked (one compare and a conditional move for the
    /// usual small static offsets), and a 64-bit memory grows up to
    /// [`Config::memory_reservation`] bytes (at least 4 GiB).
    pub fn wasm_memory64(&mut self, on: bool) -> &mut Self {
        self.wasm_features.memory64 = on;
        self
    }

    /// Accept typed function references (Wasm 3.0; default: on): `(ref null? $t)`,
    /// `call_ref`, `return_call_ref`, `ref.as_non_null`, `br_on_null`,
    /// `br_on_non_null`, non-nullable locals and tables with initializers. The API
    /// checks every reference it hands to wasm against its type (nullability and
    /// signature), so `call_ref` needs no signature check.
    pub fn wasm_function_references(&mut self, on: bool) -> &mut Self {
        self.wasm_features.function_references = on;
        self
    }

    /// Accept fixed-width SIMD (`v128`; default: on). Off, a module using it is refused
    /// as `Unsupported`.
    pub fn wasm_simd(&mut self, on: bool) -> &mut Self {
        self.wasm_features.simd = on;
        self
    }

    /// Compile functions on all cores (default: on).
    pub fn parallel_compilation(&mut self, on: bool) -> &mut Self {
        self.parallel_compilation = on;
        self
    }

    /// Bytes of native stack wasm may use per entry from the host (default 512 KiB).
    /// Going past it is `TrapCode::StackOverflow`. It is clamped, on each entry, to
    /// what the calling thread's stack has left above [`host_stack_reserve`]: wasm
    /// never takes the stack host functions need, whatever the thread's size, so a
    /// limit larger than the thread allows means "as much as the thread allows".
    ///
    /// [`host_stack_reserve`]: Config::host_stack_reserve
    pub fn max_wasm_stack(&mut self, bytes: usize) -> &mut Self {
        self.max_wasm_stack = bytes;
        self
    }

    /// Bytes of native stack kept for host code below the lowest point wasm may reach
    /// (default 128 KiB): host functions called from the deepest wasm frame, and the
    /// runtime's own work, run in it. A host function is never entered without it: the
    /// wasm-to-host trampoline checks the stack limit like every wasm function.
    pub fn host_stack_reserve(&mut self, bytes: usize) -> &mut Self {
        self.host_stack_reserve = bytes;
        self
    }

    /// The most elements any table may grow to (default 10 million).
    pub fn max_table_elements(&mut self, n: u32) -> &mut Self {
        self.max_table_elements = n;
        self
    }

    /// Meter fuel (default: off, and then generated code has no fuel checks). Unless
    /// `fuel_costs` says otherwise, costs are Wasmtime's: `nop`, `drop`, `block`,
    /// `loop`, `unreachable`, `return`, `else` and `end` are free, every other operator
    /// costs 1. A store starts with no fuel.
    pub fn consume_fuel(&mut self, on: bool) -> &mut Self {
        self.fuel = on.then(|| self.fuel.take().unwrap_or_default());
        self
    }

    /// Per-operator fuel costs (turns fuel metering on).
    pub fn fuel_costs(&mut self, costs: FuelCosts) -> &mut Self {
        self.fuel = Some(costs);
        self
    }

    /// Check the store's epoch deadline at function entries and loop headers (default:
    /// off, and then generated code has no such checks). Needed for `Store::set_timeout`.
    pub fn epoch_interruption(&mut self, on: bool) -> &mut Self {
        self.epoch_interruption = on;
        self
    }

    /// Append every compiled function's address range and name to
    /// `/tmp/perf-<pid>.map`, so that `perf report` names generated code (default: off).
    pub fn perf_map(&mut self, on: bool) -> &mut Self {
        self.perf_map = on;
        self
    }

    /// Initialize memories from a copy-on-write image of the module's data segments,
    /// built once per module in a memfd, instead of copying the segments into each new
    /// instance (default: on). Instantiation then touches no data pages; each page is
    /// copied when first written. Used only where it cannot be told apart from copying
    /// (see `Module`); otherwise segments are copied either way.
    pub fn memory_init_cow(&mut self, on: bool) -> &mut Self {
        self.memory_init_cow = on;
        self
    }

    /// The largest module, in bytes, that `Module::new`, `from_binary` and `from_file`
    /// accept (default 1 GiB); a larger one is refused before it is read or parsed.
    pub fn max_module_size(&mut self, bytes: u64) -> &mut Self {
        self.max_module_size = bytes;
        self
    }

    /// What a module may declare (default: the Wasm JS-API limits, as in browsers:
    /// 50,000 locals per function, 7,654,321 bytes per body, 1,000,000 types, ...).
    /// Lower them to refuse large modules before anything is compiled.
    pub fn module_limits(&mut self, limits: ModuleLimits) -> &mut Self {
        self.module_limits = limits;
        self
    }

    /// What compiling one module may cost, and the cheaper paths a function takes past
    /// it (see [`CompileBudget`]): a function whose SSA construction would blow up keeps
    /// its locals in stack slots, a huge or high-pressure one is compiled without
    /// optimizations and with single-pass register allocation, and a module whose
    /// functions would need more compiler memory than `max_memory` is refused.
    pub fn compile_budget(&mut self, budget: CompileBudget) -> &mut Self {
        self.compile_budget = budget;
        self
    }

    /// The most memory compilation may take, estimated from the functions compiled at
    /// once (default 1.5 GiB): shorthand for `compile_budget`'s `max_memory`.
    pub fn max_compile_memory(&mut self, bytes: u64) -> &mut Self {
        self.compile_budget.max_memory = bytes;
        self
    }

    /// Spectre v1 guards (default: on): every explicit memory bounds check and every
    /// table access (`call_indirect`, `table.get`, `table.set`) clamps its address with a
    /// conditional move, so a mispredicted check cannot read out of bounds
    /// speculatively. Memories whose accesses the guard region covers need no check
    /// and get no guard. BENCHMARKS.md gives the cost.
    pub fn spectre_guards(&mut self, on: bool) -> &mut Self {
        self.spectre_guards = on;
        self
    }

    /// Where each compiled function starts (default: [`CodePlacement::Loops`]).
    pub fn code_placement(&mut self, placement: CodePlacement) -> &mut Self {
        self.code_placement = placement;
        self
    }

    /// Address space reserved per linear memory and the guard after it (defaults
    /// 4 GiB and 32 MiB). With a reservation below 4 GiB, every access is bounds-checked.
    /// The key that authenticates this engine's artifacts (`Module::serialize`,
    /// `Module::deserialize`). Without one, an engine with a code cache uses the key
    /// file in the cache directory, and any other engine a key made for this process.
    pub fn artifact_key(&mut self, key: crate::ArtifactKey) -> &mut Self {
        self.artifact_key = Some(key);
        self
    }

    /// Caches compiled modules: in memory (per engine) and, with a directory, on disk
    /// (shared by every process of this user), keyed by the module's bytes and every
    /// setting that decides its code. `Module::new` and friends then compile each
    /// module once. The disk tier's artifacts are authenticated with the key file in
    /// its directory (created 0600), unless [`Config::artifact_key`] gives one. A
    /// directory that cannot be used leaves the memory tier, with a warning.
    pub fn cache(&mut self, cache: crate::CacheConfig) -> &mut Self {
        self.cache = Some(cache);
        self
    }

    /// Address space reserved for each linear memory (default 4 GiB), and the
    /// inaccessible guard region after it (default 32 MiB). A 32-bit memory with a
    /// reservation of at least 4 GiB needs no bounds checks for accesses whose static
    /// offset fits the guard; a smaller reservation makes them explicit. A 64-bit memory
    /// can grow up to the reservation (or 4 GiB, if that is more).
    pub fn memory_reservation(&mut self, reservation: u64, guard: u64) -> &mut Self {
        self.memory_reservation = reservation;
        self.memory_guard = guard;
        self
    }
}

/// Signatures by engine-wide id; `call_indirect` compares ids.
#[derive(Default)]
struct TypeRegistry {
    ids: HashMap<FuncType, u32>,
    types: Vec<FuncType>,
}

struct EngineInner {
    config: Config,
    /// The epoch counter generated code compares against store deadlines.
    epoch: AtomicU64,
    /// Set by the first `Store::set_timeout`: whether the ticker could be started.
    ticker: OnceLock<bool>,
    /// Stores to interrupt when the epoch passes their deadline.
    pub(crate) interruptible: crate::vm::Interruptible,
    compiler: Compiler,
    /// Every setting that decides generated code (an artifact must match it).
    fingerprint: Vec<(String, String)>,
    /// Authenticates artifacts.
    artifact_key: crate::ArtifactKey,
    cache: Option<crate::cache::ModuleCache>,
    types: Mutex<TypeRegistry>,
    /// Wasm-to-host trampolines by signature id.
    host_trampolines: Mutex<HashMap<u32, HostTrampoline>>,
    /// The background compiler of tiered code, started by the first request (`None`
    /// if its thread could not be started).
    tier_up: OnceLock<Option<crate::tiering::TierUpWorker>>,
}

/// What the background compiler holds of `module` (a weak handle), and its replaceable
/// code, if it has any and `d` is one of its functions.
fn replaceable(
    module: &Arc<crate::module::CompiledParts>,
    d: kiln_frontend::DefinedFuncIndex,
) -> Option<(
    Weak<dyn crate::tiering::Replaceable>,
    &crate::tiering::LazyCode,
)> {
    let lazy = module.lazy.as_ref()?;
    (d.as_u32() < module.info.num_defined_funcs()).then(|| {
        let weak: Weak<dyn crate::tiering::Replaceable> = Arc::downgrade(module) as _;
        (weak, lazy)
    })
}

/// Where the engine finds the wasm-to-host trampoline of one signature.
enum HostTrampoline {
    /// Compiled by the engine when first needed; kept for the engine's life.
    Compiled(Arc<CodeMemory>),
    /// The `usize`th function of a module's code (modules compile one for each signature
    /// they import): used while that code lives, and never kept alive by the engine.
    Offered(Weak<CodeMemory>, usize),
}

impl EngineInner {
    /// Advances the epoch and interrupts the stores whose deadline that reaches.
    fn advance_epoch(&self) {
        let epoch = self.epoch.fetch_add(1, Ordering::Release) + 1;
        self.interruptible.interrupt_expired(epoch);
    }
}

/// Compiles modules and owns what all stores of it share. Cheap to clone.
#[derive(Clone)]
pub struct Engine(Arc<EngineInner>);

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.0.config)
            .finish()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(&Config::default())
            .expect("the default configuration is supported on this host")
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    /// An engine with `config`.
    pub fn new(config: &Config) -> Result<Engine> {
        crate::vm::traphandler::init();
        let compiler = Compiler::new(CompilerConfig {
            opt_level: config.opt_level,
            verifier: config.verifier,
            cpu_features: config.cpu_features,
            tunables: Tunables {
                memory_reservation: config.memory_reservation,
                memory_guard: config.memory_guard,
            },
            // 0: one per available CPU, asked only when something is compiled.
            threads: if config.parallel_compilation { 0 } else { 1 },
            fuel: config.fuel.clone(),
            epoch_interruption: config.epoch_interruption,
            spectre_guards: config.spectre_guards,
            budget: config.compile_budget,
            code_slots: !matches!(config.strategy, Strategy::Eager(_)),
            counting: (config.strategy == Strategy::Tiered && config.tier_up.counting).then(|| {
                let (call_threshold, loop_threshold) = config.tier_up.compiled_thresholds();
                kiln_jit::Counting {
                    call_threshold,
                    loop_threshold,
                    // Only profile-guided code uses the targets; others skip the cost.
                    record_targets: config.profile_guided.is_some(),
                    count_branches: config
                        .profile_guided
                        .is_some_and(|p| p.branch_layout.is_some()),
                }
            }),
        })?;
        let records = config.strategy == Strategy::Tiered && config.tier_up.counting;
        if config.profile_guided.is_some() && config.saved_profile.is_none() && !records {
            return Err(Error::new(crate::ErrorKind::Unsupported(format!(
                "profile-guided compilation needs a profile: the one tiered baseline code \
                 records (use Strategy::Tiered with counting on), or a saved one \
                 (Config::saved_profile); strategy `{}` records none",
                config.strategy.name()
            ))));
        }
        if config.saved_profile.is_some() && config.strategy == Strategy::Lazy {
            return Err(Error::new(crate::ErrorKind::Unsupported(
                "a saved profile guides eager code (compiled with it up front) or tiered \
                 code (optimized ahead of its first call), not lazy code"
                    .into(),
            )));
        }
        if config.cache.is_some() && !matches!(config.strategy, Strategy::Eager(_)) {
            return Err(Error::new(crate::ErrorKind::Unsupported(format!(
                "the code cache holds eagerly compiled modules; strategy `{}` compiles \
                 functions as they are called (use Strategy::Eager with Config::cache)",
                config.strategy.name()
            ))));
        }
        let mut fingerprint = compiler.fingerprint();
        fingerprint.extend([
            (
                "kiln.code_placement".to_string(),
                format!("{:?}", config.code_placement),
            ),
            (
                "kiln.memory_init_cow".to_string(),
                config.memory_init_cow.to_string(),
            ),
            // A module is loaded from the cache only where it would compile.
            (
                "kiln.wasm_features".to_string(),
                format!("{:?}", config.wasm_features),
            ),
        ]);
        // Code compiled from a saved profile is that profile's: its hash keys the cache.
        // So does the policy that read it (speculation, inlining, layout).
        if let (Some(p), Strategy::Eager(_)) = (&config.saved_profile, config.strategy) {
            fingerprint.push((
                "kiln.saved_profile".to_string(),
                blake3::hash(p.to_json().as_bytes()).to_hex().to_string(),
            ));
            fingerprint.push((
                "kiln.guided_policy".to_string(),
                format!("{:?}", config.profile_guided.unwrap_or_default()),
            ));
        }
        let (cache, cache_key) = match &config.cache {
            Some(c) => {
                let (cache, key) = crate::cache::ModuleCache::new(c);
                (Some(cache), key)
            }
            None => (None, None),
        };
        let artifact_key = match (&config.artifact_key, cache_key) {
            (Some(k), _) => k.clone(),
            (None, Some(k)) => k,
            (None, None) => crate::ArtifactKey::process()?,
        };
        Ok(Engine(Arc::new(EngineInner {
            config: config.clone(),
            fingerprint,
            artifact_key,
            cache,
            epoch: AtomicU64::new(0),
            ticker: OnceLock::new(),
            interruptible: Default::default(),
            compiler,
            types: Mutex::default(),
            host_trampolines: Mutex::default(),
            tier_up: OnceLock::new(),
        })))
    }

    pub(crate) fn config(&self) -> &Config {
        &self.0.config
    }

    pub(crate) fn compiler(&self) -> &Compiler {
        &self.0.compiler
    }

    /// Queues defined function `d` of `module` for optimization (tiered code's
    /// counters reached the policy's threshold).
    /// `guidance` gives what the profile says, if the function is queued.
    pub(crate) fn request_tier_up(
        &self,
        module: &Arc<crate::module::CompiledParts>,
        d: kiln_frontend::DefinedFuncIndex,
        guidance: impl FnOnce() -> kiln_jit::Guidance,
    ) {
        if let (Some((weak, lazy)), Some(w)) = (replaceable(module, d), self.tier_up_worker()) {
            w.request(weak, lazy, d, guidance);
        }
    }

    /// The on-stack-replacement variant of defined function `d` of `module` entered at
    /// loop `ordinal`, if it is ready; queued for compilation (once) if not.
    pub(crate) fn osr_code(
        &self,
        module: &Arc<crate::module::CompiledParts>,
        d: kiln_frontend::DefinedFuncIndex,
        ordinal: u32,
        guidance: impl FnOnce() -> kiln_jit::Guidance,
    ) -> Option<usize> {
        let (weak, lazy) = replaceable(module, d)?;
        self.tier_up_worker()?.osr(weak, lazy, d, ordinal, guidance)
    }

    /// Refuses `bytes` unless they are the module of the saved profile, if there is one.
    pub(crate) fn check_saved_profile(&self, bytes: &[u8]) -> Result<()> {
        let Some(saved) = &self.0.config.saved_profile else {
            return Ok(());
        };
        let hash = blake3::hash(bytes).to_hex();
        saved.check_module(hash.as_str()).map_err(|e| {
            Error::new(crate::ErrorKind::Profile(format!(
                "the saved profile does not fit: {e}"
            )))
        })
    }

    /// With a saved profile: what eager compilation of `bytes` (parsed as `info`)
    /// follows, each function with its own call-site feedback and every one inlining.
    /// Refuses another module's bytes.
    pub(crate) fn module_guidance(
        &self,
        info: &kiln_frontend::ModuleInfo,
        bytes: &[u8],
    ) -> Result<Option<kiln_jit::ModuleGuidance>> {
        let Some(profile) = &self.0.config.saved_profile else {
            return Ok(None);
        };
        // A saved profile guides with the default policy unless one was given.
        let policy = &self.0.config.profile_guided.unwrap_or_default();
        self.check_saved_profile(bytes)?;
        let mut guidance = kiln_jit::ModuleGuidance {
            default: crate::tiering::guidance_from(policy, info, &[], &[], false),
            ..Default::default()
        };
        for f in &profile.functions {
            let d = info.defined_func_index(kiln_frontend::FuncIndex::from_u32(f.index));
            if let Some(d) = d.filter(|d| d.as_u32() < info.num_defined_funcs()) {
                let hot = f.tier == kiln_profiler::Tier::Optimized;
                let g =
                    crate::tiering::guidance_from(policy, info, &f.call_sites, &f.branches, hot);
                guidance.functions.insert(d, g);
            }
        }
        Ok(Some(guidance))
    }

    /// With a saved profile: queues the functions (and on-stack-replacement variants)
    /// the profile saw optimized, ahead of their first call, with the profile's
    /// guidance.
    pub(crate) fn optimize_ahead(&self, module: &Arc<crate::module::CompiledParts>) {
        let Some(profile) = &self.0.config.saved_profile else {
            return;
        };
        let policy = &self.0.config.profile_guided.unwrap_or_default();
        let info = &module.info;
        let Some(worker) = self.tier_up_worker() else {
            return;
        };
        for f in &profile.functions {
            if f.tier != kiln_profiler::Tier::Optimized {
                continue;
            }
            let Some(d) = info.defined_func_index(kiln_frontend::FuncIndex::from_u32(f.index))
            else {
                continue;
            };
            let Some((weak, lazy)) = replaceable(module, d) else {
                continue;
            };
            let guidance =
                || crate::tiering::guidance_from(policy, info, &f.call_sites, &f.branches, true);
            // Loop variants first: a long loop entered before its function's code is
            // ready moves to optimized code at its next poll.
            for e in &profile.timeline {
                if let (true, Some(ordinal)) = (e.function == f.index, e.osr_loop) {
                    worker.osr(weak.clone(), lazy, d, ordinal, guidance);
                }
            }
            worker.request_ahead(weak.clone(), lazy, d, guidance);
        }
    }

    /// Hands `callees` of `module` (without code yet) to the background compiler, to
    /// compile ahead of their first call (tiered code only: `Lazy` compiles exactly
    /// the functions that are called).
    pub(crate) fn compile_ahead(
        &self,
        module: &Arc<crate::module::CompiledParts>,
        callees: Vec<kiln_frontend::DefinedFuncIndex>,
    ) {
        let Some(&first) = callees.first() else {
            return;
        };
        if self.0.config.strategy != Strategy::Tiered || !self.0.config.tier_up.compile_ahead {
            return;
        }
        if let (Some((weak, lazy)), Some(w)) = (replaceable(module, first), self.tier_up_worker()) {
            w.compile_ahead(&weak, lazy, callees);
        }
    }

    fn tier_up_worker(&self) -> Option<&crate::tiering::TierUpWorker> {
        self.0
            .tier_up
            .get_or_init(|| {
                crate::tiering::TierUpWorker::start(self.0.compiler.clone(), &self.0.config.tier_up)
            })
            .as_ref()
    }

    /// Advances the epoch by one: stores whose deadline is reached are interrupted at
    /// their next function entry or loop header.
    pub fn increment_epoch(&self) {
        self.0.advance_epoch();
    }

    /// The current epoch.
    pub fn current_epoch(&self) -> u64 {
        self.0.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn interruptible(&self) -> &crate::vm::Interruptible {
        &self.0.interruptible
    }

    /// Registers the engine with the process-wide ticker thread (started once), which
    /// advances the epoch of every live registered engine every `EPOCH_TICK`. `false` if
    /// the thread cannot be started.
    pub(crate) fn ensure_ticker(&self) -> bool {
        *self
            .0
            .ticker
            .get_or_init(|| ticker::register(Arc::downgrade(&self.0)))
    }

    /// The target triple and every Cranelift setting generated code is compiled with,
    /// CPU features included (`kiln settings` prints them).
    pub fn settings(&self) -> (String, Vec<(String, String)>) {
        self.0.compiler.settings()
    }

    /// Every setting that decides the code this engine generates, as `(name, value)`.
    pub(crate) fn fingerprint(&self) -> &[(String, String)] {
        &self.0.fingerprint
    }

    pub(crate) fn artifact_key(&self) -> &crate::ArtifactKey {
        &self.0.artifact_key
    }

    pub(crate) fn cache(&self) -> Option<&crate::cache::ModuleCache> {
        self.0.cache.as_ref()
    }

    /// How this engine's code cache has been used (`None` without a cache).
    pub fn cache_usage(&self) -> Option<crate::CacheUse> {
        self.0.cache.as_ref().map(|c| c.usage())
    }

    /// Whether two handles are the same engine.
    pub fn same(a: &Engine, b: &Engine) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// The engine-wide id of `ty` (ids start at 1; 0 never matches).
    pub(crate) fn type_id(&self, ty: &FuncType) -> u32 {
        let mut reg = lock(&self.0.types);
        if let Some(&id) = reg.ids.get(ty) {
            return id;
        }
        reg.types.push(ty.clone());
        let id = reg.types.len() as u32;
        reg.ids.insert(ty.clone(), id);
        id
    }

    /// The signature with engine-wide id `id`.
    pub(crate) fn func_type(&self, id: u32) -> FuncType {
        let reg = lock(&self.0.types);
        reg.types[id as usize - 1].clone()
    }

    /// The wasm-to-host trampoline for signature `ty`: its code, its index there, and
    /// the signature's id. A live module's own is used if one was offered; otherwise
    /// the engine compiles one, once.
    pub(crate) fn host_trampoline(&self, ty: &FuncType) -> Result<(Arc<CodeMemory>, usize, u32)> {
        let id = self.type_id(ty);
        let mut cache = lock(&self.0.host_trampolines);
        match cache.get(&id) {
            Some(HostTrampoline::Compiled(code)) => return Ok((code.clone(), 0, id)),
            Some(HostTrampoline::Offered(code, index)) => {
                if let Some(code) = code.upgrade() {
                    return Ok((code, *index, id));
                }
            }
            None => {}
        }
        let compiled = self.0.compiler.compile_wasm_to_host_trampoline(ty)?;
        let code = CodeMemory::publish(
            &[(&compiled, Symbol::HostTrampoline)],
            Default::default(),
            self.0.config.code_placement,
        )
        .map_err(Error::from)?;
        cache.insert(id, HostTrampoline::Compiled(code.clone()));
        Ok((code, 0, id))
    }

    /// Offers the wasm-to-host trampoline for signature `id` that is the `index`th
    /// function of `code` (a module's), unless the engine already has one.
    pub(crate) fn offer_host_trampoline(&self, id: u32, code: &Arc<CodeMemory>, index: usize) {
        let mut cache = lock(&self.0.host_trampolines);
        let has = match cache.get(&id) {
            Some(HostTrampoline::Compiled(_)) => true,
            Some(HostTrampoline::Offered(code, _)) => code.strong_count() > 0,
            None => false,
        };
        if !has {
            cache.insert(id, HostTrampoline::Offered(Arc::downgrade(code), index));
        }
    }
}

/// One thread per process advances the epochs of all engines that use timeouts.
mod ticker {
    use super::{EngineInner, EPOCH_TICK};
    use std::sync::{Mutex, OnceLock, Weak};

    static ENGINES: Mutex<Vec<Weak<EngineInner>>> = Mutex::new(Vec::new());
    static STARTED: OnceLock<bool> = OnceLock::new();

    /// Adds `engine` to the ticked engines; `false` if the thread cannot run.
    pub(super) fn register(engine: Weak<EngineInner>) -> bool {
        ENGINES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(engine);
        *STARTED.get_or_init(|| {
            std::thread::Builder::new()
                .name("kiln-epoch-ticker".into())
                .spawn(run)
                .is_ok()
        })
    }

    fn run() {
        loop {
            std::thread::sleep(EPOCH_TICK);
            let mut engines = ENGINES.lock().unwrap_or_else(|e| e.into_inner());
            engines.retain(|w| match w.upgrade() {
                Some(engine) => {
                    engine.advance_epoch();
                    true
                }
                None => false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HostTrampoline;
    use crate::{Config, Engine, Func, Instance, Linker, Module, Store};

    /// How many of the engine's wasm-to-host trampolines it compiled itself, and how
    /// many live ones modules offered.
    fn trampolines(engine: &Engine) -> (usize, usize) {
        let map = super::lock(&engine.0.host_trampolines);
        let compiled = map
            .values()
            .filter(|t| matches!(t, HostTrampoline::Compiled(_)))
            .count();
        let offered = map
            .values()
            .filter(|t| matches!(t, HostTrampoline::Offered(code, _) if code.strong_count() > 0))
            .count();
        (compiled, offered)
    }

    const IMPORTS: &str = r#"(module
        (import "host" "add" (func $add (param i32 i32) (result i32)))
        (import "host" "twice" (func $twice (param i32) (result i32)))
        (import "host" "inc" (func $inc (param i32) (result i32)))
        (func (export "run") (param i32) (result i32)
          (call $inc (call $twice (call $add (local.get 0) (i32.const 1))))))"#;

    fn run(engine: &Engine, module: &Module) -> i32 {
        let mut linker = Linker::new(engine);
        linker
            .func_wrap("host", "add", |a: i32, b: i32| a + b)
            .and_then(|l| l.func_wrap("host", "twice", |a: i32| 2 * a))
            .and_then(|l| l.func_wrap("host", "inc", |a: i32| a + 1))
            .expect("defines");
        let mut store = Store::new(engine, ());
        let instance = linker.instantiate(&mut store, module).expect("links");
        let f = instance
            .get_typed_func::<i32, i32>(&store, "run")
            .expect("run");
        f.call(&mut store, 4).expect("runs")
    }

    /// A module carries a wasm-to-host trampoline for each signature it imports, so
    /// linking host functions to it compiles nothing, whether it was just compiled or
    /// loaded from an artifact; once no module offers one, the engine compiles its own.
    #[test]
    fn host_functions_use_the_modules_trampolines() {
        let engine = Engine::new(&Config::new()).expect("engine");
        let module = Module::new(&engine, IMPORTS).expect("compiles");
        // Two signatures: (i32, i32) -> i32 and (i32) -> i32.
        assert_eq!(trampolines(&engine), (0, 2));
        assert_eq!(run(&engine, &module), 11);
        assert_eq!(trampolines(&engine), (0, 2), "nothing compiled to link");

        let bytes = module.serialize().expect("serializes");
        drop(module);
        assert_eq!(
            trampolines(&engine),
            (0, 0),
            "the engine keeps no module alive"
        );
        let loaded = Module::deserialize(&engine, &bytes).expect("loads");
        assert_eq!(trampolines(&engine), (0, 2));
        assert_eq!(run(&engine, &loaded), 11);
        assert_eq!(trampolines(&engine), (0, 2), "nothing compiled to link");
        drop(loaded);

        // With no module to offer one, a host function gets a compiled trampoline.
        let mut store = Store::new(&engine, ());
        let f = Func::wrap(&mut store, |a: i32| a * 3);
        assert_eq!(trampolines(&engine), (1, 0));
        let caller = Module::new(
            &engine,
            r#"(module (import "" "f" (func $f (param i32) (result i32)))
                 (func (export "g") (result i32) (call $f (i32.const 5))))"#,
        )
        .expect("compiles");
        let instance = Instance::new(&mut store, &caller, &[f.into()]).expect("links");
        let g = instance.get_typed_func::<(), i32>(&store, "g").expect("g");
        assert_eq!(g.call(&mut store, ()).expect("runs"), 15);
    }
}
