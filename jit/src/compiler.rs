//! Configures Cranelift for the host and drives compilation of modules and trampolines.

use crate::compiled::{
    CompiledFunction, CompiledModule, LibCall, RelocTarget, Relocation, TrapSite,
};
use crate::error::{Error, ErrorKind};
use crate::pinned::Pinned;
use crate::placement::{loop_placement, x64_branch_edges};
use crate::shape::{CompileBudget, FunctionPlan};
use crate::translate::{translate_function, Counting, ModuleEnv, TranslationStats};
use crate::{trampoline, TrapKind, VmOffsets};
use crate::{Guidance, HostInlines, ModuleGuidance};
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{self, ExternalName, UserFuncName};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, FinalizedRelocTarget};
use cranelift_frontend::FunctionBuilderContext;
use kiln_frontend::{DefinedFuncIndex, FuncType, ModuleInfo, TypeIndex};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

impl Target {
    fn cheap_if(cheap: bool) -> Target {
        if cheap {
            Target::Cheap
        } else {
            Target::Configured
        }
    }
}

/// Trampolines, and for each `TypeIndex` the index of its own among them.
type Trampolines = (Vec<CompiledFunction>, Vec<Option<u32>>);

/// Cranelift optimization level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptLevel {
    /// No optimizations: fastest compilation.
    None,
    /// Optimize for speed.
    #[default]
    Speed,
    /// Optimize for speed and code size.
    SpeedAndSize,
}

/// Which CPU features generated code may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuFeatures {
    /// Everything the host supports (detected by cranelift-native).
    #[default]
    Native,
    /// The architecture's baseline only (SSE2 on x86-64).
    Baseline,
}

/// What the runtime promises about memory, which decides the bounds checks emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunables {
    /// Bytes reserved for each linear memory, starting at its base.
    pub memory_reservation: u64,
    /// Inaccessible bytes after the reservation.
    pub memory_guard: u64,
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables {
            memory_reservation: 1 << 32,
            memory_guard: 32 << 20,
        }
    }
}

/// Compiler settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompilerConfig {
    /// Optimization level.
    pub opt_level: OptLevel,
    /// Run the Cranelift IR verifier on every function.
    pub verifier: bool,
    /// CPU features.
    pub cpu_features: CpuFeatures,
    /// Memory layout promises.
    pub tunables: Tunables,
    /// Compile functions on this many threads: 1 compiles on the calling thread; 0
    /// (the default) uses one per CPU available to the process, asked when the first
    /// module is compiled (not when the compiler is made: a process that only loads
    /// compiled code never reads the cgroup files that answer it).
    pub threads: usize,
    /// Meter fuel with these costs (`None`: no fuel code at all).
    pub fuel: Option<crate::FuelCosts>,
    /// Check the store's epoch deadline at function entries and loop headers.
    pub epoch_interruption: bool,
    /// Spectre v1 guards: every explicit memory bounds check and every table access
    /// clamps its address with a conditional move (`select_spectre_guard`), so a
    /// mispredicted check cannot load out of bounds speculatively.
    pub spectre_guards: bool,
    /// What one function may cost to compile, and the cheaper paths past it.
    pub budget: CompileBudget,
    /// Code whose functions can be replaced: every call goes through the callee's code
    /// slot (see `func_ref::CODE_SLOT`). Lazy and tiered strategies compile with it,
    /// one function at a time ([`Compiler::compile_function_at`]).
    pub code_slots: bool,
    /// Baseline code counts calls and loop iterations (needs `code_slots`); the layout
    /// then has counters ([`VmOffsets::with_counters`]).
    pub counting: Option<Counting>,
}

/// The tier a function is compiled at, one function at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Fast to compile: `opt_level=none`, single-pass register allocation, and the
    /// profile counters of [`CompilerConfig::counting`].
    Baseline,
    /// The compiler's configured optimization level, without counters.
    Optimized,
}

impl Default for CompilerConfig {
    fn default() -> Self {
        CompilerConfig {
            opt_level: OptLevel::Speed,
            verifier: cfg!(debug_assertions),
            cpu_features: CpuFeatures::Native,
            tunables: Tunables::default(),
            threads: 0,
            fuel: None,
            epoch_interruption: false,
            spectre_guards: true,
            budget: CompileBudget::default(),
            code_slots: false,
            counting: None,
        }
    }
}

