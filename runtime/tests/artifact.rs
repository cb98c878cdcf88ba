//! Artifacts: `Module::serialize` / `deserialize` / `deserialize_file` give modules that
//! behave exactly as compiled ones, and every kind of stale, foreign or damaged
//! artifact is refused with its reason, before any of it runs.

use kiln::{
    ArtifactKey, ArtifactRefusal, Config, CpuFeatures, Engine, ErrorKind, Instance, Linker, Module,
    Store, TrapCode, Val,
};
use std::os::unix::fs::PermissionsExt;

/// Functions, a memory with active and passive data, a table with elements, a
/// global, traps, a libm-style float op and names.
const WAT: &str = r#"(module $demo
  (type $bin (func (param i32 i32) (result i32)))
  (import "host" "add" (func $host_add (type $bin)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, artifact")
  (data $passive "passive!")
  (table 4 funcref)
  (elem (i32.const 0) $add $sub)
  (global $g (mut i32) (i32.const 40))
  (func $add (type $bin) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))
  (func (export "dispatch") (param i32 i32 i32) (result i32)
    (call_indirect (type $bin) (local.get 1) (local.get 2) (local.get 0)))
  (func (export "via_host") (param i32 i32) (result i32)
    (call $host_add (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "init") (memory.init $passive (i32.const 100) (i32.const 0) (i32.const 8)))
  (func (export "bump") (result i32)
    (global.set $g (i32.add (global.get $g) (i32.const 2))) (global.get $g))
  (func (export "floor") (param f64) (result f64) (f64.floor (local.get 0)))
  (func $inner (unreachable))
  (func (export "crash") (call $inner)))"#;

fn instantiate(engine: &Engine, module: &Module) -> (Store<()>, Instance) {
    let mut store = Store::new(engine, ());
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("host", "add", |a: i32, b: i32| a.wrapping_add(b))
        .expect("defines");
    let instance = linker
        .instantiate(&mut store, module)
        .expect("instantiates");
    (store, instance)
}

/// Everything the demo module does, as observed from outside.
fn observe(engine: &Engine, module: &Module) -> Vec<String> {
    let (mut store, instance) = instantiate(engine, module);
    let mut out = Vec::new();
    let mut call = |name: &str, args: &[Val]| {
        let f = instance.get_func(&mut store, name).expect("export");
        let mut results = vec![Val::I32(0); f.ty(&store).results().len()];
        if let Some(Val::F64(_)) = args.first() {
            results = vec![Val::F64(0)];
        }
        let r = f.call(&mut store, args, &mut results);
        out.push(match r {
            Ok(()) => format!("{name}: {results:?}"),
            Err(e) => format!("{name}: {e}"),
        });
    };
    call("dispatch", &[Val::I32(0), Val::I32(7), Val::I32(5)]);
    call("dispatch", &[Val::I32(1), Val::I32(7), Val::I32(5)]);
    call("dispatch", &[Val::I32(2), Val::I32(7), Val::I32(5)]);
    call("dispatch", &[Val::I32(9), Val::I32(7), Val::I32(5)]);
    call("via_host", &[Val::I32(40), Val::I32(2)]);
    call("load", &[Val::I32(16)]);
    call("load", &[Val::I32(70000)]);
    call("init", &[]);
    call("load", &[Val::I32(100)]);
    call("bump", &[]);
    call("floor", &[Val::F64((-2.5f64).to_bits())]);
    call("crash", &[]);
    out
}

fn engine_with(f: impl FnOnce(&mut Config)) -> Engine {
    let mut config = Config::new();
    config.artifact_key(ArtifactKey::from_bytes([7; 32]));
    f(&mut config);
    Engine::new(&config).expect("engine")
}

fn refusal(r: kiln::Result<Module>) -> ArtifactRefusal {
    match r {
        Ok(_) => panic!("a damaged artifact was accepted"),
        Err(e) => match e.kind() {
            ErrorKind::IncompatibleArtifact(a) => a.reason(),
            other => panic!("not an artifact refusal: {other:?} ({e})"),
        },
    }
}

#[test]
fn a_deserialized_module_behaves_as_the_compiled_one() {
    let engine = engine_with(|_| {});
    let module = Module::new(&engine, WAT).expect("compiles");
    let expected = observe(&engine, &module);
    assert!(
        expected.iter().any(|l| l.contains("unreachable")),
        "{expected:?}"
    );
    let bytes = module.serialize().expect("serializes");
    // From bytes, in the same engine and in another engine with the same key.
    let again = Module::deserialize(&engine, &bytes).expect("loads");
    assert_eq!(observe(&engine, &again), expected);
    let other = engine_with(|_| {});
    let again = Module::deserialize(&other, &bytes).expect("loads in another engine");
    assert_eq!(observe(&other, &again), expected);
    assert_eq!(again.name(), Some("demo"));
    let exports: Vec<_> = again.exports().map(|(n, _)| n.to_string()).collect();
    let original: Vec<_> = module.exports().map(|(n, _)| n.to_string()).collect();
    assert_eq!(exports, original);
    // Serializing is deterministic, and a loaded module serializes to the same bytes.
    assert_eq!(module.serialize().expect("serializes"), bytes);
    assert_eq!(again.serialize().expect("serializes"), bytes);
}

#[test]
fn backtraces_from_a_deserialized_module_keep_their_names() {
    let engine = engine_with(|_| {});
    let bytes = Module::new(&engine, WAT).unwrap().serialize().unwrap();
    let module = Module::deserialize(&engine, &bytes).unwrap();
    let (mut store, instance) = instantiate(&engine, &module);
    let crash = instance
        .get_typed_func::<(), ()>(&mut store, "crash")
        .unwrap();
    let err = crash.call(&mut store, ()).unwrap_err();
    let trap = err.as_trap().expect("a trap");
    assert_eq!(trap.code(), TrapCode::Unreachable);
    let names: Vec<_> = trap
        .backtrace()
        .iter()
        .map(|f| f.func_name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names[0], "inner", "{names:?}");
}

#[test]
fn files_load_mapped_or_read_with_the_same_behaviour() {
    let engine = engine_with(|_| {});
    let module = Module::new(&engine, WAT).unwrap();
    let expected = observe(&engine, &module);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.kwasm");
    std::fs::write(&path, module.serialize().unwrap()).unwrap();
    // Ours alone: mapped.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mapped = Module::deserialize_file(&engine, &path).expect("loads mapped");
    assert_eq!(observe(&engine, &mapped), expected);
    // Writable by others: read and copied, same behaviour.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let read = Module::deserialize_file(&engine, &path).expect("loads read");
    assert_eq!(observe(&engine, &read), expected);
    // The mapped module keeps working after the file is deleted.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(observe(&engine, &mapped), expected);
    // Missing files and directories are clear errors.
    assert_eq!(
        refusal(Module::deserialize_file(&engine, &path)),
        ArtifactRefusal::Io
    );
    assert_eq!(
        refusal(Module::deserialize_file(&engine, dir.path())),
        ArtifactRefusal::Io
    );
}

#[test]
fn another_key_build_format_or_setting_is_refused() {
    let engine = engine_with(|_| {});
    let bytes = Module::new(&engine, WAT).unwrap().serialize().unwrap();

    // Another key: the MAC fails.
    let foreign =
        Engine::new(Config::new().artifact_key(ArtifactKey::from_bytes([8; 32]))).unwrap();
    assert_eq!(
        refusal(Module::deserialize(&foreign, &bytes)),
        ArtifactRefusal::Mac
    );
    // The default engine's key is its process's, not this one.
    assert_eq!(
        refusal(Module::deserialize(&Engine::default(), &bytes)),
        ArtifactRefusal::Mac
    );

    // Settings that change code.
    let fuel = engine_with(|c| {
        c.consume_fuel(true);
    });
    assert_eq!(
        refusal(Module::deserialize(&fuel, &bytes)),
        ArtifactRefusal::Settings
    );
    let epochs = engine_with(|c| {
        c.epoch_interruption(true);
    });
    assert_eq!(
        refusal(Module::deserialize(&epochs, &bytes)),
        ArtifactRefusal::Settings
    );
    let bounds = engine_with(|c| {
        c.memory_reservation(64 << 20, 64 << 10);
    });
    assert_eq!(
        refusal(Module::deserialize(&bounds, &bytes)),
        ArtifactRefusal::Settings
    );
    let opt = engine_with(|c| {
        c.opt_level(kiln::OptLevel::None);
    });
    assert_eq!(
        refusal(Module::deserialize(&opt, &bytes)),
        ArtifactRefusal::Settings
    );
    let placement = engine_with(|c| {
        c.code_placement(kiln::CodePlacement::Packed);
    });
    assert_eq!(
        refusal(Module::deserialize(&placement, &bytes)),
        ArtifactRefusal::Settings
    );

    // CPU features: code compiled for this CPU does not run where only the baseline is
    // assumed (and the other way round).
    let baseline = engine_with(|c| {
        c.cpu_features(CpuFeatures::Baseline);
    });
    let native_features = engine.settings().1 != baseline.settings().1;
    if native_features {
        assert_eq!(
            refusal(Module::deserialize(&baseline, &bytes)),
            ArtifactRefusal::CpuFeatures
        );
    }

    // The format version (bytes 8..12) and Kiln's build string (after the length).
    let mut v = bytes.clone();
    v[8] ^= 0x40;
    assert_eq!(
        refusal(Module::deserialize(&engine, &v)),
        ArtifactRefusal::FormatVersion
    );
    let mut b = bytes.clone();
    b[28] ^= 0x01; // The first byte of the build string (after its 8-byte length).
    assert_eq!(
        refusal(Module::deserialize(&engine, &b)),
        ArtifactRefusal::KilnVersion
    );

    // Not an artifact at all: a wasm module, text, nothing.
    assert_eq!(
        refusal(Module::deserialize(&engine, b"\0asm\x01\0\0\0")),
        ArtifactRefusal::NotAnArtifact
    );
    assert_eq!(
        refusal(Module::deserialize(&engine, b"")),
        ArtifactRefusal::NotAnArtifact
    );
}

#[test]
fn every_truncation_and_every_flipped_byte_is_refused() {
    let engine = engine_with(|_| {});
    let bytes = Module::new(&engine, WAT).unwrap().serialize().unwrap();
    for len in (0..bytes.len())
        .step_by(7)
        .chain([bytes.len() - 1, bytes.len() - 32])
    {
        let r = refusal(Module::deserialize(&engine, &bytes[..len]));
        assert!(
            matches!(
                r,
                ArtifactRefusal::Truncated | ArtifactRefusal::NotAnArtifact
            ),
            "cut to {len}: {r:?}"
        );
    }
    // One flipped bit anywhere (every byte: header, each section, padding, the MAC).
    let mut damaged = bytes.clone();
    for i in 0..bytes.len() {
        damaged[i] ^= 0x10;
        let r = Module::deserialize(&engine, &damaged);
        assert!(r.is_err(), "flipped byte {i} was accepted");
        damaged[i] = bytes[i];
    }
    // The intact artifact still loads.
    Module::deserialize(&engine, &bytes).expect("loads");
}

#[test]
fn a_module_without_memory_image_or_data_round_trips() {
    let engine = engine_with(|c| {
        c.memory_init_cow(false);
    });
    let module = Module::new(&engine, WAT).unwrap();
    let expected = observe(&engine, &module);
    let bytes = module.serialize().unwrap();
    assert_eq!(
        observe(&engine, &Module::deserialize(&engine, &bytes).unwrap()),
        expected
    );
    let tiny = Module::new(&engine, "(module)")
        .unwrap()
        .serialize()
        .unwrap();
    Module::deserialize(&engine, &tiny).expect("an empty module loads");
}

/// A module with more trap sites than are copied (its trap table, 14,000 sites, is
/// used in place from the artifact file's pages): every site is still found, in the
/// mapped and in the read artifact, and the first out-of-bounds load reports the
/// memory fault.
#[test]
fn a_large_trap_table_is_used_from_the_file() {
    const LOADS: u32 = 14_000;
    let mut body = String::from("(func (export \"sum\") (param i32) (result i32) (local.get 0)");
    for k in 0..LOADS {
        body.push_str(&format!(
            " (i32.add (i32.load offset={} (local.get 0)))",
            4 * k
        ));
    }
    body.push(')');
    let wat = format!("(module (memory 1) {body})");
    let engine = engine_with(|_| {});
    let module = Module::new(&engine, &wat).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loads.kwasm");
    std::fs::write(&path, module.serialize().unwrap()).unwrap();
    for mode in [0o600, 0o666] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let loaded = Module::deserialize_file(&engine, &path).expect("loads");
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &loaded, &[]).expect("instantiates");
        let sum = instance
            .get_typed_func::<i32, i32>(&store, "sum")
            .expect("sum");
        // With base b the load at b + 4k faults once b + 4k + 4 > 65,536: at the last
        // site for b = 9,540, at site 6,384 for b = 40,000, never for b = 0 (the sum is b: memory is zeroes).
        assert_eq!(sum.call(&mut store, 0).expect("in bounds"), 0);
        for base in [9_540, 40_000] {
            let err = sum.call(&mut store, base).expect_err("past the memory");
            assert_eq!(
                err.as_trap().map(|t| t.code()),
                Some(TrapCode::MemoryOutOfBounds),
                "mode {mode:o}, base {base}: {err}"
            );
        }
        assert_eq!(
            sum.call(&mut store, 9_536).expect("the last load fits"),
            9_536
        );
    }
}
