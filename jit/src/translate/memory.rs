//! Loads, stores and the memory instructions.

use super::{FuncTranslator, Result};
use crate::signatures::POINTER;
use crate::{Builtin, TrapKind};
use cranelift_codegen::ir::types::{F32, F64, I32, I64};
use cranelift_codegen::ir::{AliasRegion, AliasRegionData, InstBuilder, MemFlagsData, Type, Value};
use kiln_frontend::wasmparser::{MemArg, MemArgTarget};
use kiln_frontend::MemoryIndex;

/// Alias regions (ids unique across a compilation, as Cranelift's inliner merges them):
/// wasm's linear memories, and the lengths of their definitions, which no generated
/// code writes (only the runtime, inside calls). With them Cranelift's alias analysis
/// keeps a length it loaded across heap stores, so accesses between two calls share one
/// length load and, through the same index, one bounds compare.
const HEAP_REGION: u32 = 1;
const MEMORY_LENGTH_REGION: u32 = 2;

/// How a load widens its value.
#[derive(Clone, Copy)]
enum Ext {
    /// Full-width load.
    None,
    /// Zero-extend `bytes` bytes.
    U(u8),
    /// Sign-extend `bytes` bytes.
    S(u8),
}

impl FuncTranslator<'_, '_> {
    fn alias_region(&mut self, id: u32, description: &'static str) -> AliasRegion {
        self.b.func.dfg.alias_regions.insert(AliasRegionData {
            user_id: id,
            description: description.into(),
        })
    }

    /// Flags of a wasm heap access: may trap (as out-of-bounds), may be unaligned, and
    /// touches only linear memory.
    pub(crate) fn heap_flags(&mut self) -> MemFlagsData {
        let heap = self.alias_region(HEAP_REGION, "linear memory");
        MemFlagsData::new()
            .with_trap_code(Some(TrapKind::MemoryOutOfBounds.code()))
            .with_alias_region(Some(heap))
    }

    /// Flags of the load of a memory's current length.
    pub(crate) fn memory_length_flags(&mut self) -> MemFlagsData {
        let lengths = self.alias_region(MEMORY_LENGTH_REGION, "memory lengths");
        MemFlagsData::trusted().with_alias_region(Some(lengths))
    }

    /// Address of `mem`'s `VMMemoryDefinition`.
    pub(crate) fn memory_definition(&mut self, mem: MemoryIndex) -> Value {
        match self.env.info.defined_memory_index(mem) {
            Some(d) => {
                let off = self.env.offsets.defined_memory(d);
                self.b.ins().iadd_imm_s(self.vmctx, i64::from(off))
            }
            None => {
                let off = self.env.offsets.imported_memory(mem) as i32;
                self.b.ins().load(
                    POINTER,
                    MemFlagsData::trusted().with_readonly(),
                    self.vmctx,
                    off,
                )
            }
        }
    }

    /// `mem`'s base address. Bases never move, so the loads are marked read-only and
    /// movable: Cranelift shares them and hoists them out of loops.
    pub(crate) fn heap_base(&mut self, mem: MemoryIndex) -> Value {
        let invariant = MemFlagsData::trusted().with_readonly().with_can_move();
        let (def, off) = match self.env.info.defined_memory_index(mem) {
            Some(d) => (self.vmctx, self.env.offsets.defined_memory(d) as i32),
            None => {
                let off = self.env.offsets.imported_memory(mem) as i32;
                (self.b.ins().load(POINTER, invariant, self.vmctx, off), 0)
            }
        };
        self.b.ins().load(
            POINTER,
            invariant,
            def,
            off + crate::memory_definition::BASE as i32,
        )
    }

