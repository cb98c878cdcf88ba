//! End-to-end tests of the `kiln` binary: each test runs the built executable on a module
//! (the bundled example, or `.wat` text written to a temporary directory) and checks its
//! exact stdout, its stderr and its exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

/// The bundled example module.
const FIB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/fib.wat");

/// Exit status when wasm traps.
const TRAP: i32 = 134;
/// Exit status when the program cannot run.
const CANNOT_RUN: i32 = 2;

/// WASI errno values the guests below report through their exit status.
const EBADF: i32 = 8;
const ENOENT: i32 = 44;
const EPERM: i32 = 63;

/// The result of one run of `kiln`.
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            status: out.status.code(),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }

    /// Asserts the exit status, with both streams in the message when it differs.
    #[track_caller]
    fn status(&self, code: i32) -> &Self {
        assert_eq!(
            self.status,
            Some(code),
            "exit status\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts exactly this stdout.
    #[track_caller]
    fn stdout(&self, expected: &str) -> &Self {
        assert_eq!(self.stdout, expected, "stdout (stderr:\n{})", self.stderr);
        self
    }

    /// Asserts exactly this stderr.
    #[track_caller]
    fn stderr(&self, expected: &str) -> &Self {
        assert_eq!(self.stderr, expected, "stderr");
        self
    }

    /// Asserts that stderr contains `part`.
    #[track_caller]
    fn stderr_has(&self, part: &str) -> &Self {
        assert!(
            self.stderr.contains(part),
            "stderr lacks {part:?}; it is:\n{}",
            self.stderr
        );
        self
    }

    /// A successful run with nothing on stderr that printed exactly `expected`.
    #[track_caller]
    fn prints(&self, expected: &str) -> &Self {
        self.status(0).stdout(expected).stderr("")
    }

    /// A run that could not start: exit status 2, nothing on stdout, `part` in stderr.
    #[track_caller]
    fn cannot_run(&self, part: &str) -> &Self {
        self.status(CANNOT_RUN).stdout("").stderr_has(part)
    }
}

fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    // The guest must see none of the host's variables: give the host one to leak.
    c.env("KILN_CLI_TEST_HOST_VARIABLE", "must-not-leak");
    // The code cache and its key go to the tests' own directory, not the user's.
    c.env(
        "XDG_CACHE_HOME",
        concat!(env!("CARGO_TARGET_TMPDIR"), "/cli-cache"),
    );
    c
}

/// Runs `kiln ARGS...`.
fn kiln<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Run {
    Run::from(command().args(args).output().expect("run kiln"))
}

/// Runs `kiln ARGS...` in directory `cwd`.
fn kiln_in<S: AsRef<std::ffi::OsStr>>(cwd: &Path, args: impl IntoIterator<Item = S>) -> Run {
    Run::from(
        command()
            .current_dir(cwd)
            .args(args)
            .output()
            .expect("run kiln"),
    )
}

/// Writes `text` to `dir/name` and returns its path as a string.
fn write(dir: &TempDir, name: &str, text: impl AsRef<[u8]>) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write test file");
    path.to_str().expect("UTF-8 temp path").to_string()
}

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Helpers every WASI guest below uses, after its imports (which must include `fd_write`
/// as `$fd_write` and `proc_exit` as `$proc_exit`). Bytes 0..16 are scratch space.
const WASI_HELPERS: &str = r#"
  (memory (export "memory") 2)
  (data (i32.const 8) "\n")
  ;; Writes [ptr, ptr + len) to stdout.
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12))
      (then unreachable)))
  (func $newline (call $print (i32.const 8) (i32.const 1)))
  ;; Exits with the errno as the status if a WASI call failed.
  (func $check (param $errno i32)
    (if (local.get $errno) (then (call $proc_exit (local.get $errno)))))
"#;

fn wasi_import(name: &str, params: &str, result: bool) -> String {
    let result = if result { "(result i32)" } else { "" };
    format!(
        "(import \"wasi_snapshot_preview1\" \"{name}\" \
         (func ${name} (param {params}) {result}))\n"
    )
}

// ---------------------------------------------------------------------------------------
// --invoke on the bundled example

#[test]
fn invoke_fib() {
    kiln(["run", "--invoke", "fib", FIB, "20"]).prints("6765\n");
}

#[test]
fn invoke_fib_iter() {
    kiln(["run", "--invoke", "fib_iter", FIB, "90"]).prints("2880067194370816120\n");
}

#[test]
fn run_is_implied_and_options_take_equals_signs() {
    kiln(["--invoke=fib", FIB, "10"]).prints("55\n");
    kiln(["run", "--invoke", "fib", "--fuel=100000", FIB, "10"]).prints("55\n");
}

#[test]
fn version_and_help_are_subcommands_and_flags() {
    let v = kiln(["--version"]);
    v.status(0).stderr("");
    assert!(v.stdout.starts_with("kiln "), "{}", v.stdout);
    let h = kiln(["help"]);
    h.status(0);
    for sub in ["run", "wast", "settings", "completion"] {
        assert!(h.stdout.contains(sub), "{}", h.stdout);
    }
    let s = kiln(["settings"]);
    s.status(0).stderr("");
    assert!(s.stdout.starts_with("target: "), "{}", s.stdout);
    assert!(s.stdout.contains("opt_level"), "{}", s.stdout);
    let c = kiln(["completion", "bash"]);
    c.status(0);
    assert!(c.stdout.contains("kiln"), "{}", c.stdout);
}

