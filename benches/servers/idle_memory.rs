//! Idle memory per connection, measured from `/proc`: two processes, since
//! one process may hold only 20,000 descriptors and 19,000 connections need
//! 38,000 sockets.
//!
//! ```text
//! idle_memory --role server --impl netloop|tokio [--buf BYTES] --conns N --addr ADDR --ready-file PATH
//! idle_memory --role clients --conns N --addr ADDR
//! ```
//!
//! The server starts, notes its resident memory (`Rss`, and `Anonymous`:
//! heap and stacks, from `/proc/self/smaps_rollup`), creates the ready file
//! (start the clients only then, or some connections land before the
//! baseline), and waits until `N` connections are open; each client
//! connection echoes one 64-byte message on arrival, then stays idle. One
//! second after the last connection opened the server notes its memory
//! again, prints one line with the difference per connection, and exits,
//! which closes everything and lets the clients process exit too.
//! `scripts/idle_memory.sh` runs both for each contender.
//!
//! tokio runs with `--buf 1024` (a task owns a 1 KiB buffer, the usual
//! shape) or `--buf 0` (no buffer held while idle).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench_support::{Args, procfs, tokio_echo};

fn main() -> io::Result<()> {
    let args = Args::from_env();
    let addr: SocketAddr = args.get("--addr", SocketAddr::from(([127, 0, 0, 1], 7000)));
    let conns: usize = args.get("--conns", 10_000);
    match args.get("--role", String::new()).as_str() {
        "server" => server(&args, addr, conns),
        "clients" => clients(addr, conns),
        _ => {
            eprintln!("--role server|clients");
            std::process::exit(2);
        }
    }
}

/// Memory as the kernel accounts it to this process.
struct Memory {
    rss: u64,
    anon: u64,
}

fn memory() -> io::Result<Memory> {
    Ok(Memory {
        rss: procfs::self_smaps_bytes("Rss")?,
        anon: procfs::self_smaps_bytes("Anonymous")?,
    })
}

fn server(args: &Args, addr: SocketAddr, conns: usize) -> io::Result<()> {
    let which = args.get("--impl", String::from("netloop"));
    let buf: usize = args.get("--buf", 0);
    let open: Box<dyn Fn() -> usize> = match which.as_str() {
        "netloop" => {
            let handle = spawn_netloop(addr)?;
            Box::new(move || handle.metrics().open as usize)
        }
        "tokio" => {
            let count = Arc::new(tokio_echo::Count::default());
            let listener = bench_support::listener(addr)?;
            let thread_count = count.clone();
            std::thread::spawn(move || {
                let buf = (buf > 0).then_some(buf);
                if let Err(e) = tokio_echo::run(listener, buf, false, None, thread_count) {
                    eprintln!("tokio echo: {e}");
                }
            });
            Box::new(move || count.open())
        }
        other => {
            eprintln!("unknown --impl {other}");
            std::process::exit(2);
        }
    };
    // Let the server thread reach its loop before the baseline.
    std::thread::sleep(Duration::from_millis(200));
    let before = memory()?;
    let ready_file: String = args.get("--ready-file", String::new());
    if !ready_file.is_empty() {
        std::fs::write(&ready_file, "ready\n")?;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while open() < conns {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "clients did not all connect",
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The last connection's echo is in flight; let it finish.
    std::thread::sleep(Duration::from_secs(1));
    let after = memory()?;
    let per_conn = |a: u64, b: u64| (a as f64 - b as f64) / conns as f64;
    println!(
        "impl={which} buf={buf} conns={} rss_before={} rss_after={} anon_before={} anon_after={} rss_per_conn={:.0} anon_per_conn={:.0}",
        open(),
        before.rss,
        after.rss,
        before.anon,
        after.anon,
        per_conn(after.rss, before.rss),
        per_conn(after.anon, before.anon),
    );
    Ok(())
}

fn spawn_netloop(addr: SocketAddr) -> io::Result<netloop::ReactorHandle> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ran = bench_support::netloop_echo::run(addr, false, Duration::ZERO, |_, reactor| {
            let _ = tx.send(reactor.handle());
        });
        if let Err(e) = ran {
            eprintln!("netloop echo: {e}");
        }
    });
    rx.recv()
        .map_err(|_| io::Error::other("netloop server did not start"))
}

/// Opens `conns` connections, one echo each, then holds them until the
/// server goes away.
fn clients(addr: SocketAddr, conns: usize) -> io::Result<()> {
    let mut streams = Vec::with_capacity(conns);
    let msg = [0x5au8; 64];
    let mut back = [0u8; 64];
    for _ in 0..conns {
        let mut s = TcpStream::connect(addr)?;
        s.write_all(&msg)?;
        s.read_exact(&mut back)?;
        streams.push(s);
    }
    // Blocks until the server exits and closes the connection.
    let _ = streams[0].read(&mut back);
    Ok(())
}
