//! Echo server:
//! `cargo run --release --example echo -- [[--addr] ADDR] [--threads N] [--pin] [--grace SECS]`
//! (defaults: `127.0.0.1:7000`, one reactor thread, 5 s grace), or on a
//! Unix domain socket: `... --example echo -- --unix PATH` (one reactor;
//! `@NAME` is a Linux abstract name). `printf hello | nc -N -U PATH`
//! prints `hello`; a stale socket file left by a killed server is replaced,
//! a live server's is not, and the file is removed on exit.
//!
//! Every byte comes back. On the client's FIN the server flushes what is
//! queued, then closes, so `printf hello | nc -N 127.0.0.1 7000` prints
//! `hello`. The server reads only while nothing waits to be sent: when the
//! kernel does not take a whole reply, it keeps the rest (at most one
//! read's worth) and stops reading from that client until the rest is
//! sent (water marks of 1 byte and 0). So a client that sends without
//! reading is held back by TCP's own flow control, through the kernel's
//! buffers, not by memory in the server. It reads up to 1 MiB from one
//! client per turn of its loop (the library's default is 256 KiB). Logs
//! go through env_logger (`RUST_LOG=debug`).
//!
//! `--threads N` runs N reactors, one thread each, on `SO_REUSEPORT`
//! listeners bound to the same address (`--threads 0`: one per core);
//! `--pin` keeps reactor `i` on the `i`-th CPU.
//!
//! SIGINT (Ctrl-C) or SIGTERM starts a graceful shutdown: listeners close at
//! once, open connections get `--grace` seconds to finish (a bare number is
//! seconds; `500ms`, `2s` and `1m` work too), then the idle ones are closed
//! and the busy ones aborted. A second signal stops at once. The signals
//! are read on the loop (signal-hook-mio's `Signals`, a registered event
//! source; on reactor 0 with several), which acts for every reactor; once
//! reactor 0 has ended, further signals are ignored until the others have
//! too.
//!
//! Started with listening sockets (socket activation: `LISTEN_FDS`, e.g.
//! `systemd-socket-activate -l 127.0.0.1:7000 target/release/examples/echo`),
//! it serves those instead of binding. SIGUSR2 restarts it without
//! downtime: it starts a new copy of itself (same arguments) holding its
//! listening sockets, which accepts on them at once (the new process logs
//! its pid), then shuts down gracefully as on SIGTERM and exits 0 once its
//! connections are done or `--grace` has passed. No connection is refused
//! or reset; clients of the old process see a clean EOF after their last
//! reply. (TCP only: `--unix` ignores SIGUSR2.)
//!
//! `--tls CERT.pem KEY.pem` (built with `--features tls`) echoes over TLS:
//! `openssl s_client -connect 127.0.0.1:7000 -CAfile CERT.pem`.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netloop::handler::Echo;
use netloop::mio::Interest;
use netloop::{
    ConnOptions, ListenOptions, MetricsSnapshot, Reactor, ReactorCtx, ServerBuilder, UnixAddr,
    activation,
};
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR2};
use signal_hook_mio::v1_0::Signals;
use support::tls::with_tls;

#[path = "support/mod.rs"]
mod support;

/// What the command line asked for.
struct Args {
    addr: SocketAddr,
    /// Listen on this Unix domain socket instead of `addr`.
    unix: Option<UnixAddr>,
    threads: usize,
    pin: bool,
    grace: Duration,
    /// Speak TLS with this certificate chain and key (PEM).
    tls: Option<(PathBuf, PathBuf)>,
}

