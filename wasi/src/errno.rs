//! WASI error numbers and the mapping from host I/O errors.

use std::fmt;
use std::io;

/// A `wasi_snapshot_preview1` `errno` value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub u16);

impl Errno {
    /// Not an errno: the store's deadline passed while the function waited or worked.
    /// It never reaches the guest; the call ends with the `Interrupted` trap instead
    /// (`linker.rs`).
    pub(crate) const DEADLINE: Errno = Errno(u16::MAX);
}

macro_rules! errnos {
    ($($name:ident = $v:literal, $doc:literal;)*) => {
        impl Errno {
            $(#[doc = $doc] pub const $name: Errno = Errno($v);)*

            /// The errno's name, e.g. `"BADF"`.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($v => stringify!($name),)*
                    _ => "unknown",
                }
            }
        }
    };
}

errnos! {
    SUCCESS = 0, "No error occurred.";
    TOOBIG = 1, "Argument list too long.";
    ACCES = 2, "Permission denied.";
    ADDRINUSE = 3, "Address in use.";
    ADDRNOTAVAIL = 4, "Address not available.";
    AFNOSUPPORT = 5, "Address family not supported.";
    AGAIN = 6, "Resource unavailable, or operation would block.";
    ALREADY = 7, "Connection already in progress.";
    BADF = 8, "Bad file descriptor.";
    BADMSG = 9, "Bad message.";
    BUSY = 10, "Device or resource busy.";
    CANCELED = 11, "Operation canceled.";
    CHILD = 12, "No child processes.";
    CONNABORTED = 13, "Connection aborted.";
    CONNREFUSED = 14, "Connection refused.";
    CONNRESET = 15, "Connection reset.";
    DEADLK = 16, "Resource deadlock would occur.";
    DESTADDRREQ = 17, "Destination address required.";
    DOM = 18, "Mathematics argument out of domain of function.";
    DQUOT = 19, "Reserved.";
    EXIST = 20, "File exists.";
    FAULT = 21, "Bad address.";
    FBIG = 22, "File too large.";
    HOSTUNREACH = 23, "Host is unreachable.";
    IDRM = 24, "Identifier removed.";
    ILSEQ = 25, "Illegal byte sequence.";
    INPROGRESS = 26, "Operation in progress.";
    INTR = 27, "Interrupted function.";
    INVAL = 28, "Invalid argument.";
    IO = 29, "I/O error.";
    ISCONN = 30, "Socket is connected.";
    ISDIR = 31, "Is a directory.";
    LOOP = 32, "Too many levels of symbolic links.";
    MFILE = 33, "File descriptor value too large.";
    MLINK = 34, "Too many links.";
    MSGSIZE = 35, "Message too large.";
    MULTIHOP = 36, "Reserved.";
    NAMETOOLONG = 37, "Filename too long.";
    NETDOWN = 38, "Network is down.";
    NETRESET = 39, "Connection aborted by network.";
    NETUNREACH = 40, "Network unreachable.";
    NFILE = 41, "Too many files open in system.";
    NOBUFS = 42, "No buffer space available.";
    NODEV = 43, "No such device.";
    NOENT = 44, "No such file or directory.";
    NOEXEC = 45, "Executable file format error.";
    NOLCK = 46, "No locks available.";
    NOLINK = 47, "Reserved.";
    NOMEM = 48, "Not enough space.";
    NOMSG = 49, "No message of the desired type.";
    NOPROTOOPT = 50, "Protocol not available.";
    NOSPC = 51, "No space left on device.";
    NOSYS = 52, "Function not supported.";
    NOTCONN = 53, "The socket is not connected.";
    NOTDIR = 54, "Not a directory or a symbolic link to a directory.";
    NOTEMPTY = 55, "Directory not empty.";
    NOTRECOVERABLE = 56, "State not recoverable.";
    NOTSOCK = 57, "Not a socket.";
    NOTSUP = 58, "Not supported, or operation not supported on socket.";
    NOTTY = 59, "Inappropriate I/O control operation.";
    NXIO = 60, "No such device or address.";
    OVERFLOW = 61, "Value too large to be stored in data type.";
    OWNERDEAD = 62, "Previous owner died.";
    PERM = 63, "Operation not permitted.";
    PIPE = 64, "Broken pipe.";
    PROTO = 65, "Protocol error.";
    PROTONOSUPPORT = 66, "Protocol not supported.";
    PROTOTYPE = 67, "Protocol wrong type for socket.";
    RANGE = 68, "Result too large.";
    ROFS = 69, "Read-only file system.";
    SPIPE = 70, "Invalid seek.";
    SRCH = 71, "No such process.";
    STALE = 72, "Reserved.";
    TIMEDOUT = 73, "Connection timed out.";
    TXTBSY = 74, "Text file busy.";
    XDEV = 75, "Cross-device link.";
    NOTCAPABLE = 76, "Extension: Capabilities insufficient.";
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "errno {} ({})", self.0, self.name())
    }
}