/// A configured compiler. Cheap to share between threads.
#[derive(Clone)]
pub struct Compiler {
    isa: Arc<OwnedTargetIsa>,
    /// The same target with `opt_level=none` and single-pass register allocation, for
    /// functions past the budget's size or pressure limits (see `crate::shape`). Made
    /// when first needed: most engines never need it.
    cheap_isa: Arc<OnceLock<OwnedTargetIsa>>,
    config: CompilerConfig,
}

/// The largest stack frame baseline code may have before its function is compiled
/// optimized instead. Single-pass allocation gives every spilled value its own slot:
/// CPython's interpreter loop gets a 92 KiB frame (optimized: 448 bytes), and a few
/// nested calls of it would exhaust the default 512 KiB wasm stack.
pub const MAX_BASELINE_FRAME: u32 = 16 << 10;

/// Which of a compiler's targets compiles a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The configured optimization level, backtracking allocation.
    Configured,
    /// `opt_level=none`, single-pass allocation.
    Cheap,
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler")
            .field("isa", &self.isa.name())
            .field("config", &self.config)
            .finish()
    }
}

fn config_error(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Config(e.to_string()))
}

impl Compiler {
    /// A compiler for the host.
    pub fn new(config: CompilerConfig) -> Result<Self, Error> {
        let opt = match config.opt_level {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
            OptLevel::SpeedAndSize => "speed_and_size",
        };
        let isa = Self::isa(&config, opt, "backtracking")?;
        Ok(Compiler {
            isa: Arc::new(isa),
            cheap_isa: Arc::default(),
            config,
        })
    }

    /// The host's ISA with Kiln's settings at optimization level `opt` and with the
    /// register allocator `regalloc`.
    fn isa(config: &CompilerConfig, opt: &str, regalloc: &str) -> Result<OwnedTargetIsa, Error> {
        let mut flags = settings::builder();
        let settings: [(&str, &str); 11] = [
            ("opt_level", opt),
            ("regalloc_algorithm", regalloc),
            (
                "enable_verifier",
                if config.verifier { "true" } else { "false" },
            ),
            // Backtraces walk frame pointers.
            ("preserve_frame_pointers", "true"),
            ("enable_multi_ret_implicit_sret", "true"),
            // Frames larger than a page touch every page as they grow, so a frame can
            // never jump over a thread's guard page (the stack limit check alone
            // compares against the configured limit, which may lie below the real stack).
            ("enable_probestack", "true"),
            ("probestack_strategy", "inline"),
            // Kiln's translator emits its own bounds checks, and its own Spectre guards
            // (`spectre_guards`); these flags govern only Cranelift's heap and table
            // helpers, which Kiln does not use.
            ("enable_heap_access_spectre_mitigation", "false"),
            ("enable_table_access_spectre_mitigation", "false"),
            ("unwind_info", "false"),
            // Block offsets and edges, from which `placement` finds the loops.
            ("machine_code_cfg_info", "true"),
        ];
        for (name, value) in settings {
            flags.set(name, value).map_err(config_error)?;
        }
        if Pinned::for_config(config.fuel.is_some()) != Pinned::Nothing {
            // The fuel counter lives in the pinned register.
            flags
                .set("enable_pinned_reg", "true")
                .map_err(config_error)?;
        }
        let isa_builder =
            cranelift_native::builder_with_options(config.cpu_features == CpuFeatures::Native)
                .map_err(config_error)?;
        isa_builder
            .finish(settings::Flags::new(flags))
            .map_err(config_error)
    }

    /// The settings this compiler was made with.
    pub fn config(&self) -> &CompilerConfig {
        &self.config
    }

    /// The target triple, then every Cranelift setting in force, shared and
    /// target-specific (the CPU features: `has_avx2 = true`, ...), as `(name, value)`.
    pub fn settings(&self) -> (String, Vec<(String, String)>) {
        let isa: &dyn cranelift_codegen::isa::TargetIsa = &**self.isa;
        let shared = isa
            .flags()
            .iter()
            .map(|v| (v.name.to_string(), v.value_string()));
        let target = isa
            .isa_flags()
            .into_iter()
            .map(|v| (v.name.to_string(), v.value_string()));
        (isa.triple().to_string(), shared.chain(target).collect())
    }

