//! Language plugins over real HTTP: CPython, QuickJS and CRuby from `plugins/fetch.sh`,
//! signed here with a fresh publisher key and installed into a temporary registry.
//! Each language prints, reads stdin, gets its arguments, writes and reads a file,
//! exits with a code and raises an uncaught error; then the roadmap's attacks, each
//! with a clear status and the server healthy after. And the registry's refusals:
//! tampered module or manifest, a wrong or unknown signature, a path escape, an
//! install over an installed version, and a server that will not start with a
//! plugin that no longer verifies.

mod common;

use common::TestServer;
use kiln_serve::plugin::{PluginError, PublisherKey, Registry, Trust};
use kiln_serve::runner::Runner;
use kiln_serve::ServeConfig;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// What `plugins/fetch.sh` assembled for `name`.
fn dist(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/dist")
        .join(name);
    assert!(
        dir.join("plugin.toml").exists(),
        "{} is missing: run plugins/fetch.sh (the CI does)",
        dir.display()
    );
    dir
}

/// One code cache for every test run, so each interpreter compiles once.
fn code_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-code-cache")
}

/// A publisher, a registry, and the configuration that trusts the publisher.
struct Setup {
    dir: tempfile::TempDir,
    key: PublisherKey,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            dir: tempfile::tempdir().expect("tempdir"),
            key: PublisherKey::generate().expect("key"),
        }
    }

    fn registry(&self) -> Registry {
        Registry::new(self.dir.path().join("registry"))
    }

    fn trust(&self) -> Trust {
        Trust::new(&[self.key.public_hex()], false).expect("trust")
    }

    fn config(&self) -> ServeConfig {
        let mut c = common::config(None);
        c.cache_directory = Some(code_cache());
        c.scratch_directory = self.dir.path().join("scratch");
        c.plugins.directory = Some(self.registry().root().to_path_buf());
        c.plugins.trusted_keys = vec![self.key.public_hex()];
        c
    }

    /// A copy of `dist(name)` in `to`, signed with `key`.
    fn signed_copy(&self, name: &str, to: &str, key: &PublisherKey) -> PathBuf {
        let to = self.dir.path().join(to);
        std::fs::create_dir_all(&to).expect("copy dir");
        for entry in std::fs::read_dir(dist(name)).expect("dist") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
        sign(&to, key);
        to
    }

    /// Installs the plugin at `path` as `kiln plugin install` does.
    fn install(&self, path: &Path) -> Result<(), PluginError> {
        let runner = Runner::new(&self.config()).expect("runner");
        self.registry()
            .install(path, &self.trust(), |p, bytes| {
                let module = runner
                    .compile_plugin(bytes)
                    .map_err(|e| PluginError::context("compile", e))?;
                kiln_serve::plugin::registry::check_module(&p.manifest, &module)
            })
            .map(|_| ())
    }
}

fn sign(dir: &Path, key: &PublisherKey) {
    let manifest = std::fs::read(dir.join("plugin.toml")).expect("manifest");
    std::fs::write(dir.join("plugin.sig"), key.sign(&manifest)).expect("sig");
}

fn run(server: &TestServer, req: Value) -> Value {
    let (status, r) = server.execute(&req);
    assert_eq!(status, 200, "{req}: {r}");
    assert_eq!(server.get("/healthz").0, 200);
    r
}

fn outcome(r: &Value) -> (&str, Option<i64>) {
    (
        r["status"].as_str().unwrap_or_default(),
        r["exit_code"].as_i64(),
    )
}

/// The programs every language runs, and what they must print.
struct Basics<'a> {
    language: &'a str,
    /// Prints `hello`.
    hello: &'a str,
    /// Prints stdin upper-cased, a space, and its arguments joined by commas.
    echo: &'a str,
    /// Writes `kept` into `notes.txt` and prints it back from `/notes.txt`.
    file: &'a str,
    /// Exits with 7.
    exit7: &'a str,
    /// Raises an uncaught error, and a part of its text.
    error: (&'a str, &'a str),
}

