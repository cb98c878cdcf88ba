//! Every decision about linear-memory bounds checks lives here.
//!
//! A 32-bit memory is one reservation of `tunables.memory_reservation` bytes (at least
//! 4 GiB) followed by `tunables.memory_guard` bytes that are never accessible. Bytes past
//! the memory's current length are inaccessible too, so a wasm access at
//! `index + offset .. index + offset + size` faults by itself whenever that range can only
//! end inside reservation + guard. With `index < 2^32` this holds when
//! `reservation >= 2^32` and `offset + size <= guard`: then no check is emitted and the
//! fault becomes `MemoryOutOfBounds` in the runtime's signal handler. Otherwise one
//! explicit compare against the current length is emitted.
//!
//! Spectre v1: a mispredicted explicit check would let the access run speculatively
//! out of bounds. With `spectre_guards` (the default), the access's whole effective
//! address is computed and replaced by null when the check fails, with
//! `select_spectre_guard` (a conditional move, never a branch); the access then faults
//! at null, which is its registered trap site (`MemoryOutOfBounds`), and no branch is
//! needed. Without guards, the check branches to a trap.

use super::FuncTranslator;
use crate::TrapKind;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value};
use kiln_frontend::MemoryIndex;

/// How an access must be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// The guard region catches every out-of-bounds access.
    GuardPage,
    /// Compare `index + offset + size` against the current length.
    Explicit,
}

/// The check needed for an access of `size` bytes at static `offset`.
pub(crate) fn check_for(tunables: &crate::Tunables, offset: u64, size: u64) -> Check {
    let covered = tunables.memory_reservation >= 1 << 32
        && offset
            .checked_add(size)
            .is_some_and(|end| end <= tunables.memory_guard);
    if covered {
        Check::GuardPage
    } else {
        Check::Explicit
    }
}

impl FuncTranslator<'_, '_> {
    /// The address of the access `index + offset .. + size` of `mem`, after whatever
    /// check it needs, as `(address, static offset)` for the load or store. `index` is
    /// the zero-extended 64-bit index; `base` the memory's base address.
    pub(crate) fn checked_address(
        &mut self,
        mem: MemoryIndex,
        base: Value,
        index: Value,
        offset: u64,
        size: u64,
    ) -> (Value, i32) {
        let check = check_for(&self.env.tunables, offset, size);
        if check == Check::GuardPage {
            let addr = self.b.ins().iadd(base, index);
            return match i32::try_from(offset) {
                Ok(off) => (addr, off),
                Err(_) => (self.b.ins().iadd_imm_s(addr, offset as i64), 0),
            };
        }
        // offset < 2^32 and size <= 16, so the sum cannot overflow 64 bits.
        let end = self.b.ins().iadd_imm_s(index, (offset + size) as i64);
        let len = self.memory_length(mem);
        let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
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
        self.b.ins().load(
            crate::signatures::POINTER,
            MemFlagsData::trusted(),
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
        assert_eq!(check_for(&t, 0, 8), Check::GuardPage);
        assert_eq!(check_for(&t, t.memory_guard - 8, 8), Check::GuardPage);
        assert_eq!(check_for(&t, t.memory_guard - 7, 8), Check::Explicit);
        assert_eq!(check_for(&t, u32::MAX.into(), 1), Check::Explicit);
        let small = Tunables {
            memory_reservation: 1 << 20,
            ..Tunables::default()
        };
        assert_eq!(check_for(&small, 0, 1), Check::Explicit);
    }
}
