//! TCP proxy: `cargo run --release --example proxy -- LISTEN_ADDR UPSTREAM_ADDR`.
//!
//! For each client the proxy connects to the upstream (5 s timeout; on
//! failure the client is closed and the classified error logged), then
//! copies bytes both ways, with backpressure end to end (a side whose send
//! queue passes its high water mark stops the other side's reads), FINs
//! passed on as `shutdown(SHUT_WR)` and resets as resets. Logs go through
//! env_logger (`RUST_LOG=debug` shows every pair's close reasons and peak
//! queue).
//!
//! The proxy's handler (`Side`, one per side of a pair) and its settings
//! are `netloop_examples::proxy`, in crates/netloop-examples/src/proxy.rs,
//! where the design is described; the tests (tests/proxy_*.rs) run that
//! same code. This file reads the command line and runs the reactor.

use std::io;
use std::net::SocketAddr;

use netloop::Reactor;
use netloop_examples::proxy::{Config, Stats, serve};

const USAGE: &str = "usage: proxy LISTEN_ADDR UPSTREAM_ADDR";

/// The command line: `LISTEN_ADDR UPSTREAM_ADDR`.
fn parse_args() -> Result<(SocketAddr, SocketAddr), lexopt::Error> {
    use lexopt::prelude::*;
    let mut addrs = Vec::new();
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Value(a) if addrs.len() < 2 => addrs.push(a.parse()?),
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    match addrs[..] {
        [listen, upstream] => Ok((listen, upstream)),
        _ => Err(USAGE.into()),
    }
}

fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let (listen, upstream) =
        parse_args().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut reactor = Reactor::with_state(Stats::default())?;
    let listener = serve(&mut reactor, listen, Config::new(upstream))?;
    log::info!(
        "proxy listening on {}, forwarding to {upstream}",
        reactor.listener_addr(listener)?
    );
    reactor.run()?;
    let stats = reactor.shared();
    log::info!(
        "served {} clients ({} upstream connects failed), peak queue {} bytes",
        stats.clients,
        stats.connect_failures,
        stats.peak_queued
    );
    Ok(())
}
