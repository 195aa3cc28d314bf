//! The peer of the many-cores benchmark: an echo server on tokio's
//! multi_thread runtime, one task per connection.
//!
//! `cargo run --release --example echo_tokio_mt -- [[--addr] ADDR] [--threads N]`
//! (defaults: `127.0.0.1:7001`, 2 worker threads).
//!
//! Each task owns a 64 KiB buffer and loops on `read_buf` / `write_all`,
//! the usual way to write an echo server with tokio; the buffer is allocated
//! when the connection is accepted and not zeroed (`read_buf` reads into its
//! spare capacity). The listener has the options of the other servers:
//! `SO_REUSEADDR`, `TCP_NODELAY` (inherited by accepted sockets), backlog
//! 4096. `scripts/bench_multicore.sh` runs it side by side with
//! `examples/echo.rs --threads N`.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn parse_args() -> io::Result<(SocketAddr, usize)> {
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    let mut addr: SocketAddr = "127.0.0.1:7001".parse().expect("valid default address");
    let mut threads = 2;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if arg == "--addr" {
            let v = it
                .next()
                .ok_or_else(|| invalid("--addr needs a value".into()))?;
            addr = v
                .parse()
                .map_err(|e| invalid(format!("bad address {v}: {e}")))?;
        } else if arg == "--threads" {
            let v = it
                .next()
                .ok_or_else(|| invalid("--threads needs a value".into()))?;
            threads = v
                .parse()
                .map_err(|e| invalid(format!("bad thread count {v}: {e}")))?;
        } else {
            addr = arg
                .parse()
                .map_err(|e| invalid(format!("bad address {arg}: {e}")))?;
        }
    }
    Ok((addr, threads))
}

async fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        stream.write_all(&buf).await?;
    }
}

fn main() -> io::Result<()> {
    let (addr, threads) = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_io()
        .build()?;
    runtime.block_on(async move {
        // Same options as netloop's defaults: bursts of connects are
        // treated alike, and no accepted socket needs its own setsockopt.
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )?;
        socket.set_reuse_address(true)?;
        socket.set_tcp_nodelay(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(4096)?;
        let listener = TcpListener::from_std(socket.into())?;
        eprintln!(
            "tokio echo server listening on {} ({threads} worker threads)",
            listener.local_addr()?
        );
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(async move {
                        let _ = echo(stream).await;
                    });
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    })
}
