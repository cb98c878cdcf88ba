//! Code that can be replaced: what `Strategy::Lazy` and `Strategy::Tiered` add to a
//! module. Functions are compiled when first called, and (tiered) compiled again,
//! optimized, on a background thread once their counters say they are hot.
//!
//! Every call in such code reaches its callee through the callee's code slot: direct
//! calls, `call_indirect`, imports, exports (the array trampolines), `ref.func` and
//! table entries all hold or name a `VMFuncRef`, whose `code_slot` points at the
//! module's slot for the function ([`LazyCode::slot`]). The invariants:
//!
//! - **A slot holds 0 or the entry of fully published code.** Code is copied, made
//!   executable and registered for trap lookups before its address is stored
//!   (release) into the slot; a caller that reads 0 asks the runtime to compile.
//! - **A function's first compilation happens once per module**, however many threads
//!   (stores) call it at once: the others wait for it (a `OnceLock` per function).
//! - **Only optimized code replaces code**, from the tier-up worker; a slot never goes
//!   back to 0 or to a lower tier.
//! - **On-stack replacement enters only at a loop header with an empty operand stack**:
//!   baseline code there polls the runtime, and once the worker has published an
//!   optimized variant entered at that loop, tail-calls it with every local; the
//!   variant finishes the function and returns to its caller. Fuel is charged at the
//!   header before the poll, so both paths charge the same.
//! - **Code stays mapped while its module lives.** Replaced code is kept in
//!   [`LazyCode`]'s list: a frame that runs a module's code belongs to an instance, and
//!   every instance holds its module. Callers already inside old code finish there and
//!   pick up the new code at their next call.

use crate::error::{Error, Result};
use crate::vm::{CodeMemory, Symbol};
use kiln_frontend::{DefinedFuncIndex, ModuleInfo};
use kiln_jit::{CodePlacement, Compiler, Guidance, RelocTarget, Tier};
use kiln_profiler::{FunctionProfile, Profile, TierEvent, TierUpPolicy, TierUpQueue};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

/// Stacks with less room than this compile on a helper thread (a guest deep in
/// recursion leaves the host only `Config::host_stack_reserve`).
const COMPILE_STACK: usize = 2 << 20;

const NONE: u8 = 0;
const BASELINE: u8 = 1;
const QUEUED: u8 = 2;
const OPTIMIZED: u8 = 3;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A module's replaceable code.
pub(crate) struct LazyCode {
    /// The tier of a function's first code: baseline (tiered) or optimized (lazy).
    first_tier: Tier,
    /// The current code of each defined function, or 0.
    slots: Box<[AtomicUsize]>,
    /// Each function's first compilation, run once; the error if it failed.
    first: Box<[OnceLock<std::result::Result<(), String>>]>,
    /// Each function's tier (`NONE`, `BASELINE`, `QUEUED`, `OPTIMIZED`).
    tiers: Box<[AtomicU8]>,
    /// Whether each function was handed to the background compiler to compile ahead.
    prefetched: Box<[AtomicBool]>,
    /// Each function's baseline code's `call_indirect` sites that record feedback and
    /// branches it counts, set when the code is published.
    sites: Box<[OnceLock<FeedbackSites>]>,
    /// What published optimized code speculates on: target function index by site
    /// offset.
    speculated: Mutex<std::collections::HashMap<u32, u32>>,
    /// The side of each branch (by offset) that published optimized code laid out cold.
    cold_branches: Mutex<std::collections::HashMap<u32, kiln_jit::ColdSide>>,
    /// The functions inlined into each function's optimized code (by function index).
    inlined: Mutex<std::collections::HashMap<u32, Vec<u32>>>,
    /// Everything published, replaced code included: mapped while the module lives.
    code: Mutex<Vec<Arc<CodeMemory>>>,
    /// Publications in order.
    events: Mutex<Vec<TierEvent>>,
    /// On-stack-replacement variants by (function, loop ordinal): 0 while queued or
    /// compiling, `usize::MAX` if it failed, else the entry.
    osr: Mutex<std::collections::HashMap<(u32, u32), usize>>,
    created: Instant,
    placement: CodePlacement,
    perf_map: bool,
    /// Host function bodies inlined at calls to their imports (`Linker::module`).
    host_inlines: Option<Arc<kiln_jit::HostInlines>>,
}

