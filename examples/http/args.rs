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
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| bad(format!("{name} needs a value")))
        };
        match arg.as_str() {
            // `--addr ADDR` as well as a bare ADDR, like the benchmark servers.
            "--addr" => {
                let a = value("--addr")?;
                addr = a
                    .parse()
                    .map_err(|e| bad(format!("bad address {a}: {e}")))?;
            }
            "--threads" => {
                let n = value("--threads")?;
                threads = n
                    .parse()
                    .map_err(|e| bad(format!("bad thread count {n}: {e}")))?;
            }
            _ => {
                addr = arg
                    .parse()
                    .map_err(|e| bad(format!("bad address {arg}: {e}")))?
            }
        }
    }
    Ok((addr, threads))
}
