//! A line client built on netloop:
//! `cargo run --example client -- ADDR [--timeout 2s] [--keepalive 10s] [--tls [--ca FILE] [--name NAME]]`.
//!
//! Connects to ADDR, sends what it reads from stdin, prints what comes back.
//! At the end of stdin it shuts its write side (FIN) and keeps printing
//! until the server closes. It exits 0 after a clean close, and non-zero
//! with the classified reason otherwise:
//!
//! ```text
//! $ cargo run --example client -- 127.0.0.1:1
//! connect failed: refused
//! ```
//!
//! `--timeout` bounds the connect (default 10 s; the kernel alone gives up
//! on an unanswered SYN only after about 127 s). `--keepalive` turns on TCP
//! keepalive with this idle time (probes every second, three of them), so a
//! server that vanished is noticed even while nothing is sent. Durations
//! take a unit (`500ms`, `2s`, `1.5s`, `1m`; a bare number is seconds).
//! Logs go through env_logger (`RUST_LOG=debug`).
//!
//! `--tls` (built with `--features tls`) speaks TLS, trusting the
//! certificates in `--ca FILE` and checking the server's certificate
//! against `--name` (default: ADDR's host, e.g. `localhost:7000`). A
//! certificate that does not verify ends with the alert:
//!
//! ```text
//! $ cargo run --features tls --example client -- localhost:7000 --tls --ca cert.pem
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use netloop::bytes::{Bytes, BytesMut};
use netloop::{
    CloseReason, ConnId, ConnOptions, ConnectError, ConnectOptions, Ctx, Handler, Keepalive,
    Reactor, ReactorHandle,
};

/// How the connection ended, kept in the reactor's shared state.
#[derive(Default)]
struct Outcome {
    connect_error: Option<String>,
    reason: Option<CloseReason>,
}

/// Prints replies; records how the connection ended and stops the loop.
struct Client;

impl Handler<Outcome> for Client {
    fn on_read(&mut self, _ctx: &mut Ctx<'_, Outcome>, input: &mut BytesMut) {
        // A blocking write to stdout is fine for a terminal or a pipe; a
        // server of many connections would queue instead.
        let mut out = io::stdout().lock();
        if out.write_all(input).and_then(|()| out.flush()).is_err() {
            log::warn!("stdout closed; dropping {} bytes", input.len());
        }
        input.clear();
    }

    fn on_connect_error(&mut self, ctx: &mut Ctx<'_, Outcome>, error: &ConnectError) {
        ctx.reactor().shared().connect_error = Some(error.kind.to_string());
        log::debug!("{error}");
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, Outcome>, reason: CloseReason) {
        ctx.reactor().shared().reason = Some(reason);
        ctx.reactor().stop();
    }
}

/// What the command line asked for.
struct Args {
    addr: SocketAddr,
    timeout: Duration,
    keepalive: Option<Duration>,
    /// `--tls`: the CA file to trust (`--ca`) and the server's name.
    tls: Option<(Option<String>, String)>,
}

const USAGE: &str =
    "usage: client ADDR [--timeout 2s] [--keepalive 10s] [--tls [--ca FILE] [--name NAME]]";

/// `500ms`, `2s`, `1.5s` or `2` (a bare number is seconds).
fn parse_duration(text: &str) -> Result<Duration, lexopt::Error> {
    let bad = |e: &dyn std::fmt::Display| format!("bad duration {text}: {e}");
    match text.parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|e| bad(&e).into()),
        Err(_) => humantime::parse_duration(text).map_err(|e| bad(&e).into()),
    }
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut addr = None;
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 7000)),
        timeout: Duration::from_secs(10),
        keepalive: None,
        tls: None,
    };
    let (mut tls, mut ca, mut name) = (false, None, None);
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("timeout") => args.timeout = parse_duration(&parser.value()?.string()?)?,
            Long("keepalive") => {
                args.keepalive = Some(parse_duration(&parser.value()?.string()?)?);
            }
            Long("tls") => tls = true,
            Long("ca") => ca = Some(parser.value()?.string()?),
            Long("name") => name = Some(parser.value()?.string()?),
            Value(a) if addr.is_none() => addr = Some(a.string()?),
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    let addr = addr.ok_or("missing ADDR")?;
    if tls {
        // The host part of HOST:PORT (or of [V6]:PORT) names the server.
        let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        args.tls = Some((ca, name.unwrap_or_else(|| host.to_string())));
    } else if ca.is_some() || name.is_some() {
        return Err("--ca and --name go with --tls".into());
    }
    args.addr = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or("no address")?;
    Ok(args)
}

fn connect_options(args: &Args) -> io::Result<ConnectOptions> {
    let mut conn = ConnOptions::default();
    if let Some(idle) = args.keepalive {
        conn = conn.keepalive(Keepalive {
            idle,
            interval: Duration::from_secs(1),
            probes: 3,
        });
    }
    with_tls(
        ConnectOptions::default().timeout(args.timeout).conn(conn),
        args.tls.as_ref(),
    )
}

/// `--tls`: trust `--ca` (required: there is no system store here) and
/// check the server's name.
#[cfg(feature = "tls")]
fn with_tls(
    opts: ConnectOptions,
    tls: Option<&(Option<String>, String)>,
) -> io::Result<ConnectOptions> {
    let Some((ca, name)) = tls else {
        return Ok(opts);
    };
    let Some(ca) = ca else {
        let why = "--tls needs --ca FILE (the certificates to trust)";
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    };
    let config = netloop::tls::client_config(ca.as_ref())?;
    let name = netloop::tls::server_name(name)?;
    Ok(opts.tls(std::sync::Arc::new(config), name))
}

/// `--tls` needs the `tls` feature.
#[cfg(not(feature = "tls"))]
fn with_tls(
    opts: ConnectOptions,
    tls: Option<&(Option<String>, String)>,
) -> io::Result<ConnectOptions> {
    match tls {
        None => Ok(opts),
        Some(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "--tls: built without TLS; run with `--features tls`",
        )),
    }
}

/// Sends stdin to the connection from another thread, then shuts our write
/// side. Bytes sent before the connect completes wait in the queue.
fn pump_stdin(handle: ReactorHandle<Outcome>, id: ConnId) {
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if handle.send(id, Bytes::copy_from_slice(&buf[..n])).is_err() {
                        return; // the reactor stopped
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!("stdin: {e}");
                    break;
                }
            }
        }
        let _ = handle.post(move |rc| {
            let _ = rc.conn(id).shutdown_write();
        });
    });
}

fn main() -> ExitCode {
    env_logger::init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(Outcome {
            connect_error: Some(kind),
            reason,
        }) => {
            match reason {
                // A TLS failure's reason says which alert.
                Some(reason @ CloseReason::Tls(_)) => eprintln!("connect failed: {kind}: {reason}"),
                _ => eprintln!("connect failed: {kind}"),
            }
            ExitCode::FAILURE
        }
        Ok(Outcome {
            reason: Some(reason),
            ..
        }) if reason.is_graceful() => ExitCode::SUCCESS,
        Ok(Outcome { reason, .. }) => {
            let reason = reason.map_or("reactor stopped".to_string(), |r| r.to_string());
            eprintln!("connection ended: {reason}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> io::Result<Outcome> {
    let mut reactor = Reactor::with_state(Outcome::default())?;
    let id = reactor.connect(args.addr, connect_options(args)?, Client)?;
    pump_stdin(reactor.handle(), id);
    reactor.run()?;
    Ok(std::mem::take(reactor.shared()))
}