#[test]
fn a_trap_exits_134_with_a_named_backtrace() {
    let r = kiln(["run", "--invoke", "runaway", FIB, "1"]);
    r.status(TRAP)
        .stdout("")
        .stderr_has("wasm trap: call stack exhausted")
        .stderr_has("fib!runaway");
}

#[test]
fn an_unreachable_trap_exits_134_with_the_exact_backtrace() {
    let dir = tempdir();
    let m = write(
        &dir,
        "trap.wat",
        r#"(module $m
             (func $inner (unreachable))
             (func (call $inner))
             (func $outer (export "outer") (result i32) (call 1) (i32.const 1)))"#,
    );
    // A function without a name shows its index; every frame its code offset.
    let r = kiln(["run", "--invoke", "outer", &m]);
    r.status(TRAP).stdout("");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines[..2],
        ["error: wasm trap: unreachable", "wasm backtrace:"]
    );
    let frames: Vec<&str> = lines[2..]
        .iter()
        .map(|l| l.trim().split_once("+0x").map_or(*l, |(f, _)| f))
        .collect();
    assert_eq!(
        frames,
        ["0: m!inner", "1: m!<wasm function 1>", "2: m!outer"]
    );
}

#[test]
fn invoke_parses_and_prints_every_number_type() {
    let dir = tempdir();
    let m = write(
        &dir,
        "echo.wat",
        r#"(module
             (func (export "echo") (param i32 i64 f32 f64) (result i32 i64 f32 f64)
               (local.get 0) (local.get 1) (local.get 2) (local.get 3))
             (func (export "nothing")))"#,
    );
    // An i32 argument may be given unsigned; results print signed.
    kiln([
        "run",
        "--invoke",
        "echo",
        &m,
        "4294967295",
        "-9223372036854775808",
        "1.5",
        "-0.25",
    ])
    .prints("-1\n-9223372036854775808\n1.5\n-0.25\n");
    kiln(["run", "--invoke", "nothing", &m]).prints("");
}

// ---------------------------------------------------------------------------------------
// Command lines that cannot run: exit status 2 and a clear message

#[test]
fn wrong_argument_count() {
    kiln(["run", "--invoke", "fib", FIB])
        .cannot_run("`fib` has type (i32) -> (i64) and takes 1 arguments, 0 given");
    kiln(["run", "--invoke", "fib", FIB, "1", "2"]).cannot_run("takes 1 arguments, 2 given");
}

#[test]
fn unparsable_argument() {
    kiln(["run", "--invoke", "fib", FIB, "twenty"]).cannot_run("cannot parse `twenty` as i32");
    kiln(["run", "--invoke", "fib", FIB, "4294967296"])
        .cannot_run("cannot parse `4294967296` as i32");
}

#[test]
fn unknown_export_lists_the_exports() {
    kiln(["run", "--invoke", "fibonacci", FIB, "3"]).cannot_run(&format!(
        "`{FIB}` exports no function `fibonacci`; its exports are: fib, fib_iter, runaway"
    ));
}

#[test]
fn a_module_without_start_names_the_missing_export() {
    kiln(["run", FIB]).cannot_run("exports no function `_start`");
}

#[test]
fn missing_file_is_named() {
    let dir = tempdir();
    let missing = dir.path().join("no-such-module.wasm");
    let missing = missing.to_str().expect("UTF-8");
    kiln(["run", missing]).cannot_run(&format!("cannot read `{missing}`"));
}

#[test]
fn malformed_text_module() {
    let dir = tempdir();
    let m = write(&dir, "bad.wat", "(module (func (export \"f\") (i32.add)))");
    kiln(["run", "--invoke", "f", &m]).cannot_run("invalid module");
    let m = write(&dir, "unclosed.wat", "(module");
    kiln(["run", &m]).cannot_run("invalid module");
}

#[test]
fn malformed_binary_module() {
    let dir = tempdir();
    // A valid header followed by a truncated section.
    let m = write(&dir, "bad.wasm", b"\0asm\x01\0\0\0\x01");
    kiln(["run", &m]).cannot_run("invalid module");
    let m = write(&dir, "junk.wasm", b"this is not wasm");
    kiln(["run", &m]).cannot_run("invalid module");
}

#[test]
fn unknown_option() {
    kiln(["run", "--frobnicate", FIB]).cannot_run("unexpected argument '--frobnicate'");
}

#[test]
fn option_without_value() {
    kiln(["run", "--invoke"]).cannot_run("a value is required for '--invoke <NAME>'");
    kiln(["run", "--fuel", "lots", FIB]).cannot_run("invalid value 'lots' for '--fuel <N>'");
    kiln(["run", "--dir", "::guest", FIB]).cannot_run("expected HOST, HOST::GUEST");
}

#[test]
fn no_command_or_file_prints_usage() {
    kiln(std::iter::empty::<&str>()).cannot_run("Usage: kiln <COMMAND>");
    kiln(["run"]).cannot_run("the following required arguments were not provided");
    // Anything that is not a subcommand is a file to run.
    kiln(["build", FIB]).cannot_run("cannot read `build`");
}

