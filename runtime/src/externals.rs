//! `Extern` and the handles of memories, tables and globals.

use crate::error::{Error, Result};
use crate::func::Func;
use crate::module::ExternType;
use crate::store::{AsContext, AsContextMut, StoreId};
use crate::types::{GlobalType, MemoryType, Mutability, TableType};
use crate::values::{check_type, Val};
use crate::vm::{VmGlobal, VmMemory, VmTable};
use kiln_frontend::WASM_PAGE_SIZE;

/// Anything an instance can import or export.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extern {
    /// A function.
    Func(Func),
    /// A table.
    Table(Table),
    /// A memory.
    Memory(Memory),
    /// A global.
    Global(Global),
}

impl Extern {
    /// The function, if it is one.
    pub fn into_func(self) -> Option<Func> {
        match self {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }

    /// The memory, if it is one.
    pub fn into_memory(self) -> Option<Memory> {
        match self {
            Extern::Memory(m) => Some(m),
            _ => None,
        }
    }

    /// The table, if it is one.
    pub fn into_table(self) -> Option<Table> {
        match self {
            Extern::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The global, if it is one.
    pub fn into_global(self) -> Option<Global> {
        match self {
            Extern::Global(g) => Some(g),
            _ => None,
        }
    }

    /// Its type.
    pub fn ty(&self, store: impl AsContext) -> ExternType {
        match self {
            Extern::Func(f) => ExternType::Func(f.ty(&store)),
            Extern::Table(t) => ExternType::Table(t.ty(&store)),
            Extern::Memory(m) => ExternType::Memory(m.ty(&store)),
            Extern::Global(g) => ExternType::Global(g.ty(&store)),
        }
    }

    pub(crate) fn store_id(&self) -> StoreId {
        match self {
            Extern::Func(f) => f.store,
            Extern::Table(t) => t.store,
            Extern::Memory(m) => m.store,
            Extern::Global(g) => g.store,
        }
    }
}

macro_rules! from_handles {
    ($($h:ident),*) => {$(
        impl From<$h> for Extern {
            fn from(h: $h) -> Extern {
                Extern::$h(h)
            }
        }
    )*};
}
from_handles!(Func, Table, Memory, Global);

/// A linear memory of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Memory {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

fn resource(e: std::io::Error) -> Error {
    Error::instantiation(format!("cannot reserve linear memory: {e}"))
}

impl Memory {
    /// A new memory of type `ty`, owned by the host.
    pub fn new(mut store: impl AsContextMut, ty: MemoryType) -> Result<Memory> {
        let s = &mut store.as_context_mut().opaque;
        crate::instance::check_memory_fits(&ty.0, s.engine.config().memory_reservation)?;
        s.approve_counts(0, 1, 0)?;
        let page = WASM_PAGE_SIZE;
        s.approve_memory(
            0,
            ty.0.minimum.saturating_mul(page),
            ty.0.maximum.map(|m| m.saturating_mul(page)),
        )
        .map_err(Error::resource)?;
        let c = s.engine.config();
        let m =
            VmMemory::new(ty.0, c.memory_reservation, c.memory_guard, None).map_err(resource)?;
        s.memories.push(m);
        Ok(Memory {
            store: s.id,
            index: s.memories.len() - 1,
        })
    }

    fn get<'a, S: AsContext + 'a>(&self, store: &'a S) -> &'a VmMemory {
        let s = &store.as_context().opaque;
        assert_eq!(s.id, self.store, "memory used with another store");
        &s.memories[self.index]
    }

    /// Its type, with the current size as minimum.
    pub fn ty(&self, store: impl AsContext) -> MemoryType {
        MemoryType(self.get(&store).ty())
    }

    /// Size in pages.
    pub fn size(&self, store: impl AsContext) -> u64 {
        self.get(&store).pages()
    }

    /// Size in bytes.
    pub fn data_size(&self, store: impl AsContext) -> usize {
        self.get(&store).data().len()
    }

    /// The contents.
    pub fn data<'a, S: AsContext + 'a>(&self, store: &'a S) -> &'a [u8] {
        self.get(store).data()
    }

    /// The contents, mutably.
    pub fn data_mut<'a, S: AsContextMut + 'a>(&self, store: &'a mut S) -> &'a mut [u8] {
        let s = &mut store.as_context_mut().opaque;
        assert_eq!(s.id, self.store, "memory used with another store");
        s.memories[self.index].data_mut()
    }

    /// The contents and the store's host data, both mutably (for host functions that
    /// move data between guest memory and their own state).
    pub fn data_and_store_mut<'a, T: 'a>(
        &self,
        store: &'a mut impl AsContextMut<Data = T>,
    ) -> (&'a mut [u8], &'a mut T) {
        let inner = store.as_context_mut();
        assert_eq!(
            inner.opaque.id, self.store,
            "memory used with another store"
        );
        (
            inner.opaque.memories[self.index].data_mut(),
            &mut inner.data,
        )
    }

    /// Copies `buf.len()` bytes at `offset` into `buf`.
    pub fn read(&self, store: impl AsContext, offset: usize, buf: &mut [u8]) -> Result<()> {
        let data = self.get(&store).data();
        let src = offset
            .checked_add(buf.len())
            .and_then(|end| data.get(offset..end))
            .ok_or_else(|| Error::ty("memory read out of bounds"))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    /// Copies `bytes` to `offset`.
    pub fn write(&self, mut store: impl AsContextMut, offset: usize, bytes: &[u8]) -> Result<()> {
        let data = self.data_mut(&mut store);
        let dst = offset
            .checked_add(bytes.len())
            .and_then(|end| data.get_mut(offset..end))
            .ok_or_else(|| Error::ty("memory write out of bounds"))?;
        dst.copy_from_slice(bytes);
        Ok(())
    }

    /// Grows by `delta` pages, returning the old size.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u64) -> Result<u64> {
        let s = &mut store.as_context_mut().opaque;
        s.check(self.store)?;
        s.grow_memory(self.index, delta)
            .ok_or_else(|| Error::ty(format!("cannot grow memory by {delta} pages")))
    }
}

/// Bytes per page.
pub const PAGE_SIZE: u64 = WASM_PAGE_SIZE;

/// A table of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Table {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

impl Table {
    /// A new table of type `ty` filled with `init`.
    pub fn new(mut store: impl AsContextMut, ty: TableType, init: Val) -> Result<Table> {
        let s = &mut store.as_context_mut().opaque;
        check_type(
            s,
            &init,
            crate::ValType::Ref(ty.element()),
            "table initializer",
        )?;
        let raw = init.to_raw(s)?.get_u64() as usize;
        s.approve_counts(0, 0, 1)?;
        s.approve_table(0, ty.minimum(), ty.maximum())
            .map_err(Error::resource)?;
        let limit = s.engine.config().max_table_elements;
        let t = VmTable::new(ty.0, raw, limit, None)
            .ok_or_else(|| Error::instantiation("table minimum exceeds the table element limit"))?;
        s.tables.push(t);
        Ok(Table {
            store: s.id,
            index: s.tables.len() - 1,
        })
    }

    fn get_table<'a, S: AsContext + 'a>(&self, store: &'a S) -> &'a VmTable {
        let s = &store.as_context().opaque;
        assert_eq!(s.id, self.store, "table used with another store");
        &s.tables[self.index]
    }

    /// Its type, with the current size as minimum.
    pub fn ty(&self, store: impl AsContext) -> TableType {
        TableType(self.get_table(&store).ty())
    }

    /// Number of elements.
    pub fn size(&self, store: impl AsContext) -> u32 {
        self.get_table(&store).size()
    }

    /// Element `i`, or `None` if out of bounds.
    pub fn get(&self, store: impl AsContext, i: u32) -> Option<Val> {
        let t = self.get_table(&store);
        let raw = t.get(i)?;
        Some(Val::from_raw(
            &store.as_context().opaque,
            crate::vm::ValRaw::bits(raw as u64),
            crate::ValType::Ref(t.ty().element),
        ))
    }

    /// Sets element `i`.
    pub fn set(&self, mut store: impl AsContextMut, i: u32, v: Val) -> Result<()> {
        let s = &mut store.as_context_mut().opaque;
        s.check(self.store)?;
        let elem = s.tables[self.index].ty().element;
        check_type(s, &v, crate::ValType::Ref(elem), "table element")?;
        let raw = v.to_raw(s)?.get_u64() as usize;
        s.tables[self.index]
            .set(i, raw)
            .ok_or_else(|| Error::ty("table index out of bounds"))
    }

    /// Grows by `delta` elements of `init`, returning the old size.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u32, init: Val) -> Result<u32> {
        let s = &mut store.as_context_mut().opaque;
        s.check(self.store)?;
        let elem = s.tables[self.index].ty().element;
        check_type(s, &init, crate::ValType::Ref(elem), "table initializer")?;
        let raw = init.to_raw(s)?.get_u64() as usize;
        s.grow_table(self.index, delta.into(), raw)
            .ok_or_else(|| Error::ty(format!("cannot grow table by {delta} elements")))
    }
}

/// A global of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Global {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

impl Global {
    /// A new global of type `ty` holding `v`.
    pub fn new(mut store: impl AsContextMut, ty: GlobalType, v: Val) -> Result<Global> {
        let s = &mut store.as_context_mut().opaque;
        check_type(s, &v, ty.content(), "global initializer")?;
        let raw = v.to_raw(s)?;
        s.globals.push(VmGlobal::new(ty.to_frontend(), raw.0, None));
        Ok(Global {
            store: s.id,
            index: s.globals.len() - 1,
        })
    }

    /// Its type.
    pub fn ty(&self, store: impl AsContext) -> GlobalType {
        let s = &store.as_context().opaque;
        assert_eq!(s.id, self.store, "global used with another store");
        GlobalType::from_frontend(s.globals[self.index].ty())
    }

    /// Its value.
    pub fn get(&self, store: impl AsContext) -> Val {
        let s = &store.as_context().opaque;
        assert_eq!(s.id, self.store, "global used with another store");
        let g = &s.globals[self.index];
        Val::from_raw(s, crate::vm::ValRaw(g.get_raw()), g.ty().content)
    }

    /// Sets its value (only for mutable globals).
    pub fn set(&self, mut store: impl AsContextMut, v: Val) -> Result<()> {
        let s = &mut store.as_context_mut().opaque;
        s.check(self.store)?;
        let ty = GlobalType::from_frontend(s.globals[self.index].ty());
        if ty.mutability() != Mutability::Var {
            return Err(Error::ty("cannot set an immutable global"));
        }
        check_type(s, &v, ty.content(), "global value")?;
        let raw = v.to_raw(s)?;
        s.globals[self.index].set_raw(raw.0);
        Ok(())
    }
}