    /// Pops the index and returns `(address, static offset)` for an access of `size`
    /// bytes, after any bounds check.
    pub(crate) fn heap_address(&mut self, memarg: &MemArg, size: u64) -> (Value, i32) {
        let mem = match memarg.target {
            MemArgTarget::Memory(m) => MemoryIndex::from_u32(m),
            MemArgTarget::Array(_) => unreachable!("validated: GC array accesses are refused"),
        };
        let index = self.pop();
        let index = self.widen_index(index);
        let base = self.heap_base(mem);
        self.checked_address(mem, base, index, memarg.offset, size)
    }

    fn load(&mut self, memarg: MemArg, ty: Type, ext: Ext) -> Result {
        let size = match ext {
            Ext::None => u64::from(ty.bytes()),
            Ext::U(n) | Ext::S(n) => u64::from(n),
        };
        let (addr, off) = self.heap_address(&memarg, size);
        let f = self.heap_flags();
        let ins = self.b.ins();
        let v = match ext {
            Ext::None => ins.load(ty, f, addr, off),
            Ext::U(1) => ins.uload8(ty, f, addr, off),
            Ext::S(1) => ins.sload8(ty, f, addr, off),
            Ext::U(2) => ins.uload16(ty, f, addr, off),
            Ext::S(2) => ins.sload16(ty, f, addr, off),
            Ext::U(_) => ins.uload32(f, addr, off),
            Ext::S(_) => ins.sload32(f, addr, off),
        };
        self.push(v);
        Ok(())
    }

    fn store(&mut self, memarg: MemArg, bytes: u8) -> Result {
        let value = self.pop();
        let (addr, off) = self.heap_address(&memarg, u64::from(bytes));
        let f = self.heap_flags();
        let value_bytes = self.b.func.dfg.value_type(value).bytes();
        let ins = self.b.ins();
        match bytes {
            _ if u32::from(bytes) == value_bytes => ins.store(f, value, addr, off),
            1 => ins.istore8(f, value, addr, off),
            2 => ins.istore16(f, value, addr, off),
            _ => ins.istore32(f, value, addr, off),
        };
        Ok(())
    }

