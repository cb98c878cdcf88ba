//! Command-line parsing for `kiln run`.

use crate::limits;
use std::fmt;

/// Usage text.
pub const USAGE: &str = "\
usage: kiln run FILE.(wasm|wat) [OPTIONS] [ARGS...] [-- ARGS...]

Runs `_start` of a WASI command (after `_initialize` for a reactor), or the function
given by --invoke with ARGS parsed by its parameter types.

options:
  --invoke NAME        call the export NAME instead of `_start`
  --dir HOST[::GUEST]  pre-open host directory HOST as GUEST (default: HOST), read-write
  --env K=V            set an environment variable for the guest (repeatable)
  --default-imports    link missing function imports to functions returning zeroes
  --fuel N             stop the guest after N units of fuel (one per operator)
  --timeout DURATION   stop the guest after DURATION (e.g. 500ms, 2s)
  --max-memory SIZE    most linear memory and table storage in all (e.g. 64MiB)
  --max-table-elements N  most elements per table
  --max-wasm-stack SIZE   most native stack wasm may use (default 512KiB, at most 1GiB)
  --max-disk-write SIZE   most bytes the guest may write to files (fd_write, fd_allocate)
  -h, --help           print this help

A limit that stops the guest is reported with its value and what was used, and the
exit status is 3.";

/// Parsed `kiln run` arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunArgs {
    /// The module file.
    pub file: String,
    /// The export to call instead of `_start`.
    pub invoke: Option<String>,
    /// `(host, guest)` pre-opened directories.
    pub dirs: Vec<(String, String)>,
    /// Environment variables for the guest.
    pub env: Vec<(String, String)>,
    /// Link unknown function imports to zero-returning stubs.
    pub default_imports: bool,
    /// Program arguments, or the invoked function's arguments.
    pub args: Vec<String>,
    /// Resource limits.
    pub limits: crate::limits::Limits,
}

/// A command line that does not run a module.
#[derive(Debug, PartialEq, Eq)]
pub enum UsageError {
    /// `-h`/`--help`: the usage text was asked for (stdout, success).
    Help,
    /// A command line that cannot be run, and why.
    Bad(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Help => f.write_str(USAGE),
            UsageError::Bad(msg) => f.write_str(msg),
        }
    }
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError::Bad(msg.into())
}

/// Parses the arguments after the program name. Options may appear anywhere before `--`.
pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<RunArgs, UsageError> {
    let mut argv = argv.into_iter();
    match argv.next().as_deref() {
        Some("run") => {}
        Some("-h" | "--help") => return Err(UsageError::Help),
        None => return Err(usage(USAGE)),
        Some(other) => return Err(usage(format!("unknown command `{other}`\n\n{USAGE}"))),
    }
    let mut a = RunArgs::default();
    let mut file = None;
    while let Some(arg) = argv.next() {
        let mut value = |flag: &str| {
            argv.next()
                .ok_or_else(|| usage(format!("{flag} needs a value")))
        };
        match arg.as_str() {
            "--invoke" => a.invoke = Some(value("--invoke")?),
            "--dir" => {
                let spec = value("--dir")?;
                let (host, guest) = match spec.split_once("::") {
                    Some((h, g)) => (h.to_string(), g.to_string()),
                    None => (spec.clone(), spec.clone()),
                };
                if host.is_empty() || guest.is_empty() {
                    return Err(usage(format!(
                        "--dir `{spec}`: expected HOST or HOST::GUEST"
                    )));
                }
                a.dirs.push((host, guest));
            }
            "--env" => {
                let kv = value("--env")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| usage(format!("--env `{kv}`: expected K=V")))?;
                if k.is_empty() {
                    return Err(usage(format!("--env `{kv}`: empty variable name")));
                }
                a.env.push((k.to_string(), v.to_string()));
            }
            "--default-imports" => a.default_imports = true,
            "--fuel" => {
                let v = value("--fuel")?;
                a.limits.fuel = Some(
                    v.parse()
                        .map_err(|_| usage(format!("--fuel `{v}`: expected a number")))?,
                );
            }
            "--timeout" => {
                let v = value("--timeout")?;
                a.limits.timeout = Some(limits::parse_duration(&v).map_err(usage)?);
            }
            "--max-memory" => {
                let v = value("--max-memory")?;
                a.limits.max_memory = Some(limits::parse_size(&v).map_err(usage)?);
            }
            "--max-table-elements" => {
                let v = value("--max-table-elements")?;
                a.limits.max_table_elements = Some(v.parse().map_err(|_| {
                    usage(format!("--max-table-elements `{v}`: expected a number"))
                })?);
            }
            "--max-disk-write" => {
                let v = value("--max-disk-write")?;
                a.limits.max_disk_write = Some(limits::parse_size(&v).map_err(usage)?);
            }
            "--max-wasm-stack" => {
                let v = value("--max-wasm-stack")?;
                let bytes = limits::parse_size(&v).map_err(usage)?;
                a.limits.max_wasm_stack = Some(
                    usize::try_from(bytes)
                        .map_err(|_| usage(format!("--max-wasm-stack `{v}` is too large")))?,
                );
            }
            "-h" | "--help" => return Err(UsageError::Help),
            "--" => a.args.extend(argv.by_ref()),
            flag if flag.starts_with("--") && file.is_none() => {
                return Err(usage(format!("unknown option `{flag}`\n\n{USAGE}")));
            }
            _ if file.is_none() => file = Some(arg),
            _ => a.args.push(arg),
        }
    }
    a.file = file.ok_or_else(|| usage(format!("missing FILE\n\n{USAGE}")))?;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<RunArgs, UsageError> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn options_anywhere_before_double_dash() {
        let a =
            p("run --dir /tmp::data f.wasm --env A=1 --invoke fib 30 -- --dir x").expect("parses");
        assert_eq!(a.file, "f.wasm");
        assert_eq!(a.invoke.as_deref(), Some("fib"));
        assert_eq!(a.dirs, [("/tmp".to_string(), "data".to_string())]);
        assert_eq!(a.env, [("A".to_string(), "1".to_string())]);
        assert_eq!(a.args, ["30", "--dir", "x"]);
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        assert!(p("").is_err());
        assert!(p("build x.wasm").is_err());
        assert!(p("run").is_err());
        assert!(p("run x.wasm --invoke").is_err());
        assert!(p("run x.wasm --env NOEQUALS").is_err());
        assert!(p("run --frobnicate x.wasm").is_err());
        assert_eq!(p("--help"), Err(UsageError::Help));
        assert_eq!(p("run x.wasm -h"), Err(UsageError::Help));
        assert_eq!(
            p("run x.wasm --dir d").expect("parses").dirs,
            [("d".into(), "d".into())]
        );
    }
}
