//! What fuel each operator costs.

use std::collections::BTreeMap;

/// The operators that cost nothing by default: they do no work of their own at run time
/// (structure, `nop`, `drop`) or end execution (`unreachable`, `return`). These are
/// Wasmtime's, so that the same fuel means the same thing on both engines. Every loop
/// iteration and every call still costs at least one unit: a back edge is a `br`,
/// `br_if` or `br_table`, and none of those is free.
pub const FREE_OPERATORS: [&str; 8] = [
    "Nop",
    "Drop",
    "Block",
    "Loop",
    "Unreachable",
    "Return",
    "Else",
    "End",
];

/// Per-operator fuel costs. Every operator costs `default` unless overridden by name
/// (wasmparser's `Operator` variant name, e.g. `"I32Add"`, `"Call"`, `"MemoryGrow"`).
/// The overrides are ordered, so that their `Debug` form (part of the compiler's
/// fingerprint, and so of code-cache keys) is the same in every process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuelCosts {
    default: u32,
    overrides: BTreeMap<String, u32>,
}

/// Wasmtime's cost model: 0 for the [`FREE_OPERATORS`], 1 for everything else.
impl Default for FuelCosts {
    fn default() -> Self {
        let mut costs = FuelCosts::new(1);
        for op in FREE_OPERATORS {
            costs.set(op, 0);
        }
        costs
    }
}

impl FuelCosts {
    /// Every operator costs `default`, with no exception.
    pub fn new(default: u32) -> Self {
        FuelCosts {
            default,
            overrides: BTreeMap::new(),
        }
    }

    /// Sets the cost of the operator named `op` (e.g. `"Call"`).
    pub fn set(&mut self, op: impl Into<String>, cost: u32) -> &mut Self {
        self.overrides.insert(op.into(), cost);
        self
    }

    /// The cost of the operator named `op`.
    pub fn cost(&self, op: &str) -> u32 {
        self.overrides.get(op).copied().unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_costs_are_wasmtimes() {
        let costs = FuelCosts::default();
        for op in FREE_OPERATORS {
            assert_eq!(costs.cost(op), 0, "{op}");
        }
        for op in ["Br", "BrIf", "BrTable", "Call", "CallIndirect", "I32Add"] {
            assert_eq!(costs.cost(op), 1, "{op}");
        }
        assert_eq!(FuelCosts::new(1).cost("Loop"), 1);
    }

    /// The fingerprint is `Debug` text: it must not depend on the order of `set`s.
    #[test]
    fn debug_form_is_independent_of_insertion_order() {
        let mut a = FuelCosts::new(2);
        a.set("Call", 5).set("I32Add", 3);
        let mut b = FuelCosts::new(2);
        b.set("I32Add", 3).set("Call", 5);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
}