impl std::error::Error for Errno {}

/// Result of a WASI operation: the `errno` on failure.
pub(crate) type WasiResult<T> = Result<T, Errno>;

impl From<io::Error> for Errno {
    fn from(e: io::Error) -> Errno {
        if let Some(code) = e.raw_os_error() {
            return from_host_errno(code);
        }
        use io::ErrorKind as K;
        match e.kind() {
            K::NotFound => Errno::NOENT,
            // cap-std reports an escape from the pre-opened directory (`..` past the
            // root, an absolute path, a symlink leading out) as `PermissionDenied`
            // without an OS code: WASI says `EPERM`, as in Wasmtime.
            K::PermissionDenied => Errno::PERM,
            K::AlreadyExists => Errno::EXIST,
            K::WouldBlock => Errno::AGAIN,
            K::InvalidInput | K::InvalidData | K::InvalidFilename => Errno::INVAL,
            K::Interrupted => Errno::INTR,
            K::Unsupported => Errno::NOTSUP,
            K::OutOfMemory => Errno::NOMEM,
            K::BrokenPipe => Errno::PIPE,
            K::NotADirectory => Errno::NOTDIR,
            K::IsADirectory => Errno::ISDIR,
            K::DirectoryNotEmpty => Errno::NOTEMPTY,
            K::ReadOnlyFilesystem => Errno::ROFS,
            K::StorageFull => Errno::NOSPC,
            K::NotSeekable => Errno::SPIPE,
            K::FileTooLarge => Errno::FBIG,
            K::ResourceBusy => Errno::BUSY,
            K::ExecutableFileBusy => Errno::TXTBSY,
            K::Deadlock => Errno::DEADLK,
            K::CrossesDevices => Errno::XDEV,
            K::TooManyLinks => Errno::MLINK,
            K::ArgumentListTooLong => Errno::TOOBIG,
            K::TimedOut => Errno::TIMEDOUT,
            _ => Errno::IO,
        }
    }
}

impl From<rustix::io::Errno> for Errno {
    fn from(e: rustix::io::Errno) -> Errno {
        from_host_errno(e.raw_os_error())
    }
}

