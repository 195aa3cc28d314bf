//! The tokio peer of the `http` example, for side-by-side benchmarks:
//! `cargo run --release --example http_tokio -- [ADDR] [--threads N]`
//! (default `127.0.0.1:8081`; one thread runs a `current_thread` runtime,
//! N > 1 a `multi_thread` runtime with N workers, 0 one worker per core).
//!
//! Same behaviour, byte for byte: it uses the example's own framing and
//! responses (`netloop_http::framing`, `netloop_http::respond`, in
//! `crates/netloop-http/`),
//! answers every request of one read in one write, refreshes `Date` once
//! per second, closes after 408 when a request takes longer than the header
//! timeout, and closes with a lingering close (FIN, drain until the
//! client's FIN).
//! It is written the way a tokio server usually is: a task per connection,
//! `read_buf`/`write_all` with timeouts.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netloop::bytes::{Buf, BytesMut};
use netloop_http::args;
use netloop_http::date::HttpDate;
use netloop_http::framing::{self, Limits, Parse};
use netloop_http::respond::{self, Persist};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout, timeout_at};

const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const LINGER: Duration = Duration::from_secs(5);
const BATCH_BYTES: usize = 64 * 1024;

/// The current second, stored by a once-a-second task.
static NOW_SECS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's formatted `Date`, and the second it is for.
    static DATE: Cell<(u64, HttpDate)> = Cell::new((0, HttpDate::from_unix(0)));
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `Date` of the current second, formatted at most once per second per thread.
fn current_date() -> HttpDate {
    let now = NOW_SECS.load(Ordering::Relaxed);
    DATE.with(|d| {
        let (secs, date) = d.get();
        if secs == now {
            return date;
        }
        let date = HttpDate::from_unix(now);
        d.set((now, date));
        date
    })
}

fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let default_addr = SocketAddr::from(([127, 0, 0, 1], 8081));
    let args = args::parse(default_addr)?;
    if args.tls.is_some() {
        let why = "this peer serves plain HTTP (HTTPS peers: benches/peers/tls)";
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    }
    let addr = args.addr;
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(serve(addr, threads))
}

async fn serve(addr: SocketAddr, threads: usize) -> io::Result<()> {
    NOW_SECS.store(unix_now(), Ordering::Relaxed);
    tokio::spawn(async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            NOW_SECS.store(unix_now(), Ordering::Relaxed);
        }
    });
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(4096)?;
    log::info!(
        "tokio http server listening on http://{} ({threads} thread(s))",
        listener.local_addr()?
    );
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    if let Err(e) = connection(stream).await {
                        log::debug!("connection ended: {e}");
                    }
                });
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                log::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves one connection until it closes.
async fn connection(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let limits = Limits::default();
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    // The first request must begin and end within the header timeout.
    let mut request_deadline = Some(Instant::now() + HEADER_TIMEOUT);
    loop {
        let deadline = request_deadline.unwrap_or_else(|| Instant::now() + IDLE_TIMEOUT);
        let n = match timeout_at(deadline, stream.read_buf(&mut input)).await {
            Ok(read) => read?,
            Err(_) if request_deadline.is_some() => {
                let date = current_date();
                respond::error(&mut out, 408, &date, Persist::Close);
                return finish(stream, &out).await;
            }
            Err(_) => return Ok(()), // idle keep-alive connection
        };
        if n == 0 {
            return Ok(());
        }
        let date = current_date();
        let mut close = false;
        let mut served = false;
        loop {
            match framing::parse(&input, &limits) {
                Ok(Parse::Complete { request, len }) => {
                    respond::respond(&mut out, &request, &date);
                    close = !request.keep_alive;
                    served = true;
                    input.advance(len);
                    if close {
                        break;
                    }
                }
                // (No `100 Continue` here: the benchmarks send no bodies.)
                Ok(Parse::Partial | Parse::HeadOnly { .. }) => break,
                Err(e) => {
                    log::debug!("bad request: {e}");
                    respond::error(&mut out, e.status(), &date, Persist::Close);
                    close = true;
                    break;
                }
            }
            if out.len() >= BATCH_BYTES {
                write(&mut stream, &out).await?;
                out.clear();
            }
        }
        if close {
            return finish(stream, &out).await;
        }
        if !out.is_empty() {
            write(&mut stream, &out).await?;
            out.clear();
        }
        request_deadline = match (input.is_empty(), request_deadline) {
            (true, _) => None,
            (false, Some(d)) if !served => Some(d),
            (false, _) => Some(Instant::now() + HEADER_TIMEOUT),
        };
    }
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    timeout(WRITE_TIMEOUT, stream.write_all(bytes))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write stalled"))?
}

/// Sends the last answer, then a lingering close: FIN, and discard input
/// until the client's FIN (or the deadline), so no RST destroys the answer.
async fn finish(mut stream: TcpStream, last: &[u8]) -> io::Result<()> {
    write(&mut stream, last).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    let drain = async {
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), io::Error>(())
    };
    let _ = timeout(LINGER, drain).await;
    Ok(())
}
