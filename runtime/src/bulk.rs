//! The store's side of the builtins generated code calls: `impl BuiltinHost for
//! StoreOpaque` (memory and table growth, bulk memory and table operations, segment
//! drops), and the growth helpers the host API shares with it. Instantiation applies
//! active segments through the same methods. Each checks bounds first and changes
//! nothing when it fails.

use crate::store::StoreOpaque;
use crate::vm::table::range;
use crate::vm::BuiltinHost;
use kiln_frontend::DataIndex;

/// `[start, start + len)` as a range if it fits in `size`.
fn mem_range(start: u64, len: u64, size: usize) -> Option<std::ops::Range<usize>> {
    let end = start.checked_add(len)?;
    (end <= size as u64).then_some(start as usize..end as usize)
}

/// Growth, shared by generated code and the host API.
impl StoreOpaque {
    /// What optimized code for defined function `d` of instance `inst` may assume.
    /// It is being optimized, so it is hot.
    fn guidance(&self, inst: usize, d: kiln_frontend::DefinedFuncIndex) -> kiln_jit::Guidance {
        let data = &self.instances[inst];
        let module = &data.module.0;
        let (Some(policy), Some(lazy)) = (&self.engine.config().profile_guided, &module.lazy)
        else {
            return kiln_jit::Guidance::default();
        };
        let f = crate::tiering::feedback(lazy, &module.info, &data.vmctx, d);
        crate::tiering::guidance_from(policy, &module.info, &f.call_sites, &f.branches, true)
    }

    fn memory_of(&self, inst: usize, mem: u32) -> usize {
        self.instances[inst].memories[mem as usize]
    }

    fn table_of(&self, inst: usize, table: u32) -> usize {
        self.instances[inst].tables[table as usize]
    }

    /// Grows store memory `m` by `delta` pages if its type and the limiter allow.
    pub(crate) fn grow_memory(&mut self, m: usize, delta: u64) -> Option<u64> {
        let mem = &self.memories[m];
        let (pages, ty) = (mem.pages(), mem.ty());
        let cap = crate::vm::linear_memory::page_cap(
            ty.memory64,
            self.engine.config().memory_reservation,
        );
        let max_pages = ty.maximum.unwrap_or(cap).min(cap);
        let desired = pages.checked_add(delta).filter(|&p| p <= max_pages)?;
        let page = kiln_frontend::WASM_PAGE_SIZE;
        self.approve_memory(
            pages * page,
            desired * page,
            ty.maximum.map(|m| m.saturating_mul(page)),
        )
        .ok()?;
        self.memories[m].grow(delta)
    }

    /// Grows store table `t` by `delta` elements of `init` if its type and the limiter
    /// allow.
    pub(crate) fn grow_table(&mut self, t: usize, delta: u64, init: usize) -> Option<u32> {
        let table = &self.tables[t];
        let (size, max) = (u64::from(table.size()), table.ty().maximum);
        let desired = size
            .checked_add(delta)
            .filter(|&d| d <= max.unwrap_or(u64::MAX))?;
        self.approve_table(size, desired, max).ok()?;
        self.tables[t].grow(delta, init)
    }
}

impl BuiltinHost for StoreOpaque {
    fn compile_func_ref(&mut self, _inst: usize, func_ref: usize) -> usize {
        match self.code_of_func_ref(func_ref) {
            Ok(code) => code,
            Err(e) => {
                self.set_pending_error(e);
                0
            }
        }
    }

    fn loop_poll(&mut self, inst: usize, func: u32, ordinal: u32) -> usize {
        let data = &self.instances[inst];
        let d = kiln_frontend::DefinedFuncIndex::from_u32(func);
        let loops = data.vmctx.func_counters(d).map_or(0, |(_, loops)| loops);
        let (_, threshold) = self.engine.config().tier_up.compiled_thresholds();
        if loops < threshold {
            // A variant compiled ahead from a saved profile is entered at once.
            return match (&data.module.0.lazy, ordinal) {
                (Some(lazy), o) if o != u32::MAX => lazy.osr_ready(d, o).unwrap_or(0),
                _ => 0,
            };
        }
        let module = &data.module.0.compiled;
        self.engine
            .request_tier_up(module, d, || self.guidance(inst, d));
        if ordinal == u32::MAX {
            return 0;
        }
        self.engine
            .osr_code(module, d, ordinal, || self.guidance(inst, d))
            .unwrap_or(0)
    }

    fn tier_up(&mut self, inst: usize, func: u32) {
        let d = kiln_frontend::DefinedFuncIndex::from_u32(func);
        self.engine
            .request_tier_up(&self.instances[inst].module.0.compiled, d, || {
                self.guidance(inst, d)
            });
    }

    fn record_call_target(&mut self, inst: usize, func: u32, site: u32, func_ref: usize) {
        let data = &self.instances[inst];
        let d = kiln_frontend::DefinedFuncIndex::from_u32(func);
        let Some(lazy) = data.module.0.lazy.as_ref() else {
            return;
        };
        let sites = lazy.call_sites(d).len();
        data.vmctx
            .record_call_target(d, sites, site as usize, func_ref);
    }