/// Hello, stdin and arguments, a file, an exit code, an uncaught error.
fn basics(server: &TestServer, b: &Basics<'_>) {
    let req = |code: &str| json!({"language": b.language, "code": code});
    let r = run(server, req(b.hello));
    assert_eq!(
        (outcome(&r), r["stdout"].as_str()),
        (("completed", Some(0)), Some("hello\n")),
        "{r}"
    );
    let mut echo = req(b.echo);
    echo["stdin"] = json!("from stdin");
    echo["args"] = json!(["a", "b"]);
    let r = run(server, echo);
    assert_eq!(r["stdout"], "FROM STDIN a,b\n", "{r}");
    let r = run(server, req(b.file));
    assert_eq!(r["stdout"], "kept\n", "{r}");
    let r = run(server, req(b.exit7));
    assert_eq!(outcome(&r), ("failed", Some(7)), "{r}");
    let r = run(server, req(b.error.0));
    assert_eq!(outcome(&r), ("failed", Some(1)), "{r}");
    assert!(
        r["stderr"].as_str().is_some_and(|e| e.contains(b.error.1)),
        "{r}"
    );
}

#[test]
fn python_runs_programs_and_refuses_the_attacks() {
    let setup = Setup::new();
    let source = setup.signed_copy("python", "python", &setup.key);
    setup.install(&source).expect("install");
    let server = TestServer::start(setup.config());
    let (_, langs) = server.get("/v1/languages");
    let python = langs["languages"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["name"] == "python"))
        .cloned()
        .unwrap_or_else(|| panic!("no python in {langs}"));
    assert_eq!(python["version"], "3.12.0");
    assert_eq!(python["signed_by"], setup.key.public_hex());
    let py = |code: &str| json!({"language": "python", "code": code});

    basics(
        &server,
        &Basics {
            language: "python",
            hello: "print('hello')",
            echo: "import sys\nprint(sys.stdin.read().upper(), ','.join(sys.argv[1:]))",
            file: "open('notes.txt', 'w').write('kept')\nprint(open('/notes.txt').read())",
            exit7: "import sys\nsys.exit(7)",
            error: ("raise ValueError('bad value')", "ValueError: bad value"),
        },
    );
    let files = json!([
        {"name": "main.py", "content": "import helper\nhelper.greet()"},
        {"name": "helper.py", "content": "def greet():\n    print('from a module')"},
    ]);
    let r = run(&server, json!({"language": "py", "files": files}));
    assert_eq!(r["stdout"], "from a module\n", "{r}");

    // The attacks.
    let r = run(&server, py("import os\nos.system('rm -rf /')"));
    assert_eq!(outcome(&r).0, "failed", "{r}");
    assert!(
        r["stderr"].as_str().is_some_and(|e| e.contains("system")),
        "{r}"
    );
    let r = run(&server, py("print(open('/etc/passwd').read())"));
    assert_eq!(outcome(&r).0, "failed", "{r}");
    assert!(
        r["stderr"]
            .as_str()
            .is_some_and(|e| e.contains("FileNotFoundError")),
        "{r}"
    );
    let r = run(&server, py("import os\nprint(sorted(os.listdir('/')))"));
    assert_eq!(
        r["stdout"], "['main.py']\n",
        "only the job's own directory: {r}"
    );
    let r = run(
        &server,
        py("import socket\nsocket.create_connection(('127.0.0.1', 80))"),
    );
    assert_eq!(outcome(&r).0, "failed", "{r}");
    let r = run(&server, py("import os\nos.fork()"));
    assert_eq!(outcome(&r).0, "failed", "{r}");
    assert!(
        r["stderr"].as_str().is_some_and(|e| e.contains("fork")),
        "{r}"
    );
    let mut spin = py("while True: pass");
    spin["timeout_ms"] = json!(500);
    assert_eq!(outcome(&run(&server, spin)).0, "timeout");
    // On wasm32 Python refuses 10**10 as a size before allocating; a gigabyte it
    // tries, and the memory limit stops.
    let r = run(&server, py("s = 'a' * 10**10"));
    assert_eq!(outcome(&r).0, "failed", "{r}");
    assert!(
        r["stderr"]
            .as_str()
            .is_some_and(|e| e.contains("OverflowError")),
        "{r}"
    );
    let r = run(&server, py("s = b'a' * (1 << 30)"));
    assert_eq!(r["status"], "memory_limit", "{r}");
    assert!(
        r["stderr"]
            .as_str()
            .is_some_and(|e| e.contains("MemoryError")),
        "{r}"
    );
    let r = run(&server, py("def f(n): return f(n + 1)\nf(0)"));
    assert_eq!(outcome(&r).0, "failed", "{r}");
    assert!(
        r["stderr"]
            .as_str()
            .is_some_and(|e| e.contains("RecursionError")),
        "{r}"
    );
    let r = run(
        &server,
        py("with open('big', 'wb') as f:\n    for _ in range(10 * 1024):\n        f.write(b'x' * (1 << 20))"),
    );
    assert_eq!(outcome(&r).0, "failed", "{r}");
    assert_eq!(r["limits_hit"], json!(["disk"]), "{r}");
    // And after all of them, hello again.
    let r = run(&server, py("print('still here')"));
    assert_eq!(r["stdout"], "still here\n");
}

