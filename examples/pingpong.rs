//! Load generator: `cargo run --release --example pingpong -- [OPTIONS]`.
//!
//! Opens `--conns` connections to an echo server at `--addr` and keeps
//! `--depth` messages of `--size` bytes in flight on each (ping-pong at depth
//! 1). Runs `--warmup` seconds, then measures for `--duration` seconds, and
//! prints one line of `key=value` pairs: messages/s, MiB/s one way, latency
//! percentiles (p50/p99/p999, µs) and, with `--server-pid`, the server's CPU
//! time per message over the measured window (from `/proc`).
//!
//! With `--rate R`, the load is paced: each connection sends once every
//! `conns / R` seconds (staggered), so the server gets R messages/s as long
//! as it keeps up, and servers are compared at the same load rather than
//! each at its own pace.
//!
//! With `--messages N`, each connection instead sends exactly N / conns
//! messages and closes (no warm-up; for instruction counts). With
//! `--churn`, connections are short: connect, one echo, close, `--conns` at
//! a time.
//!
//! ```text
//! pingpong --addr 127.0.0.1:7000 --conns 100 --size 64 --depth 1 --duration 5
//! ```

#[path = "../benches/support/mod.rs"]
mod support;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::Args;
use support::loadgen::{Client, Spec};
use support::procfs;

fn main() -> io::Result<()> {
    let args = Args::from_env();
    let addr: SocketAddr = args.get("--addr", SocketAddr::from(([127, 0, 0, 1], 7000)));
    let conns: usize = args.get("--conns", 100);
    let size: usize = args.get("--size", 64);
    let depth: usize = args.get("--depth", 1);
    let warmup = Duration::from_secs_f64(args.get("--warmup", 1.0));
    let duration = Duration::from_secs_f64(args.get("--duration", 5.0));
    let messages: u64 = args.get("--messages", 0);
    let server_pid: u32 = args.get("--server-pid", 0);
    let churn = args.flag("--churn");
    let rate: f64 = args.get("--rate", 0.0);
    if conns == 0 || size == 0 || depth == 0 {
        eprintln!("--conns, --size and --depth must be positive");
        std::process::exit(2);
    }

    let started = Instant::now();
    let mut client = if churn {
        Client::churn(addr, conns, size)?
    } else {
        let per_conn = (messages > 0).then(|| messages.div_ceil(conns as u64));
        Client::connect(
            addr,
            Spec {
                conns,
                size,
                depth,
                per_conn,
                period: (rate > 0.0).then(|| Duration::from_secs_f64(conns as f64 / rate)),
            },
        )?
    };
    if messages > 0 && !churn {
        client.run_to_end()?;
        let total = client.stats().completed;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "conns={conns} size={size} depth={depth} total_messages={total} seconds={secs:.3}"
        );
        return Ok(());
    }

    client.run_for(warmup)?;
    client.stats().record = true;
    let cpu_before = (server_pid > 0)
        .then(|| procfs::cpu_ns(server_pid))
        .transpose()?;
    let window = Instant::now();
    let measured = client.run_for(duration)?;
    let secs = window.elapsed().as_secs_f64();
    let cpu_after = (server_pid > 0)
        .then(|| procfs::cpu_ns(server_pid))
        .transpose()?;
    let stats = client.stats();
    let total = stats.completed;
    let us = |q: f64| stats.latency.quantile(q).as_secs_f64() * 1e6;
    let mut line = format!(
        "conns={conns} size={size} depth={depth} churn={churn} messages={measured} seconds={secs:.3} \
         msgs_per_sec={:.0} mib_per_sec={:.2} p50_us={:.1} p99_us={:.1} p999_us={:.1} total_messages={total}",
        measured as f64 / secs,
        (measured * size as u64) as f64 / secs / (1 << 20) as f64,
        us(0.50),
        us(0.99),
        us(0.999),
    );
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let per_msg = (after - before) as f64 / measured.max(1) as f64;
        line += &format!(
            " server_cpu_ns_per_msg={per_msg:.1} server_cpu_util={:.3}",
            (after - before) as f64 / 1e9 / secs
        );
    }
    println!("{line}");
    client.shut_down()
}
