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
//!
//! The client itself is `bench_support::loadgen` (crates/bench-support),
//! which the criterion benches use too.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bench_support::loadgen::{Client, Spec};
use bench_support::procfs;

/// What the command line asked for.
struct Args {
    addr: SocketAddr,
    conns: usize,
    size: usize,
    depth: usize,
    warmup: Duration,
    duration: Duration,
    messages: u64,
    server_pid: u32,
    churn: bool,
    rate: f64,
}

const USAGE: &str = "usage: pingpong [--addr ADDR] [--conns N] [--size BYTES] [--depth N] \
                     [--warmup SECS] [--duration SECS] [--messages N] [--server-pid PID] \
                     [--churn] [--rate MSGS_PER_SEC]";

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 7000)),
        conns: 100,
        size: 64,
        depth: 1,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(5),
        messages: 0,
        server_pid: 0,
        churn: false,
        rate: 0.0,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("addr") => args.addr = parser.value()?.parse()?,
            Long("conns") => args.conns = parser.value()?.parse()?,
            Long("size") => args.size = parser.value()?.parse()?,
            Long("depth") => args.depth = parser.value()?.parse()?,
            Long("warmup") => args.warmup = parser.value()?.parse_with(parse_duration)?,
            Long("duration") => args.duration = parser.value()?.parse_with(parse_duration)?,
            Long("messages") => args.messages = parser.value()?.parse()?,
            Long("server-pid") => args.server_pid = parser.value()?.parse()?,
            Long("churn") => args.churn = true,
            Long("rate") => args.rate = parser.value()?.parse()?,
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(args)
}

/// A bare number of seconds (`5`, `0.5`), or a duration with units (`5s`,
/// `500ms`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|e| e.to_string()),
        Err(_) => humantime::parse_duration(text).map_err(|e| e.to_string()),
    }
}

fn main() -> io::Result<()> {
    let Args {
        addr,
        conns,
        size,
        depth,
        warmup,
        duration,
        messages,
        server_pid,
        churn,
        rate,
    } = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}\n{USAGE}");
        std::process::exit(2);
    });
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
