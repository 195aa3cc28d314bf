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
//! and the busy ones aborted. A second signal stops at once. The signals
//! are read on reactor 0's loop (signal-hook-mio's `Signals`, a registered
//! event source), which shuts down every reactor; once reactor 0 has
//! ended, further signals are ignored until the others have too.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use netloop::handler::Echo;
use netloop::mio::Interest;
use netloop::{ReactorCtx, ServerBuilder, ServerHandle};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

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

/// Registers `signals` on reactor 0's loop: the first SIGINT/SIGTERM
/// starts a graceful shutdown of the whole server, the second stops it.
fn watch_signals(
    rc: &mut ReactorCtx<'_>,
    signals: Signals,
    server: ServerHandle,
    grace: Duration,
) -> io::Result<()> {
    let mut received = 0;
    rc.register_source(signals, Interest::READABLE, move |_rc, _id, signals, _| {
        for sig in signals.pending() {
            received += 1;
            if received == 1 {
                log::info!("signal {sig}: shutting down, {grace:?} grace (again to stop now)");
                let _ = server.shutdown(grace);
            } else {
                log::info!("signal {sig}: stopping now");
                let _ = server.stop();
            }
        }
    })?;
    Ok(())
}

fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args =
        parse_args().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut builder = ServerBuilder::new(args.addr).pin_threads(args.pin);
    if args.threads > 0 {
        builder = builder.threads(args.threads);
    }
    // Made here, so that signals are caught from now on (and delivered
    // once reactor 0 registers them) and an error ends the program.
    let signals = Mutex::new(Some(Signals::new([SIGINT, SIGTERM])?));
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
        "echo server listening on {} ({} reactor thread(s))",
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