    pub(crate) fn visit_i32_load(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, I32, Ext::None)
    }
    pub(crate) fn visit_i64_load(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, I64, Ext::None)
    }
    pub(crate) fn visit_f32_load(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, F32, Ext::None)
    }
    pub(crate) fn visit_f64_load(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, F64, Ext::None)
    }
    pub(crate) fn visit_i32_load8_s(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, I32, Ext::S(1))
    }
    pub(crate) fn visit_i32_load8_u(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, I32, Ext::U(1))
    }
    pub(crate) fn visit_i32_load16_s(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, I32, Ext::S(2))
    }
    pub(crate) fn visit_i32_load16_u(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, I32, Ext::U(2))
    }
    pub(crate) fn visit_i64_load8_s(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, I64, Ext::S(1))
    }
    pub(crate) fn visit_i64_load8_u(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, I64, Ext::U(1))
    }
    pub(crate) fn visit_i64_load16_s(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, I64, Ext::S(2))
    }
    pub(crate) fn visit_i64_load16_u(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, I64, Ext::U(2))
    }
    pub(crate) fn visit_i64_load32_s(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, I64, Ext::S(4))
    }
    pub(crate) fn visit_i64_load32_u(&mut self, memarg: MemArg) -> Result {
        self.load(memarg, I64, Ext::U(4))
    }
    pub(crate) fn visit_i32_store(&mut self, memarg: MemArg) -> Result {
        self.store(memarg, 4)
    }
    pub(crate) fn visit_i64_store(&mut self, memarg: MemArg) -> Result {
        self.store(memarg, 8)
    }
    pub(crate) fn visit_f32_store(&mut self, memarg: MemArg) -> Result {
        self.store(memarg, 4)
    }
    pub(crate) fn visit_f64_store(&mut self, memarg: MemArg) -> Result {
        self.store(memarg, 8)
    }
    pub(crate) fn visit_i32_store8(&mut self, memarg: MemArg) -> Result {
        self.store(memarg, 1)
    }
    pub(crate) fn visit_i32_store16(&mut self, memarg: MemArg) -> Result {
        self.store(memarg, 2)
    }
    pub(crate) fn visit_i64_store8(&mut self, memarg: MemArg) -> Result {
        self.store(memarg, 1)
    }
    pub(crate) fn visit_i64_store16(&mut self, memarg: MemArg) -> Result {
        self.store(memarg, 2)
    }
    pub(crate) fn visit_i64_store32(&mut self, memarg: MemArg) -> Result {
        self.store(memarg, 4)
    }

    /// Whether `mem` takes 64-bit addresses.
    fn memory64(&self, mem: u32) -> bool {
        self.env.info.memories[mem as usize].memory64
    }

    pub(crate) fn visit_memory_size(&mut self, mem: u32) -> Result {
        let len = self.memory_length(MemoryIndex::from_u32(mem));
        let pages = self.b.ins().ushr_imm_u(len, 16);
        let pages = self.narrow_index(pages, self.memory64(mem));
        self.push(pages);
        Ok(())
    }

    pub(crate) fn visit_memory_grow(&mut self, mem: u32) -> Result {
        let delta = self.pop();
        let delta = self.widen_index(delta);
        let m = self.b.ins().iconst(I32, i64::from(mem));
        let old = self
            .call_builtin(Builtin::memory_grow, &[m, delta])
            .expect("memory_grow returns the old size");
        let old = self.narrow_index(old, self.memory64(mem));
        self.push(old);
        Ok(())
    }

    /// `v` as an i64: an i32 address, size or index is zero-extended, an i64 one (of a
    /// 64-bit memory or table) kept.
    pub(crate) fn widen_index(&mut self, v: Value) -> Value {
        if self.b.func.dfg.value_type(v) == I64 {
            v
        } else {
            self.b.ins().uextend(I64, v)
        }
    }

    /// A 64-bit size or index as the wasm type of a 32-bit (`wide == false`) or 64-bit
    /// memory or table. -1 stays -1.
    pub(crate) fn narrow_index(&mut self, v: Value, wide: bool) -> Value {
        if wide {
            v
        } else {
            self.b.ins().ireduce(I32, v)
        }
    }

    pub(crate) fn visit_memory_copy(&mut self, dst_mem: u32, src_mem: u32) -> Result {
        let (dst, src, len) = self.pop3();
        let (dst, src, len) = (
            self.widen_index(dst),
            self.widen_index(src),
            self.widen_index(len),
        );
        let dm = self.b.ins().iconst(I32, i64::from(dst_mem));
        let sm = self.b.ins().iconst(I32, i64::from(src_mem));
        self.call_builtin_checked(
            Builtin::memory_copy,
            &[dm, dst, sm, src, len],
            TrapKind::MemoryOutOfBounds,
        );
        Ok(())
    }

    pub(crate) fn visit_memory_fill(&mut self, mem: u32) -> Result {
        let (dst, val, len) = self.pop3();
        let (dst, len) = (self.widen_index(dst), self.widen_index(len));
        let m = self.b.ins().iconst(I32, i64::from(mem));
        self.call_builtin_checked(
            Builtin::memory_fill,
            &[m, dst, val, len],
            TrapKind::MemoryOutOfBounds,
        );
        Ok(())
    }

    pub(crate) fn visit_memory_init(&mut self, data_index: u32, mem: u32) -> Result {
        let (dst, src, len) = self.pop3();
        let dst = self.widen_index(dst);
        let m = self.b.ins().iconst(I32, i64::from(mem));
        let d = self.b.ins().iconst(I32, i64::from(data_index));
        self.call_builtin_checked(
            Builtin::memory_init,
            &[m, d, dst, src, len],
            TrapKind::MemoryOutOfBounds,
        );
        Ok(())
    }

    pub(crate) fn visit_data_drop(&mut self, data_index: u32) -> Result {
        let d = self.b.ins().iconst(I32, i64::from(data_index));
        self.call_builtin(Builtin::data_drop, &[d]);
        Ok(())
    }
}
