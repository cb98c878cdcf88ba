//! Fuel metering and epoch interruption, compiled in only when configured.
//!
//! Fuel: operator costs are added up at compile time per straight-line segment and
//! added to a Cranelift variable at the segment's end (before any branch, call or
//! return). The variable is loaded from `VMStoreContext::fuel_consumed` at function
//! entry and after calls, and stored back before calls and returns. It counts up from
//! minus the store's fuel; function entries and loop headers trap with `OutOfFuel` when
//! it is positive. So neither a loop nor a loop-free call tree escapes metering.
//!
//! Epochs: the store's deadline is kept in a variable (reloaded after calls); function
//! entries and loop headers load the engine's epoch and trap with `Interrupted` once it
//! has reached the deadline.

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
    /// The epoch deadline (when epochs are on).
    deadline: Option<Variable>,
    /// Additions to `fuel` since it was last loaded from memory.
    chain: u32,
}

/// After this many additions the fuel variable is stored and reloaded opaquely: a long
/// chain of constant additions makes Cranelift's e-graph rewriting quadratic in its
/// length.
const MAX_FUEL_CHAIN: u32 = 64;

impl FuncTranslator<'_, '_> {
    fn store_context(&mut self) -> Value {
        let flags = MemFlagsData::trusted().with_readonly().with_can_move();
        self.b
            .ins()
            .load(POINTER, flags, self.vmctx, VmOffsets::STORE_CONTEXT as i32)
    }

    /// Sets up the variables and checks at function entry.
    pub(crate) fn interrupts_at_entry(&mut self) {
        if self.env.fuel.is_some() {
            let var = self.b.declare_var(I64);
            self.interrupts.fuel = Some(var);
        }
        if self.env.epoch_interruption {
            let var = self.b.declare_var(I64);
            self.interrupts.deadline = Some(var);
        }
        self.reload_interrupt_state();
        self.check_interrupts();
    }

    /// Adds the cost of the operator named `op` to the current segment.
    pub(crate) fn charge(&mut self, op: &str) {
        if let Some(costs) = &self.env.fuel {
            self.interrupts.pending += i64::from(costs.cost(op));
        }
    }

    /// Adds the current segment's cost to the fuel variable.
    pub(crate) fn flush_fuel(&mut self) {
        let Some(var) = self.interrupts.fuel else {
            return;
        };
        let pending = std::mem::take(&mut self.interrupts.pending);
        if pending != 0 {
            let v = self.b.use_var(var);
            let v = self.b.ins().iadd_imm_s(v, pending);
            self.b.def_var(var, v);
            self.interrupts.chain += 1;
            if self.interrupts.chain >= MAX_FUEL_CHAIN {
                self.restart_fuel_chain(var);
            }
        }
    }

    /// Stores the fuel variable and reloads it with an atomic load, which Cranelift
    /// cannot forward from the store: the reloaded value starts a new chain.
    fn restart_fuel_chain(&mut self, var: Variable) {
        let ctx = self.store_context();
        let v = self.b.use_var(var);
        let flags = MemFlagsData::trusted();
        self.b
            .ins()
            .store(flags, v, ctx, store_context::FUEL_CONSUMED as i32);
        let addr = self
            .b
            .ins()
            .iadd_imm_s(ctx, i64::from(store_context::FUEL_CONSUMED));
        let v = self.b.ins().atomic_load(I64, flags, addr);
        self.b.def_var(var, v);
        self.interrupts.chain = 0;
    }

    /// Traps when fuel is exhausted or the epoch deadline has passed.
    pub(crate) fn check_interrupts(&mut self) {
        self.flush_fuel();
        if let Some(var) = self.interrupts.fuel {
            let v = self.b.use_var(var);
            let out = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, v, 0);
            self.trap_if(out, TrapKind::OutOfFuel);
        }
        if let Some(var) = self.interrupts.deadline {
            let ctx = self.store_context();
            let flags = MemFlagsData::trusted();
            let ptr = self.b.ins().load(
                POINTER,
                flags.with_readonly().with_can_move(),
                ctx,
                store_context::EPOCH_PTR as i32,
            );
            // Another thread advances the epoch: an atomic load is never merged with an
            // earlier one (a plain load in a store-free loop would be).
            let epoch = self.b.ins().atomic_load(I64, flags, ptr);
            let deadline = self.b.use_var(var);
            let late = self
                .b
                .ins()
                .icmp(IntCC::UnsignedGreaterThanOrEqual, epoch, deadline);
            self.trap_if(late, TrapKind::Interrupted);
        }
    }

    /// Stores the fuel variable into the store context (before calls and returns).
    pub(crate) fn spill_fuel(&mut self) {
        self.flush_fuel();
        if let Some(var) = self.interrupts.fuel {
            let ctx = self.store_context();
            let v = self.b.use_var(var);
            self.b.ins().store(
                MemFlagsData::trusted(),
                v,
                ctx,
                store_context::FUEL_CONSUMED as i32,
            );
        }
    }

    /// Loads fuel and deadline from the store context (at entry and after calls, which
    /// may have consumed fuel or moved the deadline).
    pub(crate) fn reload_interrupt_state(&mut self) {
        let (fuel, deadline) = (self.interrupts.fuel, self.interrupts.deadline);
        if fuel.is_none() && deadline.is_none() {
            return;
        }
        let ctx = self.store_context();
        let flags = MemFlagsData::trusted();
        if let Some(var) = fuel {
            let v = self
                .b
                .ins()
                .load(I64, flags, ctx, store_context::FUEL_CONSUMED as i32);
            self.b.def_var(var, v);
            self.interrupts.chain = 0;
        }
        if let Some(var) = deadline {
            let v = self
                .b
                .ins()
                .load(I64, flags, ctx, store_context::EPOCH_DEADLINE as i32);
            self.b.def_var(var, v);
        }
    }
}
