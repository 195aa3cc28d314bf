//! Unix domain sockets in tests: fresh socket paths, a recorded server on
//! a path, and blocking clients with timeouts.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use netloop::{Handler, ListenOptions, Reactor};

use super::{Log, PATIENCE, Recorder, Server};

/// A path no other test (or test process) uses; nothing is created there.
pub fn socket_path(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("netloop-{what}-{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// An abstract name no other test (or test process) uses.
pub fn abstract_name(what: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("netloop-{what}-{}-{n}", std::process::id())
}

/// A socket file nobody listens on, as a killed server leaves it.
pub fn stale_socket_file(path: &Path) {
    drop(std::os::unix::net::UnixListener::bind(path).expect("bind"));
    assert!(path.exists(), "std leaves the socket file behind");
}

/// A reactor on its own thread, listening on a Unix domain socket path
/// (the listener removes its file when the reactor ends).
pub type UnixServer = Server<PathBuf>;

/// Starts a server on a fresh path whose connections get `make()`
/// handlers, recorded.
pub fn serve_unix<H, F>(opts: ListenOptions, make: F) -> UnixServer
where
    H: Handler,
    F: Fn() -> H + Send + 'static,
{
    let path = socket_path("server");
    let log = Log::default();
    let thread_log = log.clone();
    let (tx, rx) = mpsc::channel();
    let bind = path.clone();
    let thread = std::thread::spawn(move || {
        let mut reactor = Reactor::new().expect("reactor");
        reactor
            .listen_unix(&bind, opts, move || {
                Recorder::new(make(), thread_log.clone())
            })
            .expect("listen_unix");
        tx.send(reactor.handle()).expect("test thread waits");
        reactor.run().expect("reactor run")
    });
    let handle = rx.recv().expect("reactor started");
    Server {
        addr: path,
        handle,
        log,
        thread: Some(thread),
    }
}

impl UnixServer {
    /// A blocking client connected to this server.
    pub fn client(&self) -> UnixStream {
        unix_client(&self.addr)
    }
}

/// A blocking client with timeouts, so a broken test fails instead of hanging.
pub fn unix_client(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s
}
