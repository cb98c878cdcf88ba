//! Table instructions and reference instructions.

use super::{FuncTranslator, Result};
use crate::signatures::POINTER;
use crate::{Builtin, TrapKind};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I32, I64};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value};
use kiln_frontend::wasmparser::HeapType;
use kiln_frontend::{FuncIndex, TableIndex};

impl FuncTranslator<'_, '_> {
    /// Address of `table`'s `VMTableDefinition`.
    fn table_definition(&mut self, table: TableIndex) -> Value {
        match self.env.info.defined_table_index(table) {
            Some(d) => {
                let off = self.env.offsets.defined_table(d);
                self.b.ins().iadd_imm_s(self.vmctx, i64::from(off))
            }
            None => {
                let off = self.env.offsets.imported_table(table) as i32;
                self.b.ins().load(
                    POINTER,
                    MemFlagsData::trusted().with_readonly(),
                    self.vmctx,
                    off,
                )
            }
        }
    }

    /// Whether `table` takes 64-bit element indices.
    fn table64(&self, table: u32) -> bool {
        self.env.info.tables[table as usize].table64
    }

    /// Address of element `index` (an i32, or an i64 for a 64-bit table) of `table`,
    /// trapping with
    /// `TableOutOfBounds` when it is out of range. With Spectre guards on, the address
    /// is also replaced by null when out of range, by a conditional move the access
    /// depends on, so a mispredicted check cannot read past the table speculatively
    /// (`call_indirect` would otherwise call through what it read).
    pub(crate) fn table_element_address(&mut self, table: TableIndex, index: Value) -> Value {
        let def = self.table_definition(table);
        let flags = MemFlagsData::trusted();
        let bound = self.b.ins().load(
            I32,
            flags,
            def,
            crate::table_definition::CURRENT_ELEMENTS as i32,
        );
        // A 64-bit table's index is compared at 64 bits.
        let bound = match self.b.func.dfg.value_type(index) {
            I64 => self.widen_index(bound),
            _ => bound,
        };
        let oob = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, index, bound);
        self.trap_if(oob, TrapKind::TableOutOfBounds);
        let base = self
            .b
            .ins()
            .load(POINTER, flags, def, crate::table_definition::BASE as i32);
        let index = self.widen_index(index);
        let byte_offset = self.b.ins().ishl_imm_u(index, 3);
        let addr = self.b.ins().iadd(base, byte_offset);
        if self.env.spectre_guards {
            let null = self.b.ins().iconst(POINTER, 0);
            self.b.ins().select_spectre_guard(oob, null, addr)
        } else {
            addr
        }
    }

    /// The `VMFuncRef` address of function `f` (what `ref.func f` evaluates to).
    pub(crate) fn func_ref_address(&mut self, f: FuncIndex) -> Value {
        match self.env.info.defined_func_index(f) {
            Some(d) => {
                let off = self.env.offsets.defined_func_ref(d);
                self.b.ins().iadd_imm_s(self.vmctx, i64::from(off))
            }
            None => {
                let off = self.env.offsets.imported_func(f) as i32;
                self.b.ins().load(
                    POINTER,
                    MemFlagsData::trusted().with_readonly(),
                    self.vmctx,
                    off,
                )
            }
        }
    }

    fn index_const(&mut self, i: u32) -> Value {
        self.b.ins().iconst(I32, i64::from(i))
    }

    pub(crate) fn visit_table_get(&mut self, table: u32) -> Result {
        let index = self.pop();
        let addr = self.table_element_address(TableIndex::from_u32(table), index);
        let v = self.b.ins().load(POINTER, MemFlagsData::trusted(), addr, 0);
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_table_set(&mut self, table: u32) -> Result {
        let (index, value) = self.pop2();
        let addr = self.table_element_address(TableIndex::from_u32(table), index);
        self.b.ins().store(MemFlagsData::trusted(), value, addr, 0);
        Ok(())
    }

    pub(crate) fn visit_table_size(&mut self, table: u32) -> Result {
        let def = self.table_definition(TableIndex::from_u32(table));
        let v = self.b.ins().load(
            I32,
            MemFlagsData::trusted(),
            def,
            crate::table_definition::CURRENT_ELEMENTS as i32,
        );
        let v = match self.table64(table) {
            true => self.widen_index(v),
            false => v,
        };
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_table_grow(&mut self, table: u32) -> Result {
        let (init, delta) = self.pop2();
        let delta = self.widen_index(delta);
        let t = self.index_const(table);
        let old = self
            .call_builtin(Builtin::table_grow, &[t, delta, init])
            .expect("table_grow returns the old size");
        let old = self.narrow_index(old, self.table64(table));
        self.push(old);
        Ok(())
    }

    pub(crate) fn visit_table_fill(&mut self, table: u32) -> Result {
        let (dst, value, len) = self.pop3();
        let (dst, len) = (self.widen_index(dst), self.widen_index(len));
        let t = self.index_const(table);
        self.call_builtin_checked(
            Builtin::table_fill,
            &[t, dst, value, len],
            TrapKind::TableOutOfBounds,
        );
        Ok(())
    }

    pub(crate) fn visit_table_copy(&mut self, dst_table: u32, src_table: u32) -> Result {
        let (dst, src, len) = self.pop3();
        let (dst, src, len) = (
            self.widen_index(dst),
            self.widen_index(src),
            self.widen_index(len),
        );
        let dt = self.index_const(dst_table);
        let st = self.index_const(src_table);
        self.call_builtin_checked(
            Builtin::table_copy,
            &[dt, st, dst, src, len],
            TrapKind::TableOutOfBounds,
        );
        Ok(())
    }

    pub(crate) fn visit_table_init(&mut self, elem_index: u32, table: u32) -> Result {
        let (dst, src, len) = self.pop3();
        let dst = self.widen_index(dst);
        let t = self.index_const(table);
        let e = self.index_const(elem_index);
        self.call_builtin_checked(
            Builtin::table_init,
            &[t, e, dst, src, len],
            TrapKind::TableOutOfBounds,
        );
        Ok(())
    }

    pub(crate) fn visit_elem_drop(&mut self, elem_index: u32) -> Result {
        let e = self.index_const(elem_index);
        self.call_builtin(Builtin::elem_drop, &[e]);
        Ok(())
    }

    pub(crate) fn visit_ref_null(&mut self, _hty: HeapType) -> Result {
        let v = self.b.ins().iconst(POINTER, 0);
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_ref_is_null(&mut self) -> Result {
        self.unop(|b, x| {
            let c = b.ins().icmp_imm_s(IntCC::Equal, x, 0);
            b.ins().uextend(I32, c)
        });
        Ok(())
    }

    pub(crate) fn visit_ref_func(&mut self, function_index: u32) -> Result {
        let v = self.func_ref_address(FuncIndex::from_u32(function_index));
        self.push(v);
        Ok(())
    }
}