    /// Everything that decides the generated code, as `(name, value)`: what a compiled
    /// artifact must match to run on this compiler. Names start with `target`, `cpu.`
    /// (the ISA's flags: CPU features), `cranelift.` (shared settings) or `kiln.`
    /// (Kiln's own). The verifier and the thread count are left out: they change how
    /// code is compiled, not the code.
    pub fn fingerprint(&self) -> Vec<(String, String)> {
        let isa: &dyn cranelift_codegen::isa::TargetIsa = &**self.isa;
        let mut out = vec![("target".to_string(), isa.triple().to_string())];
        out.extend(
            isa.flags()
                .iter()
                .filter(|v| v.name != "enable_verifier")
                .map(|v| (format!("cranelift.{}", v.name), v.value_string())),
        );
        out.extend(
            isa.isa_flags()
                .into_iter()
                .map(|v| (format!("cpu.{}", v.name), v.value_string())),
        );
        let c = &self.config;
        out.extend([
            ("kiln.opt_level".to_string(), format!("{:?}", c.opt_level)),
            (
                "kiln.memory_reservation".to_string(),
                c.tunables.memory_reservation.to_string(),
            ),
            (
                "kiln.memory_guard".to_string(),
                c.tunables.memory_guard.to_string(),
            ),
            ("kiln.fuel".to_string(), format!("{:?}", c.fuel)),
            (
                "kiln.epoch_interruption".to_string(),
                c.epoch_interruption.to_string(),
            ),
            (
                "kiln.spectre_guards".to_string(),
                c.spectre_guards.to_string(),
            ),
            ("kiln.compile_budget".to_string(), format!("{:?}", c.budget)),
            ("kiln.code_slots".to_string(), c.code_slots.to_string()),
            ("kiln.counting".to_string(), format!("{:?}", c.counting)),
        ]);
        out
    }

    fn pinned(&self) -> Pinned {
        Pinned::for_config(self.config.fuel.is_some())
    }

    /// Host calling convention (of builtins, host entries and array trampolines).
    fn host_call_conv(&self) -> CallConv {
        self.isa.default_call_conv()
    }

    /// The vmctx layout of `info`'s instances under this compiler's settings.
    pub fn offsets(&self, info: &ModuleInfo) -> VmOffsets {
        if self.config.counting.is_some() {
            VmOffsets::with_counters(info)
        } else {
            VmOffsets::new(info)
        }
    }

    fn module_env<'a>(&'a self, info: &'a ModuleInfo) -> ModuleEnv<'a> {
        ModuleEnv {
            info,
            offsets: self.offsets(info),
            tunables: self.config.tunables,
            host_call_conv: self.host_call_conv(),
            frontend_config: self.isa.frontend_config(),
            fuel: self.config.fuel.as_ref(),
            epoch_interruption: self.config.epoch_interruption,
            spectre_guards: self.config.spectre_guards,
            code_slots: self.config.code_slots,
            counting: None,
            osr_loop: None,
            final_code: false,
            guidance: None,
            module_guidance: None,
            host_inlines: None,
        }
    }

    /// The trampolines of `info` (see [`CompiledModule`]) and no function: what a
    /// module whose functions are compiled one at a time starts with.
    pub fn compile_trampolines(&self, info: &ModuleInfo) -> Result<CompiledModule, Error> {
        self.with_trampolines(info, Vec::new())
    }

