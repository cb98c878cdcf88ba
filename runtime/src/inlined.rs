//! What compiling a module with inline host function bodies needs: the bodies a linker
//! defines by name ([`ImportInlines`]), and which imports a module's code inlined
//! ([`Inlined`]). Knows nothing of stores, so modules can hold it.

use crate::types::FuncType;
use kiln_jit::InlineBody;
use std::sync::Arc;

/// The inline host functions a linker defines, by name: what a module compiled by it
/// inlines, where an import's name and type match.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImportInlines {
    pub(crate) by_name: std::collections::BTreeMap<(String, String), InlineImport>,
}

/// An inline host function as compilation sees it: its type, body and digest.
#[derive(Debug, Clone)]
pub(crate) struct InlineImport {
    pub(crate) ty: FuncType,
    pub(crate) body: Arc<InlineBody>,
    /// A BLAKE3 hash of the body's canonical encoding.
    pub(crate) digest: [u8; 32],
    /// Inline only into modules that export memory 0 under this name.
    pub(crate) memory_export: Option<String>,
}

/// Which imports a module's code inlined: each one's function index and body digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Inlined {
    pub(crate) digests: Vec<(u32, [u8; 32])>,
    /// The bodies, for functions compiled later (lazy and tiered code).
    pub(crate) bodies: Option<Arc<kiln_jit::HostInlines>>,
}

impl ImportInlines {
    /// What tells compilations with these bodies apart from any other, for cache keys:
    /// a hash of every name and body digest. Empty when there is no body.
    pub(crate) fn salt(&self) -> Vec<u8> {
        if self.by_name.is_empty() {
            return Vec::new();
        }
        let mut h = blake3::Hasher::new();
        h.update(b"kiln inline host functions");
        for ((m, n), f) in &self.by_name {
            for s in [m, n] {
                h.update(&(s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            h.update(&f.digest);
            match &f.memory_export {
                Some(name) => {
                    h.update(&[1]);
                    h.update(&(name.len() as u64).to_le_bytes());
                    h.update(name.as_bytes());
                }
                None => {
                    h.update(&[0]);
                }
            }
        }
        h.finalize().as_bytes().to_vec()
    }

    /// The bodies for `info`'s function imports whose name and type match.
    pub(crate) fn for_module(&self, info: &kiln_frontend::ModuleInfo) -> Inlined {
        let mut bodies = kiln_jit::HostInlines::default();
        let mut digests = Vec::new();
        for imp in &info.imports {
            let kiln_frontend::EntityIndex::Func(f) = imp.index else {
                continue;
            };
            let key = (imp.module.clone(), imp.name.clone());
            let Some(def) = self.by_name.get(&key) else {
                continue;
            };
            if *info.func_type(f) != def.ty {
                continue;
            }
            let exported = |name: &String| {
                info.exports.iter().any(|e| {
                    e.name == *name
                        && e.index
                            == kiln_frontend::EntityIndex::Memory(
                                kiln_frontend::MemoryIndex::from_u32(0),
                            )
                })
            };
            if def.memory_export.as_ref().is_some_and(|n| !exported(n)) {
                continue;
            }
            bodies.bodies.insert(f.as_u32(), def.body.clone());
            digests.push((f.as_u32(), def.digest));
        }
        if digests.is_empty() {
            return Inlined::default();
        }
        Inlined {
            digests,
            bodies: Some(Arc::new(bodies)),
        }
    }
}
