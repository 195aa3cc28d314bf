//! Line-based chat: `cargo run --release --example chat -- [ADDR]`
//! (default `127.0.0.1:7100`).
//!
//! Every line a client sends goes to all other clients, prefixed with the
//! sender's id: `nc 127.0.0.1 7100` in two terminals, type in one, read in
//! the other. The room waits for a slow reader (no line lost) and
//! disconnects one that stops reading (5 s without progress, or 1 MiB
//! queued). Logs go through env_logger (`RUST_LOG=debug`).
//!
//! The server (the `Member` handler, the `Room` it shares, its settings) is
//! `netloop_examples::chat`, in crates/netloop-examples/src/chat.rs, where
//! the design is described; tests/chat.rs runs that same code. This file
//! reads the command line and runs the reactor.

use std::io;
use std::net::SocketAddr;

use netloop::Reactor;
use netloop_examples::chat::{Config, Room, serve};

/// The command line: `[ADDR]`.
fn parse_args() -> Result<SocketAddr, lexopt::Error> {
    use lexopt::prelude::*;
    let mut addr = None;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Value(a) if addr.is_none() => addr = Some(a.parse()?),
            Short('h') | Long("help") => {
                println!("usage: chat [ADDR]");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(addr.unwrap_or_else(|| "127.0.0.1:7100".parse().expect("valid default address")))
}

fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let addr =
        parse_args().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut reactor = Reactor::with_state(Room::default())?;
    let listener = serve(&mut reactor, addr, Config::default())?;
    log::info!(
        "chat server listening on {}",
        reactor.listener_addr(listener)?
    );
    reactor.run()?;
    Ok(())
}
