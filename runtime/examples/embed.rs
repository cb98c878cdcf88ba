//! Embedding Kiln: compile a module, give it a host function, call it, and read its
//! memory. Run with `cargo run -p kiln --example embed`.

use kiln::{Caller, Engine, Linker, Module, Result, Store};

/// The guest: it asks the host for a number, writes a greeting into its memory, and
/// returns where the greeting is.
const GUEST: &str = r#"(module
  (import "host" "lucky" (func $lucky (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "hello from wasm")
  (func (export "greet") (param $times i32) (result i32 i32)
    ;; Returns (pointer, length) of the greeting, and the host's number times `times`.
    (i32.const 100)
    (i32.mul (call $lucky) (local.get $times))))"#;

/// Host state the host function can reach through its `Caller`.
struct Host {
    calls: u32,
}

pub fn main() -> Result<()> {
    let engine = Engine::default();
    let module = Module::new(&engine, GUEST)?;
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "lucky", |mut caller: Caller<'_, Host>| -> i32 {
        caller.data_mut().calls += 1;
        7
    })?;
    let mut store = Store::new(&engine, Host { calls: 0 });
    let instance = linker.instantiate(&mut store, &module)?;
    let greet = instance.get_typed_func::<i32, (i32, i32)>(&store, "greet")?;
    let (ptr, product) = greet.call(&mut store, 6)?;
    let memory = instance
        .get_memory(&store, "memory")
        .ok_or_else(|| kiln::Error::msg("the guest exports no memory"))?;
    let mut text = vec![0u8; 15];
    memory.read(&store, ptr as usize, &mut text)?;
    let text = String::from_utf8_lossy(&text);
    println!(
        "{text}; 7 × 6 = {product}; the host was called {} time(s)",
        store.data().calls
    );
    assert_eq!(
        (text.as_ref(), product, store.data().calls),
        ("hello from wasm", 42, 1)
    );
    Ok(())
}
