//! HTTP/1.1 server: `cargo run --release --example http -- [ADDR] [--threads N]`
//! (default `127.0.0.1:8080`, one thread).
//!
//! `GET /plaintext` answers `Hello, World!` and `GET /json` answers
//! `{"message":"Hello, World!"}`, as the TechEmpower web framework benchmark
//! defines them, with `Server` and `Date` headers. Connections are kept
//! alive (HTTP/1.1 default; HTTP/1.0 with `Connection: keep-alive`),
//! pipelined requests are answered in order, one write per batch.
//!
//! ```text
//! curl -v http://127.0.0.1:8080/plaintext http://127.0.0.1:8080/json   # one connection, reused
//! wrk -t2 -c64 -d10s http://127.0.0.1:8080/plaintext
//! ```
//!
//! With `--threads N`, N reactors each run on their own thread with their
//! own `SO_REUSEPORT` listener on the same address; the kernel spreads
//! connections over them. Logs go through env_logger (`RUST_LOG=debug`
//! shows every rejected request).
//!
//! Files: `framing.rs` finds request boundaries around `httparse`,
//! `respond.rs` writes responses, `server.rs` is the netloop handler,
//! `date.rs` formats the `Date` header.

mod date;
mod framing;
mod respond;
mod server;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use netloop::{ListenOptions, Reactor};
use server::{Config, HttpState};

fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let (addr, threads) = parse_args(std::env::args().skip(1))?;
    let config = Arc::new(Config::default());
    let opts = ListenOptions::default().reuse_port(threads > 1);

    // The first reactor binds (resolving port 0); the others join its port.
    let mut first = Reactor::with_state(HttpState::new())?;
    let listener = server::serve(&mut first, addr, opts.clone(), config.clone())?;
    let addr = first.listener_addr(listener)?;
    let mut workers = Vec::new();
    for i in 1..threads {
        let (config, opts) = (config.clone(), opts.clone());
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let worker = std::thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || {
                // A reactor is not `Send`: each is built on its own thread.
                let mut reactor = Reactor::with_state(HttpState::new())?;
                let started = server::serve(&mut reactor, addr, opts, config).map(|_| ());
                let failed = started
                    .as_ref()
                    .err()
                    .map(|e| io::Error::new(e.kind(), e.to_string()));
                let _ = ready_tx.send(started);
                match failed {
                    Some(e) => Err(e),
                    None => reactor.run(),
                }
            })?;
        ready
            .recv()
            .map_err(|_| io::Error::other(format!("reactor {i} did not start")))??;
        workers.push(worker);
    }
    log::info!("http server listening on http://{addr} ({threads} thread(s))");
    let mut summary = first.run()?;
    for w in workers {
        let m = w
            .join()
            .map_err(|_| io::Error::other("reactor panicked"))??;
        summary.merge(&m);
    }
    log::info!("served {} connections", summary.accepted);
    Ok(())
}

/// `[ADDR] [--threads N]`, in any order.
fn parse_args(args: impl Iterator<Item = String>) -> io::Result<(SocketAddr, usize)> {
    let bad = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    let mut addr: SocketAddr = "127.0.0.1:8080".parse().expect("valid default address");
    let mut threads = 1;
    let mut args = args;
    while let Some(arg) = args.next() {
        if arg == "--threads" {
            let n = args
                .next()
                .ok_or_else(|| bad("--threads needs a number".into()))?;
            threads = n
                .parse()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| bad(format!("bad thread count {n}")))?;
        } else {
            addr = arg
                .parse()
                .map_err(|e| bad(format!("bad address {arg}: {e}")))?;
        }
    }
    Ok((addr, threads))
}
