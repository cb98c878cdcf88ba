//! The command line, as `clap` parses it. The grammar follows Wasmtime's:
//! `kiln [run] [OPTIONS] FILE [ARGS]...`, where everything after FILE belongs to the
//! guest, and `kiln wast`, `kiln settings`, `kiln completion`, `kiln help`.

use crate::limits::{parse_duration, parse_size};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Kiln: run WebAssembly modules and WASI programs, with limits.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, long_about = None)]
#[command(after_help = "`kiln FILE [ARGS]...` is short for `kiln run FILE [ARGS]...`.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a WASI command, a reactor's export, or any module's export.
    Run(Box<RunArgs>),
    /// Run WebAssembly spec test scripts (.wast files, or folders of them).
    Wast(WastArgs),
    /// Compile a module ahead of time into an artifact (`kiln run` runs it, and
    /// the code cache is warmed this way).
    Compile(CompileArgs),
    /// Show, clear or locate the code cache.
    Cache(CacheArgs),
    /// Read a profile that `kiln run --profile` wrote.
    Profile(ProfileArgs),
    /// Print the CPU features and Cranelift settings generated code uses.
    Settings(SettingsArgs),
    /// Print a shell completion script.
    Completion(CompletionArgs),
    /// Serve code execution over HTTP (`POST /v1/execute`; see kiln-serve).
    Serve(ServeArgs),
    /// Install, list, remove, verify and sign language plugins for `kiln serve`.
    Plugin(PluginArgs),
}

/// The strategy `kiln run` uses without `--strategy` (chosen by measurement: see
/// BENCHMARKS.md, "Tiers").
pub const DEFAULT_STRATEGY: kiln::Strategy = kiln::Strategy::Eager(kiln::OptLevel::Speed);

/// `kiln run`.
#[derive(Debug, Args)]
#[command(after_help = "\
Everything after FILE is the guest's: `kiln run --fuel 100 x.wasm --fuel 5` gives the \
guest the arguments `--fuel 5`.

Exit status: the guest's exit code; 134 when wasm traps (the trap and its backtrace go to \
stderr); 3 when a limit stops the guest (the message names the limit, its value and the \
use); 2 when the program cannot run.")]
pub struct RunArgs {
    /// Pre-open host directory HOST for the guest as GUEST (default: HOST);
    /// `::ro` makes it read-only. Repeatable.
    #[arg(long = "dir", value_name = "HOST[::GUEST][::ro]")]
    pub dirs: Vec<String>,

    /// Set NAME to VAL for the guest, or with `--env NAME` pass the host's value of
    /// NAME. Repeatable. The guest sees no other variable.
    #[arg(long = "env", value_name = "NAME[=VAL]")]
    pub env: Vec<String>,

    /// Call the export NAME (after `_initialize` for a reactor) with ARGS parsed by its
    /// parameter types, and print its results, instead of running `_start`.
    #[arg(long, value_name = "NAME")]
    pub invoke: Option<String>,

    /// The guest's argv[0] (default: the file's name, without its directory).
    #[arg(long, value_name = "NAME")]
    pub argv0: Option<String>,

    /// Instantiate the module FILE first and link its exports as imports named NAME.
    /// Repeatable.
    #[arg(long = "preload", value_name = "NAME=FILE")]
    pub preload: Vec<String>,

    /// Link function imports nothing provides to functions returning zeroes.
    #[arg(long)]
    pub default_imports: bool,

    /// Stop the guest after N units of fuel (one per operator; as in Wasmtime, `nop`, `drop`, `block`, `loop`, `end`, `else`, `unreachable` and `return` are free).
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,

    /// Stop everything after DURATION (e.g. 500ms, 2s): compilation, instantiation and
    /// the guest, host calls included.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Most linear memory and table storage in all (e.g. 64MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,

    /// Most elements per table.
    #[arg(long, value_name = "N")]
    pub max_table_elements: Option<u32>,

    /// Most native stack wasm may use (default 512KiB, at most 1GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_wasm_stack: Option<u64>,

    /// Most bytes the guest may write to files (fd_write, fd_allocate).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_disk_write: Option<u64>,

    /// The code cache: `on` (the default with `--strategy eager`: `$XDG_CACHE_HOME/kiln`,
    /// else `~/.cache/kiln`), `off` (the default otherwise), or a directory to use
    /// instead. It holds eagerly compiled code only.
    #[arg(long, value_name = "on|off|DIR")]
    pub cache: Option<String>,