#[test]
fn help_goes_to_stdout_and_succeeds() {
    for flag in ["--help", "-h"] {
        let r = kiln([flag]);
        r.status(0).stderr("");
        assert!(r.stdout.contains("Usage: kiln <COMMAND>"), "{}", r.stdout);
    }
    let r = kiln(["run", "--help"]);
    r.status(0).stderr("");
    assert!(r.stdout.contains("Usage: kiln run"), "{}", r.stdout);
    assert!(r.stdout.contains("--default-imports"), "{}", r.stdout);
    // After FILE, `--help` is the guest's.
    kiln(["run", FIB, "--help"]).cannot_run("exports no function `_start`");
}

#[test]
fn missing_preopen_directory_is_named() {
    let dir = tempdir();
    let missing = dir.path().join("absent");
    let missing = missing.to_str().expect("UTF-8");
    kiln(["run", "--dir", missing, "--invoke", "fib", FIB, "3"])
        .cannot_run(&format!("cannot pre-open directory `{missing}`"));
}

// ---------------------------------------------------------------------------------------
// WASI commands: arguments, environment, exit status

/// A command that prints `args:`, its arguments one per line, `env:`, its environment one
/// per line, and exits with `proc_exit(3)`.
fn args_env_module() -> String {
    let mut m = String::from("(module\n");
    m += &wasi_import("fd_write", "i32 i32 i32 i32", true);
    m += &wasi_import("args_sizes_get", "i32 i32", true);
    m += &wasi_import("args_get", "i32 i32", true);
    m += &wasi_import("environ_sizes_get", "i32 i32", true);
    m += &wasi_import("environ_get", "i32 i32", true);
    m += "(import \"wasi_snapshot_preview1\" \"proc_exit\" (func $proc_exit (param i32)))\n";
    m += WASI_HELPERS;
    m += r#"
  (data (i32.const 64) "args:\n")
  (data (i32.const 80) "env:\n")
  ;; Prints the NUL-terminated strings in [buf, buf + size), one per line.
  (func $lines (param $buf i32) (param $size i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $size)))
        (if (i32.eqz (i32.load8_u (i32.add (local.get $buf) (local.get $i))))
          (then (i32.store8 (i32.add (local.get $buf) (local.get $i)) (i32.const 10))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $print (local.get $buf) (local.get $size)))
  (func (export "_start")
    ;; Pointer arrays at 1024 (argv) and 2048 (environ); strings at 4096 and 65536.
    (call $check (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (call $check (call $args_get (i32.const 1024) (i32.const 4096)))
    (call $print (i32.const 64) (i32.const 6))
    (call $lines (i32.const 4096) (i32.load (i32.const 20)))
    (call $check (call $environ_sizes_get (i32.const 16) (i32.const 20)))
    (call $check (call $environ_get (i32.const 2048) (i32.const 65536)))
    (call $print (i32.const 80) (i32.const 5))
    (call $lines (i32.const 65536) (i32.load (i32.const 20)))
    (call $proc_exit (i32.const 3))))
"#;
    m
}

#[test]
fn command_sees_exactly_its_arguments_and_environment() {
    let dir = tempdir();
    let m = write(&dir, "args.wat", args_env_module());
    kiln([
        "run",
        "--env",
        "GREETING=hi there",
        "--env",
        "EMPTY=",
        "--env",
        "EQ=a=b",
        &m,
        "hello",
        "two words",
        "--dir",
        "-x",
    ])
    .status(3)
    .stderr("")
    .stdout(
        "args:\nargs.wat\nhello\ntwo words\n--dir\n-x\nenv:\nGREETING=hi there\nEMPTY=\nEQ=a=b\n",
    );
}

#[test]
fn command_without_env_sees_no_variables() {
    let dir = tempdir();
    write(&dir, "args.wat", args_env_module());
    // argv[0] is the file's name.
    kiln_in(dir.path(), ["run", "args.wat"])
        .status(3)
        .stderr("")
        .stdout("args:\nargs.wat\nenv:\n");
}

#[test]
fn everything_after_the_file_is_the_guests() {
    let dir = tempdir();
    let m = write(&dir, "args.wat", args_env_module());
    // A limit, a flag and `--` after FILE are arguments, never options: no memory
    // limit applies, and the guest sees them verbatim.
    kiln([
        "run",
        "--env",
        "A=1",
        &m,
        "-c",
        "x",
        "--max-memory=1KiB",
        "-h",
        "--",
        "third",
    ])
    .status(3)
    .stderr("")
    .stdout("args:\nargs.wat\n-c\nx\n--max-memory=1KiB\n-h\n--\nthird\nenv:\nA=1\n");
}