#[test]
fn javascript_runs_programs_and_refuses_the_attacks() {
    let setup = Setup::new();
    let source = setup.signed_copy("javascript", "js", &setup.key);
    setup.install(&source).expect("install");
    let server = TestServer::start(setup.config());
    let js = |code: &str| json!({"language": "javascript", "code": code});

    basics(
        &server,
        &Basics {
            language: "javascript",
            hello: "console.log('hello')",
            echo: "console.log(std.in.readAsString().toUpperCase(), scriptArgs.slice(1).join(','))",
            file: "const f = std.open('/notes.txt', 'w'); f.puts('kept'); f.close();\n\
                   console.log(std.loadFile('notes.txt'))",
            exit7: "std.exit(7)",
            error: ("throw new TypeError('bad value')", "TypeError: bad value"),
        },
    );

    // The attacks.
    let mut spin = js("while (1) {}");
    spin["timeout_ms"] = json!(500);
    assert_eq!(outcome(&run(&server, spin)).0, "timeout");
    let r = run(
        &server,
        js("const a = []; for (;;) a.push(new Array(1 << 20).fill(1));"),
    );
    assert_eq!(r["status"], "memory_limit", "{r}");
    let r = run(
        &server,
        js("console.log(String(std.loadFile('/etc/passwd')))"),
    );
    assert_eq!(
        r["stdout"], "null\n",
        "nothing outside the job's directory: {r}"
    );
    let r = run(
        &server,
        js("console.log(typeof os.exec); os.exec(['/bin/ls', '/'])"),
    );
    assert_eq!(outcome(&r).0, "failed", "{r}");
    let r = run(&server, js("console.log('still here')"));
    assert_eq!(r["stdout"], "still here\n");
}

#[test]
fn ruby_runs_programs_and_refuses_the_attacks() {
    let setup = Setup::new();
    let source = setup.signed_copy("ruby", "ruby", &setup.key);
    setup.install(&source).expect("install");
    let server = TestServer::start(setup.config());
    let rb = |code: &str| json!({"language": "ruby", "code": code});

    basics(
        &server,
        &Basics {
            language: "ruby",
            hello: "puts 'hello'",
            echo: "puts $stdin.read.upcase + ' ' + ARGV.join(',')",
            file: "File.write('notes.txt', 'kept')\nputs File.read('/notes.txt')",
            exit7: "puts 'bye'\nexit 7",
            error: (
                "raise ArgumentError, 'bad value'",
                "bad value (ArgumentError)",
            ),
        },
    );

    // The attacks.
    let r = run(&server, rb("puts `ls /`"));
    assert_eq!(outcome(&r).0, "failed", "{r}");
    let r = run(&server, rb("puts File.read('/etc/passwd')"));
    assert_eq!(outcome(&r).0, "failed", "{r}");
    assert!(
        r["stderr"].as_str().is_some_and(|e| e.contains("ENOENT")),
        "{r}"
    );
    let mut spin = rb("loop {}");
    spin["timeout_ms"] = json!(500);
    assert_eq!(outcome(&run(&server, spin)).0, "timeout");
    let r = run(&server, rb("puts 'still here'"));
    assert_eq!(r["stdout"], "still here\n");
}

