//! The netloop echo server of the benchmarks (the library's `Echo` handler,
//! default options): `cargo run --release --example echo_netloop -- [--addr
//! ADDR] [--exit-when-idle] [--delay-ns N]`.
//!
//! `--exit-when-idle`: exit once the last connection closed (after at least
//! one), so a profiler wrapping the process can write its results.
//! `--delay-ns N`: an experiment, not a contender: busy-wait N ns per read
//! before echoing (a deliberately slower server; `scripts/bench.sh` runs it
//! as the contender `netloop_delayN`). For a plain echo server with logging,
//! see the `echo` example.

use std::net::SocketAddr;
use std::time::Duration;

use bench_support::{Args, netloop_echo};

fn main() -> std::io::Result<()> {
    let args = Args::from_env();
    let addr: SocketAddr = args.get("--addr", SocketAddr::from(([127, 0, 0, 1], 7000)));
    let delay = Duration::from_nanos(args.get("--delay-ns", 0));
    netloop_echo::run(addr, args.flag("--exit-when-idle"), delay, |_, _| {})
}