#[test]
fn argv0_env_inheritance_and_read_only_dirs() {
    let dir = tempdir();
    let m = write(&dir, "args.wat", args_env_module());
    // --argv0, and --env NAME taking the host's value (the test host sets one).
    kiln([
        "run",
        "--argv0",
        "python3",
        "--env",
        "KILN_CLI_TEST_HOST_VARIABLE",
        &m,
        "x",
    ])
    .status(3)
    .stderr("")
    .stdout("args:\npython3\nx\nenv:\nKILN_CLI_TEST_HOST_VARIABLE=must-not-leak\n");
    // A variable the host does not have: a warning, and the guest does not see it.
    let r = kiln(["run", "--env", "KILN_CLI_TEST_NOT_SET_ANYWHERE", &m]);
    r.status(3)
        .stdout("args:\nargs.wat\nenv:\n")
        .stderr_has("--env KILN_CLI_TEST_NOT_SET_ANYWHERE: not set on the host");
}

/// A module whose `_start` (and export `exit_with`) calls `proc_exit(code)`, after
/// printing `bye`.
fn exit_module(code: i32) -> String {
    let mut m = String::from("(module\n");
    m += &wasi_import("fd_write", "i32 i32 i32 i32", true);
    m += "(import \"wasi_snapshot_preview1\" \"proc_exit\" (func $proc_exit (param i32)))\n";
    m += WASI_HELPERS;
    m += &format!(
        r#"
  (data (i32.const 64) "bye\n")
  (func (export "_start")
    (call $print (i32.const 64) (i32.const 4))
    (call $proc_exit (i32.const {code})))
  (func (export "exit_with") (param i32) (result i32)
    (call $proc_exit (local.get 0))
    (i32.const 7)))
"#
    );
    m
}

#[test]
fn proc_exit_sets_the_exit_status() {
    let dir = tempdir();
    let zero = write(&dir, "zero.wat", exit_module(0));
    kiln(["run", &zero]).prints("bye\n");
    let m = write(&dir, "exit.wat", exit_module(42));
    kiln(["run", &m]).status(42).stdout("bye\n").stderr("");
    // From an invoked function too: nothing is printed for its results.
    kiln(["run", "--invoke", "exit_with", &m, "5"])
        .status(5)
        .stdout("")
        .stderr("");
    // Statuses the OS cannot represent become a plain failure.
    kiln(["run", "--invoke", "exit_with", &m, "256"])
        .status(1)
        .stdout("")
        .stderr("");
}

#[test]
fn start_returning_exits_zero() {
    let dir = tempdir();
    let mut m = String::from("(module\n");
    m += &wasi_import("fd_write", "i32 i32 i32 i32", true);
    m += "(import \"wasi_snapshot_preview1\" \"proc_exit\" (func $proc_exit (param i32)))\n";
    m += WASI_HELPERS;
    m += r#"
  (data (i32.const 64) "no newline")
  (func (export "_start") (call $print (i32.const 64) (i32.const 10))))
"#;
    let m = write(&dir, "hello.wat", m);
    kiln(["run", &m]).prints("no newline");
}

// ---------------------------------------------------------------------------------------
// --dir: pre-opened directories

/// A command that opens `path` under the pre-opened descriptor 3, then prints the
/// pre-open's name on one line followed by the file's content. A failing WASI call exits
/// with its errno.
fn cat_module(path: &str) -> String {
    let mut m = String::from("(module\n");
    m += &wasi_import("fd_write", "i32 i32 i32 i32", true);
    m += &wasi_import("fd_read", "i32 i32 i32 i32", true);
    m += &wasi_import("fd_prestat_get", "i32 i32", true);
    m += &wasi_import("fd_prestat_dir_name", "i32 i32 i32", true);
    m += &wasi_import("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32", true);
    m += "(import \"wasi_snapshot_preview1\" \"proc_exit\" (func $proc_exit (param i32)))\n";
    m += WASI_HELPERS;
    m += &format!(
        r#"
  (data (i32.const 256) "{path}")
  (func (export "_start")
    ;; path_open(fd 3, no lookup flags, path, no oflags, FD_READ, 0, no fdflags, &fd @ 24)
    (call $check (call $path_open (i32.const 3) (i32.const 0) (i32.const 256)
      (i32.const {len}) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
      (i32.const 24)))
    ;; The pre-open's name: prestat at 16 (its length at 20), the name at 512.
    (call $check (call $fd_prestat_get (i32.const 3) (i32.const 16)))
    (call $check (call $fd_prestat_dir_name (i32.const 3) (i32.const 512)
      (i32.load (i32.const 20))))
    (call $print (i32.const 512) (i32.load (i32.const 20)))
    (call $newline)
    ;; Copy the file to stdout: iovec {{4096, 4096}} at 32, bytes read at 40.
    (i32.store (i32.const 32) (i32.const 4096))
    (i32.store (i32.const 36) (i32.const 4096))
    (loop $more
      (call $check (call $fd_read (i32.load (i32.const 24)) (i32.const 32) (i32.const 1)
        (i32.const 40)))
      (if (i32.load (i32.const 40))
        (then
          (call $print (i32.const 4096) (i32.load (i32.const 40)))
          (br $more)))))
)
"#,
        len = path.len()
    );
    m
}

/// A temporary tree: `data/file.txt` and `outside.txt`; returns the tree and the `data`
/// directory's path.
fn data_tree() -> (TempDir, String) {
    let dir = tempdir();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::write(data.join("file.txt"), "guest-visible content\nline 2\n").expect("write");
    std::fs::write(dir.path().join("outside.txt"), "secret\n").expect("write");
    (dir, data.to_str().expect("UTF-8").to_string())
}

