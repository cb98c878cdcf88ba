//! Matching Kiln traps against the messages of `assert_trap` / `assert_exhaustion`.

use kiln::TrapCode;

use crate::error::{describe_kiln_error, fail, SpecError};
use crate::session::Status;

/// Spec messages that name the same trap. Each group's first entry is its canonical form.
const EQUIVALENT_MESSAGES: &[&[&str]] = &[
    // An out-of-range `call_indirect` index: older scripts say "undefined element".
    &["out of bounds table access", "undefined element"],
    &["unreachable", "unreachable executed"],
    &["call stack exhausted", "stack overflow"],
    // `call_ref` of null says which reference was null.
    &["null reference", "null function reference"],
];

/// Checks that `err` is a trap whose message loosely matches `expected`.
pub(crate) fn check_trap(err: &kiln::Error, expected: &str) -> Result<(), SpecError> {
    let Some(trap) = err.as_trap() else {
        return fail!(
            "expected trap ({expected:?}), got {}",
            describe_kiln_error(err)
        );
    };
    // Only the code's message and the first line of the trap's text: later lines may hold a
    // backtrace whose function names must not take part in the match.
    let display = trap.to_string();
    let first_line = display.lines().next().unwrap_or_default().to_string();
    let ours = [trap.code().to_string(), first_line];
    if ours.iter().any(|m| messages_match(expected, m)) {
        Ok(())
    } else {
        fail!("expected trap {expected:?}, got trap {:?}", ours[0])
    }
}

/// Checks that `err` is a stack-overflow trap.
pub(crate) fn check_exhaustion(err: &kiln::Error, expected: &str) -> Result<Status, SpecError> {
    match err.as_trap() {
        Some(trap) if matches!(trap.code(), TrapCode::StackOverflow) => Ok(Status::Passed),
        Some(trap) => fail!(
            "expected exhaustion ({expected:?}), got trap {:?}",
            trap.to_string()
        ),
        None => fail!(
            "expected exhaustion ({expected:?}), got {}",
            describe_kiln_error(err)
        ),
    }
}

/// Loose comparison: after normalisation, one message contains the other (so "uninitialized
/// element 2" matches "uninitialized element").
pub(crate) fn messages_match(expected: &str, ours: &str) -> bool {
    let expected = normalize(expected);
    let ours = normalize(ours);
    !expected.is_empty()
        && !ours.is_empty()
        && (expected.contains(&ours) || ours.contains(&expected))
}

fn normalize(message: &str) -> String {
    let mut message = message.trim().to_ascii_lowercase();
    for group in EQUIVALENT_MESSAGES {
        let Some((canonical, others)) = group.split_first() else {
            continue;
        };
        for other in others {
            if message.contains(other) {
                message = message.replace(other, canonical);
            }
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::messages_match;

    #[test]
    fn loose_matching() {
        assert!(messages_match(
            "uninitialized element 2",
            "uninitialized element"
        ));
        assert!(messages_match(
            "undefined element",
            "out of bounds table access"
        ));
        assert!(messages_match(
            "out of bounds table access",
            "undefined element"
        ));
        assert!(messages_match("unreachable", "unreachable executed"));
        assert!(messages_match(
            "unreachable executed",
            "wasm trap: unreachable"
        ));
        assert!(messages_match(
            "integer divide by zero",
            "integer divide by zero"
        ));
        assert!(!messages_match(
            "integer overflow",
            "integer divide by zero"
        ));
        assert!(!messages_match(
            "uninitialized element",
            "undefined element"
        ));
        assert!(!messages_match("out of bounds memory access", ""));
    }
}