/// The WASI errno for a host `errno` value.
pub(crate) fn from_host_errno(code: i32) -> Errno {
    match code {
        libc::E2BIG => Errno::TOOBIG,
        libc::EACCES => Errno::ACCES,
        libc::EADDRINUSE => Errno::ADDRINUSE,
        libc::EADDRNOTAVAIL => Errno::ADDRNOTAVAIL,
        libc::EAFNOSUPPORT => Errno::AFNOSUPPORT,
        libc::EAGAIN => Errno::AGAIN,
        libc::EALREADY => Errno::ALREADY,
        libc::EBADF => Errno::BADF,
        libc::EBADMSG => Errno::BADMSG,
        libc::EBUSY => Errno::BUSY,
        libc::ECANCELED => Errno::CANCELED,
        libc::ECHILD => Errno::CHILD,
        libc::ECONNABORTED => Errno::CONNABORTED,
        libc::ECONNREFUSED => Errno::CONNREFUSED,
        libc::ECONNRESET => Errno::CONNRESET,
        libc::EDEADLK => Errno::DEADLK,
        libc::EDESTADDRREQ => Errno::DESTADDRREQ,
        libc::EDOM => Errno::DOM,
        libc::EDQUOT => Errno::DQUOT,
        libc::EEXIST => Errno::EXIST,
        libc::EFAULT => Errno::FAULT,
        libc::EFBIG => Errno::FBIG,
        libc::EHOSTUNREACH => Errno::HOSTUNREACH,
        libc::EIDRM => Errno::IDRM,
        libc::EILSEQ => Errno::ILSEQ,
        libc::EINPROGRESS => Errno::INPROGRESS,
        libc::EINTR => Errno::INTR,
        libc::EINVAL => Errno::INVAL,
        libc::EIO => Errno::IO,
        libc::EISCONN => Errno::ISCONN,
        libc::EISDIR => Errno::ISDIR,
        libc::ELOOP => Errno::LOOP,
        libc::EMFILE => Errno::MFILE,
        libc::EMLINK => Errno::MLINK,
        libc::EMSGSIZE => Errno::MSGSIZE,
        libc::EMULTIHOP => Errno::MULTIHOP,
        libc::ENAMETOOLONG => Errno::NAMETOOLONG,
        libc::ENETDOWN => Errno::NETDOWN,
        libc::ENETRESET => Errno::NETRESET,
        libc::ENETUNREACH => Errno::NETUNREACH,
        libc::ENFILE => Errno::NFILE,
        libc::ENOBUFS => Errno::NOBUFS,
        libc::ENODEV => Errno::NODEV,
        libc::ENOENT => Errno::NOENT,
        libc::ENOEXEC => Errno::NOEXEC,
        libc::ENOLCK => Errno::NOLCK,
        libc::ENOLINK => Errno::NOLINK,
        libc::ENOMEM => Errno::NOMEM,
        libc::ENOMSG => Errno::NOMSG,
        libc::ENOPROTOOPT => Errno::NOPROTOOPT,
        libc::ENOSPC => Errno::NOSPC,
        libc::ENOSYS => Errno::NOSYS,
        libc::ENOTCONN => Errno::NOTCONN,
        libc::ENOTDIR => Errno::NOTDIR,
        libc::ENOTEMPTY => Errno::NOTEMPTY,
        libc::ENOTRECOVERABLE => Errno::NOTRECOVERABLE,
        libc::ENOTSOCK => Errno::NOTSOCK,
        libc::ENOTSUP => Errno::NOTSUP,
        libc::ENOTTY => Errno::NOTTY,
        libc::ENXIO => Errno::NXIO,
        libc::EOVERFLOW => Errno::OVERFLOW,
        libc::EOWNERDEAD => Errno::OWNERDEAD,
        libc::EPERM => Errno::PERM,
        libc::EPIPE => Errno::PIPE,
        libc::EPROTO => Errno::PROTO,
        libc::EPROTONOSUPPORT => Errno::PROTONOSUPPORT,
        libc::EPROTOTYPE => Errno::PROTOTYPE,
        libc::ERANGE => Errno::RANGE,
        libc::EROFS => Errno::ROFS,
        libc::ESPIPE => Errno::SPIPE,
        libc::ESRCH => Errno::SRCH,
        libc::ESTALE => Errno::STALE,
        libc::ETIMEDOUT => Errno::TIMEDOUT,
        libc::ETXTBSY => Errno::TXTBSY,
        libc::EXDEV => Errno::XDEV,
        _ => Errno::IO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(Errno::from(e), Errno::NOENT);
        let escape = io::Error::new(io::ErrorKind::PermissionDenied, "outside");
        assert_eq!(Errno::from(escape), Errno::PERM);
        assert_eq!(Errno::FAULT.0, 21);
        assert_eq!(Errno::NOTCAPABLE.0, 76);
        assert_eq!(Errno::NOTCAPABLE.name(), "NOTCAPABLE");
    }
}