#[test]
fn dir_maps_host_directory_to_guest_name() {
    let (dir, data) = data_tree();
    let m = write(&dir, "cat.wat", cat_module("file.txt"));
    kiln(["run", "--dir", &format!("{data}::sandbox"), &m])
        .prints("sandbox\nguest-visible content\nline 2\n");
}

#[test]
fn dir_without_guest_name_uses_the_host_path() {
    let (dir, data) = data_tree();
    let m = write(&dir, "cat.wat", cat_module("file.txt"));
    kiln(["run", "--dir", &data, &m]).prints(&format!("{data}\nguest-visible content\nline 2\n"));
}

#[test]
fn without_dir_nothing_is_open() {
    let (dir, _data) = data_tree();
    let m = write(&dir, "cat.wat", cat_module("file.txt"));
    kiln(["run", &m]).status(EBADF).stdout("").stderr("");
}

#[test]
fn dir_does_not_reach_outside_or_missing_files() {
    let (dir, data) = data_tree();
    let spec = format!("{data}::sandbox");
    let m = write(&dir, "escape.wat", cat_module("../outside.txt"));
    kiln(["run", "--dir", &spec, &m])
        .status(EPERM)
        .stdout("")
        .stderr("");
    let m = write(&dir, "missing.wat", cat_module("absent.txt"));
    kiln(["run", "--dir", &spec, &m])
        .status(ENOENT)
        .stdout("")
        .stderr("");
}

#[test]
fn dir_is_writable() {
    let (dir, data) = data_tree();
    let mut m = String::from("(module\n");
    m += &wasi_import("fd_write", "i32 i32 i32 i32", true);
    m += &wasi_import("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32", true);
    m += "(import \"wasi_snapshot_preview1\" \"proc_exit\" (func $proc_exit (param i32)))\n";
    m += WASI_HELPERS;
    m += r#"
  (data (i32.const 256) "new.txt")
  (data (i32.const 300) "written by the guest\n")
  (func (export "_start")
    ;; path_open(3, 0, "new.txt", CREAT|TRUNC, FD_WRITE, 0, 0, &fd @ 24)
    (call $check (call $path_open (i32.const 3) (i32.const 0) (i32.const 256)
      (i32.const 7) (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0)
      (i32.const 24)))
    (i32.store (i32.const 32) (i32.const 300))
    (i32.store (i32.const 36) (i32.const 21))
    (call $check (call $fd_write (i32.load (i32.const 24)) (i32.const 32) (i32.const 1)
      (i32.const 40)))))
"#;
    let m = write(&dir, "create.wat", m);
    // `::ro`: the same program may not create the file (EPERM is its exit status).
    kiln(["run", "--dir", &format!("{data}::out::ro"), &m])
        .status(EPERM)
        .stderr("");
    assert!(!Path::new(&data).join("new.txt").exists());
    kiln(["run", "--dir", &format!("{data}::out"), &m]).prints("");
    let written = std::fs::read_to_string(Path::new(&data).join("new.txt")).expect("new.txt");
    assert_eq!(written, "written by the guest\n");
}

/// A guest that copies its standard input to its standard output.
fn stdin_echo_module() -> String {
    let mut m = String::from("(module\n");
    m += &wasi_import("fd_write", "i32 i32 i32 i32", true);
    m += &wasi_import("fd_read", "i32 i32 i32 i32", true);
    m += "(import \"wasi_snapshot_preview1\" \"proc_exit\" (func $proc_exit (param i32)))\n";
    m += WASI_HELPERS;
    m += r#"
  (func (export "_start") (local $n i32)
    (loop $more
      (i32.store (i32.const 16) (i32.const 1024))
      (i32.store (i32.const 20) (i32.const 4096))
      (call $check (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
      (local.set $n (i32.load (i32.const 24)))
      (if (local.get $n)
        (then (call $print (i32.const 1024) (local.get $n)) (br $more))))))
"#;
    m
}

#[test]
fn stdin_is_inherited() {
    let dir = tempdir();
    let m = write(&dir, "cat.wat", stdin_echo_module());
    let out = command()
        .args(["run", &m])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"print(2+2)\nsecond line\n")?;
            child.wait_with_output()
        })
        .expect("run kiln");
    Run::from(out).prints("print(2+2)\nsecond line\n");
}

#[test]
fn the_timeout_covers_compilation() {
    let dir = tempdir();
    let funcs: String = (0..20_000)
        .map(|k| format!("(func (result i32) (i32.add (i32.const {k}) (i32.const 1)))"))
        .collect();
    let m = write(
        &dir,
        "big.wat",
        format!("(module {funcs} (func (export \"_start\")))"),
    );
    let r = kiln(["run", "--timeout", "1ms", &m]);
    r.status(3)
        .stdout("")
        .stderr_has("time limit of 1ms reached while compiling");
}

// ---------------------------------------------------------------------------------------
// --default-imports