    /// Compiles defined function `index` of `info` at `tier`, for code with code slots:
    /// its calls go through them, except an optimized function's calls to itself,
    /// which are direct (`RelocTarget::Own`).
    /// Returns the code and the tier it was compiled at: baseline code whose
    /// single-pass frame would exceed [`MAX_BASELINE_FRAME`] is compiled optimized
    /// instead (the optimizer shrinks such functions' IR, which makes that faster than
    /// the backtracking allocator on unoptimized IR, and their frames small).
    ///
    /// Optimized code follows `guidance` (speculated indirect-call targets, inlining);
    /// baseline code ignores it.
    pub fn compile_function_at(
        &self,
        info: &ModuleInfo,
        index: DefinedFuncIndex,
        tier: Tier,
        guidance: &Guidance,
        host_inlines: Option<&HostInlines>,
    ) -> Result<(CompiledFunction, Tier), Error> {
        if !self.config.code_slots {
            return Err(Error::new(ErrorKind::Config(
                "functions are compiled one at a time only with code slots".into(),
            )));
        }
        let plan = self.config.budget.plan_one(info, index)?;
        let mut ctx = Context::new();
        let mut fb = FunctionBuilderContext::new();
        let mut compile = |tier: Tier| -> Result<CompiledFunction, Error> {
            let mut env = self.module_env(info);
            env.host_inlines = host_inlines;
            match tier {
                Tier::Baseline => env.counting = self.config.counting,
                Tier::Optimized => {
                    env.final_code = true;
                    env.guidance = Some(guidance);
                }
            }
            let baseline = tier == Tier::Baseline;
            let (target, stats) =
                self.translate_into(&env, index, &plan, &mut ctx, &mut fb, baseline)?;
            self.emit_translation(&mut ctx, target, stats)
        };
        let f = compile(tier)?;
        if tier == Tier::Baseline && f.frame_size > MAX_BASELINE_FRAME {
            return Ok((compile(Tier::Optimized)?, Tier::Optimized));
        }
        Ok((f, tier))
    }

    /// Compiles the on-stack-replacement variant of defined function `index` entered
    /// at its `loop`-th loop (by ordinal), optimized: `fn(callee_vmctx, caller_vmctx,
    /// locals...) -> results`, which tiered baseline code tail-calls from that loop's
    /// header. The loop must be entered with an empty operand stack and no parameters.
    pub fn compile_osr(
        &self,
        info: &ModuleInfo,
        index: DefinedFuncIndex,
        loop_ordinal: u32,
        guidance: &Guidance,
        host_inlines: Option<&HostInlines>,
    ) -> Result<CompiledFunction, Error> {
        if !self.config.code_slots {
            return Err(Error::new(ErrorKind::Config(
                "on-stack replacement needs code slots".into(),
            )));
        }
        let mut env = self.module_env(info);
        env.osr_loop = Some(loop_ordinal);
        env.guidance = Some(guidance);
        env.host_inlines = host_inlines;
        let plan = self.config.budget.plan_one(info, index)?;
        let mut ctx = Context::new();
        let mut fb = FunctionBuilderContext::new();
        let (target, stats) = self.translate_into(&env, index, &plan, &mut ctx, &mut fb, false)?;
        self.emit_translation(&mut ctx, target, stats)
    }

    /// Compiles every defined function of `info`, and its host-to-wasm trampolines.
    pub fn compile_module(&self, info: &ModuleInfo) -> Result<CompiledModule, Error> {
        self.compile_module_until(info, None)
    }

    /// Like `compile_module`, but gives up with `ErrorKind::Cancelled` once `deadline`
    /// passes: every compilation thread looks before each function it takes.
    pub fn compile_module_until(
        &self,
        info: &ModuleInfo,
        deadline: Option<Instant>,
    ) -> Result<CompiledModule, Error> {
        self.compile_module_guided(info, deadline, None, None)
    }