    /// When functions are compiled: `eager` (all of them, optimized, before the guest
    /// starts; what the code cache holds), `lazy` (each at its first call, optimized),
    /// or `tiered` (each at its first call as quickly compiled baseline code that
    /// counts calls and loop iterations; hot functions are optimized on a background
    /// thread and replace it).
    #[arg(long, value_name = "eager|lazy|tiered", value_parser = parse_strategy)]
    pub strategy: Option<kiln::Strategy>,

    /// With `--strategy tiered`: the calls, or loop iterations, after which a function
    /// is optimized (default: 1000 calls or 10000 iterations; 0 or 1: at once).
    #[arg(long, value_name = "N")]
    pub tier_up_threshold: Option<u32>,

    /// Profile-guided optimization: tiered code (the default strategy becomes
    /// `tiered`) whose baseline tier records the targets of indirect calls, and whose
    /// optimized tier calls a dominant target directly behind a guard and inlines small
    /// callees.
    #[arg(long)]
    pub profile_guided: bool,

    /// With `--profile-guided` or `--profile-in`: layout from branch counts. Baseline
    /// code also counts which way each `if` and `br_if` goes, and optimized code lays
    /// a side that almost never runs out after the hot code. Off by default: it
    /// measured no gain on sightglass (BENCHMARKS.md).
    #[arg(long)]
    pub branch_layout: bool,

    /// Call every WASI function through the generic host path: no inlined fast paths
    /// (which `kiln run` otherwise compiles in for `clock_time_get`, `clock_res_get`,
    /// `sched_yield`, `args_sizes_get` and `environ_sizes_get`).
    #[arg(long)]
    pub no_wasi_fast_paths: bool,

    /// Write a JSON profile (each function's calls, loop iterations, tier and compile
    /// times, and the tier-up timeline) to FILE (default `kiln-profile.json`) when the
    /// guest ends; `kiln profile report FILE` prints it. Needs `--strategy lazy` or
    /// `tiered` (tiered counts).
    #[arg(
        long,
        alias = "profile-out",
        value_name = "FILE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "kiln-profile.json"
    )]
    pub profile: Option<PathBuf>,

    /// Compile with a profile an earlier run wrote (`--profile-out`); it must be this
    /// module's. Eager code (the default) is compiled up front with the profile's
    /// speculation and inlining, and cached apart from code without it; with
    /// `--strategy tiered`, what the profile saw optimized is optimized at once, ahead
    /// of its first call.
    #[arg(long, value_name = "FILE")]
    pub profile_in: Option<PathBuf>,

    /// Wasmtime's spelling of the limits: `-W fuel=N`, `-W timeout=2s`,
    /// `-W max-memory-size=BYTES`, `-W max-wasm-stack=BYTES`. Repeatable.
    #[arg(short = 'W', value_name = "OPT=VAL")]
    pub wasm: Vec<String>,

    /// The module (`.wasm`, `.wat` text, or an artifact from `kiln compile`), then the
    /// guest's arguments.
    #[arg(
        value_name = "FILE [ARGS]...",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub file_and_args: Vec<String>,
}

/// `kiln wast`.
#[derive(Debug, Args)]
pub struct WastArgs {
    /// Print each failed check.
    #[arg(long, short)]
    pub verbose: bool,
    /// Skip the SIMD scripts (counting their checks as skipped).
    #[arg(long)]
    pub no_simd: bool,
    /// Compile for the architecture's baseline CPU features (SSE2 on x86-64).
    #[arg(long)]
    pub baseline: bool,
    /// Serialize and deserialize every module before using it (checks artifacts).
    #[arg(long)]
    pub round_trip: bool,
    /// Scripts to run at once (default: the number of cores).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// `.wast` files, or folders whose `.wast` files to run.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// `kiln compile`.
#[derive(Debug, Args)]
#[command(after_help = "\
An artifact runs only where it was made: the same build of Kiln, the same settings and CPU \
features, and the same installation key (the file `artifact.key` in the cache directory, \
created 0600). `kiln run` refuses any other, or one changed since, saying why.")]
pub struct CompileArgs {
    /// Where to write the artifact (default: FILE with the extension `.kwasm`).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Compile with fuel metering, for `kiln run --fuel` (code without it cannot be
    /// metered).
    #[arg(long)]
    pub consume_fuel: bool,
    /// Compile with interruption checks, for `kiln run --timeout`.
    #[arg(long)]
    pub interruptible: bool,
    /// Store the artifact in the code cache too (as `kiln run FILE` would).
    #[arg(long)]
    pub warm_cache: bool,
    /// The module (`.wasm` or `.wat`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `kiln cache`.
#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub action: CacheAction,
}

/// What `kiln cache` does.
#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Print the number of cached modules and their size.
    Stats,
    /// Delete every cached module (the key stays).
    Clear,
    /// Print the cache directory.
    Dir,
}

