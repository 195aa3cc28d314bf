//! Bulk traffic over ONE TLS connection: a writer task sends `--chunk`
//! bytes at a time, as fast as the connection takes them, while the reader
//! reads the echo back; after `--warmup` seconds it counts what comes back
//! for `--secs` seconds. tokio-rustls (rustls 0.23, ring provider, its
//! default suites, X25519) on tokio's `current_thread` runtime: one thread.
//!
//!     tls_bulk --addr 127.0.0.1:18590 --ca CERT.pem [--secs 5] [--chunk 65536]
//!              [--warmup 1] [--server-pid PID] [--sni NAME]
//!
//! Prints one line of `key=value` pairs: `mib_per_sec` (MiB echoed back per
//! second in the window), `mib`, `secs`, `total_mib` (echoed from the
//! handshake on, warm-up included), and with `--server-pid` the server's
//! CPU time over the window per MiB echoed (`server_cpu_ms_per_mib`, from
//! `/proc/PID/stat`) and its share of a core (`server_cpu_util`); the
//! client's own share of a core (`client_cpu_util`: near 1, the client
//! limits the rate); then what was negotiated (`version`, `suite`, `kx`).
//! The server name checked against the certificate is the address's IP
//! unless `--sni` names one. Every byte read back is checked against what
//! was sent.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tls_peers::{client_config, cpu_ns_of, Args};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout_at;
use tokio_rustls::TlsConnector;

const USAGE: &str = "usage: tls_bulk --addr ADDR --ca CERT.pem [--secs N] [--chunk BYTES] \
                     [--warmup SECS] [--server-pid PID] [--sni NAME]";

/// The byte every chunk is filled with.
const FILL: u8 = 0x5a;

struct Window {
    at: Instant,
    bytes: u64,
    server_cpu_ns: Option<u64>,
    own_cpu_ns: Option<u64>,
}

fn parse<T: std::str::FromStr>(args: &Args, name: &str, default: &str) -> T {
    args.or(name, default).parse().unwrap_or_else(|_| {
        eprintln!("--{name}: not a valid value\n{USAGE}");
        std::process::exit(2);
    })
}

fn main() {
    let args = Args::parse(USAGE);
    let addr: SocketAddr = parse(&args, "addr", "127.0.0.1:18590");
    let secs: f64 = parse(&args, "secs", "5");
    let warmup: f64 = parse(&args, "warmup", "1");
    let chunk: usize = parse(&args, "chunk", "65536");
    let server_pid: Option<u32> = args
        .get("server-pid")
        .map(|_| parse(&args, "server-pid", "0"));
    let config = client_config(args.need("ca", USAGE)).unwrap_or_else(|e| {
        eprintln!("tls_bulk: {e}");
        std::process::exit(1);
    });
    let name = match args.get("sni") {
        Some(n) => ServerName::try_from(n.to_string()).unwrap_or_else(|e| {
            eprintln!("--sni {n}: {e}");
            std::process::exit(2);
        }),
        None => ServerName::IpAddress(addr.ip().into()),
    };
    // Reads /proc once now, so the window's edges do not wait for getconf.
    let _ = cpu_ns_of(std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let run = rt.block_on(async move {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let tls = TlsConnector::from(config).connect(name, tcp).await?;
        let conn = tls.get_ref().1;
        let negotiated = format!(
            "version={} suite={} kx={}",
            conn.protocol_version()
                .map_or("none".into(), |v| format!("{v:?}")),
            conn.negotiated_cipher_suite()
                .map_or("none".into(), |s| format!("{:?}", s.suite())),
            conn.negotiated_key_exchange_group()
                .map_or("none".into(), |g| format!("{:?}", g.name())),
        );
        let (mut rd, mut wr) = tokio::io::split(tls);
        let writer = tokio::spawn(async move {
            let data = vec![FILL; chunk];
            loop {
                wr.write_all(&data).await?;
            }
            #[allow(unreachable_code)]
            Ok::<(), io::Error>(())
        });
        let start = Instant::now();
        let warm_end = tokio::time::Instant::from_std(start + Duration::from_secs_f64(warmup));
        let end = warm_end + Duration::from_secs_f64(secs);
        let cpu = || server_pid.and_then(|pid| cpu_ns_of(pid).ok());
        let mut buf = vec![0u8; 256 << 10];
        let mut total = 0u64;
        let mut first: Option<Window> = None;
        let last = loop {
            let deadline = if first.is_none() { warm_end } else { end };
            match timeout_at(deadline, rd.read(&mut buf)).await {
                Ok(Ok(0)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ))
                }
                Ok(Ok(n)) => {
                    if buf[..n].iter().any(|&b| b != FILL) {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "the echo differs from what was sent",
                        ));
                    }
                    total += n as u64;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {} // a deadline passed: check below
            }
            let now = tokio::time::Instant::now();
            if first.is_none() && now >= warm_end {
                first = Some(Window {
                    at: Instant::now(),
                    bytes: total,
                    server_cpu_ns: cpu(),
                    own_cpu_ns: cpu_ns_of(std::process::id()).ok(),
                });
            } else if first.is_some() && now >= end {
                break Window {
                    at: Instant::now(),
                    bytes: total,
                    server_cpu_ns: cpu(),
                    own_cpu_ns: cpu_ns_of(std::process::id()).ok(),
                };
            }
        };
        writer.abort();
        Ok::<_, io::Error>((first.expect("window start"), last, negotiated))
    });
    let (first, last, negotiated) = run.unwrap_or_else(|e| {
        eprintln!("tls_bulk: {e}");
        std::process::exit(1);
    });
    let secs = last.at.duration_since(first.at).as_secs_f64();
    let mib = (last.bytes - first.bytes) as f64 / (1 << 20) as f64;
    let mut line = format!(
        "mib_per_sec={:.1} mib={:.1} secs={:.3} total_mib={:.1} chunk={chunk}",
        mib / secs,
        mib,
        secs,
        last.bytes as f64 / (1 << 20) as f64
    );
    if let (Some(a), Some(b)) = (first.server_cpu_ns, last.server_cpu_ns) {
        let cpu_ns = b.saturating_sub(a) as f64;
        line += &format!(
            " server_cpu_ms_per_mib={:.3} server_cpu_util={:.2}",
            if mib > 0.0 {
                cpu_ns / 1e6 / mib
            } else {
                f64::NAN
            },
            cpu_ns / 1e9 / secs
        );
    }
    if let (Some(a), Some(b)) = (first.own_cpu_ns, last.own_cpu_ns) {
        line += &format!(
            " client_cpu_util={:.2}",
            b.saturating_sub(a) as f64 / 1e9 / secs
        );
    }
    println!("{line} {negotiated}");
}
