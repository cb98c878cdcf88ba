//! Fuel metering and epoch interruption, compiled in only when configured.
//!
//! Fuel: operator costs are added up at compile time per straight-line segment and
//! added to a Cranelift variable at the segment's end (before any branch, call or
//! return). Between functions the counter lives in Cranelift's pinned register (r15 on
//! x86-64, reserved in every function of a fuel-metering engine): the variable is taken
//! from it at function entry and after calls, and put back before calls and returns, so
//! calls cost no memory traffic. Trampolines move it to and from
//! `VMStoreContext::fuel_counter` when control enters or leaves wasm. It holds
//! `u64::MAX - fuel left`, and every addition traps with `OutOfFuel` when it carries,
//! that is when the segment cost more than was left: the store is never overdrawn.
//! Every loop iteration and every call ends a segment, so neither a loop nor a
//! loop-free call tree escapes metering (given non-zero costs).
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
use cranelift_frontend::Variable;

/// Instrumentation state of one function.
#[derive(Default)]
pub(crate) struct Interrupts {
    /// Fuel consumed so far (when fuel is on).
    fuel: Option<Variable>,
    /// Cost of the current segment, not yet added to `fuel`.
    pending: i64,
}

impl FuncTranslator<'_, '_> {
    fn store_context(&mut self) -> Value {
        let flags = MemFlagsData::trusted().with_readonly().with_can_move();
        self.b
            .ins()
            .load(POINTER, flags, self.vmctx, VmOffsets::STORE_CONTEXT as i32)
    }

    /// Sets up the fuel variable at function entry. There is no epoch check here: the
    /// runtime interrupts function entries through the stack limit the prologue
    /// already checks (see the module comment).
    pub(crate) fn interrupts_at_entry(&mut self) {
        if self.env.fuel.is_some() {
            let var = self.b.declare_var(I64);
            self.interrupts.fuel = Some(var);
        }
        self.reload_interrupt_state();
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

    /// Adds the current segment's cost to the fuel variable, trapping with `OutOfFuel`
    /// if that overdraws the store. The counter holds `u64::MAX - fuel left`, so the
    /// addition carries exactly when the cost exceeds what is left: charging and
    /// checking are one `add` and one never-taken branch. The trapping addition also
    /// keeps Cranelift from folding chains of charges together.
    pub(crate) fn flush_fuel(&mut self) {
        let Some(var) = self.interrupts.fuel else {
            return;
        };
        let pending = std::mem::take(&mut self.interrupts.pending);
        if pending != 0 {
            let v = self.b.use_var(var);
            let cost = self.b.ins().iconst(I64, pending);
            let v = self
                .b
                .ins()
                .uadd_overflow_trap(v, cost, TrapKind::OutOfFuel.code());
            self.b.def_var(var, v);
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

    /// Hands the fuel counter to the callee (before calls and returns): it travels in
    /// the pinned register, never through memory.
    pub(crate) fn spill_fuel(&mut self) {
        self.flush_fuel();
        if let Some(var) = self.interrupts.fuel {
            let v = self.b.use_var(var);
            self.b.ins().set_pinned_reg(v);
        }
    }

    /// Takes the fuel counter from the pinned register (at entry and after calls, which
    /// consume fuel).
    pub(crate) fn reload_interrupt_state(&mut self) {
        if let Some(var) = self.interrupts.fuel {
            let v = self.b.ins().get_pinned_reg(I64);
            self.b.def_var(var, v);
        }
    }
}