/// `kiln plugin`.
#[derive(Debug, Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    pub action: PluginAction,
    /// The registry (default: $KILN_HOME/plugins, or ~/.kiln/plugins).
    #[arg(long, global = true)]
    pub registry: Option<PathBuf>,
    /// A `kiln serve` configuration whose `[plugins]` section gives the registry and
    /// the trusted keys.
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
    /// Trust this publisher key (ed25519 public key, hex); repeatable.
    #[arg(long = "trusted-key", global = true)]
    pub trusted_keys: Vec<String>,
    /// Accept unsigned plugins (wrongly signed ones never are).
    #[arg(long, global = true)]
    pub allow_unsigned: bool,
}

/// What `kiln plugin` does.
#[derive(Debug, Subcommand)]
pub enum PluginAction {
    /// Check a plugin (a directory or .tar.gz) completely, precompile its module (and
    /// its pre-initialized module) into the code cache, and install it.
    Install {
        /// The plugin.
        path: PathBuf,
        /// The code cache to precompile into: `on` (the default), `off`, or a directory.
        #[arg(long, value_name = "on|off|DIR")]
        cache: Option<String>,
    },
    /// List the installed plugins.
    List,
    /// Remove NAME (every version) or NAME@VERSION.
    Remove {
        /// The plugin.
        spec: String,
    },
    /// Check every installed plugin's digests and signature.
    Verify,
    /// Sign the plugin in DIR (writes DIR/plugin.sig) with the key in FILE.
    Sign {
        /// The plugin's directory.
        dir: PathBuf,
        /// The publisher's key file (its secret seed in hex).
        #[arg(long)]
        key: PathBuf,
    },
    /// Make a publisher key: writes the secret to FILE (0600), prints the public key.
    Keygen {
        /// The key file to create.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `kiln profile`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[command(subcommand)]
    pub action: ProfileAction,
}

/// What `kiln profile` does.
#[derive(Debug, Subcommand)]
pub enum ProfileAction {
    /// Print the hottest functions (calls, loop iterations, tier, compile times) and
    /// the tier-up timeline.
    Report {
        /// The profile `kiln run --profile` wrote.
        file: PathBuf,
        /// How many functions to list.
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// Print folded lines (`module;function weight`) for flame-graph tools instead.
        #[arg(long)]
        folded: bool,
    },
}

/// `kiln serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML configuration file (see kiln-serve's `ServeConfig`); flags override it.
    #[arg(long, short)]
    pub config: Option<std::path::PathBuf>,
    /// The address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Worker threads: jobs run at once (default: one per CPU).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Jobs that may wait for a worker; past it requests get 503.
    #[arg(long)]
    pub queue_depth: Option<usize>,
    /// The SQLite job history (default kiln-serve.db).
    #[arg(long)]
    pub database: Option<std::path::PathBuf>,
    /// The code cache's disk tier: `on` (the default: the configuration's
    /// `cache_directory`, else `$XDG_CACHE_HOME/kiln` or `~/.cache/kiln`), `off` (memory
    /// only), or a directory.
    #[arg(long, value_name = "on|off|DIR")]
    pub cache: Option<String>,
    /// Serve without API keys: refused on any address but a loopback one.
    #[arg(long)]
    pub no_auth: bool,
    /// Where each job's scratch directory is made (default: $TMPDIR/kiln-serve).
    #[arg(long)]
    pub scratch_dir: Option<std::path::PathBuf>,
    /// On SIGTERM, how long running jobs may finish before they are cancelled.
    #[arg(long)]
    pub shutdown_grace_ms: Option<u64>,
    /// Append the audit log (JSON lines) to this file (default: standard error).
    #[arg(long)]
    pub audit_log: Option<std::path::PathBuf>,
}

/// `kiln settings`.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Describe the SSE2 baseline instead of this host's features.
    #[arg(long)]
    pub baseline: bool,
}

