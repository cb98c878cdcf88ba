//! The audit log: every refusal a sandbox makes, as a `tracing` event carrying the
//! sandbox's id.
//!
//! Events have the target `kiln_sandbox::audit` and a `sandbox_id` field. Refusals
//! (limit hits, refused imports and capabilities, unsupported flags) are `WARN`;
//! a sandbox's creation and a cancelled call (the host's own decision) are `INFO`.

use crate::error::ResourceKind;

/// The `tracing` target of every audit event.
pub const TARGET: &str = "kiln_sandbox::audit";

/// A sandbox was created.
pub(crate) fn created(id: u64, backend: &str) {
    tracing::info!(target: TARGET, sandbox_id = id, backend, "sandbox created");
}

/// A limit stopped or refused the guest.
pub(crate) fn limit_hit(id: u64, kind: ResourceKind, limit: u64, used: u64) {
    tracing::warn!(
        target: TARGET,
        sandbox_id = id,
        resource = %kind,
        limit,
        used,
        unit = kind.unit(),
        "resource limit hit"
    );
}

/// An import was refused: nothing the sandbox grants provides it.
pub(crate) fn import_refused(id: u64, module: &str, name: &str, reason: &str) {
    tracing::warn!(
        target: TARGET,
        sandbox_id = id,
        import = %format_args!("{module}::{name}"),
        reason,
        "import refused"
    );
}

/// A capability the guest wants was not granted.
pub(crate) fn capability_refused(id: u64, capability: &str, detail: &str) {
    tracing::warn!(
        target: TARGET,
        sandbox_id = id,
        capability,
        detail,
        "capability refused"
    );
}

/// A flag asked for something this build does not implement.
pub(crate) fn flag_unsupported(id: u64, flag: &str, reason: &str) {
    tracing::warn!(
        target: TARGET,
        sandbox_id = id,
        flag,
        reason,
        "unsupported flag refused"
    );
}

/// A call (or a build) was cancelled by the host: its future was dropped.
pub(crate) fn cancelled(id: u64) {
    tracing::info!(target: TARGET, sandbox_id = id, "call cancelled");
}
