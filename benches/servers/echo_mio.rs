//! The bare mio echo loop of the benchmarks (the floor netloop is measured
//! against): `cargo run --release --example echo_mio -- [--addr ADDR] [--exit-when-idle]`.
//!
//! `--exit-when-idle`: exit once the last connection closed (after at least
//! one), so a profiler wrapping the process can write its results.

use std::net::SocketAddr;

use bench_support::{Args, mio_echo};

fn main() -> std::io::Result<()> {
    let args = Args::from_env();
    let addr: SocketAddr = args.get("--addr", SocketAddr::from(([127, 0, 0, 1], 7000)));
    let (mut server, _stopper) = mio_echo::Server::new(bench_support::listener(addr)?)?;
    server.run(args.flag("--exit-when-idle"))
}
