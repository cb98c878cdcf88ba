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
//! Epochs: function entries and loop headers load the engine's epoch and trap with
//! `Interrupted` once it has reached the store's deadline. Without fuel the deadline
//! lives in the pinned register (the trampolines load it); with fuel, in a variable
//! loaded from the store context at entry and after calls. See `crate::pinned`.

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
    /// Where the epoch deadline is (when epochs are on).
    deadline: Option<Deadline>,
}

/// Where a function finds the store's epoch deadline.
#[derive(Clone, Copy)]
enum Deadline {
    /// In the pinned register (epochs without fuel): never reloaded.
    Pinned,
    /// In a variable loaded from the store context at entry and after calls (the
    /// pinned register holds the fuel counter).
    Variable(Variable),
}

impl FuncTranslator<'_, '_> {
    fn store_context(&mut self) -> Value {
        let flags = MemFlagsData::trusted().with_readonly().with_can_move();
        self.b
            .ins()
            .load(POINTER, flags, self.vmctx, VmOffsets::STORE_CONTEXT as i32)
    }

    /// Sets up the variables, and checks at function entry. A function that makes no
    /// calls gets no entry check for epochs: without calls it can only run long in a
    /// loop, whose header is checked, and every call chain into it passes the entry
    /// check of its caller.
    pub(crate) fn interrupts_at_entry(&mut self, makes_calls: bool) {
        if self.env.fuel.is_some() {
            let var = self.b.declare_var(I64);
            self.interrupts.fuel = Some(var);
        }
        if self.env.epoch_interruption {
            self.interrupts.deadline = Some(if self.env.fuel.is_some() {
                Deadline::Variable(self.b.declare_var(I64))
            } else {
                Deadline::Pinned
            });
        }
        self.reload_interrupt_state();
        if makes_calls {
            self.check_interrupts();
        } else {
            self.flush_fuel();
        }
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
        if let Some(deadline) = self.interrupts.deadline {
            // The epoch pointer never changes: Cranelift may hoist its load.
            let flags = MemFlagsData::trusted();
            let ptr = self.b.ins().load(
                POINTER,
                flags.with_readonly().with_can_move(),
                self.vmctx,
                VmOffsets::EPOCH_PTR as i32,
            );
            // Another thread advances the epoch: an atomic load is never merged with an
            // earlier one (a plain load in a store-free loop would be).
            let epoch = self.b.ins().atomic_load(I64, flags, ptr);
            let deadline = match deadline {
                Deadline::Pinned => self.b.ins().get_pinned_reg(I64),
                Deadline::Variable(var) => self.b.use_var(var),
            };
            let late = self
                .b
                .ins()
                .icmp(IntCC::UnsignedGreaterThanOrEqual, epoch, deadline);
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

    /// Takes the fuel counter from the pinned register and loads a deadline variable
    /// from the store context (at entry and after calls, which may have consumed fuel
    /// or, through the host, moved the deadline).
    pub(crate) fn reload_interrupt_state(&mut self) {
        if let Some(var) = self.interrupts.fuel {
            let v = self.b.ins().get_pinned_reg(I64);
            self.b.def_var(var, v);
        }
        if let Some(Deadline::Variable(var)) = self.interrupts.deadline {
            let ctx = self.store_context();
            let flags = MemFlagsData::trusted();
            let v = self
                .b
                .ins()
                .load(I64, flags, ctx, store_context::EPOCH_DEADLINE as i32);
            self.b.def_var(var, v);
        }
    }
}
