//! The API's JSON: requests, responses, job statuses and languages.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /v1/execute`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// A name from `GET /v1/languages`.
    pub language: String,
    /// The program: base64 for `wasm`, text for `wat`.
    #[serde(default)]
    pub code: Option<String>,
    /// The program as files: the first is the program (other files need each job's
    /// scratch directory, which is not implemented yet).
    #[serde(default)]
    pub files: Option<Vec<SourceFile>>,
    /// Standard input.
    #[serde(default)]
    pub stdin: String,
    /// Arguments after the program's name.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables (the guest sees no others).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Wall time, clamped to the server's maximum.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Linear memory, clamped to the server's maximum.
    #[serde(default)]
    pub memory_limit_mb: Option<u64>,
    /// Fuel, clamped to the server's maximum.
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Answer at once with the job id (not implemented yet: `501`).
    #[serde(default, rename = "async")]
    pub asynchronous: bool,
}

/// One file of a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// Its name.
    pub name: String,
    /// Its content, in `encoding`.
    pub content: String,
    /// `utf8` (the default) or `base64`.
    #[serde(default)]
    pub encoding: Encoding,
}

/// How a file's content is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Text.
    #[default]
    Utf8,
    /// Base64 (standard alphabet, padded).
    Base64,
}

impl SourceFile {
    /// The content's bytes.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        match self.encoding {
            Encoding::Utf8 => Ok(self.content.clone().into_bytes()),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(&self.content)
                .map_err(|e| format!("file `{}`: invalid base64: {e}", self.name)),
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted, waiting for a worker.
    Queued,
    /// A worker runs it.
    Running,
    /// The program exited with status 0.
    Completed,
    /// The program exited with another status, or trapped.
    Failed,
    /// The time limit stopped it.
    Timeout,
    /// The memory limit stopped it.
    MemoryLimit,
    /// The fuel limit stopped it.
    FuelExhausted,
    /// Cancelled before it finished.
    Cancelled,
    /// The program could not run: an invalid module, an import nothing provides.
    #[default]
    Error,
    /// The server stopped while it ran.
    Lost,
}

impl Status {
    /// Its name in the API (and the history).
    pub fn name(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Timeout => "timeout",
            Status::MemoryLimit => "memory_limit",
            Status::FuelExhausted => "fuel_exhausted",
            Status::Cancelled => "cancelled",
            Status::Error => "error",
            Status::Lost => "lost",
        }
    }

    /// The status named `name`.
    pub fn from_name(name: &str) -> Option<Status> {
        [
            Status::Queued,
            Status::Running,
            Status::Completed,
            Status::Failed,
            Status::Timeout,
            Status::MemoryLimit,
            Status::FuelExhausted,
            Status::Cancelled,
            Status::Error,
            Status::Lost,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }

    /// Whether the job is over.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Queued | Status::Running)
    }
}

/// A job's result: `POST /v1/execute`'s answer and `GET /v1/jobs/{id}`'s.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct JobResult {
    /// The job's id.
    pub job_id: String,
    /// Its language.
    pub language: String,
    /// Where it is.
    pub status: Status,
    /// What it printed (UTF-8, invalid sequences replaced), up to the output limit.
    pub stdout: String,
    /// Likewise for stderr.
    pub stderr: String,
    /// The program's exit status, when it exited.
    pub exit_code: Option<i32>,
    /// Compilation and run, in milliseconds.
    pub duration_ms: u64,
    /// The limits that stopped it (`time`, `memory`, `fuel`, `stack`).
    pub limits_hit: Vec<String>,
    /// Whether stdout or stderr was cut at the output limit.
    pub truncated: bool,
    /// Why it failed or could not run (a trap and its backtrace, a compile error).
    pub error: Option<String>,
}

impl JobResult {
    /// The result of a job that ended with `status` without output (it never ran, or
    /// the server failed it), and why.
    pub fn without_output(id: &str, language: &str, status: Status, error: &str) -> JobResult {
        JobResult {
            job_id: id.to_string(),
            language: language.to_string(),
            status,
            stdout: String::new(),
            stderr: String::new(),
            exit_code: None,
            duration_ms: 0,
            limits_hit: Vec::new(),
            truncated: false,
            error: Some(error.to_string()),
        }
    }
}

/// A language the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// A WASI command module, base64.
    Wasm,
    /// A WASI command module in the text format.
    Wat,
}

impl Language {
    /// Every language.
    pub const ALL: [Language; 2] = [Language::Wasm, Language::Wat];

    /// Its name in requests.
    pub fn name(self) -> &'static str {
        match self {
            Language::Wasm => "wasm",
            Language::Wat => "wat",
        }
    }

    /// The language named `name`.
    pub fn from_name(name: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.name() == name)
    }

    /// What `GET /v1/languages` says of it.
    pub fn describe(self) -> LanguageInfo {
        LanguageInfo {
            name: self.name(),
            description: match self {
                Language::Wasm => "a WASI preview 1 command module, base64-encoded",
                Language::Wat => "a WASI preview 1 command module in the WebAssembly text format",
            },
        }
    }

    /// The module from the request's program: binary, or text for `wat` (the runner
    /// compiles either; a module that does not compile is the job's `error`, not the
    /// request's). `Err` for a program that is not what the language takes at all.
    pub fn module_bytes(self, program: Program) -> Result<Vec<u8>, String> {
        match (self, program) {
            (Language::Wasm, Program::Code(text)) => base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| format!("`code` is not base64: {e}")),
            (Language::Wasm, Program::File(bytes)) => Ok(bytes),
            (Language::Wat, Program::Code(text)) => match text.trim_start().starts_with('(') {
                true => Ok(text.into_bytes()),
                false => Err("a `wat` program is text starting with `(`".to_string()),
            },
            (Language::Wat, Program::File(bytes)) => match bytes.trim_ascii_start().first() {
                Some(b'(') => Ok(bytes),
                _ => Err("a `wat` program is text starting with `(`".to_string()),
            },
        }
    }
}

/// A request's program: its `code`, or its first file's decoded content.
#[derive(Debug, Clone)]
pub enum Program {
    /// `code`.
    Code(String),
    /// The first of `files`.
    File(Vec<u8>),
}

/// An entry of `GET /v1/languages`.
#[derive(Debug, Clone, Serialize)]
pub struct LanguageInfo {
    /// Its name in requests.
    pub name: &'static str,
    /// What the program must be.
    pub description: &'static str,
}