    /// Like `compile_module_until`, each function following its `guidance`
    /// (profile-guided code from a saved profile: speculated indirect-call targets,
    /// inlining), and inlining the bodies of `host_inlines` at calls to their imports.
    pub fn compile_module_guided(
        &self,
        info: &ModuleInfo,
        deadline: Option<Instant>,
        guidance: Option<&ModuleGuidance>,
        host_inlines: Option<&HostInlines>,
    ) -> Result<CompiledModule, Error> {
        let mut env = self.module_env(info);
        env.module_guidance = guidance;
        env.host_inlines = host_inlines;
        let n = info.num_defined_funcs() as usize;
        let (plans, threads) = self
            .config
            .budget
            .plan(info, self.threads().clamp(1, n.max(1)))?;
        let late = || deadline.is_some_and(|d| Instant::now() >= d);
        let functions = if threads <= 1 {
            let mut ctx = Context::new();
            let mut fb = FunctionBuilderContext::new();
            (0..n)
                .map(|i| {
                    if late() {
                        return Err(Error::new(ErrorKind::Cancelled));
                    }
                    self.compile_function(&env, i, &plans[i], &mut ctx, &mut fb)
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            self.compile_parallel(&env, &plans, threads, &late)?
        };

        self.with_trampolines(info, functions)
    }

    /// `functions` with `info`'s trampolines: one array trampoline per distinct
    /// signature of the defined functions, and one wasm-to-host trampoline per distinct
    /// signature of the imported ones.
    fn with_trampolines(
        &self,
        info: &ModuleInfo,
        functions: Vec<CompiledFunction>,
    ) -> Result<CompiledModule, Error> {
        let defined = (0..info.num_defined_funcs())
            .map(|d| info.funcs[info.func_index(DefinedFuncIndex::from_u32(d)).index()]);
        let (cc, fc, pinned) = (
            self.host_call_conv(),
            self.isa.frontend_config(),
            self.pinned(),
        );
        let slots = self.config.code_slots;
        let (array_trampolines, array_trampoline_of_type) =
            self.trampolines(info, defined, |ft| {
                trampoline::array_to_wasm(ft, cc, fc, pinned, slots)
            })?;
        let imported = info.funcs[..info.num_imported_funcs as usize]
            .iter()
            .copied();
        let (host_trampolines, host_trampoline_of_type) =
            self.trampolines(info, imported, |ft| {
                trampoline::wasm_to_host(ft, cc, fc, pinned)
            })?;
        Ok(CompiledModule {
            functions,
            array_trampolines,
            array_trampoline_of_type,
            host_trampolines,
            host_trampoline_of_type,
        })
    }

    /// One trampoline made by `make` per distinct signature among `types`, and for each
    /// `TypeIndex` the index of its trampoline among them.
    fn trampolines(
        &self,
        info: &ModuleInfo,
        types: impl Iterator<Item = TypeIndex>,
        make: impl Fn(&FuncType) -> ir::Function,
    ) -> Result<Trampolines, Error> {
        let mut compiled = Vec::new();
        // Interned by hash: a module may have a million distinct signatures.
        let mut seen: HashMap<&FuncType, u32> = HashMap::new();
        let mut of_type = vec![None; info.types.len()];
        for t in types {
            if of_type[t.index()].is_some() {
                continue;
            }
            let ft = &info.types[t.index()];
            let slot = match seen.get(ft) {
                Some(&i) => i,
                None => {
                    compiled.push(self.emit(make(ft))?);
                    let i = u32::try_from(compiled.len() - 1)
                        .expect("at most one trampoline per function");
                    seen.insert(ft, i);
                    i
                }
            };
            of_type[t.index()] = Some(slot);
        }
        Ok((compiled, of_type))
    }

    fn compile_parallel(
        &self,
        env: &ModuleEnv<'_>,
        plans: &[FunctionPlan],
        threads: usize,
        late: &(dyn Fn() -> bool + Sync),
    ) -> Result<Vec<CompiledFunction>, Error> {
        let n = plans.len();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<Vec<(usize, CompiledFunction)>, Error>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut ctx = Context::new();
                        let mut fb = FunctionBuilderContext::new();
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if i >= n {
                                return Ok(out);
                            }
                            if late() {
                                // The other workers stop at their next function too.
                                next.store(n, std::sync::atomic::Ordering::Relaxed);
                                return Err(Error::new(ErrorKind::Cancelled));
                            }
                            let f = self.compile_function(env, i, &plans[i], &mut ctx, &mut fb)?;
                            out.push((i, f));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        Err(Error::new(ErrorKind::Codegen(
                            "a compilation thread panicked".into(),
                        )))
                    })
                })
                .collect()
        });
        let mut slots: Vec<Option<CompiledFunction>> = vec![None; n];
        for r in results {
            for (i, f) in r? {
                slots[i] = Some(f);
            }
        }
        Ok(slots
            .into_iter()
            .map(|f| f.expect("every index was compiled by some worker"))
            .collect())
    }

    fn compile_function(
        &self,
        env: &ModuleEnv<'_>,
        i: usize,
        plan: &FunctionPlan,
        ctx: &mut Context,
        fb: &mut FunctionBuilderContext,
    ) -> Result<CompiledFunction, Error> {
        let index = DefinedFuncIndex::from_u32(i as u32);
        let (target, stats) = self.translate_into(env, index, plan, ctx, fb, false)?;
        self.emit_translation(ctx, target, stats)
    }

    /// The code of the function translated into `ctx`, with what its translation saw:
    /// its direct callees, its recording call sites, its speculated sites, and where its
    /// inlined bodies lie.
    fn emit_translation(
        &self,
        ctx: &mut Context,
        target: Target,
        stats: TranslationStats,
    ) -> Result<CompiledFunction, Error> {
        let mut f = self.emit_context(ctx, target)?;
        f.inlined = inlined_ranges(stats.inline_frames, ctx);
        f.callees = stats.callees;
        f.call_sites = stats.call_sites;
        f.branch_sites = stats.branch_sites;
        f.speculated = stats.speculated;
        f.cold_branches = stats.cold_branches;
        Ok(f)
    }

    /// Translates defined function `index` into a cleared `ctx` as `plan` says, and
    /// picks the target its shape calls for (the cheap one if `cheap`). Also returns
    /// what translation saw.
    fn translate_into(
        &self,
        env: &ModuleEnv<'_>,
        index: DefinedFuncIndex,
        plan: &FunctionPlan,
        ctx: &mut Context,
        fb: &mut FunctionBuilderContext,
        cheap: bool,
    ) -> Result<(Target, TranslationStats), Error> {
        ctx.clear();
        ctx.func.name = UserFuncName::user(0, index.as_u32());
        let stats = translate_function(env, index, &mut ctx.func, fb, plan.locals_in)?;
        let cheap = cheap || self.config.budget.cheap(&plan.shape, stats.peak_stack);
        Ok((Target::cheap_if(cheap), stats))
    }

    /// The machine code Cranelift makes for defined function `index`, as Cranelift's
    /// text (which may change between versions) and as bytes.
    pub fn disassemble(
        &self,
        info: &ModuleInfo,
        index: DefinedFuncIndex,
    ) -> Result<(String, Vec<u8>), Error> {
        let env = self.module_env(info);
        let mut ctx = Context::new();
        let (plans, _) = self.config.budget.plan(info, 1)?;
        let plan = &plans[index.index()];
        let mut fb = FunctionBuilderContext::new();
        let (target, _) = self.translate_into(&env, index, plan, &mut ctx, &mut fb, false)?;
        ctx.set_disasm(true);
        let compiled = self.run_cranelift(&mut ctx, target)?;
        let text = compiled.vcode.clone().unwrap_or_default();
        Ok((text, compiled.code_buffer().to_vec()))
    }

    /// How many threads compile a module's functions (see [`CompilerConfig::threads`]).
    fn threads(&self) -> usize {
        static AVAILABLE: OnceLock<usize> = OnceLock::new();
        match self.config.threads {
            0 => *AVAILABLE
                .get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            n => n,
        }
    }

    /// Compiles the wasm-to-host trampoline of signature `ty`: a function in the wasm
    /// convention that spills its arguments to a `ValRaw` array and calls the host entry
    /// stored in its callee vmctx (a `VMHostFuncContext`).
    pub fn compile_wasm_to_host_trampoline(
        &self,
        ty: &FuncType,
    ) -> Result<CompiledFunction, Error> {
        let func = trampoline::wasm_to_host(
            ty,
            self.host_call_conv(),
            self.isa.frontend_config(),
            self.pinned(),
        );
        self.emit(func)
    }

    /// Whether wasm code may call the direct entry of a typed host function of type
    /// `ty` (`host_func::TYPED_ENTRY`) as the function's code, without the
    /// wasm-to-host trampoline: when no pinned value needs handing over to the host
    /// and the entry's native convention is the wasm one for `ty`.
    pub fn wasm_calls_typed_host_entry(&self, ty: &FuncType) -> bool {
        self.pinned() == Pinned::Nothing
            && crate::signatures::typed_host_wasm_callable(ty, self.host_call_conv())
    }

    fn emit(&self, func: ir::Function) -> Result<CompiledFunction, Error> {
        let mut ctx = Context::for_function(func);
        self.emit_context(&mut ctx, Target::Configured)
    }

    /// The `opt_level=none` target with allocator `regalloc` kept in `cell`, made when
    /// first needed.
    fn lazy_isa<'s>(
        &self,
        cell: &'s OnceLock<OwnedTargetIsa>,
        regalloc: &str,
    ) -> Result<&'s dyn cranelift_codegen::isa::TargetIsa, Error> {
        if let Some(isa) = cell.get() {
            return Ok(&**isa);
        }
        let isa = Self::isa(&self.config, "none", regalloc)?;
        Ok(&**cell.get_or_init(|| isa))
    }

    /// Runs Cranelift on `ctx` for `target`.
    fn run_cranelift<'c>(
        &self,
        ctx: &'c mut Context,
        target: Target,
    ) -> Result<&'c cranelift_codegen::CompiledCode, Error> {
        let isa: &dyn cranelift_codegen::isa::TargetIsa = match target {
            Target::Configured => &**self.isa,
            Target::Cheap => self.lazy_isa(&self.cheap_isa, "single_pass")?,
        };
        ctx.compile(isa, &mut ControlPlane::default())
            .map_err(|e| Error::new(ErrorKind::Codegen(format!("{:?}", e.inner))))
    }

    fn emit_context(&self, ctx: &mut Context, target: Target) -> Result<CompiledFunction, Error> {
        // Direct calls name their callee by defined-function index (namespace 0), and
        // defined functions are named the same way.
        let user_names = ctx.func.params.user_named_funcs().clone();
        let own = match &ctx.func.name {
            UserFuncName::User(n) if n.namespace == 0 => Some(n.index),
            _ => None,
        };
        let has_cold_blocks = mark_cold_terminators(&mut ctx.func);
        self.run_cranelift(ctx, target)?;
        let compiled = ctx.compiled_code().ok_or_else(|| {
            Error::new(ErrorKind::Codegen("Cranelift kept no compiled code".into()))
        })?;
        let buffer = &compiled.buffer;
        let mut traps = Vec::new();
        for t in buffer.traps() {
            let kind = TrapKind::from_code(t.code).ok_or_else(|| {
                Error::new(ErrorKind::Codegen(format!(
                    "unexpected trap code {}",
                    t.code
                )))
            })?;
            traps.push(TrapSite {
                offset: t.offset,
                kind,
            });
        }
        traps.sort_by_key(|t| t.offset);
        let mut relocs = Vec::new();
        for r in buffer.relocs() {
            use cranelift_codegen::binemit::Reloc;
            let target = match (&r.target, r.kind) {
                (FinalizedRelocTarget::ExternalName(ExternalName::LibCall(lc)), Reloc::Abs8) => {
                    RelocTarget::LibCall(libcall(*lc)?)
                }
                (
                    FinalizedRelocTarget::ExternalName(ExternalName::User(name)),
                    Reloc::X86CallPCRel4,
                ) => {
                    let callee = user_names.get(*name).filter(|n| n.namespace == 0);
                    let callee = callee.ok_or_else(|| {
                        Error::new(ErrorKind::Codegen(format!("unknown callee {name:?}")))
                    })?;
                    if Some(callee.index) == own {
                        RelocTarget::Own
                    } else {
                        RelocTarget::Function(DefinedFuncIndex::from_u32(callee.index))
                    }
                }
                (other, kind) => {
                    return Err(Error::new(ErrorKind::Codegen(format!(
                        "unexpected relocation {kind:?} to {other:?}"
                    ))))
                }
            };
            relocs.push(Relocation {
                offset: r.offset,
                target,
                addend: r.addend,
            });
        }
        let alignment = buffer.alignment;
        let frame_size = buffer.frame_layout().map_or(0, |l| l.frame_to_fp_offset);
        // Cranelift's edges are wrong after a cold block (see `placement`), and a
        // branch back from the cold code at the end is no loop.
        let edges = if has_cold_blocks && cfg!(target_arch = "x86_64") {
            let cold = cold_code_start(compiled);
            let mut edges = x64_branch_edges(compiled.code_buffer(), &compiled.bb_starts);
            edges.retain(|&(from, _)| cold.is_none_or(|c| from < c));
            edges
        } else {
            compiled.bb_edges.clone()
        };
        let loop_placement = loop_placement(
            &compiled.bb_starts,
            &edges,
            compiled.code_buffer().len() as u32,
            alignment,
        );
        Ok(CompiledFunction {
            code: compiled.code_buffer().to_vec(),
            alignment,
            traps,
            relocs,
            loop_placement,
            frame_size,
            ..Default::default()
        })
    }
}

