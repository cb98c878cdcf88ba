//! What the translator knows about the module and the target, shared by all functions.

use crate::compiler::Tunables;
use crate::VmOffsets;
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use kiln_frontend::ModuleInfo;

/// Module-wide translation context.
pub(crate) struct ModuleEnv<'a> {
    /// The module being compiled.
    pub(crate) info: &'a ModuleInfo,
    /// Its vmctx layout.
    pub(crate) offsets: VmOffsets,
    /// Memory reservation and guard sizes the runtime promises.
    pub(crate) tunables: Tunables,
    /// The host's C calling convention, for builtins and trampolines.
    pub(crate) host_call_conv: CallConv,
    /// Pointer size and such, for the function builder.
    pub(crate) frontend_config: TargetFrontendConfig,
    /// Fuel costs, when fuel is metered.
    pub(crate) fuel: Option<&'a crate::FuelCosts>,
    /// Whether epoch deadlines are checked.
    pub(crate) epoch_interruption: bool,
    /// Guard explicit bounds checks and table accesses against speculation.
    pub(crate) spectre_guards: bool,
    /// Call every function through its `VMFuncRef`'s code slot (lazy and tiered code).
    pub(crate) code_slots: bool,
    /// Count calls and loop iterations (tiered baseline code); `offsets` then has
    /// counters.
    pub(crate) counting: Option<super::Counting>,
    /// Translate the on-stack-replacement variant entered at this loop (by ordinal
    /// among the function's `loop`s): all locals arrive as parameters, and the entry
    /// jumps straight to that loop's header.
    pub(crate) osr_loop: Option<u32>,
    /// With code slots: this is the function's final code (optimized, entered at its
    /// start), which nothing replaces, so its calls to itself may be direct.
    pub(crate) final_code: bool,
    /// Profile-guided optimized code: what to speculate on and how much to inline.
    pub(crate) guidance: Option<&'a crate::Guidance>,
    /// Profile-guided code of a whole module: each function's guidance.
    pub(crate) module_guidance: Option<&'a crate::ModuleGuidance>,
    /// Bodies of imported host functions to inline at their calls.
    pub(crate) host_inlines: Option<&'a crate::HostInlines>,
}

impl ModuleEnv<'_> {
    /// The guidance for compiling defined function `d`, if any.
    pub(crate) fn guidance_for(
        &self,
        d: kiln_frontend::DefinedFuncIndex,
    ) -> Option<&crate::Guidance> {
        self.guidance
            .or_else(|| self.module_guidance.map(|m| m.of(d)))
    }
}
