//! What counts as a check.
//!
//! One check is one `assert_*` directive or one module definition/instantiation. Standalone
//! `invoke` and `register` directives are not checks (though a failing one is reported as a
//! failed check). Directives the runner does not support (threads, components, exceptions,
//! ...) are checks too: they are counted as skipped.

use wast::WastDirective;

/// Whether `directive` is a check (see the module docs).
pub(crate) fn is_check(directive: &WastDirective<'_>) -> bool {
    !matches!(
        directive,
        WastDirective::Invoke(_) | WastDirective::Register { .. }
    )
}

/// The number of checks among `directives`.
pub(crate) fn count_checks(directives: &[WastDirective<'_>]) -> usize {
    directives.iter().filter(|d| is_check(d)).count()
}