const USAGE: &str = "usage: echo [[--addr] ADDR | --unix PATH|@NAME] [--threads N] [--pin] \
                     [--grace SECS] [--tls CERT.pem KEY.pem]";

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        addr: "127.0.0.1:7000".parse().expect("valid default address"),
        unix: None,
        threads: 1,
        pin: false,
        grace: Duration::from_secs(5),
        tls: None,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("threads") => args.threads = parser.value()?.parse()?,
            Long("pin") => args.pin = true,
            Long("addr") => args.addr = parser.value()?.parse()?,
            Long("unix") => args.unix = Some(unix_addr(parser.value()?.string()?)),
            Long("grace") => args.grace = parser.value()?.parse_with(parse_duration)?,
            Long("tls") => {
                let cert = PathBuf::from(parser.value()?);
                args.tls = Some((cert, PathBuf::from(parser.value()?)));
            }
            Value(addr) => args.addr = addr.parse()?,
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(args)
}

/// The listeners' options, two of them not the defaults:
/// - an echo that reads only while nothing is queued ([`Echo`] pauses
///   reading at the high water mark and resumes at the low one). Compared
///   with the default marks (1 MiB and 256 KiB) this costs a callback pair
///   per reply the kernel does not take at once, and saves copying up to a
///   megabyte per client into the send queue that the kernel's own
///   buffers would hold anyway;
/// - up to 1 MiB read from one connection per turn (the loop's cap of 16
///   reads of 64 KiB) instead of 256 KiB: a client streaming in bulk is
///   served in longer runs, which costs less CPU per byte (fewer wake-ups
///   of the client in between), while one turn of one client still takes
///   well under a millisecond.
fn listen_options() -> ListenOptions {
    let conn = ConnOptions::default()
        .water_marks(1, 0)
        .read_budget(1 << 20);
    ListenOptions::default().conn(conn)
}

/// A path, or `@NAME` for an abstract name.
fn unix_addr(text: String) -> UnixAddr {
    match text.strip_prefix('@') {
        Some(name) => UnixAddr::abstract_name(name),
        None => UnixAddr::path(text),
    }
}

/// A bare number of seconds (`5`, `0.5`), or a duration with units (`5s`,
/// `500ms`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|e| e.to_string()),
        Err(_) => humantime::parse_duration(text).map_err(|e| e.to_string()),
    }
}

/// What the signals do to the server (a `ServerHandle` or a `ReactorHandle`).
trait Stoppable: Send + 'static {
    fn shutdown(&self, grace: Duration);
    fn stop(&self);
    /// Starts the successor with the listening sockets, then shuts down
    /// gracefully; clears `draining` (and goes on serving) if it could
    /// not start. Off the loop's thread: the handle waits on every
    /// reactor, the signals' own included.
    fn restart(&self, grace: Duration, draining: Arc<AtomicBool>);
}

impl Stoppable for netloop::ServerHandle {
    fn shutdown(&self, grace: Duration) {
        let _ = netloop::ServerHandle::shutdown(self, grace);
    }
    fn stop(&self) {
        let _ = netloop::ServerHandle::stop(self);
    }
    fn restart(&self, grace: Duration, draining: Arc<AtomicBool>) {
        let server = self.clone();
        std::thread::spawn(move || {
            let started = server
                .listeners()
                .and_then(|sockets| activation::hand_over(&sockets));
            match started {
                Ok(child) => {
                    log::info!(
                        "restart: listening sockets handed to pid {}; draining",
                        child.id()
                    );
                    let _ = server.shutdown(grace);
                }
                Err(e) => {
                    log::error!("restart failed, still serving: {e}");
                    draining.store(false, Ordering::SeqCst);
                }
            }
        });
    }
}

impl Stoppable for netloop::ReactorHandle {
    fn shutdown(&self, grace: Duration) {
        let _ = netloop::ReactorHandle::shutdown(self, grace);
    }
    fn stop(&self) {
        let _ = netloop::ReactorHandle::stop(self);
    }
    fn restart(&self, _: Duration, draining: Arc<AtomicBool>) {
        log::warn!("restart on SIGUSR2 hands over TCP listeners; a Unix one goes on serving");
        draining.store(false, Ordering::SeqCst);
    }
}

