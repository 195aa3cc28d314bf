//! The command line of the HTTP servers (the netloop example and its tokio
//! peer): `[ADDR | --addr ADDR] [--threads N]`, in any order.

use std::io;
use std::net::SocketAddr;

/// Parses the arguments after the program name. Threads default to 1; `0`
/// is passed on (the caller reads it as one per core).
pub fn parse(
    mut args: impl Iterator<Item = String>,
    default_addr: SocketAddr,
) -> io::Result<(SocketAddr, usize)> {
    let bad = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    let mut addr = default_addr;
    let mut threads = 1;
    while let Some(arg) = args.next() {
        if arg == "--addr" {
            // `--addr ADDR` as well as a bare ADDR, like the benchmark servers.
            let a = args
                .next()
                .ok_or_else(|| bad("--addr needs an address".into()))?;
            addr = a
                .parse()
                .map_err(|e| bad(format!("bad address {a}: {e}")))?;
        } else if arg == "--threads" {
            let n = args
                .next()
                .ok_or_else(|| bad("--threads needs a number".into()))?;
            threads = n
                .parse()
                .map_err(|e| bad(format!("bad thread count {n}: {e}")))?;
        } else {
            addr = arg
                .parse()
                .map_err(|e| bad(format!("bad address {arg}: {e}")))?;
        }
    }
    Ok((addr, threads))
}
