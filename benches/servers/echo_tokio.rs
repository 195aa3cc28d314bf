//! The tokio echo server of the benchmarks (current_thread runtime, a task
//! per connection): `cargo run --release --example echo_tokio -- [--addr ADDR]
//! [--buf BYTES] [--exit-when-idle]`.
//!
//! `--buf`: the buffer each task owns, allocated when its connection is
//! accepted and not zeroed (default 65536, the size of the one buffer the
//! netloop and mio servers share between all their connections; 0: no
//! buffer held while idle). `--exit-when-idle`: exit once the last connection closed (after at
//! least one), so a profiler wrapping the process can write its results.

use std::net::SocketAddr;

use bench_support::{Args, tokio_echo};

fn main() -> std::io::Result<()> {
    let args = Args::from_env();
    let addr: SocketAddr = args.get("--addr", SocketAddr::from(([127, 0, 0, 1], 7000)));
    let buf: usize = args.get("--buf", bench_support::READ_BUF);
    let listener = bench_support::listener(addr)?;
    let buf = (buf > 0).then_some(buf);
    let exit_when_idle = args.flag("--exit-when-idle");
    tokio_echo::run(listener, buf, exit_when_idle, None, Default::default())
}
