//! Locals, globals, constants, `drop` and `select`.

use super::{FuncTranslator, Local, Result};
use crate::signatures::{ir_type, POINTER};
use cranelift_codegen::ir::{self, InstBuilder, Value};
use kiln_frontend::wasmparser::{Ieee32, Ieee64, ValType};
use kiln_frontend::GlobalIndex;

impl FuncTranslator<'_, '_> {
    pub(crate) fn visit_local_get(&mut self, local_index: u32) -> Result {
        let v = match self.locals[local_index as usize] {
            Local::Var(var) => self.b.use_var(var),
            Local::Slot(slot, ty) => self.b.ins().stack_load(POINTER, ty, slot, 0),
        };
        self.push(v);
        Ok(())
    }

    /// Writes `v` (already canonical) to a local.
    fn write_local(&mut self, local_index: u32, v: Value) {
        match self.locals[local_index as usize] {
            Local::Var(var) => self.b.def_var(var, v),
            Local::Slot(slot, _) => {
                self.b.ins().stack_store(POINTER, v, slot, 0);
            }
        }
    }

    pub(crate) fn visit_local_set(&mut self, local_index: u32) -> Result {
        let v = self.pop();
        let v = self.canonical(v);
        self.write_local(local_index, v);
        Ok(())
    }

    pub(crate) fn visit_local_tee(&mut self, local_index: u32) -> Result {
        let v = *self.peekn(1).first().expect("validated: tee operand");
        let v = self.canonical(v);
        self.write_local(local_index, v);
        Ok(())
    }

    /// Base address and offset of a global's storage.
    fn global_addr(&mut self, g: GlobalIndex) -> (Value, i32) {
        let info = self.env.info;
        match info.defined_global_index(g) {
            Some(d) => (self.vmctx, self.env.offsets.defined_global(d) as i32),
            None => {
                let off = self.env.offsets.imported_global(g) as i32;
                let flags = ir::MemFlagsData::trusted().with_readonly();
                let ptr = self
                    .b
                    .ins()
                    .load(crate::signatures::POINTER, flags, self.vmctx, off);
                (ptr, 0)
            }
        }
    }

    pub(crate) fn visit_global_get(&mut self, global_index: u32) -> Result {
        let g = GlobalIndex::from_u32(global_index);
        let ty = ir_type(self.env.info.globals[g.index()].content);
        let (base, off) = self.global_addr(g);
        let mut flags = ir::MemFlagsData::trusted();
        if !self.env.info.globals[g.index()].mutable {
            flags = flags.with_readonly();
        }
        let v = self.b.ins().load(ty, flags, base, off);
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_global_set(&mut self, global_index: u32) -> Result {
        let v = self.pop();
        let (base, off) = self.global_addr(GlobalIndex::from_u32(global_index));
        self.b
            .ins()
            .store(ir::MemFlagsData::trusted(), v, base, off);
        Ok(())
    }

    pub(crate) fn visit_i32_const(&mut self, value: i32) -> Result {
        let v = self.b.ins().iconst(ir::types::I32, i64::from(value));
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_i64_const(&mut self, value: i64) -> Result {
        let v = self.b.ins().iconst(ir::types::I64, value);
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_f32_const(&mut self, value: Ieee32) -> Result {
        let v = self
            .b
            .ins()
            .f32const(ir::immediates::Ieee32::with_bits(value.bits()));
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_f64_const(&mut self, value: Ieee64) -> Result {
        let v = self
            .b
            .ins()
            .f64const(ir::immediates::Ieee64::with_bits(value.bits()));
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_drop(&mut self) -> Result {
        self.pop();
        Ok(())
    }

    pub(crate) fn visit_select(&mut self) -> Result {
        let (a, b, cond) = self.pop3();
        let (a, b) = (self.canonical(a), self.canonical(b));
        let v = self.b.ins().select(cond, a, b);
        self.push(v);
        Ok(())
    }

    pub(crate) fn visit_typed_select(&mut self, _ty: ValType) -> Result {
        self.visit_select()
    }

    pub(crate) fn visit_nop(&mut self) -> Result {
        Ok(())
    }
}
