//! What idle connections with idle timers cost the reactor:
//! `cargo run --release --example idle_cost -- [--conns N] [--idle 300s] [--keep] [--seconds 10]`.
//!
//! The reactor (this process, on its main thread) accepts N connections,
//! each with an idle timeout, from a child process (this program again,
//! with `--clients`) that opens them and then sends nothing. Once all are
//! open it measures its own CPU time over `--seconds`: the reactor thread's
//! run time from `/proc/self/task/<tid>/schedstat` (nanoseconds) and the
//! process's `utime + stime` from `/proc/self/stat` (clock ticks).
//!
//! - Default (`--idle 300s`): the timers are pending but none is due in the
//!   window; the figure is what merely holding N connections and N timers
//!   costs.
//! - `--idle 1s --keep`: every connection's idle timer fires once a second
//!   and the handler keeps the connection, so N timers fire and re-arm per
//!   second: the cost of the timer queue at work.
//!
//! The default N is 19,985: a process may hold 20,000 descriptors here, and
//! the reactor process needs 11 for itself (stdio, two epoll descriptors,
//! the eventfd waker, the listener,
//! the pipes to its child).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netloop::bytes::BytesMut;
use netloop::{ConnOptions, Ctx, Handler, ListenOptions, Reactor, Verdict};

/// Consumes input; keeps or closes idle connections as told.
struct Idle {
    keep: bool,
}

impl Handler for Idle {
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_idle_timeout(&mut self, _ctx: &mut Ctx<'_>) -> Verdict {
        if self.keep {
            Verdict::Keep
        } else {
            Verdict::Close
        }
    }
}

struct Args {
    conns: usize,
    idle: Duration,
    keep: bool,
    seconds: u64,
}

fn parse_args() -> Args {
    let mut args = Args {
        conns: 19_985,
        idle: Duration::from_secs(300),
        keep: false,
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().expect("option needs a value");
        match arg.as_str() {
            "--conns" => args.conns = value().parse().expect("--conns N"),
            "--idle" => {
                let v = value();
                let secs: f64 = v.trim_end_matches('s').parse().expect("--idle SECONDS");
                args.idle = Duration::from_secs_f64(secs);
            }
            "--keep" => args.keep = true,
            "--seconds" => args.seconds = value().parse().expect("--seconds N"),
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

/// The child: opens `n` connections to `addr`, says so on stdout, then
/// holds them silently until its stdin closes.
fn clients(addr: SocketAddr, n: usize) -> io::Result<()> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        held.push(TcpStream::connect(addr)?);
    }
    println!("open");
    io::stdout().flush()?;
    let _ = io::stdin().read(&mut [0u8; 1]);
    Ok(())
}

/// CPU time of the reactor thread (ns) and of the process (clock ticks).
fn cpu_now() -> (u64, u64) {
    let pid = std::process::id();
    let schedstat =
        std::fs::read_to_string(format!("/proc/self/task/{pid}/schedstat")).expect("schedstat");
    let thread_ns = schedstat
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of the line; `rest` starts at field 3.
    let ticks = rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap();
    (thread_ns, ticks)
}

fn main() -> io::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--clients") {
        return clients(
            argv[2].parse().expect("address"),
            argv[3].parse().expect("count"),
        );
    }
    let args = parse_args();
    let mut reactor = Reactor::new()?;
    let keep = args.keep;
    let opts = ListenOptions::default().conn(ConnOptions::default().idle_timeout(args.idle));
    let listener = reactor.listen("127.0.0.1:0".parse().unwrap(), opts, move || Idle { keep })?;
    let addr = reactor.listener_addr(listener)?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--clients", &addr.to_string(), &args.conns.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let opening = Instant::now();
    while reactor.conn_count() < args.conns {
        reactor.turn(Some(Duration::from_millis(100)))?;
        if opening.elapsed() > Duration::from_secs(120) {
            let m = reactor.metrics();
            panic!(
                "only {} of {} connections open after 2 min ({} accept errors)",
                reactor.conn_count(),
                args.conns,
                m.accept_errors
            );
        }
    }
    let mut ready = [0u8; 5];
    child.stdout.as_mut().unwrap().read_exact(&mut ready)?;
    let opened_in = opening.elapsed();
    // Let the burst of accepts settle before measuring.
    let settle = Instant::now() + Duration::from_secs(1);
    while Instant::now() < settle {
        reactor.turn(Some(Duration::from_millis(100)))?;
    }
    let before = reactor.metrics();
    let (ns0, ticks0) = cpu_now();
    let started = Instant::now();
    let window = Duration::from_secs(args.seconds);
    while started.elapsed() < window {
        reactor.turn(Some(window - started.elapsed()))?;
    }
    let (ns1, ticks1) = cpu_now();
    let wall = started.elapsed();
    let after = reactor.metrics();
    let thread_pct = (ns1 - ns0) as f64 / wall.as_nanos() as f64 * 100.0;
    let process_pct = (ticks1 - ticks0) as f64 / 100.0 / wall.as_secs_f64() * 100.0;
    println!(
        "{} connections open (opened in {:.1?}), idle timeout {:?}{}, {} timers pending",
        reactor.conn_count(),
        opened_in,
        args.idle,
        if args.keep { " (kept)" } else { "" },
        after.timers_pending
    );
    println!(
        "over {:.1?}: reactor thread {:.3} ms CPU = {:.4}% of a core; process utime+stime {} ticks = {:.2}% (CLK_TCK 100); {} turns",
        wall,
        (ns1 - ns0) as f64 / 1e6,
        thread_pct,
        ticks1 - ticks0,
        process_pct,
        after.turns - before.turns
    );
    drop(child.stdin.take());
    child.wait()?;
    Ok(())
}
