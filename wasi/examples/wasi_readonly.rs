//! A WASI command with a read-only pre-opened directory: it reads a file from it, and
//! its attempt to create one is refused (EPERM). Run with
//! `cargo run -p kiln-wasi --example wasi_readonly`.

use kiln::{Engine, Linker, Module, Store};
use kiln_wasi::{add_to_linker, DirPerms, I32Exit, Output, OutputPipe, WasiCtx, WasiCtxBuilder};

/// Opens `notes.txt` in the first pre-open (fd 3) and prints it, then tries to create
/// `new.txt` there and exits with the errno that gave.
const GUEST: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "notes.txt")
  (data (i32.const 220) "new.txt")
  (func (export "_start") (local $fd i32)
    ;; path_open(3, follow, "notes.txt", 0, FD_READ, 0, 0, &fd @ 0)
    (drop (call $path_open (i32.const 3) (i32.const 1) (i32.const 200) (i32.const 9)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
    (local.set $fd (i32.load (i32.const 0)))
    ;; read up to 1000 bytes into 1024, then write them to stdout
    (i32.store (i32.const 8) (i32.const 1024))
    (i32.store (i32.const 12) (i32.const 1000))
    (drop (call $fd_read (local.get $fd) (i32.const 8) (i32.const 1) (i32.const 16)))
    (i32.store (i32.const 12) (i32.load (i32.const 16)))
    (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))
    ;; path_open(3, 0, "new.txt", CREAT, FD_WRITE, ...): refused in a read-only dir
    (call $proc_exit (call $path_open (i32.const 3) (i32.const 0) (i32.const 220)
      (i32.const 7) (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0)
      (i32.const 0)))))"#;

pub fn main() -> Result<(), kiln::Error> {
    let dir = std::env::temp_dir().join(format!("kiln-wasi-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("notes.txt"), "read-only notes\n")?;

    let engine = Engine::default();
    let module = Module::new(&engine, GUEST)?;
    let mut linker = Linker::<WasiCtx>::new(&engine);
    add_to_linker(&mut linker, |ctx| ctx)?;
    let out = OutputPipe::new();
    let ctx = WasiCtxBuilder::new()
        .arg("reader")
        .preopened_dir(&dir, "/data", DirPerms::ReadOnly)?
        .stdout(Output::Pipe(out.clone()))
        .build();
    let mut store = Store::new(&engine, ctx);
    let instance = linker.instantiate(&mut store, &module)?;
    let start = instance.get_typed_func::<(), ()>(&store, "_start")?;
    let status = match start.call(&mut store, ()) {
        Ok(()) => 0,
        Err(e) => e.downcast_ref::<I32Exit>().map(|x| x.0).ok_or(e)?,
    };
    let printed = String::from_utf8_lossy(&out.contents()).into_owned();
    print!("{printed}");
    println!("creating a file exited with errno {status} (63 is EPERM)");
    std::fs::remove_dir_all(&dir)?;
    assert_eq!((printed.as_str(), status), ("read-only notes\n", 63));
    Ok(())
}
