//! The code cache: each module compiles once per engine (memory tier) and once per
//! installation (disk tier); damaged entries are replaced, the disk bound holds by
//! evicting the least recently used, concurrent writers both succeed, and an unusable
//! directory falls back to compiling, with a warning.

use kiln::{CacheConfig, CacheUse, Config, Engine, Module, Store};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A distinct small module for each `n`.
fn wat(n: i32) -> String {
    format!(
        r#"(module (memory 1) (data (i32.const 0) "cached")
            (func (export "n") (result i32) (i32.const {n})))"#
    )
}

fn wasm(n: i32) -> Vec<u8> {
    wat::parse_str(wat(n)).expect("valid text")
}

fn engine(cache: CacheConfig) -> Engine {
    Engine::new(Config::new().cache(cache)).expect("engine")
}

fn disk_only(dir: &Path, max_bytes: u64) -> Engine {
    engine(CacheConfig {
        directory: Some(dir.to_path_buf()),
        max_bytes,
        memory_bytes: 0,
    })
}

fn run(engine: &Engine, module: &Module) -> i32 {
    let mut store = Store::new(engine, ());
    let instance = kiln::Instance::new(&mut store, module, &[]).expect("instantiates");
    let f = instance
        .get_typed_func::<(), i32>(&mut store, "n")
        .expect("export");
    f.call(&mut store, ()).expect("runs")
}

fn usage(engine: &Engine) -> CacheUse {
    engine.cache_usage().expect("a cache")
}

fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kwasm"))
        .collect();
    v.sort();
    v
}

#[test]
fn the_memory_tier_compiles_each_module_once() {
    let engine = engine(CacheConfig::memory_only());
    let a = Module::new(&engine, wasm(1)).unwrap();
    let b = Module::new(&engine, wasm(1)).unwrap();
    let c = Module::new(&engine, wasm(2)).unwrap();
    assert_eq!(
        (run(&engine, &a), run(&engine, &b), run(&engine, &c)),
        (1, 1, 2)
    );
    let u = usage(&engine);
    assert_eq!(
        (u.memory_hits, u.misses, u.disk_hits, u.writes),
        (1, 2, 0, 0)
    );
    // Text and binary of the same module are the same entry.
    Module::new(&engine, wat(2)).unwrap();
    assert_eq!(usage(&engine).memory_hits, 2);
    // A module that does not compile is an error every time, and never cached.
    assert!(Module::new(&engine, b"\0asm\x01\0\0\0\x01").is_err());
    assert!(Module::new(&engine, b"\0asm\x01\0\0\0\x01").is_err());
    assert_eq!(usage(&engine).memory_hits, 2);
}

#[test]
fn the_memory_tier_evicts_past_its_bound() {
    let engine = engine(CacheConfig {
        directory: None,
        max_bytes: 0,
        memory_bytes: 1,
    });
    // Nothing fits in one byte: every compile is a miss.
    Module::new(&engine, wasm(1)).unwrap();
    Module::new(&engine, wasm(1)).unwrap();
    assert_eq!((usage(&engine).misses, usage(&engine).memory_hits), (2, 0));
}

#[test]
fn the_disk_tier_serves_other_engines() {
    let dir = tempfile::tempdir().unwrap();
    let first = engine(CacheConfig::new(dir.path()));
    let m = Module::new(&first, wasm(7)).unwrap();
    assert_eq!(run(&first, &m), 7);
    assert_eq!(usage(&first).writes, 1);
    assert_eq!(entries(dir.path()).len(), 1);
    // The installation key: 32 bytes, ours alone.
    let key = dir.path().join(kiln::artifact::KEY_FILE);
    let meta = std::fs::metadata(&key).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.len(), meta.mode() & 0o777), (32, 0o600));

    let second = engine(CacheConfig::new(dir.path()));
    let m = Module::new(&second, wasm(7)).unwrap();
    assert_eq!(run(&second, &m), 7);
    let u = usage(&second);
    assert_eq!((u.disk_hits, u.misses, u.writes), (1, 0, 0));
    assert_eq!(
        CacheConfig::stats(dir.path()).unwrap(),
        kiln::CacheStats {
            entries: 1,
            bytes: std::fs::metadata(&entries(dir.path())[0]).unwrap().len()
        }
    );
    // An engine with other settings has its own entries.
    let fuel = Engine::new(
        Config::new()
            .consume_fuel(true)
            .cache(CacheConfig::new(dir.path())),
    )
    .unwrap();
    Module::new(&fuel, wasm(7)).unwrap();
    assert_eq!(usage(&fuel).misses, 1);
    assert_eq!(entries(dir.path()).len(), 2);
    assert_eq!(CacheConfig::clear(dir.path()).unwrap(), 2);
    assert!(entries(dir.path()).is_empty());
    assert!(key.exists(), "clearing keeps the key");
}

/// A subscriber keeping every event's message.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0 += &format!(" {}={value:?}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut m = Message(event.metadata().target().to_string());
        event.record(&mut m);
        self.0.lock().unwrap().push(m.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn warnings(f: impl FnOnce()) -> Vec<String> {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), f);
    let events = capture.0.lock().unwrap().clone();
    events
}

