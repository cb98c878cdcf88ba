//! Reading a module's bytes without trusting the file or its contents: only regular
//! files, never more than a set size, text parsed only when it is text, and error
//! messages that quote no more than a short excerpt of what they read.

use crate::error::Result;
use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

/// The default of `Config::max_module_size`: 1 GiB.
pub const DEFAULT_MAX_MODULE_SIZE: u64 = 1 << 30;

/// At most this many bytes of a message from the text parser are kept.
const MAX_MESSAGE: usize = 1024;
/// At most this many characters of any one line of such a message are kept.
const MAX_LINE: usize = 160;

/// Reads the module file at `path`: a regular file of at most `max_size` bytes.
/// Anything else (a directory, a FIFO, a device such as `/dev/zero`, a socket) is
/// refused at once, without reading it or waiting for a writer.
pub fn read_module_file(path: &Path, max_size: u64) -> std::io::Result<Vec<u8>> {
    let io = |e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("cannot read `{}`: {e}", path.display()))
    };
    // Non-blocking, so that opening a FIFO returns at once instead of waiting for a
    // writer; the type check below refuses it.
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(io)?
    };
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "`{}` is not a regular file (a module is read only from one)",
                path.display()
            ),
        ));
    }
    if meta.len() > max_size {
        return Err(too_large(path, meta.len(), max_size));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow while it is read: never read past the limit.
    (&mut file)
        .take(max_size + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max_size {
        return Err(too_large(path, bytes.len() as u64, max_size));
    }
    Ok(bytes)
}

fn too_large(path: &Path, size: u64, max: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!(
            "`{}` is {size} bytes, more than the limit of {max} bytes \
             (Config::max_module_size)",
            path.display()
        ),
    )
}

/// Whether `bytes` look like the text format: UTF-8 whose first token (after
/// whitespace and comments) is `(`.
pub(crate) fn looks_like_text(bytes: &[u8]) -> bool {
    // A valid prefix is enough: the first 4 KiB, cut at a character boundary.
    let head = &bytes[..bytes.len().min(4096)];
    let head = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    let mut rest = head;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(";;") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if rest.starts_with("(;") {
            // A block comment: skip to its end (nesting is rare before the module).
            rest = rest.split_once(";)").map_or("", |(_, r)| r);
        } else {
            return rest.starts_with('(');
        }
    }
}

/// The binary form of a module given as binary or text. `text` says whether text is
/// expected (a `.wat` file); otherwise text is accepted only if it looks like text.
pub(crate) fn to_binary(bytes: &[u8], text: bool) -> Result<Cow<'_, [u8]>> {
    if bytes.starts_with(b"\0asm") {
        return Ok(Cow::Borrowed(bytes));
    }
    if !text && !looks_like_text(bytes) {
        let shown: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return Err(kiln_frontend::Error::invalid(
            format!(
                "not a WebAssembly module: a binary module starts with 00 61 73 6d, this \
                 one with {}, and it is not the text format either",
                if shown.is_empty() {
                    "nothing (it is empty)".to_string()
                } else {
                    shown.join(" ")
                }
            ),
            0,
        )
        .into());
    }
    wat::parse_bytes(bytes)
        .map(|b| Cow::Owned(b.into_owned()))
        .map_err(|e| {
            kiln_frontend::Error::invalid(format!("text format: {}", excerpt(&e.to_string())), 0)
                .into()
        })
}

/// `message`, cut to [`MAX_MESSAGE`] bytes and each line to [`MAX_LINE`] characters
/// (the text parser quotes the offending line, which may be the whole file).
pub(crate) fn excerpt(message: &str) -> String {
    let mut out = String::new();
    for line in message.lines() {
        if out.len() >= MAX_MESSAGE {
            out.push_str("\n[...]");
            break;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        match line.char_indices().nth(MAX_LINE) {
            Some((cut, _)) => {
                out.push_str(&line[..cut]);
                out.push_str(" [...]");
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_recognized() {
        assert!(looks_like_text(b"(module)"));
        assert!(looks_like_text(b"  ;; a comment\n (; block ;) (module)"));
        assert!(!looks_like_text(b"hello"));
        assert!(!looks_like_text(&[0xff, 0xfe, b'(']));
        assert!(!looks_like_text(b""));
    }

    #[test]
    fn excerpts_are_short() {
        let long = format!("error\n  |\n1 | {}\n  | ^", "x".repeat(100_000));
        let e = excerpt(&long);
        assert!(e.len() < 400, "{}", e.len());
        assert!(e.contains("[...]"));
        let many = "line\n".repeat(10_000);
        assert!(excerpt(&many).len() <= MAX_MESSAGE + 16);
    }
}
