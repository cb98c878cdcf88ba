//! What Cranelift's pinned register (r15 on x86-64) carries through generated code.
//!
//! With fuel on, wasm functions and the trampolines around them keep the store's fuel
//! counter there for the whole time control is in wasm, so that calls need not pass it
//! through memory. Host code preserves the register (it is callee-saved in the host
//! convention), and the trampolines move the value to and from the store context at
//! every boundary.

/// The pinned register's role in an engine's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pinned {
    /// Unused: the register is allocated like any other.
    Nothing,
    /// The fuel counter (`store_context::FUEL_COUNTER`), read and written by wasm.
    FuelCounter,
}

impl Pinned {
    /// The role for an engine that does or does not meter fuel.
    pub(crate) fn for_config(fuel: bool) -> Pinned {
        if fuel {
            Pinned::FuelCounter
        } else {
            Pinned::Nothing
        }
    }
}
