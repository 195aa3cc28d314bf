//! A load generator that shares no code with netloop: tokio's
//! `current_thread` runtime, one task per connection, its own latency
//! recording and /proc readers. It exists to cross-check the figures of the
//! project's own generator (`pingpong`, built on netloop).
//!
//! ```text
//! loadgen-indep --mode pingpong --addr 127.0.0.1:17300 --conns 100 --size 64
//! loadgen-indep --mode bulk     --addr 127.0.0.1:17300 --conns 10 --size 65536 [--depth 0]
//! loadgen-indep --mode http     --addr 127.0.0.1:18480 --conns 100 --path /plaintext [--rate 25000] [--depth 16]
//!     common: [--warmup SECS=1] [--duration SECS=5] [--server-pid PID] [--read-buf BYTES=65536]
//! ```
//!
//! - `pingpong`: each connection writes `size` bytes, reads the echo back
//!   whole, and again (one message in flight per connection).
//! - `bulk`: each connection streams `size`-byte writes and reads the echo
//!   back concurrently (a writer and a reader future in the connection's
//!   task). `--depth D` caps the chunks in flight per connection (0, the
//!   default: no cap, TCP flow control alone holds the writer back). A
//!   message is one `size`-byte chunk; its latency runs from the start of
//!   its write to the arrival of its last echoed byte.
//! - `http`: `GET PATH HTTP/1.1` on keep-alive connections, one request in
//!   flight per connection, or with `--depth D` D pipelined requests sent in
//!   one write and all D responses read before the next batch (as wrk's
//!   pipeline script does). With `--rate R` the connections together send R
//!   requests/s on a fixed schedule (each connection one per `conns / R` s,
//!   staggered) and latency runs from when a request was due, not from when
//!   it went out, so a server that falls behind shows it in the percentiles
//!   (no coordinated omission). Without `--rate`: as fast as answers come.
//!
//! Reads go into one `--read-buf`-byte buffer per connection.
//!
//! Prints one line of `key=value` pairs: `msgs_per_sec`, `mib_per_sec`
//! (payload echoed back, or response bytes for http), `p50_us` `p90_us`
//! `p99_us` `p999_us` `max_us`, `client_cpu_util` (this process's CPU over
//! the measured window, in cores) and with `--server-pid` the server's CPU
//! (`server_cpu_ns_per_msg`, `server_cpu_ns_per_mib`, `server_cpu_util`,
//! summed over all its threads).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    PingPong,
    Bulk,
    Http,
}

#[derive(Clone, Debug)]
struct Args {
    mode: Mode,
    addr: SocketAddr,
    conns: usize,
    size: usize,
    depth: usize,
    warmup: f64,
    duration: f64,
    server_pid: u32,
    rate: f64,
    path: String,
    read_buf: usize,
}

const USAGE: &str = "usage: loadgen-indep --mode pingpong|bulk|http [--addr ADDR] [--conns N] [--size BYTES] \
[--depth N] [--rate REQ_PER_SEC] [--path PATH] [--warmup SECS] [--duration SECS] [--server-pid PID] [--read-buf BYTES]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        mode: Mode::PingPong,
        addr: "127.0.0.1:7000".parse().unwrap(),
        conns: 100,
        size: 64,
        depth: 0,
        warmup: 1.0,
        duration: 5.0,
        server_pid: 0,
        rate: 0.0,
        path: "/plaintext".into(),
        read_buf: 65536,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "-h" || k == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{k} {v}: {e}");
        match k.as_str() {
            "--mode" => {
                a.mode = match v.as_str() {
                    "pingpong" => Mode::PingPong,
                    "bulk" => Mode::Bulk,
                    "http" => Mode::Http,
                    _ => return Err(format!("unknown mode {v}")),
                }
            }
            "--addr" => a.addr = v.parse().map_err(|e| bad(&e))?,
            "--conns" => a.conns = v.parse().map_err(|e| bad(&e))?,
            "--size" => a.size = v.parse().map_err(|e| bad(&e))?,
            "--depth" => a.depth = v.parse().map_err(|e| bad(&e))?,
            "--warmup" => a.warmup = v.parse().map_err(|e| bad(&e))?,
            "--duration" => a.duration = v.parse().map_err(|e| bad(&e))?,
            "--server-pid" => a.server_pid = v.parse().map_err(|e| bad(&e))?,
            "--rate" => a.rate = v.parse().map_err(|e| bad(&e))?,
            "--path" => a.path = v,
            "--read-buf" => a.read_buf = v.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    if a.mode == Mode::Http && a.depth > 1 && a.rate > 0.0 {
        return Err("--depth above 1 (pipelining) and --rate do not go together".into());
    }
    if a.conns == 0 || a.size == 0 || a.read_buf == 0 {
        return Err("--conns, --size and --read-buf must be positive".into());
    }
    Ok(a)
}

