//! HTTP/1.1 server: `cargo run --release --example http -- [ADDR] [--threads N]`
//! (default `127.0.0.1:8080`, one reactor thread; `--threads 0`: one per core).
//! HTTPS: `cargo run --release --features tls --example http -- --tls CERT.pem KEY.pem`
//! (ALPN `http/1.1`; `curl --cacert CERT.pem https://localhost:8080/plaintext`).
//!
//! `GET /plaintext` answers `Hello, World!` and `GET /json` answers
//! `{"message":"Hello, World!"}`, as the TechEmpower web framework benchmark
//! defines them, with `Server` and `Date` headers. `GET /metrics` answers
//! every reactor's counters in the Prometheus text format. Connections are kept
//! alive (HTTP/1.1 default; HTTP/1.0 with `Connection: keep-alive`);
//! pipelined requests are answered in order, one write per batch read.
//!
//! ```text
//! curl -v http://127.0.0.1:8080/plaintext http://127.0.0.1:8080/json   # one connection, reused
//! wrk -t2 -c64 -d10s http://127.0.0.1:8080/plaintext
//! wrk -t2 -c256 -d10s -s examples/http/pipeline.lua http://127.0.0.1:8080/plaintext -- 16
//! ```
//!
//! With `--threads N`, N reactors run on `SO_REUSEPORT` listeners bound to
//! the same address, each with its own `Date` cache (and the answer built
//! on it) and output buffer.
//! SIGINT/SIGTERM: graceful shutdown (5 s); a second signal stops at once.
//! Logs go through env_logger (`RUST_LOG=debug` shows rejected requests).
//!
//! The server itself is the `netloop-http` crate (`crates/netloop-http/`),
//! which the tests, the fuzz targets and the tokio peer use too:
//! `framing.rs` finds request boundaries (the usual head in one pass of
//! its own, any other with `httparse`), `respond.rs` writes the responses
//! (the keep-alive `GET /plaintext` answer prebuilt once a second),
//! `server.rs` is the netloop handler, `date.rs` formats the `Date`
//! header, `args.rs` reads the command line. This file starts the reactors
//! and handles signals.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use netloop::{ListenOptions, ServerBuilder, ServerHandle};
use netloop_http::args;
use netloop_http::server::{self, Config, HttpConn, HttpState};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use support::tls::with_tls;

#[path = "../support/mod.rs"]
mod support;

fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let default_addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let args = args::parse(default_addr)?;
    let (addr, threads) = (args.addr, args.threads);
    let config = Arc::new(Config::default());
    let listen = ListenOptions::default().conn(config.conn_options());
    let scheme = if args.tls.is_some() { "https" } else { "http" };
    let mut builder = ServerBuilder::new(addr)
        .listen_options(with_tls(listen, args.tls, &[b"http/1.1"])?)
        .thread_name("http")
        .state(|_| HttpState::new());
    if threads > 0 {
        builder = builder.threads(threads);
    }
    let server = builder.start(move || HttpConn::new(config.clone()))?;
    server
        .post_all(server::refresh_date_every_second)
        .map_err(io::Error::other)?;
    server::serve_metrics(&server).map_err(io::Error::other)?;
    log::info!(
        "http server listening on {scheme}://{} ({} reactor thread(s))",
        server.local_addr(),
        server.len()
    );
    let signals = watch_signals(server.clone())?;
    let summary = server.join()?;
    signals.close();
    log::info!(
        "served {} connections ({} bytes in, {} out)",
        summary.total.accepted,
        summary.total.bytes_in,
        summary.total.bytes_out
    );
    Ok(())
}

/// First SIGINT/SIGTERM: graceful shutdown; second: stop now.
fn watch_signals(server: ServerHandle<HttpState>) -> io::Result<signal_hook::iterator::Handle> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        let mut received = signals.forever();
        if let Some(sig) = received.next() {
            log::info!("signal {sig}: shutting down (again to stop now)");
            let _ = server.shutdown(Duration::from_secs(5));
        }
        if received.next().is_some() {
            let _ = server.stop();
        }
    });
    Ok(handle)
}
