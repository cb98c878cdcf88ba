//! The synchronous sandbox: limits, a host function, and bytes in and out.
//!
//! Run with `cargo run -p kiln-sandbox --example sandbox`.

use kiln_sandbox::{Error, ResourceKind, Sandbox};
use std::time::Duration;

/// The guest: `reverse` answers its input reversed (in a buffer from its bump
/// allocator), `scaled` calls the host's `scale`, `spin` never ends.
const GUEST: &str = r#"(module
    (import "host" "scale" (func $scale (param i32) (result i32)))
    (memory (export "memory") 1)
    (global $top (mut i32) (i32.const 1024))
    (func $alloc (export "alloc") (param $n i32) (result i32)
        (global.get $top)
        (global.set $top (i32.add (global.get $top) (local.get $n))))
    ;; reverse(ptr, len) -> (out_ptr << 32) | len
    (func (export "reverse") (param $p i32) (param $n i32) (result i64)
        (local $out i32) (local $i i32)
        (local.set $out (call $alloc (local.get $n)))
        (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (i32.store8
                (i32.add (local.get $out) (local.get $i))
                (i32.load8_u (i32.sub
                    (i32.add (local.get $p) (local.get $n))
                    (i32.add (local.get $i) (i32.const 1)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
                (i64.extend_i32_u (local.get $n))))
    (func (export "scaled") (param i32) (result i32)
        (i32.add (call $scale (local.get 0)) (i32.const 1)))
    (func (export "spin") (loop (br 0))))"#;

pub fn main() -> Result<(), Error> {
    let sandbox = Sandbox::builder()
        .bytes(GUEST)
        .memory_limit(16 << 20)
        .fuel(10_000_000)
        .timeout(Duration::from_secs(5))
        // The guest imports `host::scale`; a host function may also return
        // `anyhow::Result<T>`/`kiln::Result<T>` (an `Err` traps the guest) and take a
        // `kiln_sandbox::Caller` first.
        .host_function("host", "scale", |x: i32| x.wrapping_mul(10))
        .build()?;

    // A host function.
    let scaled: i32 = sandbox.call("scaled", 4)?;
    println!("scaled(4) = {scaled}");
    assert_eq!(scaled, 41);

    // Bytes in and out, through the guest's allocator and memory.
    let reversed = sandbox.call_string("reverse", "stressed")?;
    println!("reverse(\"stressed\") = {reversed:?}");
    assert_eq!(reversed, "desserts");
    let bytes = sandbox.call_bytes("reverse", &[1, 2, 3])?;
    assert_eq!(bytes, [3, 2, 1]);

    // Memory directly; a range past the end is an error, not a trap.
    sandbox.write_memory(0, b"kiln")?;
    assert_eq!(sandbox.read_memory(0, 4)?, b"kiln");
    match sandbox.read_memory(65_534, 4) {
        Err(Error::OutOfBounds { memory_size, .. }) => {
            println!("read past the end of a {memory_size}-byte memory: refused")
        }
        other => panic!("expected OutOfBounds, got {other:?}"),
    }

    // Limits: the endless loop runs out of fuel, and the sandbox stays usable.
    match sandbox.call::<(), ()>("spin", ()) {
        Err(Error::ResourceExhausted {
            kind: ResourceKind::Fuel,
            limit,
            ..
        }) => println!("spin: out of fuel after {limit} units"),
        other => panic!("expected fuel exhaustion, got {other:?}"),
    }
    assert_eq!(sandbox.call::<i32, i32>("scaled", 1)?, 11);
    Ok(())
}
