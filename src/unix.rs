//! Unix domain sockets: their addresses (a path, or a Linux abstract
//! name), the socket file a listener leaves behind, and how a stale one is
//! told from a live one.
//!
//! A listener bound to a path creates a socket file there; the file
//! outlives the process if it dies without removing it, and the next bind
//! then fails with `EADDRINUSE`. Whether anyone still listens is told by
//! connecting: the kernel refuses (`ECONNREFUSED`) only when nobody does.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

/// The address of a Unix domain stream socket: a filesystem path, or a
/// Linux abstract name (no file; gone with the last socket using it).
///
/// Paths convert with `into()`; an abstract name needs
/// [`UnixAddr::abstract_name`] (a path is never taken for one, even if it
/// starts with `@`).
///
/// ```
/// use netloop::UnixAddr;
/// let file: UnixAddr = "/run/app.sock".into();
/// assert_eq!(file.as_path(), Some(std::path::Path::new("/run/app.sock")));
/// let name = UnixAddr::abstract_name("app");
/// assert_eq!(name.as_path(), None);
/// assert_eq!(name.to_string(), "@app");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// A socket file at this path.
    Path(PathBuf),
    /// A name in the abstract namespace (without the leading NUL byte).
    Abstract(Vec<u8>),
}

impl UnixAddr {
    /// A socket file at `path`.
    pub fn path(path: impl Into<PathBuf>) -> UnixAddr {
        UnixAddr::Path(path.into())
    }

    /// The abstract name `name` (Linux; no file is created).
    pub fn abstract_name(name: impl Into<Vec<u8>>) -> UnixAddr {
        UnixAddr::Abstract(name.into())
    }

    /// The path, for a socket file.
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            UnixAddr::Path(p) => Some(p),
            UnixAddr::Abstract(_) => None,
        }
    }

    /// The address as the socket calls take it.
    pub(crate) fn sock_addr(&self) -> io::Result<SockAddr> {
        match self {
            UnixAddr::Path(p) => SockAddr::unix(p),
            UnixAddr::Abstract(name) => {
                // socket2 reads a leading NUL byte as "abstract".
                let mut raw = Vec::with_capacity(name.len() + 1);
                raw.push(0);
                raw.extend_from_slice(name);
                SockAddr::unix(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&raw))
            }
        }
    }
}

impl fmt::Display for UnixAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnixAddr::Path(p) => write!(f, "{}", p.display()),
            UnixAddr::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

impl From<&str> for UnixAddr {
    fn from(path: &str) -> UnixAddr {
        UnixAddr::path(path)
    }
}

impl From<String> for UnixAddr {
    fn from(path: String) -> UnixAddr {
        UnixAddr::path(path)
    }
}

impl From<&Path> for UnixAddr {
    fn from(path: &Path) -> UnixAddr {
        UnixAddr::path(path)
    }
}

impl From<PathBuf> for UnixAddr {
    fn from(path: PathBuf) -> UnixAddr {
        UnixAddr::Path(path)
    }
}

impl From<&PathBuf> for UnixAddr {
    fn from(path: &PathBuf) -> UnixAddr {
        UnixAddr::path(path)
    }
}

/// A new non-blocking, close-on-exec Unix stream socket.
pub(crate) fn new_socket() -> io::Result<Socket> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    Ok(socket)
}

/// The socket file a listener created: removed when the listener is
/// closed or dropped, unless another socket has replaced it meanwhile
/// (same path, different file).
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// The file just created by binding to `path`.
    pub(crate) fn created(path: &Path) -> io::Result<SocketFile> {
        let meta = fs::symlink_metadata(path)?;
        Ok(SocketFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// What is at a path a bind found in use.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InUse {
    /// A socket file nobody listens on: a dead process left it.
    Stale,
    /// A socket file with a live listener.
    Live,
    /// Something that is not a socket (a regular file, a directory, ...).
    NotASocket,
}

/// Tells what occupies `path`. A live listener sees the probe as a
/// connection that closes at once.
pub(crate) fn probe(path: &Path) -> io::Result<InUse> {
    if !fs::symlink_metadata(path)?.file_type().is_socket() {
        return Ok(InUse::NotASocket);
    }
    let socket = new_socket()?;
    match socket.connect(&SockAddr::unix(path)?) {
        // Connected, or a full backlog (EAGAIN): somebody listens.
        Ok(()) => Ok(InUse::Live),
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(InUse::Live),
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => Ok(InUse::Stale),
        Err(e) => Err(e),
    }
}

/// The error for a path in use, naming the path and what is there.
pub(crate) fn in_use_error(addr: &UnixAddr, what: Option<InUse>) -> io::Error {
    let why = match what {
        Some(InUse::Stale) => {
            "a stale socket file (nothing listens there); remove it, or set ListenOptions::unlink_stale"
        }
        Some(InUse::Live) => "another listener is there",
        Some(InUse::NotASocket) => "the path exists and is not a socket",
        None => "address in use",
    };
    io::Error::new(io::ErrorKind::AddrInUse, format!("{addr}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abstract_names_get_a_leading_nul_and_paths_do_not() {
        let a = UnixAddr::abstract_name("x").sock_addr().unwrap();
        assert_eq!(a.as_abstract_namespace(), Some(&b"x"[..]));
        let p = UnixAddr::from("/tmp/x.sock").sock_addr().unwrap();
        assert_eq!(p.as_pathname(), Some(Path::new("/tmp/x.sock")));
        assert_eq!(UnixAddr::from("@y").as_path(), Some(Path::new("@y")));
    }
}