/// `kiln completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Whether `word` is a subcommand (anything else in first place means `run`): the
/// names clap derives from [`Command`], and `help`.
fn is_subcommand(word: &str) -> bool {
    use clap::CommandFactory;
    word == "help"
        || Cli::command()
            .get_subcommands()
            .any(|c| c.get_name() == word)
}

/// `argv` with `run` inserted when the first argument is neither a subcommand nor a
/// top-level flag: `kiln x.wasm` means `kiln run x.wasm`, and `kiln --fuel 5 x.wasm`
/// means `kiln run --fuel 5 x.wasm`.
pub fn with_implied_run(mut argv: Vec<String>) -> Vec<String> {
    if let Some(first) = argv.get(1) {
        let top_level = ["-h", "--help", "-V", "--version"].contains(&first.as_str());
        if !top_level && !is_subcommand(first) {
            argv.insert(1, "run".into());
        }
    }
    argv
}

/// `eager`, `lazy` or `tiered`.
fn parse_strategy(s: &str) -> Result<kiln::Strategy, String> {
    s.parse().map_err(|e: kiln::Error| e.to_string())
}

impl RunArgs {
    /// The strategy: `--strategy`, else the default.
    pub fn strategy(&self) -> kiln::Strategy {
        match (self.strategy, self.profile_guided) {
            (Some(s), _) => s,
            (None, true) => kiln::Strategy::Tiered,
            (None, false) => DEFAULT_STRATEGY,
        }
    }

    /// Checks what clap cannot: FILE comes first, so a word starting with `-` there is an
    /// option Kiln does not know (everything after FILE is the guest's).
    pub fn validate(&self) -> Result<(), String> {
        let first = self.file();
        if first.starts_with('-') && first != "-" {
            return Err(format!(
                "unexpected argument '{first}' found (not an option of `kiln run`; see \
                 `kiln run --help`)"
            ));
        }
        let strategy = self.strategy();
        let eager = matches!(strategy, kiln::Strategy::Eager(_));
        if !eager && self.cache.as_deref().is_some_and(|c| c != "off") {
            return Err(format!(
                "--cache {}: the code cache holds eagerly compiled code, and --strategy {} \
                 compiles functions as they are called (use --strategy eager, or --cache off)",
                self.cache.as_deref().unwrap_or_default(),
                strategy.name()
            ));
        }
        if eager && self.profile.is_some() {
            return Err(
                "--profile needs --strategy lazy or tiered (eager code records nothing)".into(),
            );
        }
        if self.profile_guided && strategy != kiln::Strategy::Tiered {
            return Err(format!(
                "--profile-guided needs --strategy tiered (the profile is what tiered \
                 baseline code records), not {}",
                strategy.name()
            ));
        }
        if self.branch_layout && !self.profile_guided && self.profile_in.is_none() {
            return Err(
                "--branch-layout needs --profile-guided or --profile-in (the branch counts \
                 come from a profile)"
                    .into(),
            );
        }
        if self.profile_in.is_some() && strategy == kiln::Strategy::Lazy {
            return Err("--profile-in guides eager or tiered code, not lazy code".into());
        }
        if self.tier_up_threshold.is_some() && strategy != kiln::Strategy::Tiered {
            return Err("--tier-up-threshold needs --strategy tiered".into());
        }
        Ok(())
    }

    /// The module's path.
    pub fn file(&self) -> &str {
        &self.file_and_args[0]
    }

    /// The guest's arguments (after FILE).
    pub fn guest_args(&self) -> &[String] {
        &self.file_and_args[1..]
    }

    /// Folds `-W` options into the long ones (a `-W` value wins over nothing, and a
    /// long option given too must agree with it).
    pub fn apply_wasmtime_options(&mut self) -> Result<(), String> {
        for opt in std::mem::take(&mut self.wasm) {
            let (key, value) = opt
                .split_once('=')
                .ok_or_else(|| format!("-W {opt}: expected OPT=VALUE"))?;
            let bytes = |v: &str| -> Result<u64, String> {
                let v = v.replace('_', "");
                match v.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16).map_err(|e| format!("-W {opt}: {e}")),
                    None => parse_size(&v),
                }
            };
            match key {
                "fuel" => {
                    self.fuel = Some(
                        value
                            .parse()
                            .map_err(|_| format!("-W {opt}: expected a number"))?,
                    )
                }
                "timeout" => {
                    // Wasmtime reads a bare number as seconds.
                    let v = if value.chars().all(|c| c.is_ascii_digit()) {
                        format!("{value}s")
                    } else {
                        value.to_string()
                    };
                    self.timeout = Some(parse_duration(&v)?);
                }
                "max-memory-size" => self.max_memory = Some(bytes(value)?),
                "max-wasm-stack" => self.max_wasm_stack = Some(bytes(value)?),
                other => {
                    return Err(format!(
                        "-W {other}: Kiln understands -W fuel, timeout, max-memory-size and \
                         max-wasm-stack (and the long options in `kiln run --help`)"
                    ))
                }
            }
        }
        Ok(())
    }
}