impl LazyCode {
    /// Replaceable code for `info`'s functions, whose first code is compiled at
    /// `first_tier` and published at `placement` (and recorded in the perf map if
    /// `perf_map`).
    pub(crate) fn new(
        info: &ModuleInfo,
        first_tier: Tier,
        placement: CodePlacement,
        perf_map: bool,
        host_inlines: Option<Arc<kiln_jit::HostInlines>>,
    ) -> LazyCode {
        let n = info.num_defined_funcs() as usize;
        LazyCode {
            first_tier,
            slots: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            first: (0..n).map(|_| OnceLock::new()).collect(),
            tiers: (0..n).map(|_| AtomicU8::new(NONE)).collect(),
            prefetched: (0..n).map(|_| AtomicBool::new(false)).collect(),
            sites: (0..n).map(|_| OnceLock::new()).collect(),
            speculated: Mutex::default(),
            cold_branches: Mutex::default(),
            inlined: Mutex::default(),
            code: Mutex::default(),
            events: Mutex::default(),
            osr: Mutex::default(),
            created: Instant::now(),
            placement,
            perf_map,
            host_inlines,
        }
    }

    /// The address of function `d`'s slot, for its `VMFuncRef`s.
    pub(crate) fn slot(&self, d: DefinedFuncIndex) -> *const usize {
        self.slots[d.index()].as_ptr().cast_const()
    }

    /// The byte offsets of the `call_indirect` sites of function `d`'s baseline code
    /// that record feedback, by ordinal (empty before it has baseline code).
    pub(crate) fn call_sites(&self, d: DefinedFuncIndex) -> &[u32] {
        self.sites[d.index()].get().map_or(&[], |s| &s.calls)
    }

    /// The byte offsets of the branches function `d`'s baseline code counts, by
    /// ordinal (empty before it has baseline code).
    pub(crate) fn branch_sites(&self, d: DefinedFuncIndex) -> &[u32] {
        self.sites[d.index()].get().map_or(&[], |s| &s.branches)
    }

    /// The side of the branch at byte `offset` that optimized code laid out cold.
    pub(crate) fn cold_side(&self, offset: u32) -> Option<kiln_jit::ColdSide> {
        lock(&self.cold_branches).get(&offset).copied()
    }

    /// The target optimized code speculates on at the site at byte `offset`, if any.
    pub(crate) fn speculated(&self, offset: u32) -> Option<u32> {
        lock(&self.speculated).get(&offset).copied()
    }

    /// Function `d`'s current code, or 0.
    pub(crate) fn current(&self, d: DefinedFuncIndex) -> usize {
        self.slots[d.index()].load(Ordering::Acquire)
    }

