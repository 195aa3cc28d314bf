//! Echo server:
//! `cargo run --release --example echo -- [[--addr] ADDR] [--threads N] [--pin] [--grace SECS]`
//! (defaults: `127.0.0.1:7000`, one reactor thread, 5 s grace).
//!
//! Every byte comes back. On the client's FIN the server flushes what is
//! queued, then closes, so `printf hello | nc -N 127.0.0.1 7000` prints
//! `hello`. A client that sends without reading is held back: above the
//! high water mark the server stops reading from it, and the hard cap
//! bounds its queue. Logs go through env_logger (`RUST_LOG=debug`).
//!
//! `--threads N` runs N reactors, one thread each, on `SO_REUSEPORT`
//! listeners bound to the same address (`--threads 0`: one per core);
//! `--pin` keeps reactor `i` on the `i`-th CPU.
//!
//! SIGINT (Ctrl-C) or SIGTERM starts a graceful shutdown: listeners close at
//! once, open connections get `--grace` seconds to finish (a bare number is
//! seconds; `500ms`, `2s` and `1m` work too), then the idle ones are closed
//! and the busy ones aborted. A second signal stops at once.
//!
//! Started with listening sockets (socket activation: `LISTEN_FDS`, e.g.
//! `systemd-socket-activate -l 127.0.0.1:7000 target/release/examples/echo`),
//! it serves those instead of binding. SIGUSR2 restarts it without
//! downtime: it starts a new copy of itself (same arguments) holding its
//! listening sockets, which accepts on them at once (the new process logs
//! its pid), then shuts down gracefully as on SIGTERM and exits 0 once its
//! connections are done or `--grace` has passed. No connection is refused
//! or reset; clients of the old process see a clean EOF after their last
//! reply.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use netloop::handler::Echo;
use netloop::{ServerBuilder, ServerHandle, activation};
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR2};
use signal_hook::iterator::Signals;

/// What the command line asked for.
struct Args {
    addr: SocketAddr,
    threads: usize,
    pin: bool,
    grace: Duration,
}

const USAGE: &str = "usage: echo [[--addr] ADDR] [--threads N] [--pin] [--grace SECS]";

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        addr: "127.0.0.1:7000".parse().expect("valid default address"),
        threads: 1,
        pin: false,
        grace: Duration::from_secs(5),
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("threads") => args.threads = parser.value()?.parse()?,
            Long("pin") => args.pin = true,
            Long("addr") => args.addr = parser.value()?.parse()?,
            Long("grace") => args.grace = parser.value()?.parse_with(parse_duration)?,
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

/// A bare number of seconds (`5`, `0.5`), or a duration with units (`5s`,
/// `500ms`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|e| e.to_string()),
        Err(_) => humantime::parse_duration(text).map_err(|e| e.to_string()),
    }
}

/// First SIGINT/SIGTERM: graceful shutdown; second: stop now. SIGUSR2:
/// hand the listening sockets to a new copy, then shut down gracefully.
/// Returns a handle that ends the watcher thread.
fn watch_signals(
    server: ServerHandle,
    grace: Duration,
) -> io::Result<(signal_hook::iterator::Handle, std::thread::JoinHandle<()>)> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR2])?;
    let handle = signals.handle();
    let thread = std::thread::spawn(move || {
        let mut draining = false;
        for sig in signals.forever() {
            if draining && sig == SIGUSR2 {
                log::warn!("signal {sig}: already handed over or shutting down");
                continue;
            }
            if draining {
                log::info!("signal {sig}: stopping now");
                let _ = server.stop();
                return;
            }
            if sig == SIGUSR2 && !hand_over(&server) {
                continue;
            }
            if sig != SIGUSR2 {
                log::info!("signal {sig}: shutting down, {grace:?} grace (again to stop now)");
            }
            draining = true;
            let _ = server.shutdown(grace);
        }
    });
    Ok((handle, thread))
}

/// Starts the successor with the listening sockets. False (and logged) if
/// it could not start: this process then goes on serving.
fn hand_over(server: &ServerHandle) -> bool {
    let started = server
        .listeners()
        .and_then(|sockets| activation::hand_over(&sockets));
    match started {
        Ok(child) => {
            log::info!(
                "restart: listening sockets handed to pid {}; draining",
                child.id()
            );
            true
        }
        Err(e) => {
            log::error!("restart failed, still serving: {e}");
            false
        }
    }
}

fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args =
        parse_args().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let inherited = activation::inherited_listeners()?;
    let from = if inherited.is_empty() {
        "bound"
    } else {
        "inherited"
    };
    let mut builder = ServerBuilder::new(args.addr)
        .pin_threads(args.pin)
        .listeners(inherited);
    if args.threads > 0 {
        builder = builder.threads(args.threads);
    }
    let server = builder.start(|| Echo)?;
    log::info!(
        "echo server (pid {}) listening on {} ({from}; {} reactor thread(s))",
        std::process::id(),
        server.local_addr(),
        server.len()
    );
    let (signals, watcher) = watch_signals(server.clone(), args.grace)?;
    let summary = server.join()?;
    signals.close();
    let _ = watcher.join();
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
