//! Fuel metering and epoch interruption, compiled in only when configured.
//!
//! Fuel: operator costs are added up at compile time per straight-line segment and
//! added to the counter at the segment's end (before any branch, call or return). The
//! counter lives in Cranelift's pinned register (r15 on x86-64, reserved in every
//! function of a fuel-metering engine) for as long as control is in wasm, and each
//! charge reads, adds to and writes that register directly: there is no Cranelift
//! variable, so no block parameter carries fuel from block to block, and compile time
//! stays linear in the number of blocks (a variable threaded through 20,000 loop
//! headers made register allocation take 85× longer). Calls cost no memory traffic.
//! Trampolines move it to and from `VMStoreContext::fuel_counter` when control enters or
//! leaves wasm. It holds `u64::MAX - fuel left`, and every addition traps with
//! `OutOfFuel` when it carries, that is when the segment cost more than was left: the
//! store is never overdrawn. Every loop iteration and every call ends a segment, so
//! neither a loop nor a loop-free call tree escapes metering (given non-zero costs).
//!
//! Epochs: the runtime compares each store's deadline with the engine's epoch whenever
//! the epoch advances, and interrupts a store running wasm past its deadline by setting
//! its stack limit to `INTERRUPT_STACK_LIMIT` (sign bit set), which no stack pointer
//! satisfies. Function entries need no check of their own: the prologue's stack check
//! traps (and the runtime reports `Interrupted`). Loop headers load the stack limit and
//! trap with `Interrupted` when its sign bit is set: one load, one test, one branch.

use super::FuncTranslator;
use crate::signatures::POINTER;
use crate::{store_context, TrapKind, VmOffsets};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value};

/// Instrumentation state of one function.
#[derive(Default)]
pub(crate) struct Interrupts {
    /// Cost of the current segment, not yet added to the counter.
    pending: i64,
}

impl FuncTranslator<'_, '_> {
    pub(crate) fn store_context(&mut self) -> Value {
        let flags = MemFlagsData::trusted().with_readonly().with_can_move();
        self.b
            .ins()
            .load(POINTER, flags, self.vmctx, VmOffsets::STORE_CONTEXT as i32)
    }

    /// Adds the cost of the operator named `op` to the current segment.
    pub(crate) fn charge(&mut self, op: &str) {
        if let Some(costs) = &self.env.fuel {
            self.interrupts.pending += i64::from(costs.cost(op));
        }
    }

    /// The cost of the current segment so far (not yet charged).
    pub(crate) fn pending_fuel(&self) -> i64 {
        self.interrupts.pending
    }

    /// Makes `cost` the cost of the current segment so far (when starting a block whose
    /// only predecessor left that much uncharged).
    pub(crate) fn set_pending_fuel(&mut self, cost: i64) {
        self.interrupts.pending = cost;
    }

    /// Adds the current segment's cost to the counter in the pinned register, trapping
    /// with `OutOfFuel` if that overdraws the store. The counter holds `u64::MAX - fuel
    /// left`, so the addition carries exactly when the cost exceeds what is left:
    /// charging and checking are one `add` and one never-taken branch. The trapping
    /// addition also keeps Cranelift from folding chains of charges together. Before
    /// calls and returns nothing more is needed: the callee or caller finds the counter
    /// where it expects it.
    pub(crate) fn flush_fuel(&mut self) {
        if self.env.fuel.is_none() {
            return;
        }
        let pending = std::mem::take(&mut self.interrupts.pending);
        if pending != 0 {
            let v = self.b.ins().get_pinned_reg(I64);
            let cost = self.b.ins().iconst(I64, pending);
            let v = self
                .b
                .ins()
                .uadd_overflow_trap(v, cost, TrapKind::OutOfFuel.code());
            self.b.ins().set_pinned_reg(v);
        }
    }