fn bench_module() -> String {
    let mut m = String::from("(module\n");
    m += "(import \"bench\" \"start\" (func $start))\n";
    m += "(import \"bench\" \"end\" (func $end))\n";
    m += "(import \"env\" \"magic\" (func $magic (param i32) (result i32 i64 f64)))\n";
    m += &wasi_import("fd_write", "i32 i32 i32 i32", true);
    m += "(import \"wasi_snapshot_preview1\" \"proc_exit\" (func $proc_exit (param i32)))\n";
    m += WASI_HELPERS;
    m += r#"
  (data (i32.const 64) "ok\n")
  (func (export "_start")
    (local $a i32) (local $b i64) (local $c f64)
    (call $start)
    (call $magic (i32.const 7))
    (local.set $c) (local.set $b) (local.set $a)
    ;; Default imports return zeroes.
    (if (i32.or (i32.or (local.get $a) (i32.wrap_i64 (local.get $b)))
                (f64.ne (local.get $c) (f64.const 0)))
      (then (call $proc_exit (i32.const 9))))
    (call $end)
    (call $print (i32.const 64) (i32.const 3))))
"#;
    m
}

#[test]
fn unknown_imports_fail_without_default_imports() {
    let dir = tempdir();
    let m = write(&dir, "bench.wat", bench_module());
    kiln(["run", &m]).cannot_run("unknown import: `bench::start`");
}

#[test]
fn default_imports_link_unknown_functions_to_zeroes() {
    let dir = tempdir();
    let m = write(&dir, "bench.wat", bench_module());
    kiln(["run", "--default-imports", &m]).prints("ok\n");
}

#[test]
fn default_imports_do_not_cover_non_functions() {
    let dir = tempdir();
    let m = write(
        &dir,
        "mem.wat",
        r#"(module (import "env" "memory" (memory 1)) (func (export "_start")))"#,
    );
    kiln(["run", "--default-imports", &m]).cannot_run("`env::memory`");
}

// ---------------------------------------------------------------------------------------
// Reactors

const REACTOR: &str = r#"(module
  (global $g (mut i32) (i32.const 0))
  ;; Adds 42: a second call would show as 84.
  (func (export "_initialize")
    (global.set $g (i32.add (global.get $g) (i32.const 42))))
  (func (export "get") (result i32) (global.get $g))
  (func (export "add") (param i32) (result i32)
    (i32.add (global.get $g) (local.get 0))))"#;

#[test]
fn reactor_is_initialized_once_before_the_invoked_function() {
    let dir = tempdir();
    let m = write(&dir, "reactor.wat", REACTOR);
    kiln(["run", "--invoke", "get", &m]).prints("42\n");
    kiln(["run", "--invoke", "add", &m, "-2"]).prints("40\n");
}

#[test]
fn invoking_initialize_runs_it_once() {
    let dir = tempdir();
    let m = write(
        &dir,
        "reactor.wat",
        r#"(module
             (global $g (mut i32) (i32.const 0))
             (func (export "_initialize") (result i32)
               (global.set $g (i32.add (global.get $g) (i32.const 1)))
               (global.get $g)))"#,
    );
    kiln(["run", "--invoke", "_initialize", &m]).prints("1\n");
}

// ---------------------------------------------------------------------------------------
// A real program: sightglass bz2

fn sightglass_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/workloads/sightglass")
}

/// Splits into lines, ignoring a missing final newline, as sightglass compares output.
fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn sightglass_bz2() {
    let bz2 = sightglass_dir().join("bz2");
    if !bz2.join("benchmark.wasm").exists() {
        println!(
            "note: skipping sightglass_bz2: {} is absent",
            bz2.join("benchmark.wasm").display()
        );
        return;
    }
    let r = kiln_in(
        &bz2,
        ["run", "--dir", ".", "--default-imports", "benchmark.wasm"],
    );
    r.status(0);
    let expected = std::fs::read_to_string(bz2.join("benchmark.stdout.expected"))
        .expect("benchmark.stdout.expected");
    assert_eq!(lines(&r.stdout), lines(&expected), "stdout");
    let expected_err =
        std::fs::read_to_string(bz2.join("benchmark.stderr.expected")).unwrap_or_default();
    assert_eq!(lines(&r.stderr), lines(&expected_err), "stderr");
}

// ---------------------------------------------------------------------------------------
// kiln wast, --preload

#[test]
fn wast_runs_spec_scripts() {
    let dir = tempdir();
    let ok = write(
        &dir,
        "ok.wast",
        r#"(module (func (export "add") (param i32 i32) (result i32)
             (i32.add (local.get 0) (local.get 1))))
           (assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))
           (assert_trap (module (func $u unreachable) (start $u)) "unreachable")"#,
    );
    let r = kiln(["wast", &ok]);
    r.status(0);
    assert!(r.stdout.contains(" 0 failed"), "{}", r.stdout);
    let bad = write(
        &dir,
        "bad.wast",
        r#"(module (func (export "one") (result i32) (i32.const 1)))
           (assert_return (invoke "one") (i32.const 2))"#,
    );
    let r = kiln(["wast", &bad]);
    assert_eq!(r.status, Some(1), "{}", r.stdout);
    assert!(r.stdout.contains("1 failed"), "{}", r.stdout);
}