/// The source-location bit that marks the terminator of a cold block (inlining numbers
/// stay far below it).
const COLD_MARK: u32 = 1 << 31;

/// Marks the source location of every cold block's last instruction with
/// [`COLD_MARK`], so that the cold code's place in the machine code can be found; returns
/// whether `func` has cold blocks.
fn mark_cold_terminators(func: &mut ir::Function) -> bool {
    let cold: Vec<ir::Inst> = func
        .layout
        .blocks()
        .filter(|&b| func.is_effectively_cold(b))
        .filter_map(|b| func.layout.last_inst(b))
        .collect();
    for &inst in &cold {
        let loc = func.srcloc(inst);
        let bits = if loc.is_default() { 0 } else { loc.bits() };
        func.set_srcloc(inst, ir::SourceLoc::new(bits | COLD_MARK));
    }
    !cold.is_empty()
}

/// The start of the block holding the first cold block's terminator: Cranelift emits
/// cold blocks after all others, so everything from there on is cold code.
fn cold_code_start(compiled: &cranelift_codegen::CompiledCode) -> Option<u32> {
    let first = compiled
        .buffer
        .get_srclocs_sorted()
        .iter()
        .filter(|l| !l.loc.is_default() && l.loc.bits() & COLD_MARK != 0 && l.start < l.end)
        .map(|l| l.start)
        .min()?;
    let starts = &compiled.bb_starts;
    let i = starts.partition_point(|&s| s <= first);
    Some(i.checked_sub(1).map_or(first, |i| starts[i]))
}