/// The signals this example acts on, made early so that they are caught
/// from the start (and delivered once a loop registers them).
fn signals() -> io::Result<Signals> {
    Signals::new([SIGINT, SIGTERM, SIGUSR2])
}

/// Registers `signals` on a loop. First SIGINT/SIGTERM: graceful shutdown;
/// second: stop now. SIGUSR2: hand the listening sockets to a new copy,
/// then shut down gracefully.
fn watch_signals(
    rc: &mut ReactorCtx<'_>,
    signals: Signals,
    server: impl Stoppable,
    grace: Duration,
) -> io::Result<()> {
    let draining = Arc::new(AtomicBool::new(false));
    rc.register_source(signals, Interest::READABLE, move |_rc, _id, signals, _| {
        for sig in signals.pending() {
            let was_draining = draining.swap(true, Ordering::SeqCst);
            match (sig, was_draining) {
                (SIGUSR2, true) => log::warn!("signal {sig}: already handed over or shutting down"),
                (SIGUSR2, false) => server.restart(grace, draining.clone()),
                (_, false) => {
                    log::info!("signal {sig}: shutting down, {grace:?} grace (again to stop now)");
                    server.shutdown(grace);
                }
                (_, true) => {
                    log::info!("signal {sig}: stopping now");
                    server.stop();
                }
            }
        }
    })?;
    Ok(())
}

fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args =
        parse_args().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    if let Some(unix) = args.unix {
        if args.threads != 1 || args.pin {
            let why = "--unix runs one reactor: --threads and --pin do not apply";
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
        let opts = with_tls(listen_options().unlink_stale(true), args.tls, &[])?;
        return serve_unix(unix, opts, args.grace);
    }
    let inherited = activation::inherited_listeners()?;
    let from = if inherited.is_empty() {
        "bound"
    } else {
        "inherited"
    };
    let mut builder = ServerBuilder::new(args.addr)
        .listen_options(with_tls(listen_options(), args.tls, &[])?)
        .pin_threads(args.pin)
        .listeners(inherited);
    if args.threads > 0 {
        builder = builder.threads(args.threads);
    }
    let signals = Mutex::new(Some(signals()?));
    let grace = args.grace;
    let server = builder
        .on_start(move |index, rc, server| {
            if index != 0 {
                return;
            }
            let Some(signals) = signals.lock().unwrap().take() else {
                return;
            };
            if let Err(e) = watch_signals(rc, signals, server.clone(), grace) {
                log::error!("cannot watch signals ({e}): stopping");
                let _ = server.stop();
            }
        })
        .start(|| Echo)?;
    log::info!(
        "echo server (pid {}) listening on {} ({from}; {} reactor thread(s))",
        std::process::id(),
        server.local_addr(),
        server.len()
    );
    let summary = server.join()?;
    for (index, m) in summary.reactors.iter().enumerate() {
        log::info!(
            "reactor {index}: {} connections, {} bytes in, {} out, {} turns",
            m.accepted,
            m.bytes_in,
            m.bytes_out,
            m.turns
        );
    }
    log::info!(
        "served {} connections; {} closed at shutdown",
        summary.total.accepted,
        summary.total.closed_with(netloop::CloseReason::Shutdown)
    );
    Ok(())
}

/// One reactor on this thread, listening on a Unix domain socket (a stale
/// socket file is replaced; the file is removed when the reactor ends).
fn serve_unix(addr: UnixAddr, opts: ListenOptions, grace: Duration) -> io::Result<()> {
    let mut reactor = Reactor::new()?;
    reactor.listen_unix(addr.clone(), opts, || Echo)?;
    log::info!("echo server listening on unix:{addr}");
    let handle = reactor.handle();
    watch_signals(&mut reactor.ctx(), signals()?, handle, grace)?;
    let m: MetricsSnapshot = reactor.run()?;
    drop(reactor);
    log::info!(
        "served {} connections, {} bytes in, {} out",
        m.accepted,
        m.bytes_in,
        m.bytes_out
    );
    Ok(())
}
