//! What fuel each operator costs.

use std::collections::HashMap;

/// Per-operator fuel costs. Every operator costs `default` unless overridden by name
/// (wasmparser's `Operator` variant name, e.g. `"I32Add"`, `"Call"`, `"MemoryGrow"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuelCosts {
    default: u32,
    overrides: HashMap<String, u32>,
}

impl Default for FuelCosts {
    fn default() -> Self {
        FuelCosts {
            default: 1,
            overrides: HashMap::new(),
        }
    }
}

impl FuelCosts {
    /// Every operator costs `default`.
    pub fn new(default: u32) -> Self {
        FuelCosts {
            default,
            overrides: HashMap::new(),
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
