//! Implementation limits on what a module may declare. The defaults are the Wasm JS-API
//! limits every browser engine enforces (<https://webassembly.github.io/spec/js-api/#limits>),
//! which wasmparser also enforces as hard ceilings; an embedder may lower any of them,
//! as V8's flags do, to refuse large modules before compiling them.

use crate::error::{Error, ErrorKind};
use crate::module::ModuleInfo;
use crate::DefinedFuncIndex;

/// The most a module may declare. [`Limits::default`] gives the JS-API values; a value
/// above its default has no effect (validation refuses more anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Types in the type section (JS-API: 1,000,000).
    pub types: u32,
    /// Functions, imported and defined (1,000,000).
    pub functions: u32,
    /// Imports (100,000).
    pub imports: u32,
    /// Exports (100,000).
    pub exports: u32,
    /// Globals, imported and defined (1,000,000).
    pub globals: u32,
    /// Data segments (100,000).
    pub data_segments: u32,
    /// Element segments (10,000,000).
    pub element_segments: u32,
    /// Tables, imported and defined (100,000).
    pub tables: u32,
    /// The initial size of any 32-bit table (10,000,000).
    pub table_size: u32,
    /// Bytes of one function body, locals included (7,654,321).
    pub function_size: u32,
    /// Locals of one function, parameters included (50,000).
    pub function_locals: u32,
    /// Parameters of one function type (1,000).
    pub function_params: u32,
    /// Results of one function type (1,000).
    pub function_results: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            types: 1_000_000,
            functions: 1_000_000,
            imports: 100_000,
            exports: 100_000,
            globals: 1_000_000,
            data_segments: 100_000,
            element_segments: 10_000_000,
            tables: 100_000,
            table_size: 10_000_000,
            function_size: 7_654_321,
            function_locals: 50_000,
            function_params: 1_000,
            function_results: 1_000,
        }
    }
}

impl Limits {
    /// Checks `info` against every limit; the error names the first one exceeded.
    pub fn check(&self, info: &ModuleInfo) -> Result<(), Error> {
        let counts = [
            ("types", info.types.len(), self.types),
            ("functions", info.funcs.len(), self.functions),
            ("imports", info.imports.len(), self.imports),
            ("exports", info.exports.len(), self.exports),
            ("globals", info.globals.len(), self.globals),
            ("data segments", info.datas.len(), self.data_segments),
            ("element segments", info.elems.len(), self.element_segments),
            ("tables", info.tables.len(), self.tables),
        ];
        for (what, n, max) in counts {
            if n > max as usize {
                return Err(over(format!("{n} {what}, more than the limit of {max}")));
            }
        }
        for t in &info.types {
            if t.params().len() > self.function_params as usize {
                return Err(over(format!(
                    "a function type with {} parameters, more than the limit of {}",
                    t.params().len(),
                    self.function_params
                )));
            }
            if t.results().len() > self.function_results as usize {
                return Err(over(format!(
                    "a function type with {} results, more than the limit of {}",
                    t.results().len(),
                    self.function_results
                )));
            }
        }
        // A 64-bit table may declare any minimum (the spec and wasmparser accept it); it
        // is refused at instantiation, by `Config::max_table_elements`, like a memory
        // larger than its reservation.
        if let Some(t) = info
            .tables
            .iter()
            .find(|t| !t.table64 && t.minimum > u64::from(self.table_size))
        {
            return Err(over(format!(
                "a table of {} elements, more than the limit of {}",
                t.minimum, self.table_size
            )));
        }
        for d in 0..info.num_defined_funcs() {
            let d = DefinedFuncIndex::from_u32(d);
            let body = info.body_reader(d);
            let size = body.range().end - body.range().start;
            if size > u64::from(self.function_size) {
                return Err(over(format!(
                    "a function body of {size} bytes, more than the limit of {}",
                    self.function_size
                )));
            }
            let mut locals = info.func_type(info.func_index(d)).params().len() as u64;
            for l in body.get_locals_reader()? {
                locals += u64::from(l?.0);
            }
            if locals > u64::from(self.function_locals) {
                return Err(over(format!(
                    "a function with {locals} locals, more than the limit of {}",
                    self.function_locals
                )));
            }
        }
        Ok(())
    }
}

fn over(m: String) -> Error {
    Error::new(ErrorKind::Limit(m), 0)
}
