//! The command line of the HTTP servers (the netloop example and its tokio
//! peer, `benches/servers/http_tokio.rs`): `[ADDR | --addr ADDR] [--threads
//! N]`, in any order.

use std::io;
use std::net::SocketAddr;

/// Parses the program's arguments. Threads default to 1; `0` is passed on
/// (the caller reads it as one per core).
pub fn parse(default_addr: SocketAddr) -> io::Result<(SocketAddr, usize)> {
    parse_from(lexopt::Parser::from_env(), default_addr)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}

fn parse_from(
    mut parser: lexopt::Parser,
    default_addr: SocketAddr,
) -> Result<(SocketAddr, usize), lexopt::Error> {
    use lexopt::prelude::*;
    let mut addr = default_addr;
    let mut threads = 1;
    while let Some(arg) = parser.next()? {
        match arg {
            // `--addr ADDR` as well as a bare ADDR, like the benchmark servers.
            Long("addr") => addr = parser.value()?.parse()?,
            Value(a) => addr = a.parse()?,
            Long("threads") => threads = parser.value()?.parse()?,
            Short('h') | Long("help") => {
                let bin = parser.bin_name().unwrap_or("http");
                println!("usage: {bin} [ADDR | --addr ADDR] [--threads N]");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok((addr, threads))
}
