//! Every decision about linear-memory bounds checks lives here.
//!
//! A memory is one reservation of `tunables.memory_reservation` bytes (at least its
//! maximum size) followed by `tunables.memory_guard` bytes that are never accessible.
//! Bytes past the memory's current length are inaccessible too, so an access at
//! `index + offset .. index + offset + size` faults by itself whenever that range can
//! only end inside reservation + guard; the fault becomes `MemoryOutOfBounds` in the
//! runtime's signal handler. Three checks follow, from cheapest:
//!
//! - [`Check::GuardPage`]: none. A 32-bit index is below `2^32`, so with
//!   `reservation >= 2^32` and `offset + size <= guard` the range always ends inside
//!   reservation + guard.
//! - [`Check::Index`]: `index <= length`. Then the range ends at most `offset + size`
//!   past the length, inside reservation + guard when `offset + size <= guard`. This is
//!   the check of every ordinary 64-bit access (and of 32-bit ones under a small
//!   reservation): one compare, no addition.
//! - [`Check::Explicit`]: `index + offset + size <= length`, computed with the carry, so
//!   a 64-bit index near `2^64` cannot wrap into bounds. Only large static offsets need it.
//!
//! A 64-bit index has no bound the translator could prove, so 64-bit accesses are always
//! checked; nothing is elided for them.
//!
//! Spectre v1: a mispredicted check would let the access run speculatively out of
//! bounds. With `spectre_guards` (the default), the access's whole effective address is
//! computed and replaced by null when the check fails, with `select_spectre_guard` (a
//! conditional move, never a branch); the access then faults at null, which is its
//! registered trap site (`MemoryOutOfBounds`). Without guards, the check branches to a
//! trap.

use super::FuncTranslator;
use crate::TrapKind;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I64, I8};
use cranelift_codegen::ir::{InstBuilder, Value};
use kiln_frontend::MemoryIndex;

/// How an access must be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// The guard region catches every out-of-bounds access.
    GuardPage,
    /// Compare the index against the current length; the guard catches the rest.
    Index,
    /// Compare `index + offset + size`, with its carry, against the current length.
    Explicit,
}

/// The check needed for an access of `size` bytes at static `offset` of a memory with
/// 32-bit (`memory64 == false`) or 64-bit indices.
pub(crate) fn check_for(
    tunables: &crate::Tunables,
    memory64: bool,
    offset: u64,
    size: u64,
) -> Check {
    let in_guard = offset
        .checked_add(size)
        .is_some_and(|end| end <= tunables.memory_guard);
    match (in_guard, memory64) {
        (true, false) if tunables.memory_reservation >= 1 << 32 => Check::GuardPage,
        (true, _) => Check::Index,
        (false, _) => Check::Explicit,
    }
}

impl FuncTranslator<'_, '_> {
    /// The address of the access `index + offset .. + size` of `mem`, after whatever
    /// check it needs, as `(address, static offset)` for the load or store. `index` is
    /// the index as a 64-bit value (zero-extended for a 32-bit memory); `base` the
    /// memory's base address.
    pub(crate) fn checked_address(
        &mut self,
        mem: MemoryIndex,
        base: Value,
        index: Value,
        offset: u64,
        size: u64,
    ) -> (Value, i32) {
        let memory64 = self.env.info.memories[mem.index()].memory64;
        let check = check_for(&self.env.tunables, memory64, offset, size);
        if check == Check::GuardPage {
            let addr = self.b.ins().iadd(base, index);
            return match i32::try_from(offset) {
                Ok(off) => (addr, off),
                Err(_) => (self.b.ins().iadd_imm_s(addr, offset as i64), 0),
            };
        }
        let len = self.memory_length(mem);
        let oob = match (check, offset.checked_add(size)) {
            (Check::Index, _) => self.b.ins().icmp(IntCC::UnsignedGreaterThan, index, len),
            // A 32-bit index plus an offset below 2^32 and a size of at most 16 cannot
            // carry out of 64 bits.
            (_, Some(reach)) if !memory64 => {
                let end = self.b.ins().iadd_imm_s(index, reach as i64);
                self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, len)
            }
            (_, Some(reach)) => {
                let reach = self.b.ins().iconst(I64, reach as i64);
                let (end, carry) = self.b.ins().uadd_overflow(index, reach);
                let past = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
                self.b.ins().bor(past, carry)
            }
            // The access would end past 2^64: never in bounds.
            (_, None) => self.b.ins().iconst(I8, 1),
        };
        let addr = self.b.ins().iadd(base, index);
        let addr = self.b.ins().iadd_imm_s(addr, offset as i64);
        if self.env.spectre_guards {
            let null = self.b.ins().iconst(crate::signatures::POINTER, 0);
            let addr = self.b.ins().select_spectre_guard(oob, null, addr);
            (addr, 0)
        } else {
            self.trap_if(oob, TrapKind::MemoryOutOfBounds);
            (addr, 0)
        }
    }

    /// Loads `mem`'s current length in bytes.
    pub(crate) fn memory_length(&mut self, mem: MemoryIndex) -> Value {
        let def = self.memory_definition(mem);
        let flags = self.memory_length_flags();
        self.b.ins().load(
            crate::signatures::POINTER,
            flags,
            def,
            crate::memory_definition::CURRENT_LENGTH as i32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tunables;

    #[test]
    fn guard_covers_only_small_static_offsets() {
        let t = Tunables::default();
        assert_eq!(check_for(&t, false, 0, 8), Check::GuardPage);
        assert_eq!(
            check_for(&t, false, t.memory_guard - 8, 8),
            Check::GuardPage
        );
        assert_eq!(check_for(&t, false, t.memory_guard - 7, 8), Check::Explicit);
        assert_eq!(check_for(&t, false, u32::MAX.into(), 1), Check::Explicit);
        let small = Tunables {
            memory_reservation: 1 << 20,
            ..Tunables::default()
        };
        assert_eq!(check_for(&small, false, 0, 1), Check::Index);
        assert_eq!(
            check_for(&small, false, u32::MAX.into(), 1),
            Check::Explicit
        );
    }

    #[test]
    fn a_64_bit_index_is_always_checked() {
        let t = Tunables::default();
        assert_eq!(check_for(&t, true, 0, 8), Check::Index);
        assert_eq!(check_for(&t, true, t.memory_guard - 8, 8), Check::Index);
        assert_eq!(check_for(&t, true, t.memory_guard - 7, 8), Check::Explicit);
        assert_eq!(check_for(&t, true, u64::MAX, 1), Check::Explicit);
    }
}
