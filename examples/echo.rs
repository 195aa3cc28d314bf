//! Echo server: `cargo run --release --example echo -- [ADDR]`
//! (default `127.0.0.1:7000`).
//!
//! Every byte comes back. On the client's FIN the server flushes what is
//! queued, then closes, so `printf hello | nc -N 127.0.0.1 7000` prints
//! `hello`. A client that sends without reading is held back: above the
//! high water mark the server stops reading from it, and the hard cap
//! bounds its queue. Logs go through env_logger (`RUST_LOG=debug`).

use std::net::SocketAddr;

use netloop::handler::Echo;
use netloop::{ListenOptions, Reactor};

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .map_err(|e| std::io::Error::other(format!("bad address {a}: {e}")))?,
        None => "127.0.0.1:7000".parse().expect("valid default address"),
    };
    let mut reactor = Reactor::new()?;
    let listener = reactor.listen(addr, ListenOptions::default(), || Echo)?;
    log::info!(
        "echo server listening on {}",
        reactor.listener_addr(listener)?
    );
    let summary = reactor.run()?;
    log::info!("served {} connections", summary.accepted);
    Ok(())
}