#[test]
fn the_registry_refuses_what_it_cannot_trust() {
    let setup = Setup::new();
    let key = &setup.key;
    // A tampered module: one byte changed after signing.
    let tampered = setup.signed_copy("javascript", "tampered-module", key);
    let module = tampered.join("qjs-wasi-reactor.wasm");
    let mut bytes = std::fs::read(&module).expect("module");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&module, bytes).expect("write");
    let e = setup.install(&tampered).expect_err("a tampered module");
    assert!(e.0.contains("does not match its sha256"), "{e}");
    // A tampered manifest: a changed limit after signing.
    let tampered = setup.signed_copy("javascript", "tampered-manifest", key);
    let manifest = tampered.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        text.replace("timeout_ms = 5000", "timeout_ms = 9999"),
    )
    .expect("write");
    let e = setup.install(&tampered).expect_err("a tampered manifest");
    assert!(e.0.contains("does not match plugin.toml"), "{e}");
    // Signed by someone else, or not at all.
    let stranger = PublisherKey::generate().expect("key");
    let foreign = setup.signed_copy("javascript", "foreign", &stranger);
    let e = setup.install(&foreign).expect_err("an unknown key");
    assert!(e.0.contains("is not trusted"), "{e}");
    let forged = setup.signed_copy("javascript", "forged", &stranger);
    let sig = std::fs::read_to_string(forged.join("plugin.sig")).expect("sig");
    std::fs::write(
        forged.join("plugin.sig"),
        sig.replace(&stranger.public_hex(), &key.public_hex()),
    )
    .expect("write");
    let e = setup.install(&forged).expect_err("a wrong signature");
    assert!(e.0.contains("does not match plugin.toml"), "{e}");
    let unsigned = setup.signed_copy("javascript", "unsigned", key);
    std::fs::remove_file(unsigned.join("plugin.sig")).expect("unsign");
    let e = setup.install(&unsigned).expect_err("unsigned");
    assert!(e.0.contains("not signed"), "{e}");
    // A manifest naming a file outside the plugin.
    let escape = setup.signed_copy("javascript", "escape", key);
    let text = std::fs::read_to_string(escape.join("plugin.toml")).expect("manifest");
    std::fs::write(
        escape.join("plugin.toml"),
        text.replace(
            "file = \"qjs-wasi-reactor.wasm\"",
            "file = \"../js/qjs-wasi-reactor.wasm\"",
        ),
    )
    .expect("write");
    sign(&escape, key);
    let e = setup.install(&escape).expect_err("a path escape");
    assert!(e.0.contains("`..` is refused"), "{e}");
    assert!(
        !setup.registry().root().join("quickjs").exists(),
        "nothing was installed"
    );
    // A good one installs once; the same version again is refused.
    let good = setup.signed_copy("javascript", "good", key);
    setup.install(&good).expect("install");
    let e = setup.install(&good).expect_err("installed already");
    assert!(e.0.contains("installed already"), "{e}");
    // As an archive too (another version).
    let archive = setup.dir.path().join("js.tar.gz");
    let text = std::fs::read_to_string(good.join("plugin.toml")).expect("manifest");
    std::fs::write(
        good.join("plugin.toml"),
        text.replace("version = \"0.17.0\"", "version = \"0.17.1\""),
    )
    .expect("write");
    sign(&good, key);
    let status = std::process::Command::new("tar")
        .arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(&good)
        .arg(".")
        .status()
        .expect("tar");
    assert!(status.success());
    setup.install(&archive).expect("install the archive");
    let loaded = setup.registry().load(&setup.trust()).expect("load");
    assert_eq!(loaded.len(), 1, "the newest version of one plugin");
    assert_eq!(loaded[0].manifest.version, "0.17.1");
    // A plugin changed after its install stops the server from starting.
    let installed = setup
        .registry()
        .root()
        .join("quickjs/0.17.1/qjs-wasi-reactor.wasm");
    let mut bytes = std::fs::read(&installed).expect("installed module");
    bytes[100] ^= 0xff;
    std::fs::write(&installed, bytes).expect("write");
    let e = match kiln_serve::state(setup.config()) {
        Ok(_) => panic!("a server started with a tampered plugin"),
        Err(e) => e,
    };
    assert!(e.0.contains("does not match its sha256"), "{e}");
    let removed = setup.registry().remove("quickjs@0.17.1").expect("remove");
    assert_eq!(removed.len(), 1);
    assert!(
        kiln_serve::state(setup.config()).is_ok(),
        "the older version loads"
    );
}
