//! A real server on 127.0.0.1 with an ephemeral port, on its own runtime thread, and a
//! minimal HTTP/1.1 client over `TcpStream` (each request on its own connection).

#![allow(dead_code, reason = "each test file uses part of this")]

use kiln_serve::ServeConfig;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A running server; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with `config` (its `listen` replaced by 127.0.0.1:0).
    pub fn start(mut config: ServeConfig) -> TestServer {
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            let failed = tx.clone();
            let r = rt.block_on(kiln_serve::serve(
                config,
                move |addr| {
                    let _ = tx.send(Ok(addr));
                },
                async move {
                    let _ = stopped.await;
                },
            ));
            if let Err(e) = r {
                let _ = failed.send(Err(e.to_string()));
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server starts")
            .expect("the server binds");
        TestServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Sends one request; returns the status, the headers (lowercase names) and the body.
    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Response {
        request(self.addr, method, path, body, None)
    }

    /// `request` with `Authorization: Bearer key`.
    pub fn request_as(&self, key: &str, method: &str, path: &str, body: Option<&[u8]>) -> Response {
        request(self.addr, method, path, body, Some(key))
    }

    /// `POST /v1/execute` with `json`; the status and the parsed answer.
    pub fn execute(&self, json: &serde_json::Value) -> (u16, serde_json::Value) {
        let r = self.request("POST", "/v1/execute", Some(json.to_string().as_bytes()));
        (r.status, r.json())
    }

    /// `GET path`; the status and the parsed answer.
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.request("GET", path, None);
        (r.status, r.json())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// One request on a new connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    key: Option<&str>,
) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let body = body.unwrap_or_default();
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         {auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("send");
    // A server may answer (413) before reading a large body, and close.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        assert!(!raw.is_empty(), "{method} {path}: no answer: {e}");
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = unchunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
}

/// A configuration for tests: an in-memory history unless `database` is given.
pub fn config(database: Option<&std::path::Path>) -> ServeConfig {
    ServeConfig {
        database: database.map_or_else(|| ":memory:".into(), |p| p.to_path_buf()),
        workers: 2,
        no_auth: true,
        ..ServeConfig::default()
    }
}

/// A WASI command printing `text` to stdout, then exiting with `code` (0: returning).
pub fn printing(text: &str, code: i32) -> String {
    let exit = if code == 0 {
        String::new()
    } else {
        format!("(call $exit (i32.const {code}))")
    };
    printing_then(text, &exit)
}

/// A WASI command that prints `text` and then spins until it is stopped.
pub fn printing_then_spinning(text: &str) -> String {
    printing_then(text, "(loop (br 0))")
}

/// A WASI command printing `text` to stdout, then running the instructions `then`.
fn printing_then(text: &str, then: &str) -> String {
    format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "{text}")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const {len}))
            (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            {then}))"#,
        len = text.len()
    )
}

/// A WASI command copying (up to 100 bytes of) stdin to stdout.
pub const ECHO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 100))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

/// A Server-Sent Events stream, read as it arrives (HTTP/1.0, so the body is not
/// chunked and ends when the server closes).
pub struct Events {
    reader: std::io::BufReader<TcpStream>,
    pub status: u16,
}

impl Events {
    /// `GET path` as an event stream (with `key` as the Bearer key).
    pub fn open(addr: SocketAddr, path: &str, key: Option<&str>) -> Events {
        use std::io::BufRead;
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(120)))
            .expect("timeout");
        let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
        let head = format!(
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{auth}\r\n"
        );
        s.write_all(head.as_bytes()).expect("send");
        let mut reader = std::io::BufReader::new(s);
        let mut line = String::new();
        reader.read_line(&mut line).expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        loop {
            line.clear();
            reader.read_line(&mut line).expect("header");
            if line.trim().is_empty() {
                break;
            }
        }
        Events { reader, status }
    }

    /// The next event's name and data (JSON); `None` at the end of the stream.
    pub fn next(&mut self) -> Option<(String, serde_json::Value)> {
        use std::io::BufRead;
        let (mut name, mut data) = (String::new(), String::new());
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if name.is_empty() && data.is_empty() {
                    continue; // a keep-alive comment ended
                }
                let value = serde_json::from_str(&data)
                    .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data:?}"));
                return Some((name, value));
            }
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    }
}

/// Waits (up to a minute) until `f` holds, checking every 5 ms.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !f() {
        assert!(started.elapsed().as_secs() < 60, "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