    fn branch_counters(&mut self, inst: usize, func: u32) -> usize {
        let data = &self.instances[inst];
        let d = kiln_frontend::DefinedFuncIndex::from_u32(func);
        let branches = data
            .module
            .0
            .lazy
            .as_ref()
            .map_or(0, |lazy| lazy.branch_sites(d).len());
        data.vmctx.branch_counters(d, branches)
    }

    /// `memory.grow`: the old size in pages, or `u64::MAX` (-1).
    fn memory_grow(&mut self, inst: usize, mem: u32, delta: u64) -> u64 {
        let m = self.memory_of(inst, mem);
        self.grow_memory(m, delta).unwrap_or(u64::MAX)
    }

    /// `memory.copy`.
    fn memory_copy(&mut self, inst: usize, dm: u32, dst: u64, sm: u32, src: u64, len: u64) -> bool {
        let (d, s) = (self.memory_of(inst, dm), self.memory_of(inst, sm));
        if d == s {
            let data = self.memories[d].data_mut();
            let (Some(dr), Some(sr)) = (
                mem_range(dst, len, data.len()),
                mem_range(src, len, data.len()),
            ) else {
                return false;
            };
            data.copy_within(sr, dr.start);
            return true;
        }
        let Ok([dmem, smem]) = self.memories.get_disjoint_mut([d, s]) else {
            return false;
        };
        let (Some(dr), Some(sr)) = (
            mem_range(dst, len, dmem.data().len()),
            mem_range(src, len, smem.data().len()),
        ) else {
            return false;
        };
        dmem.data_mut()[dr].copy_from_slice(&smem.data()[sr]);
        true
    }

    /// `memory.fill` (with the low byte of `val`).
    fn memory_fill(&mut self, inst: usize, mem: u32, dst: u64, val: u32, len: u64) -> bool {
        let m = self.memory_of(inst, mem);
        let data = self.memories[m].data_mut();
        match mem_range(dst, len, data.len()) {
            Some(r) => {
                data[r].fill(val as u8);
                true
            }
            None => false,
        }
    }

    /// `memory.init`: a dropped segment behaves as empty.
    fn memory_init(
        &mut self,
        inst: usize,
        mem: u32,
        data: u32,
        dst: u64,
        src: u32,
        len: u32,
    ) -> bool {
        let m = self.memory_of(inst, mem);
        let instance = &self.instances[inst];
        let bytes: &[u8] = if instance.dropped_data[data as usize] {
            &[]
        } else {
            instance.module.0.info.data_bytes(DataIndex::from_u32(data))
        };
        let Some(sr) = mem_range(src.into(), len.into(), bytes.len()) else {
            return false;
        };
        let target = self.memories[m].data_mut();
        let Some(dr) = mem_range(dst, len.into(), target.len()) else {
            return false;
        };
        target[dr].copy_from_slice(&bytes[sr]);
        true
    }

    /// `data.drop`.
    fn data_drop(&mut self, inst: usize, data: u32) {
        self.instances[inst].dropped_data[data as usize] = true;
    }

    /// `table.grow`: the old size, or `u64::MAX` (-1).
    fn table_grow(&mut self, inst: usize, table: u32, delta: u64, init: usize) -> u64 {
        let t = self.table_of(inst, table);
        self.grow_table(t, delta, init).map_or(u64::MAX, u64::from)
    }

    /// `table.fill`.
    fn table_fill(&mut self, inst: usize, table: u32, dst: u64, val: usize, len: u64) -> bool {
        let t = self.table_of(inst, table);
        self.tables[t].fill(dst, val, len)
    }

    /// `table.copy`.
    fn table_copy(&mut self, inst: usize, dt: u32, st: u32, dst: u64, src: u64, len: u64) -> bool {
        let (d, s) = (self.table_of(inst, dt), self.table_of(inst, st));
        if d == s {
            return self.tables[d].copy_within(dst, src, len);
        }
        let Ok([dtab, stab]) = self.tables.get_disjoint_mut([d, s]) else {
            return false;
        };
        match (stab.slice(src, len), range(dst, len, dtab.size())) {
            (Some(items), Some(_)) => dtab.write_at(dst, items),
            _ => false,
        }
    }

    /// `table.init`: a dropped segment behaves as empty.
    fn table_init(
        &mut self,
        inst: usize,
        table: u32,
        elem: u32,
        dst: u64,
        src: u32,
        len: u32,
    ) -> bool {
        let t = self.table_of(inst, table);
        let items = &self.instances[inst].elems[elem as usize];
        let Some(r) = range(src.into(), len.into(), items.len() as u32) else {
            return false;
        };
        self.tables[t].write_at(dst, &items[r])
    }

    /// `elem.drop`.
    fn elem_drop(&mut self, inst: usize, elem: u32) {
        self.instances[inst].elems[elem as usize] = Box::new([]);
    }
}
