//! The command line of the HTTP servers (the netloop example and its tokio
//! peer, `benches/servers/http_tokio.rs`): `[ADDR | --addr ADDR] [--threads
//! N] [--tls CERT.pem KEY.pem]`, in any order.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub struct Args {
    /// The address to listen on.
    pub addr: SocketAddr,
    /// Reactor (or worker) threads; `0` is passed on (the caller reads it
    /// as one per core).
    pub threads: usize,
    /// Serve HTTPS with this certificate chain and private key (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Parses the program's arguments. Threads default to 1.
pub fn parse(default_addr: SocketAddr) -> io::Result<Args> {
    parse_from(lexopt::Parser::from_env(), default_addr)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}

fn parse_from(mut parser: lexopt::Parser, default_addr: SocketAddr) -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        addr: default_addr,
        threads: 1,
        tls: None,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            // `--addr ADDR` as well as a bare ADDR, like the benchmark servers.
            Long("addr") => args.addr = parser.value()?.parse()?,
            Value(a) => args.addr = a.parse()?,
            Long("threads") => args.threads = parser.value()?.parse()?,
            Long("tls") => {
                let cert = PathBuf::from(parser.value()?);
                let key = PathBuf::from(parser.value()?);
                args.tls = Some((cert, key));
            }
            Short('h') | Long("help") => {
                let bin = parser.bin_name().unwrap_or("http");
                println!(
                    "usage: {bin} [ADDR | --addr ADDR] [--threads N] [--tls CERT.pem KEY.pem]"
                );
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, lexopt::Error> {
        let default = SocketAddr::from(([127, 0, 0, 1], 8080));
        parse_from(
            lexopt::Parser::from_iter(std::iter::once("http").chain(args.iter().copied())),
            default,
        )
    }

    #[test]
    fn tls_takes_a_certificate_and_a_key() {
        let args = parse(&["--tls", "c.pem", "k.pem", "--threads", "2"]).unwrap();
        assert_eq!(args.tls, Some(("c.pem".into(), "k.pem".into())));
        assert_eq!(args.threads, 2);
        assert!(parse(&["--tls", "c.pem"]).is_err(), "a key is needed too");
    }
}
