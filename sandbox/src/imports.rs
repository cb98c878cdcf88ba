//! The import policy: a module gets exactly what the sandbox grants. Every import
//! nothing provides is refused (a link error naming it), and audited.

use crate::audit;
use crate::error::Error;
use crate::wasi::{WasiSettings, WASI_MODULE};

/// One import of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Import {
    pub module: String,
    pub name: String,
    /// `func`, `memory`, `table` or `global`.
    pub kind: &'static str,
}

/// Checks every import against what the backend's linker defines, before
/// instantiating: refuses those it does not (all of them, audited), and audits the
/// capabilities a module asks for that are not granted.
pub(crate) fn check(
    id: u64,
    imports: &[Import],
    wasi: &WasiSettings,
    mut is_defined: impl FnMut(&str, &str) -> bool,
) -> Result<(), Error> {
    let mut refused = Vec::new();
    let mut wasi_refused = false;
    for i in imports {
        if is_defined(&i.module, &i.name) {
            continue;
        }
        let reason = if i.module == WASI_MODULE && !wasi.enabled {
            if !wasi_refused {
                audit::capability_refused(
                    id,
                    "wasi",
                    "the module imports WASI but the sandbox was built without `.wasi(true)`",
                );
                wasi_refused = true;
            }
            "WASI is not granted (`.wasi(true)`)"
        } else {
            "nothing in the sandbox provides it"
        };
        audit::import_refused(id, &i.module, &i.name, reason);
        refused.push(format!(
            "unknown import `{}::{}` ({}): {reason}",
            i.module, i.name, i.kind
        ));
    }
    if !refused.is_empty() {
        return Err(Error::Link(refused.join("; ")));
    }
    if wasi.enabled {
        let sockets: Vec<&str> = imports
            .iter()
            .filter(|i| i.module == WASI_MODULE && i.name.starts_with("sock_"))
            .map(|i| i.name.as_str())
            .collect();
        if !sockets.is_empty() {
            audit::capability_refused(
                id,
                "network",
                &format!(
                    "no network is granted: every call of {} fails",
                    sockets.join(", ")
                ),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(module: &str, name: &str) -> Import {
        Import {
            module: module.into(),
            name: name.into(),
            kind: "func",
        }
    }

    #[test]
    fn names_every_missing_import() {
        let imports = [
            import("env", "a"),
            import("env", "b"),
            import(WASI_MODULE, "fd_write"),
        ];
        let e = check(1, &imports, &WasiSettings::default(), |_, n| n == "b");
        match e {
            Err(Error::Link(m)) => {
                assert!(m.contains("`env::a`"), "{m}");
                assert!(!m.contains("`env::b`"), "{m}");
                assert!(m.contains("`wasi_snapshot_preview1::fd_write`"), "{m}");
                assert!(m.contains(".wasi(true)"), "{m}");
            }
            other => panic!("expected a link error, got {other:?}"),
        }
    }
}