    /// Function `d`'s code, compiled first if it has none; and if this call compiled
    /// it, the functions it calls directly that have no code yet (what is worth
    /// compiling ahead).
    pub(crate) fn code_and_callees(
        &self,
        compiler: &Compiler,
        info: &ModuleInfo,
        d: DefinedFuncIndex,
    ) -> Result<(usize, Vec<DefinedFuncIndex>)> {
        let code = self.current(d);
        if code != 0 {
            return Ok((code, Vec::new()));
        }
        let mut callees = Vec::new();
        let outcome = self.first[d.index()].get_or_init(|| {
            on_a_big_stack(|| {
                let started = Instant::now();
                let (f, tier) = compiler.compile_function_at(
                    info,
                    d,
                    self.first_tier,
                    &Guidance::default(),
                    self.host_inlines.as_deref(),
                )?;
                let code = self.publish(info, d, &f, tier, started, None)?;
                let _ = self.sites[d.index()].set(FeedbackSites {
                    calls: f.call_sites.clone().into(),
                    branches: f.branch_sites.clone().into(),
                });
                // Only optimized code compiled ahead (from a saved profile) may have
                // been stored meanwhile; it stays.
                let _ = self.slots[d.index()].compare_exchange(
                    0,
                    code,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                let tier = match tier {
                    Tier::Baseline => BASELINE,
                    Tier::Optimized => OPTIMIZED,
                };
                // A function queued ahead (or optimized already) keeps its state.
                let _ = self.tiers[d.index()].compare_exchange(
                    NONE,
                    tier,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                Ok(f.callees)
            })
            .map(|c| callees = c)
            .map_err(|e: Error| {
                format!(
                    "compiling function {} ({}) when it was first called: {e}",
                    info.func_index(d).as_u32(),
                    info.names.func(info.func_index(d)).unwrap_or("unnamed")
                )
            })
        });
        match outcome {
            Ok(()) => {
                callees.retain(|&c| self.current(c) == 0);
                Ok((self.current(d), callees))
            }
            Err(message) => Err(Error::msg(message)),
        }
    }

    /// Marks `d` as handed to the background compiler; `false` if it already was.
    fn mark_prefetched(&self, d: DefinedFuncIndex) -> bool {
        !self.prefetched[d.index()].swap(true, Ordering::AcqRel)
    }

    /// The on-stack-replacement variant of `d` entered at loop `ordinal`, if it is
    /// ready; `None` with `true` if nobody asked for it yet (the caller queues it).
    fn osr_code(&self, d: DefinedFuncIndex, ordinal: u32) -> (Option<usize>, bool) {
        let mut osr = lock(&self.osr);
        match osr.get(&(d.as_u32(), ordinal)) {
            Some(&code) if code != 0 && code != usize::MAX => (Some(code), false),
            Some(_) => (None, false),
            None => {
                osr.insert((d.as_u32(), ordinal), 0);
                (None, true)
            }
        }
    }

    /// The on-stack-replacement variant of `d` entered at loop `ordinal`, if it is
    /// ready (asking for nothing).
    pub(crate) fn osr_ready(&self, d: DefinedFuncIndex, ordinal: u32) -> Option<usize> {
        lock(&self.osr)
            .get(&(d.as_u32(), ordinal))
            .copied()
            .filter(|&c| c != 0 && c != usize::MAX)
    }

    /// Compiles the variant of `d` entered at loop `ordinal` and publishes it.
    fn compile_osr(
        &self,
        compiler: &Compiler,
        info: &ModuleInfo,
        d: DefinedFuncIndex,
        ordinal: u32,
        guidance: &Guidance,
    ) {
        let started = Instant::now();
        let published = compiler
            .compile_osr(info, d, ordinal, guidance, self.host_inlines.as_deref())
            .map_err(Error::from)
            .and_then(|f| self.publish(info, d, &f, Tier::Optimized, started, Some(ordinal)));
        // A published variant is in the map already (`publish`).
        if let Err(e) = published {
            tracing::warn!(
                "on-stack replacement of function {} at loop {ordinal} failed: {e}",
                info.func_index(d).as_u32()
            );
            lock(&self.osr).insert((d.as_u32(), ordinal), usize::MAX);
        }
    }

    /// Marks baseline function `d` as queued for optimization; `false` if it is not
    /// baseline code (already queued, optimized, or never compiled).
    fn mark_queued(&self, d: DefinedFuncIndex) -> bool {
        self.tiers[d.index()]
            .compare_exchange(BASELINE, QUEUED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Marks function `d` as queued for optimization ahead of its first call (from a
    /// saved profile); `false` if it is queued or optimized already.
    fn mark_queued_ahead(&self, d: DefinedFuncIndex) -> bool {
        [NONE, BASELINE].into_iter().any(|from| {
            self.tiers[d.index()]
                .compare_exchange(from, QUEUED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }

    /// Undoes `mark_queued` when the queue refused the request.
    fn unmark_queued(&self, d: DefinedFuncIndex) {
        let back = if self.current(d) == 0 { NONE } else { BASELINE };
        let _ = self.tiers[d.index()].compare_exchange(
            QUEUED,
            back,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Compiles queued function `d` optimized and switches its slot to the new code.
    fn optimize(
        &self,
        compiler: &Compiler,
        info: &ModuleInfo,
        d: DefinedFuncIndex,
        guidance: &Guidance,
    ) {
        let started = Instant::now();
        let published = compiler
            .compile_function_at(
                info,
                d,
                Tier::Optimized,
                guidance,
                self.host_inlines.as_deref(),
            )
            .map_err(Error::from)
            .and_then(|(f, tier)| self.publish(info, d, &f, tier, started, None));
        match published {
            Ok(code) => {
                self.slots[d.index()].store(code, Ordering::Release);
                self.tiers[d.index()].store(OPTIMIZED, Ordering::Release);
            }
            Err(e) => {
                // The baseline code is correct; it stays, and is not queued again.
                tracing::warn!(
                    "tier-up of function {} failed, keeping its baseline code: {e}",
                    info.func_index(d).as_u32()
                );
            }
        }
    }

    /// Publishes `f` as function `d`'s code at `tier`; returns its entry.
    fn publish(
        &self,
        info: &ModuleInfo,
        d: DefinedFuncIndex,
        f: &kiln_jit::CompiledFunction,
        tier: Tier,
        started: Instant,
        osr_loop: Option<u32>,
    ) -> Result<usize> {
        // Code compiled alone reaches other functions through their slots only (a call
        // to itself is `RelocTarget::Own`).
        if let Some(r) = f
            .relocs
            .iter()
            .find(|r| matches!(r.target, RelocTarget::Function(_)))
        {
            return Err(Error::msg(format!(
                "function {} has a direct call ({:?}) outside the code slots",
                d.as_u32(),
                r.target
            )));
        }
        let code = CodeMemory::publish(
            &[(f, Symbol::Wasm(info.func_index(d)))],
            info.names.clone(),
            self.placement,
        )?;
        if self.perf_map {
            crate::perf_map::record(&code)?;
        }
        let entry = code.function_address(0) as usize;
        lock(&self.code).push(code);
        if !f.speculated.is_empty() {
            let mut speculated = lock(&self.speculated);
            for &(offset, target) in &f.speculated {
                speculated.insert(offset, info.func_index(target).as_u32());
            }
        }
        if !f.cold_branches.is_empty() {
            lock(&self.cold_branches).extend(f.cold_branches.iter().copied());
        }
        if !f.inlined.is_empty() {
            let mut inlined = lock(&self.inlined);
            let list = inlined.entry(info.func_index(d).as_u32()).or_default();
            for &(g, _) in &f.inlined.sites {
                if !list.contains(&g.as_u32()) {
                    list.push(g.as_u32());
                }
            }
        }
        // An on-stack-replacement variant is enterable before the timeline shows it
        // (whoever reads the timeline may count on polls finding it).
        if let Some(ordinal) = osr_loop {
            lock(&self.osr).insert((d.as_u32(), ordinal), entry);
        }
        let now = Instant::now();
        lock(&self.events).push(TierEvent {
            at_us: now.duration_since(self.created).as_micros() as u64,
            function: info.func_index(d).as_u32(),
            tier: profile_tier(tier),
            compile_us: now.duration_since(started).as_micros() as u64,
            osr_loop,
        });
        Ok(entry)
    }

    /// The module's profile, with the counts `counts` gives for each defined function.
    pub(crate) fn profile(
        &self,
        info: &ModuleInfo,
        strategy: &str,
        counts: impl Fn(DefinedFuncIndex) -> (u32, u32),
        feedback: impl Fn(DefinedFuncIndex) -> Feedback,
    ) -> Profile {
        let events = lock(&self.events).clone();
        let mut functions = Vec::new();
        for d in 0..info.num_defined_funcs() {
            let d = DefinedFuncIndex::from_u32(d);
            let (calls, loops) = counts(d);
            let tier = match self.tiers[d.index()].load(Ordering::Acquire) {
                NONE => kiln_profiler::Tier::None,
                BASELINE | QUEUED => kiln_profiler::Tier::Baseline,
                _ => kiln_profiler::Tier::Optimized,
            };
            if tier == kiln_profiler::Tier::None && calls == 0 && loops == 0 {
                continue;
            }
            let index = info.func_index(d).as_u32();
            let took = |t: kiln_profiler::Tier| {
                events
                    .iter()
                    .find(|e| e.function == index && e.tier == t && e.osr_loop.is_none())
                    .map(|e| e.compile_us)
            };
            let Feedback {
                call_sites,
                branches,
            } = feedback(d);
            functions.push(FunctionProfile {
                index,
                name: info.names.func(info.func_index(d)).map(str::to_owned),
                calls: calls.into(),
                loops: loops.into(),
                tier,
                baseline_compile_us: took(kiln_profiler::Tier::Baseline),
                optimized_compile_us: took(kiln_profiler::Tier::Optimized),
                call_sites,
                branches,
                inlined: lock(&self.inlined).get(&index).cloned().unwrap_or_default(),
            });
        }
        Profile {
            version: kiln_profiler::PROFILE_VERSION,
            module_name: info.names.module.clone(),
            module_hash: blake3::hash(&info.bytes).to_hex().to_string(),
            defined_functions: info.num_defined_funcs(),
            strategy: strategy.to_string(),
            functions,
            timeline: events,
        }
    }
}

/// The offsets of one function's baseline code's recording sites, by ordinal.
#[derive(Debug)]
struct FeedbackSites {
    /// `call_indirect` sites that record their targets.
    calls: Box<[u32]>,
    /// Branches counted.
    branches: Box<[u32]>,
}

/// What one function's baseline code recorded, as the profile describes it.
#[derive(Debug, Default)]
pub(crate) struct Feedback {
    pub(crate) call_sites: Vec<kiln_profiler::CallSite>,
    pub(crate) branches: Vec<kiln_profiler::Branch>,
}

/// What defined function `d` of the instance with `vmctx` recorded.
pub(crate) fn feedback(
    lazy: &LazyCode,
    info: &ModuleInfo,
    vmctx: &crate::vm::VmCtx,
    d: DefinedFuncIndex,
) -> Feedback {
    Feedback {
        call_sites: call_site_profiles(lazy, info, vmctx, d),
        branches: branch_profiles(lazy, vmctx, d),
    }
}

/// Which way the branches of defined function `d` of the instance with `vmctx` went,
/// leaving out those never reached.
fn branch_profiles(
    lazy: &LazyCode,
    vmctx: &crate::vm::VmCtx,
    d: DefinedFuncIndex,
) -> Vec<kiln_profiler::Branch> {
    let offsets = lazy.branch_sites(d);
    let Some(counts) = vmctx.branch_counts(d, offsets.len()) else {
        return Vec::new();
    };
    counts
        .iter()
        .zip(offsets)
        .filter(|(c, _)| c.not_taken != 0 || c.taken != 0)
        .map(|(c, &offset)| kiln_profiler::Branch {
            offset,
            taken: c.taken.into(),
            not_taken: c.not_taken.into(),
            cold: lazy.cold_side(offset).map(|s| match s {
                kiln_jit::ColdSide::Taken => kiln_profiler::ColdSide::Taken,
                kiln_jit::ColdSide::NotTaken => kiln_profiler::ColdSide::NotTaken,
            }),
        })
        .collect()
}

/// What the `call_indirect` sites of defined function `d` of the instance with `vmctx`
/// recorded, as the profile describes it (targets by function index; functions of
/// other instances count as `other`).
fn call_site_profiles(
    lazy: &LazyCode,
    info: &ModuleInfo,
    vmctx: &crate::vm::VmCtx,
    d: DefinedFuncIndex,
) -> Vec<kiln_profiler::CallSite> {
    let Some(sites) = vmctx.call_feedback(d) else {
        return Vec::new();
    };
    sites
        .iter()
        .zip(lazy.call_sites(d))
        .map(|(site, &offset)| {
            let mut other = u64::from(site.other);
            let mut targets = Vec::new();
            for &(func_ref, calls) in &site.targets {
                match vmctx.own_func(func_ref) {
                    Some(f) => targets.push((info.func_index(f).as_u32(), u64::from(calls))),
                    None => other += u64::from(calls),
                }
            }
            kiln_profiler::CallSite {
                offset,
                targets,
                megamorphic: site.megamorphic,
                other,
                speculated: lazy.speculated(offset),
            }
        })
        .collect()
}

/// What optimized code of a function (`hot` or not) may assume from the feedback of
/// its call `sites` and its `branches`, under `policy`.
pub(crate) fn guidance_from(
    policy: &kiln_profiler::GuidedPolicy,
    info: &ModuleInfo,
    sites: &[kiln_profiler::CallSite],
    branches: &[kiln_profiler::Branch],
    hot: bool,
) -> Guidance {
    let limits = if hot {
        policy.hot_inline
    } else {
        policy.inline
    };
    let mut g = Guidance {
        inline: (limits.max_depth > 0).then_some(kiln_jit::InlineBudget {
            max_callee_bytes: limits.max_callee_bytes,
            max_depth: limits.max_depth,
            max_total_bytes: limits.max_total_bytes,
        }),
        ..Guidance::default()
    };
    for site in sites {
        let target = policy
            .speculate(site)
            .and_then(|f| info.defined_func_index(kiln_frontend::FuncIndex::from_u32(f)));
        if let Some(target) = target {
            g.indirect_targets.insert(site.offset, target);
        }
    }
    for b in branches {
        if let Some(side) = policy.cold_side(b) {
            let side = match side {
                kiln_profiler::ColdSide::Taken => kiln_jit::ColdSide::Taken,
                kiln_profiler::ColdSide::NotTaken => kiln_jit::ColdSide::NotTaken,
            };
            g.cold_branches.insert(b.offset, side);
        }
    }
    g
}

fn profile_tier(t: Tier) -> kiln_profiler::Tier {
    match t {
        Tier::Baseline => kiln_profiler::Tier::Baseline,
        Tier::Optimized => kiln_profiler::Tier::Optimized,
    }
}

/// Runs `f` here if the stack has room for a compilation, else on a helper thread.
fn on_a_big_stack<R: Send>(f: impl FnOnce() -> Result<R> + Send) -> Result<R> {
    let room = crate::vm::thread_stack::low_address()
        .map(|low| crate::vm::stack_pointer().saturating_sub(low));
    if room.is_some_and(|r| r >= COMPILE_STACK) {
        return f();
    }
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("kiln-compile".into())
            .stack_size(4 * COMPILE_STACK)
            .spawn_scoped(s, f)
            .map_err(|e| Error::msg(format!("cannot start a compilation thread: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(Error::msg("a compilation thread panicked")))
    })
}

/// What the worker needs of a module: its functions and their replaceable code.
pub(crate) trait Replaceable: Send + Sync {
    /// The module's functions.
    fn info(&self) -> &ModuleInfo;
    /// Its replaceable code, if it has any.
    fn lazy(&self) -> Option<&LazyCode>;
}

/// A request to optimize one function of one module (or, with `osr`, to compile its
/// variant entered at that loop).
#[derive(Clone)]
struct Request {
    module: Weak<dyn Replaceable>,
    function: DefinedFuncIndex,
    osr: Option<u32>,
    /// What the profile says, for optimized code.
    guidance: Arc<Guidance>,
}

impl PartialEq for Request {
    fn eq(&self, other: &Self) -> bool {
        Weak::ptr_eq(&self.module, &other.module)
            && self.function == other.function
            && self.osr == other.osr
    }
}

impl Eq for Request {}

impl std::hash::Hash for Request {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (
            self.module.as_ptr().cast::<()>() as usize,
            self.function.as_u32(),
        )
            .hash(h)
    }
}

impl Queues {
    /// Queues each of `callees` of `module` not handed over before to be compiled
    /// ahead; whether any was.
    fn ahead_of_time(
        &mut self,
        module: &Weak<dyn Replaceable>,
        lazy: &LazyCode,
        callees: Vec<DefinedFuncIndex>,
    ) -> bool {
        let before = self.ahead.len();
        for d in callees {
            if lazy.mark_prefetched(d) {
                self.ahead.push_back(Request {
                    module: module.clone(),
                    function: d,
                    osr: None,
                    guidance: Arc::default(),
                });
            }
        }
        self.ahead.len() > before
    }
}

/// What the worker has to do.
struct Queues {
    /// Functions to optimize (and on-stack-replacement variants), first.
    tier_up: TierUpQueue<Request>,
    /// Functions to compile at their first tier ahead of their first call: callees
    /// of freshly compiled functions, when nothing waits for optimization.
    ahead: std::collections::VecDeque<Request>,
    /// The engine is gone.
    closed: bool,
}

struct Shared {
    queue: Mutex<Queues>,
    ready: Condvar,
}

/// The engine's background compiler: one thread, at a lower priority than the guests,
/// optimizing queued functions in order. It holds no module alive, and stops when the
/// engine is dropped.
pub(crate) struct TierUpWorker {
    shared: Arc<Shared>,
}

impl TierUpWorker {
    /// Starts the worker; `None` if no thread can be started (functions then stay
    /// baseline code).
    pub(crate) fn start(compiler: Compiler, policy: &TierUpPolicy) -> Option<TierUpWorker> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queues {
                tier_up: TierUpQueue::new(policy),
                ahead: std::collections::VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        });
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("kiln-tier-up".into())
            .stack_size(4 * COMPILE_STACK)
            .spawn(move || run(&theirs, &compiler))
            .ok()?;
        Some(TierUpWorker { shared })
    }

    /// Queues function `d` of `module` unless it is queued or optimized already.
    pub(crate) fn request(
        &self,
        module: Weak<dyn Replaceable>,
        lazy: &LazyCode,
        d: DefinedFuncIndex,
        guidance: impl FnOnce() -> Guidance,
    ) {
        if lazy.mark_queued(d) {
            self.queue(module, lazy, d, guidance);
        }
    }

    /// Queues function `d` of `module` for optimization ahead of its first call
    /// (from a saved profile), unless it is queued or optimized already.
    pub(crate) fn request_ahead(
        &self,
        module: Weak<dyn Replaceable>,
        lazy: &LazyCode,
        d: DefinedFuncIndex,
        guidance: impl FnOnce() -> Guidance,
    ) {
        if lazy.mark_queued_ahead(d) {
            self.queue(module, lazy, d, guidance);
        }
    }

    /// Queues function `d`, marked queued, for optimization; unmarks it if the queue
    /// is full.
    fn queue(
        &self,
        module: Weak<dyn Replaceable>,
        lazy: &LazyCode,
        d: DefinedFuncIndex,
        guidance: impl FnOnce() -> Guidance,
    ) {
        let queued = lock(&self.shared.queue).tier_up.push(Request {
            module,
            function: d,
            osr: None,
            guidance: Arc::new(guidance()),
        });
        if queued {
            self.shared.ready.notify_one();
        } else {
            lazy.unmark_queued(d);
        }
    }

    /// Queues `callees` of `module` to be compiled at their first tier ahead of their
    /// first call (each function once).
    pub(crate) fn compile_ahead(
        &self,
        module: &Weak<dyn Replaceable>,
        lazy: &LazyCode,
        callees: Vec<DefinedFuncIndex>,
    ) {
        let added = lock(&self.shared.queue).ahead_of_time(module, lazy, callees);
        if added {
            self.shared.ready.notify_one();
        }
    }

    /// The variant of function `d` entered at loop `ordinal` if it is ready; queues it
    /// (once) if not.
    pub(crate) fn osr(
        &self,
        module: Weak<dyn Replaceable>,
        lazy: &LazyCode,
        d: DefinedFuncIndex,
        ordinal: u32,
        guidance: impl FnOnce() -> Guidance,
    ) -> Option<usize> {
        let (ready, ask) = lazy.osr_code(d, ordinal);
        if ask {
            let queued = lock(&self.shared.queue).tier_up.push(Request {
                module,
                function: d,
                osr: Some(ordinal),
                guidance: Arc::new(guidance()),
            });
            if queued {
                self.shared.ready.notify_one();
            } else {
                lock(&lazy.osr).remove(&(d.as_u32(), ordinal));
            }
        }
        ready
    }
}

impl Drop for TierUpWorker {
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.ready.notify_all();
    }
}

fn run(shared: &Shared, compiler: &Compiler) {
    crate::vm::lower_thread_priority();
    loop {
        let (request, ahead) = {
            let mut q = lock(&shared.queue);
            loop {
                if q.closed {
                    return;
                }
                if let Some(r) = q.tier_up.pop() {
                    break (r, false);
                }
                if let Some(r) = q.ahead.pop_front() {
                    break (r, true);
                }
                q = shared.ready.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Some(module) = request.module.upgrade() else {
            continue;
        };
        let Some(lazy) = module.lazy() else {
            continue;
        };
        let info = module.info();
        match (ahead, request.osr) {
            (true, _) => {
                // A failure is reported to the caller at its first call instead.
                if let Ok((_, callees)) = lazy.code_and_callees(compiler, info, request.function) {
                    lock(&shared.queue).ahead_of_time(&request.module, lazy, callees);
                }
            }
            (false, Some(ordinal)) => {
                lazy.compile_osr(compiler, info, request.function, ordinal, &request.guidance)
            }
            (false, None) => lazy.optimize(compiler, info, request.function, &request.guidance),
        }
    }
}