/// What the connections record, shared within the one thread.
#[derive(Default)]
struct Shared {
    recording: Cell<bool>,
    messages: Cell<u64>,
    bytes: Cell<u64>,
    /// Latencies in nanoseconds, recorded only in the measured window.
    latencies: RefCell<Vec<u64>>,
    errors: Cell<u64>,
}

impl Shared {
    fn done(&self, bytes: u64, latency: Duration) {
        if self.recording.get() {
            self.messages.set(self.messages.get() + 1);
            self.bytes.set(self.bytes.get() + bytes);
            self.latencies.borrow_mut().push(latency.as_nanos() as u64);
        }
    }
}

/// On-CPU nanoseconds of every thread of a process so far (schedstat), or
/// from the tick counters of /proc/PID/stat when schedstat is missing.
fn cpu_ns(pid: &str) -> io::Result<u64> {
    let mut total = 0u64;
    let mut found = false;
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(task.path().join("schedstat")) {
                if let Some(ns) = s.split_whitespace().next().and_then(|x| x.parse::<u64>().ok()) {
                    total += ns;
                    found = true;
                }
            }
        }
    }
    if found {
        return Ok(total);
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the name;
    // USER_HZ is 100 on Linux.
    let ticks: u64 = f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
    Ok(ticks * 10_000_000)
}

async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

async fn pingpong(mut s: TcpStream, size: usize, read_buf: usize, sh: Rc<Shared>) -> io::Result<()> {
    let msg = vec![0x5au8; size];
    let mut buf = vec![0u8; read_buf.max(size)];
    loop {
        let t = Instant::now();
        s.write_all(&msg).await?;
        let mut got = 0;
        while got < size {
            let n = s.read(&mut buf[..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            got += n;
        }
        sh.done(size as u64, t.elapsed());
    }
}

async fn bulk(
    mut s: TcpStream,
    size: usize,
    depth: usize,
    read_buf: usize,
    sh: Rc<Shared>,
) -> io::Result<()> {
    let (mut rd, mut wr) = s.split();
    let chunk = vec![0x5au8; size];
    let sent_at: RefCell<VecDeque<Instant>> = RefCell::new(VecDeque::new());
    let room = Notify::new();
    let writer = async {
        loop {
            while depth > 0 && sent_at.borrow().len() >= depth {
                room.notified().await;
            }
            sent_at.borrow_mut().push_back(Instant::now());
            wr.write_all(&chunk).await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), io::Error>(())
    };
    let reader = async {
        let mut buf = vec![0u8; read_buf];
        let mut partial = 0usize;
        loop {
            let n = rd.read(&mut buf).await?;
            if n == 0 {
                return Err::<(), io::Error>(io::ErrorKind::UnexpectedEof.into());
            }
            partial += n;
            let now = Instant::now();
            let mut freed = false;
            while partial >= size {
                partial -= size;
                let t = sent_at.borrow_mut().pop_front().unwrap_or(now);
                sh.done(size as u64, now - t);
                freed = true;
            }
            if freed {
                room.notify_one();
            }
        }
    };
    tokio::try_join!(writer, reader).map(|_| ())
}

/// One keep-alive connection sending GETs, `depth` at a time (pipelined
/// in one write when `depth` > 1), paced when `period` is given (first
/// batch due at `start`). Each response's latency runs from when its batch
/// was due (or went out).
async fn http(
    mut s: TcpStream,
    request: Rc<Vec<u8>>,
    depth: usize,
    period: Option<Duration>,
    start: tokio::time::Instant,
    read_buf: usize,
    sh: Rc<Shared>,
) -> io::Result<()> {
    let batch: Vec<u8> = request.repeat(depth.max(1));
    let end_of_head = memchr::memmem::Finder::new(b"\r\n\r\n");
    let mut buf: Vec<u8> = Vec::with_capacity(read_buf);
    // Start of the first unparsed response in `buf`.
    let mut at = 0;
    let mut due = start;
    loop {
        let intended = match period {
            Some(p) => {
                tokio::time::sleep_until(due).await;
                let d = due;
                due += p;
                d.into_std()
            }
            None => Instant::now(),
        };
        s.write_all(&batch).await?;
        let mut answered = 0;
        // When the bytes parsed so far arrived.
        let mut arrived = Instant::now();
        while answered < depth.max(1) {
            if let Some(total) = response_len(&end_of_head, &buf[at..]) {
                if buf.len() - at >= total {
                    at += total;
                    answered += 1;
                    sh.done(total as u64, arrived - intended);
                    continue;
                }
            }
            // Keep only the unparsed tail, then read after it.
            buf.drain(..at);
            at = 0;
            buf.reserve(read_buf);
            if s.read_buf(&mut buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            arrived = Instant::now();
        }
    }
}

/// The length of the whole response at the start of `buf`, once its
/// headers are complete.
fn response_len(end_of_head: &memchr::memmem::Finder<'_>, buf: &[u8]) -> Option<usize> {
    let end = end_of_head.find(buf)?;
    let mut len = 0usize;
    for line in buf[..end].split(|&b| b == b'\n').skip(1) {
        const NAME: &[u8] = b"content-length:";
        if line.len() > NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME) {
            let value = std::str::from_utf8(&line[NAME.len()..]).ok()?;
            len = value.trim().parse().ok()?;
        }
    }
    Some(end + 4 + len)
}

fn quantile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1e3
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}\n{USAGE}");
        std::process::exit(2);
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let local = tokio::task::LocalSet::new();
    let code = local.block_on(&rt, run(args));
    std::process::exit(code);
}