#[test]
fn a_damaged_entry_is_deleted_reported_and_compiled_again() {
    let dir = tempfile::tempdir().unwrap();
    Module::new(&disk_only(dir.path(), 1 << 30), wasm(3)).unwrap();
    let entry = entries(dir.path()).remove(0);
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    // Changed in place, with its modification time put back: its change time still
    // differs from the verified record's, so its MAC is checked again.
    let modified = std::fs::metadata(&entry).unwrap().modified().unwrap();
    std::fs::write(&entry, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&entry)
        .unwrap()
        .set_modified(modified)
        .unwrap();

    let engine = disk_only(dir.path(), 1 << 30);
    let logged = warnings(|| {
        let m = Module::new(&engine, wasm(3)).unwrap();
        assert_eq!(run(&engine, &m), 3);
    });
    assert!(
        logged
            .iter()
            .any(|w| w.starts_with("kiln::cache") && w.contains("MAC")),
        "{logged:?}"
    );
    let u = usage(&engine);
    assert_eq!((u.refused, u.misses, u.writes, u.disk_hits), (1, 1, 1, 0));
    // The entry was replaced by a good one.
    let again = disk_only(dir.path(), 1 << 30);
    Module::new(&again, wasm(3)).unwrap();
    assert_eq!(usage(&again).disk_hits, 1);
}

#[test]
fn the_disk_bound_evicts_the_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    // Measure one artifact, then allow two and a half.
    Module::new(&disk_only(dir.path(), 1 << 30), wasm(1)).unwrap();
    let one = std::fs::metadata(&entries(dir.path())[0]).unwrap().len();
    let bound = one * 5 / 2;
    let pause = || std::thread::sleep(std::time::Duration::from_millis(30));
    pause();
    let first = entries(dir.path());
    Module::new(&disk_only(dir.path(), bound), wasm(2)).unwrap();
    let second: Vec<_> = entries(dir.path())
        .into_iter()
        .filter(|e| !first.contains(e))
        .collect();
    assert_eq!(second.len(), 1);
    pause();
    // Using module 1 makes module 2 the least recently used.
    let hit = disk_only(dir.path(), bound);
    Module::new(&hit, wasm(1)).unwrap();
    assert_eq!(usage(&hit).disk_hits, 1);
    pause();
    Module::new(&disk_only(dir.path(), bound), wasm(3)).unwrap();
    let stats = CacheConfig::stats(dir.path()).unwrap();
    assert_eq!(stats.entries, 2);
    assert!(stats.bytes <= bound);
    // 1 and 3 are there; 2 was evicted.
    let now = entries(dir.path());
    assert!(now.contains(&first[0]), "module 1 was evicted");
    assert!(!now.contains(&second[0]), "module 2 was kept");
}

#[test]
fn concurrent_writers_of_one_module_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let engine = disk_only(&dir, 1 << 30);
                let m = Module::new(&engine, wasm(11)).unwrap();
                run(&engine, &m)
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 11);
    }
    assert_eq!(entries(dir.path()).len(), 1);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let engine = disk_only(dir.path(), 1 << 30);
    let logged = warnings(|| {
        Module::new(&engine, wasm(11)).unwrap();
    });
    assert_eq!(
        usage(&engine).disk_hits,
        1,
        "{logged:?} {:?}",
        usage(&engine)
    );
}

#[test]
fn an_unusable_directory_falls_back_to_compiling_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    // A directory that cannot be created (its parent is a file).
    let mut engine = None;
    let logged = warnings(|| engine = Some(disk_only(&file.join("cache"), 1 << 30)));
    assert!(
        logged
            .iter()
            .any(|w| w.starts_with("kiln::cache") && w.contains("unusable")),
        "{logged:?}"
    );
    let engine = engine.unwrap();
    let m = Module::new(&engine, wasm(5)).unwrap();
    assert_eq!(run(&engine, &m), 5);
    assert_eq!(usage(&engine).writes, 0);

    // A key file others may read is refused: the directory is not used.
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let key = shared.join(kiln::artifact::KEY_FILE);
    std::fs::write(&key, [0u8; 32]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut engine = None;
    let logged = warnings(|| engine = Some(disk_only(&shared, 1 << 30)));
    assert!(logged.iter().any(|w| w.contains("0600")), "{logged:?}");
    let engine = engine.unwrap();
    assert_eq!(run(&engine, &Module::new(&engine, wasm(6)).unwrap()), 6);
    assert!(entries(&shared).is_empty());
}

#[test]
fn a_file_seen_before_is_found_by_identity_and_a_changed_file_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let file = dir.path().join("m.wasm");
    std::fs::write(&file, wasm(21)).unwrap();
    let first = disk_only(&cache, 1 << 30);
    assert_eq!(run(&first, &Module::from_file(&first, &file).unwrap()), 21);
    assert!(cache.join("index").read_dir().unwrap().count() == 1);
    let second = disk_only(&cache, 1 << 30);
    assert_eq!(
        run(&second, &Module::from_file(&second, &file).unwrap()),
        21
    );
    assert_eq!(usage(&second).disk_hits, 1);

    // Same size, other contents, and the modification time put back: the change time
    // still tells, and the new contents run.
    let old = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, wasm(22)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let third = disk_only(&cache, 1 << 30);
    assert_eq!(run(&third, &Module::from_file(&third, &file).unwrap()), 22);
    assert_eq!(usage(&third).misses, 1);

    // A forged index record (another module's key) is not believed.
    let records: Vec<_> = cache
        .join("index")
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for r in &records {
        let mut b = std::fs::read(r).unwrap();
        b[0] ^= 1;
        std::fs::write(r, b).unwrap();
    }
    let fourth = disk_only(&cache, 1 << 30);
    assert_eq!(
        run(&fourth, &Module::from_file(&fourth, &file).unwrap()),
        22
    );
    // Found by contents instead (the file was read).
    assert_eq!(usage(&fourth).disk_hits, 1);
}