    /// Charges the pending fuel (which checks it) and traps when the epoch deadline
    /// has passed.
    pub(crate) fn check_interrupts(&mut self) {
        self.flush_fuel();
        if self.env.epoch_interruption {
            // The stack limit is `INTERRUPT_STACK_LIMIT` (sign bit set) once the
            // store's deadline has passed. Another thread writes it: an atomic load is
            // never merged with an earlier one (a plain load in a store-free loop would
            // be).
            let ctx = self.store_context();
            let addr = self
                .b
                .ins()
                .iadd_imm_s(ctx, i64::from(store_context::STACK_LIMIT));
            let limit = self
                .b
                .ins()
                .atomic_load(POINTER, MemFlagsData::trusted(), addr);
            let late = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, limit, 0);
            self.trap_if(late, TrapKind::Interrupted);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::shape::LocalsIn;
    use crate::translate::{translate_function, ModuleEnv};
    use crate::{CompilerConfig, FuelCosts, Tunables, VmOffsets};
    use cranelift_codegen::ir;
    use cranelift_codegen::isa::CallConv;
    use cranelift_frontend::FunctionBuilderContext;
    use kiln_frontend::DefinedFuncIndex;

    /// Instructions and block parameters of the IR of `n` sequential small loops.
    fn ir_size(n: usize, fuel: Option<&FuelCosts>) -> (usize, usize) {
        let src = format!(
            "(module (func (param i32) {}))",
            "(loop (br_if 0 (local.get 0)))".repeat(n)
        );
        let bytes = wat::parse_str(&src).expect("valid text");
        let info = kiln_frontend::parse(&bytes, Default::default()).expect("valid module");
        let isa = cranelift_native::builder()
            .expect("host")
            .finish(cranelift_codegen::settings::Flags::new(
                cranelift_codegen::settings::builder(),
            ))
            .expect("isa");
        let env = ModuleEnv {
            info: &info,
            offsets: VmOffsets::new(&info),
            tunables: Tunables::default(),
            host_call_conv: CallConv::SystemV,
            frontend_config: isa.frontend_config(),
            fuel,
            epoch_interruption: false,
            spectre_guards: CompilerConfig::default().spectre_guards,
            code_slots: false,
            counting: None,
            osr_loop: None,
            final_code: false,
            guidance: None,
            module_guidance: None,
            host_inlines: None,
        };
        let mut func = ir::Function::new();
        translate_function(
            &env,
            DefinedFuncIndex::from_u32(0),
            &mut func,
            &mut FunctionBuilderContext::new(),
            LocalsIn::Variables,
        )
        .expect("translates");
        let insts = func
            .layout
            .blocks()
            .map(|b| func.layout.block_insts(b).count())
            .sum();
        let params = func
            .layout
            .blocks()
            .map(|b| func.dfg.num_block_params(b))
            .sum();
        (insts, params)
    }

    /// Fuel never threads a value through the control flow: it adds no block
    /// parameter, and a fixed number of instructions per loop, so compiling N loops with
    /// fuel stays linear (a fuel variable threaded through 20,000 loop headers once made
    /// it quadratic). With the default costs (`loop` and `end` free) each loop gets one
    /// charge of four instructions (read, add with its trap, write of the pinned
    /// register, and the constant); with every operator costing 1, two (the loop's
    /// entry, and its back edge). Measured on the release CLI, one charge per loop keeps
    /// compiling with fuel within 1.3-1.7 times the time without (BENCHMARKS.md).
    #[test]
    fn fuel_instrumentation_is_linear() {
        let default_costs = FuelCosts::default();
        let flat_costs = FuelCosts::new(1);
        for n in [100, 1_000, 10_000] {
            let (plain, plain_params) = ir_size(n, None);
            let (fueled, fueled_params) = ir_size(n, Some(&default_costs));
            let (flat, flat_params) = ir_size(n, Some(&flat_costs));
            assert_eq!(
                fueled_params, plain_params,
                "{n} loops: fuel added block params"
            );
            assert_eq!(
                flat_params, plain_params,
                "{n} loops: fuel added block params"
            );
            assert!(
                fueled <= plain + 4 * n + 8,
                "{n} loops: {fueled} instructions with fuel, {plain} without"
            );
            assert!(
                flat <= plain + 8 * n + 8,
                "{n} loops: {flat} instructions with flat fuel costs, {plain} without"
            );
        }
    }
}