/// The inlining a source location names, if any: its number plus one, with the cold
/// mark cleared.
fn inlining_of(loc: ir::SourceLoc) -> Option<u32> {
    if loc.is_default() {
        return None;
    }
    (loc.bits() & !COLD_MARK).checked_sub(1)
}

/// `frames` with the machine-code ranges of their inlined bodies, from the source
/// locations translation gave them (inlining number plus one) in the code `ctx` holds.
fn inlined_ranges(mut frames: crate::InlinedFrames, ctx: &Context) -> crate::InlinedFrames {
    if frames.sites.is_empty() {
        return frames;
    }
    let Some(compiled) = ctx.compiled_code() else {
        return frames;
    };
    let n = frames.sites.len() as u32;
    let mut ranges: Vec<(u32, u32, u32)> = compiled
        .buffer
        .get_srclocs_sorted()
        .iter()
        .filter(|l| l.start < l.end)
        .filter_map(|l| Some((l.start, l.end, inlining_of(l.loc).filter(|&i| i < n)?)))
        .collect();
    ranges.sort_by_key(|r| r.0);
    // Merge neighbours of the same inlining.
    let mut merged: Vec<(u32, u32, u32)> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if last.2 == r.2 && last.1 == r.0 => last.1 = r.1,
            _ => merged.push(r),
        }
    }
    frames.ranges = merged;
    frames
}

fn libcall(lc: ir::LibCall) -> Result<LibCall, Error> {
    use ir::LibCall as L;
    Ok(match lc {
        L::CeilF32 => LibCall::CeilF32,
        L::CeilF64 => LibCall::CeilF64,
        L::FloorF32 => LibCall::FloorF32,
        L::FloorF64 => LibCall::FloorF64,
        L::TruncF32 => LibCall::TruncF32,
        L::TruncF64 => LibCall::TruncF64,
        L::NearestF32 => LibCall::NearestF32,
        L::NearestF64 => LibCall::NearestF64,
        L::FmaF32 => LibCall::FmaF32,
        L::FmaF64 => LibCall::FmaF64,
        L::X86Pshufb => LibCall::X86Pshufb,
        other => {
            return Err(Error::new(ErrorKind::Codegen(format!(
                "unexpected libcall {other:?}"
            ))))
        }
    })
}