/// A `--dir` value: host path, guest name, read-only.
pub fn parse_dir(spec: &str) -> Result<(String, String, bool), String> {
    let mut parts: Vec<&str> = spec.split("::").collect();
    let read_only = match parts.last() {
        Some(&"ro" | &"readonly") if parts.len() > 1 => {
            parts.pop();
            true
        }
        _ => false,
    };
    match parts.as_slice() {
        [host] if !host.is_empty() => Ok((host.to_string(), host.to_string(), read_only)),
        [host, guest] if !host.is_empty() && !guest.is_empty() => {
            Ok((host.to_string(), guest.to_string(), read_only))
        }
        _ => Err(format!(
            "--dir `{spec}`: expected HOST, HOST::GUEST, HOST::ro or HOST::GUEST::ro"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Cli, String> {
        let argv: Vec<String> = std::iter::once("kiln")
            .chain(line.split_whitespace())
            .map(String::from)
            .collect();
        let cli = Cli::try_parse_from(with_implied_run(argv)).map_err(|e| e.to_string())?;
        if let Command::Run(r) = &cli.command {
            r.validate()?;
        }
        Ok(cli)
    }

    fn run(line: &str) -> RunArgs {
        match parse(line).expect("parses").command {
            Command::Run(r) => *r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn everything_after_the_file_is_the_guests() {
        let a = run("run --fuel 5 --dir /tmp::data f.wasm -c x --max-memory=1MiB -h --fuel 9");
        assert_eq!(a.file(), "f.wasm");
        assert_eq!(a.fuel, Some(5));
        assert_eq!(
            a.max_memory, None,
            "a limit after FILE is the guest's argument"
        );
        assert_eq!(
            a.guest_args(),
            ["-c", "x", "--max-memory=1MiB", "-h", "--fuel", "9"]
        );
    }

    #[test]
    fn run_is_implied_and_equals_signs_work() {
        let a = run("--fuel=100 --timeout=2s x.wasm 1 2");
        assert_eq!(
            (a.fuel, a.timeout),
            (Some(100), Some(Duration::from_secs(2)))
        );
        assert_eq!(a.guest_args(), ["1", "2"]);
        let a = run("x.wasm");
        assert_eq!(a.file(), "x.wasm");
        assert!(matches!(
            parse("wast a.wast").expect("parses").command,
            Command::Wast(_)
        ));
    }

    #[test]
    fn wasmtime_spellings_fold_into_the_long_options() {
        let mut a =
            run("-W fuel=7 -W timeout=3 -W max-memory-size=0x10000 -W max-wasm-stack=1_000 x.wasm");
        a.apply_wasmtime_options().expect("known options");
        assert_eq!(a.fuel, Some(7));
        assert_eq!(a.timeout, Some(Duration::from_secs(3)));
        assert_eq!(a.max_memory, Some(65536));
        assert_eq!(a.max_wasm_stack, Some(1000));
        let mut b = run("-W nope=1 x.wasm");
        assert!(b.apply_wasmtime_options().is_err());
    }

    #[test]
    fn dirs() {
        assert_eq!(parse_dir("a"), Ok(("a".into(), "a".into(), false)));
        assert_eq!(parse_dir("a::b"), Ok(("a".into(), "b".into(), false)));
        assert_eq!(parse_dir("a::ro"), Ok(("a".into(), "a".into(), true)));
        assert_eq!(parse_dir("a::b::ro"), Ok(("a".into(), "b".into(), true)));
        assert!(parse_dir("a::b::c").is_err());
        assert!(parse_dir("::b").is_err());
    }

    #[test]
    fn bad_command_lines_are_errors() {
        assert!(parse("").is_err());
        assert!(parse("run").is_err());
        assert!(parse("run --invoke").is_err());
        assert!(parse("run --frobnicate x.wasm").is_err());
        assert!(parse("run --fuel lots x.wasm").is_err());
    }
}