#[test]
fn preload_links_another_modules_exports() {
    let dir = tempdir();
    let lib = write(
        &dir,
        "lib.wat",
        r#"(module (func (export "double") (param i32) (result i32)
             (i32.mul (local.get 0) (i32.const 2))))"#,
    );
    let main = write(
        &dir,
        "main.wat",
        r#"(module (import "lib" "double" (func $d (param i32) (result i32)))
             (func (export "f") (param i32) (result i32) (call $d (call $d (local.get 0)))))"#,
    );
    kiln([
        "run",
        "--preload",
        &format!("lib={lib}"),
        "--invoke",
        "f",
        &main,
        "5",
    ])
    .prints("20\n");
    kiln(["run", "--preload", "nonsense", &main]).cannot_run("expected NAME=FILE");
}

#[test]
fn every_strategy_runs_the_example() {
    for s in ["eager", "lazy", "tiered"] {
        kiln([
            "run",
            "--cache",
            "off",
            "--strategy",
            s,
            "--invoke",
            "fib",
            FIB,
            "20",
        ])
        .prints("6765\n");
    }
    kiln([
        "run",
        "--strategy",
        "tiered",
        "--tier-up-threshold",
        "1",
        "--invoke",
        "fib",
        FIB,
        "20",
    ])
    .prints("6765\n");
    kiln(["run", "--strategy", "sometimes", FIB])
        .status(CANNOT_RUN)
        .stderr_has("expected eager, lazy or tiered");
}

#[test]
fn strategies_refuse_what_they_cannot_do() {
    kiln([
        "run",
        "--strategy",
        "lazy",
        "--cache",
        "on",
        "--invoke",
        "fib",
        FIB,
        "1",
    ])
    .cannot_run("the code cache holds eagerly compiled code");
    kiln(["run", "--profile=p.json", "--invoke", "fib", FIB, "1"])
        .cannot_run("--profile needs --strategy lazy or tiered");
    kiln([
        "run",
        "--tier-up-threshold",
        "5",
        "--invoke",
        "fib",
        FIB,
        "1",
    ])
    .cannot_run("--tier-up-threshold needs --strategy tiered");
}

#[test]
fn profile_guided_code_reports_its_call_sites() {
    let dir = tempdir();
    let wat = dir.path().join("dispatch.wat");
    std::fs::write(
        &wat,
        r#"(module
            (type $t (func (param i32) (result i32)))
            (table funcref (elem $inc $dec))
            (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
            (func $dec (param i32) (result i32) (i32.sub (local.get 0) (i32.const 1)))
            (func $run (export "run") (param $n i32) (result i32)
                (local $acc i32)
                (loop $l
                    (local.set $acc (call_indirect (type $t) (local.get $acc)
                        (i32.eqz (i32.and (local.get $n) (i32.const 63)))))
                    (local.tee $n (i32.sub (local.get $n) (i32.const 1)))
                    (br_if $l))
                (local.get $acc)))"#,
    )
    .expect("write");
    let profile = dir.path().join("p.json");
    let arg = format!("--profile={}", profile.display());
    let wat = wat.to_str().expect("UTF-8 path");
    // 64 iterations: one call to $dec, 63 to $inc.
    kiln([
        "run",
        "--profile-guided",
        arg.as_str(),
        "--invoke",
        "run",
        wat,
        "6400",
    ])
    .prints("6200\n");
    let report = kiln(["profile", "report", profile.to_str().expect("UTF-8 path")]);
    report.status(0);
    assert!(
        report.stdout.contains("call_indirect @0x"),
        "{}",
        report.stdout
    );
    assert!(
        report.stdout.contains("inc 6300 (98.4 %), dec 100 (1.6 %)"),
        "{}",
        report.stdout
    );
    kiln([
        "run",
        "--profile-guided",
        "--strategy",
        "eager",
        "--invoke",
        "run",
        wat,
        "1",
    ])
    .cannot_run("--profile-guided needs --strategy tiered");
    kiln(["run", "--branch-layout", "--invoke", "run", wat, "1"])
        .cannot_run("--branch-layout needs --profile-guided or --profile-in");
    // With layout from branch counts, the profile has the loop's branch: taken every
    // time but (perhaps, if baseline code ran to the end) the last.
    let counted = dir.path().join("branches.json");
    let arg = format!("--profile={}", counted.display());
    kiln([
        "run",
        "--profile-guided",
        "--branch-layout",
        arg.as_str(),
        "--invoke",
        "run",
        wat,
        "6400",
    ])
    .prints("6200\n");
    let text = std::fs::read_to_string(&counted).expect("profile written");
    let p = kiln::Profile::from_json(&text).expect("a profile");
    let run = p
        .functions
        .iter()
        .find(|f| f.name.as_deref() == Some("run"))
        .expect("run is in the profile");
    assert_eq!(run.branches.len(), 1, "{run:?}");
    let b = &run.branches[0];
    assert!(b.taken > 0 && b.not_taken <= 1, "{run:?}");
    // The second run starts from the profile: the same output, under --profile-out.
    let second = dir.path().join("second.json");
    let profile_in = profile.to_str().expect("UTF-8 path");
    let out = format!("--profile-out={}", second.display());
    kiln([
        "run",
        "--strategy",
        "tiered",
        "--profile-in",
        profile_in,
        out.as_str(),
        "--invoke",
        "run",
        wat,
        "6400",
    ])
    .prints("6200\n");
    assert!(second.exists(), "--profile-out writes the profile");
    // Eager code compiled with the profile, twice: compiled, then from the cache.
    let cache = dir.path().join("cache");
    let cache = cache.to_str().expect("UTF-8 path");
    for _ in 0..2 {
        kiln([
            "run",
            "--cache",
            cache,
            "--profile-in",
            profile_in,
            "--invoke",
            "run",
            wat,
            "64",
        ])
        .prints("62\n");
    }
    kiln([
        "run",
        "--strategy",
        "lazy",
        "--profile-in",
        profile_in,
        "--invoke",
        "run",
        wat,
        "1",
    ])
    .cannot_run("--profile-in guides eager or tiered code");
    // Not a profile, and another module's profile.
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"version\": 1").expect("write");
    let garbage = garbage.to_str().expect("UTF-8 path");
    kiln(["run", "--profile-in", garbage, "--invoke", "run", wat, "1"])
        .cannot_run("is not a profile");
    kiln([
        "run",
        "--profile-in",
        profile_in,
        "--invoke",
        "fib",
        FIB,
        "1",
    ])
    .stderr_has("belongs to module");
}