async fn run(a: Args) -> i32 {
    let sh = Rc::new(Shared::default());
    let mut streams = Vec::with_capacity(a.conns);
    for _ in 0..a.conns {
        match connect(a.addr).await {
            Ok(s) => streams.push(s),
            Err(e) => {
                eprintln!("connect {}: {e}", a.addr);
                return 1;
            }
        }
    }
    let request = Rc::new(
        format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", a.path, a.addr).into_bytes(),
    );
    let period = (a.rate > 0.0).then(|| Duration::from_secs_f64(a.conns as f64 / a.rate));
    let t0 = tokio::time::Instant::now();
    for (i, s) in streams.into_iter().enumerate() {
        let sh2 = sh.clone();
        let a2 = a.clone();
        let request = request.clone();
        tokio::task::spawn_local(async move {
            let r = match a2.mode {
                Mode::PingPong => pingpong(s, a2.size, a2.read_buf, sh2.clone()).await,
                Mode::Bulk => bulk(s, a2.size, a2.depth, a2.read_buf, sh2.clone()).await,
                Mode::Http => {
                    let start = t0 + period.map_or(Duration::ZERO, |p| p.mul_f64(i as f64 / a2.conns as f64));
                    http(s, request, a2.depth, period, start, a2.read_buf, sh2.clone()).await
                }
            };
            if let Err(e) = r {
                if sh2.errors.get() == 0 {
                    eprintln!("connection {i}: {e}");
                }
                sh2.errors.set(sh2.errors.get() + 1);
            }
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
    let server = a.server_pid.to_string();
    let srv0 = (a.server_pid > 0).then(|| cpu_ns(&server).unwrap_or(0));
    let me0 = cpu_ns("self").unwrap_or(0);
    let w0 = Instant::now();
    sh.recording.set(true);
    tokio::time::sleep(Duration::from_secs_f64(a.duration)).await;
    sh.recording.set(false);
    let secs = w0.elapsed().as_secs_f64();
    let me1 = cpu_ns("self").unwrap_or(0);
    let srv1 = (a.server_pid > 0).then(|| cpu_ns(&server).unwrap_or(0));

    let n = sh.messages.get();
    let bytes = sh.bytes.get();
    let mut lat = std::mem::take(&mut *sh.latencies.borrow_mut());
    lat.sort_unstable();
    let mode = match a.mode {
        Mode::PingPong => "pingpong",
        Mode::Bulk => "bulk",
        Mode::Http => "http",
    };
    let mib = bytes as f64 / (1u64 << 20) as f64;
    let mut line = format!(
        "gen=indep mode={mode} conns={} size={} depth={} rate={} seconds={secs:.3} messages={n} \
         msgs_per_sec={:.0} mib_per_sec={:.2} p50_us={:.1} p90_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} \
         client_cpu_util={:.3} errors={}",
        a.conns,
        a.size,
        a.depth,
        a.rate,
        n as f64 / secs,
        mib / secs,
        quantile(&lat, 0.50),
        quantile(&lat, 0.90),
        quantile(&lat, 0.99),
        quantile(&lat, 0.999),
        lat.last().map_or(f64::NAN, |&x| x as f64 / 1e3),
        (me1 - me0) as f64 / 1e9 / secs,
        sh.errors.get(),
    );
    if let (Some(s0), Some(s1)) = (srv0, srv1) {
        let d = s1.saturating_sub(s0) as f64;
        line += &format!(
            " server_cpu_ns_per_msg={:.1} server_cpu_ns_per_mib={:.0} server_cpu_util={:.3}",
            d / n.max(1) as f64,
            if mib > 0.0 { d / mib } else { f64::NAN },
            d / 1e9 / secs
        );
    }
    println!("{line}");
    0
}
