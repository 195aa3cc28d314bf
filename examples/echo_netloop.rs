//! The netloop echo server of the benchmarks (the library's `Echo` handler,
//! default options): `cargo run --release --example echo_netloop -- [--addr
//! ADDR] [--exit-when-idle]`.
//!
//! `--exit-when-idle`: exit once the last connection closed (after at least
//! one), so a profiler wrapping the process can write its results. For a
//! plain echo server with logging, see the `echo` example.

#[path = "../benches/support/mod.rs"]
mod support;

use std::net::SocketAddr;

use support::{Args, netloop_echo};

fn main() -> std::io::Result<()> {
    let args = Args::from_env();
    let addr: SocketAddr = args.get("--addr", SocketAddr::from(([127, 0, 0, 1], 7000)));
    netloop_echo::run(addr, args.flag("--exit-when-idle"), |_, _| {})
}