#[test]
fn a_profile_is_written_and_reported() {
    let dir = tempdir();
    let profile = dir.path().join("fib.json");
    let arg = format!("--profile={}", profile.display());
    // A threshold never reached: every call is counted in baseline code.
    kiln([
        "run",
        "--strategy",
        "tiered",
        "--tier-up-threshold",
        "1000000",
        arg.as_str(),
        "--invoke",
        "fib",
        FIB,
        "15",
    ])
    .prints("610\n");
    let text = std::fs::read_to_string(&profile).expect("the profile was written");
    assert!(text.contains("\"strategy\": \"tiered\""), "{text}");
    let report = kiln(["profile", "report", profile.to_str().expect("UTF-8 path")]);
    report.status(0);
    assert!(
        report.stdout.contains("hottest functions"),
        "{}",
        report.stdout
    );
    // fib(15) enters `fib` 1973 times.
    assert!(report.stdout.contains("1973"), "{}", report.stdout);
    assert!(report.stdout.contains("fib"), "{}", report.stdout);
    let folded = kiln([
        "profile",
        "report",
        "--folded",
        profile.to_str().expect("UTF-8 path"),
    ]);
    folded.status(0);
    assert!(folded.stdout.starts_with("fib;fib "), "{}", folded.stdout);
    // A malformed profile is refused, without a crash.
    let bad = write(&dir, "bad.json", "{\"version\": 1, \"functions\": 3}");
    kiln(["profile", "report", bad.as_str()]).cannot_run("invalid profile");
    kiln(["profile", "report", "/no/such/profile.json"]).cannot_run("cannot read");
}

#[test]
fn wasi_fast_paths_give_what_the_generic_functions_give() {
    let dir = tempdir();
    let wat = write(
        &dir,
        "clocks.wat",
        r#"(module
          (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "clock_time_get" (func $time (param i32 i64 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "check") (result i32)
            (local $e0 i32) (local $e1 i32) (local $e2 i32) (local $e3 i32)
            (local.set $e0 (call $sizes (i32.const 0) (i32.const 4)))
            (local.set $e1 (call $time (i32.const 9) (i64.const 0) (i32.const 8)))
            (local.set $e2 (call $time (i32.const 1) (i64.const 0) (i32.const 65533)))
            (local.set $e3 (call $time (i32.const 1) (i64.const 0) (i32.const 16)))
            (i32.add
              (i32.add
                (i32.mul (i32.load (i32.const 0)) (i32.const 1000000))
                (i32.mul (local.get $e1) (i32.const 10000)))
              (i32.add
                (i32.add (i32.mul (local.get $e2) (i32.const 100))
                         (i32.mul (i32.add (local.get $e0) (local.get $e3)) (i32.const 10)))
                (i64.ne (i64.load (i32.const 16)) (i64.const 0))))))"#,
    );
    // argc 1, EINVAL (28) for clock 9, EFAULT (21) past the end, then success.
    kiln(["run", "--invoke", "check", &wat]).prints("1282101\n");
    kiln(["run", "--no-wasi-fast-paths", "--invoke", "check", &wat]).prints("1282101\n");
}

#[test]
fn serve_refuses_a_bad_configuration_before_listening() {
    let dir = tempdir();
    let bad = write(&dir, "serve.toml", "workers = 0\n");
    kiln(["serve", "--config", &bad]).cannot_run("workers must be between 1 and 1024");
    let typo = write(&dir, "typo.toml", "wokers = 2\n");
    kiln(["serve", "--config", &typo]).cannot_run("unknown field");
    let missing = dir.path().join("none.toml");
    kiln(["serve", "--config", missing.to_str().expect("UTF-8")]).cannot_run("cannot read");
    // Without API keys only `--no-auth` serves, and only on a loopback address.
    kiln(["serve", "--listen", "127.0.0.1:0"]).cannot_run("no API keys");
    kiln(["serve", "--no-auth", "--listen", "0.0.0.0:0"]).cannot_run("only on a loopback address");
}
