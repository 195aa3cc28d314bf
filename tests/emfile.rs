//! Out of file descriptors (EMFILE), the server neither spins nor stalls:
//! while accept fails its thread stays nearly idle (CPU time read from
//! /proc), the connections it already has are served throughout, and the
//! clients waiting in the accept queue are served once descriptors are free
//! again — one as soon as a connection closes, the rest from the retry timer
//! after the limit is raised.
//!
//! Its own test binary: it lowers this process's RLIMIT_NOFILE.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::procfs::{ThreadCpu, current_tid};
use common::*;
use netloop::ListenOptions;
use netloop::handler::Echo;
use socket2::{Domain, Socket, Type};

/// Connections the server can hold under the lowered limit.
const FIT: usize = 10;
/// Clients beyond that, left waiting in the accept queue.
const QUEUED: usize = 30;
/// The most CPU the reactor thread may use while accept keeps failing (a
/// loop that retried without pause would use a whole core).
const MAX_IDLE_CPU: f64 = 0.10;
/// The most accept attempts in the idle window (retries back off from
/// 10 ms to 1 s; a spinning loop would make millions).
const MAX_RETRIES_IN_WINDOW: u64 = 50;
const WINDOW: Duration = Duration::from_millis(2000);
/// The least time between two accept retries once the backoff has reached
/// its maximum (well within `WINDOW`: 10 ms doubling to 1 s).
const RETRY_GAP: Duration = Duration::from_millis(1000);

fn nofile_limit() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the valid `lim`.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit");
    lim
}

fn set_nofile_limit(lim: libc::rlimit) {
    // SAFETY: setrlimit reads one rlimit from the valid `lim`.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// The descriptor limit under which exactly `free` more descriptors can be
/// opened: new descriptors take the lowest free numbers below the limit
/// (descriptors numbered above it, e.g. inherited ones, stay usable and
/// take no number below it).
fn limit_leaving_free(free: usize) -> usize {
    let me = format!("/proc/{}/fd", std::process::id());
    let fds: Vec<usize> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok())
        // The listing's own descriptor is closed by the time the limit drops.
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.to_str() != Some(me.as_str())))
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    (free..)
        .find(|&limit| limit - fds.iter().filter(|&&fd| fd < limit).count() == free)
        .unwrap()
}

fn ping(c: &mut TcpStream, msg: &[u8]) {
    c.write_all(msg).unwrap();
    let mut buf = vec![0u8; msg.len()];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(buf, msg);
}

#[test]
fn out_of_descriptors_the_server_neither_spins_nor_stalls() {
    let server = serve(ListenOptions::default(), || Echo);
    let (tx, rx) = std::sync::mpsc::channel();
    server
        .handle
        .post(move |_| tx.send(current_tid()).unwrap())
        .unwrap();
    let mut reactor_cpu = ThreadCpu::open(rx.recv().unwrap());

    // Every socket the test will need exists before the limit drops.
    let sockets: Vec<Socket> = (0..FIT + QUEUED)
        .map(|_| Socket::new(Domain::IPV4, Type::STREAM, None).unwrap())
        .collect();
    let limit = limit_leaving_free(FIT);
    let original = nofile_limit();
    set_nofile_limit(libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: original.rlim_max,
    });

    let mut clients: Vec<TcpStream> = Vec::new();
    for sock in sockets {
        sock.connect(&server.addr.into()).unwrap();
        let c: TcpStream = sock.into();
        c.set_read_timeout(Some(PATIENCE)).unwrap();
        clients.push(c);
    }
    let (mut fit, mut queued) = {
        let rest = clients.split_off(FIT);
        (clients, rest)
    };
    let handle = server.handle.clone();
    wait_until("the server holds all it can and accept failed", || {
        let m = handle.metrics();
        m.open == FIT as u64 && m.accept_errors >= 1
    });
    for (i, c) in queued.iter_mut().enumerate() {
        c.write_all(format!("queued {i:02}").as_bytes()).unwrap();
    }

    // Idle, with accept failing: the loop must sleep, not spin.
    let errors_before = handle.metrics().accept_errors;
    let share = reactor_cpu.share_during(|| {
        let end = Instant::now() + WINDOW;
        wait_until("the window passed", || Instant::now() >= end)
    });
    let retries = handle.metrics().accept_errors - errors_before;
    println!(
        "EMFILE idle window of {WINDOW:?}: reactor thread CPU {:.1}% of a core, {retries} accept retries",
        share * 100.0
    );
    assert!(
        share < MAX_IDLE_CPU,
        "the loop spins: {:.0}% CPU",
        share * 100.0
    );
    assert!(retries <= MAX_RETRIES_IN_WINDOW, "{retries} accept retries");

    // Connections already accepted are served throughout.
    for round in 0..5 {
        for c in fit.iter_mut() {
            ping(c, format!("round {round}").as_bytes());
        }
    }
    assert_eq!(
        handle.metrics().open,
        FIT as u64,
        "nothing new was accepted"
    );

    // A connection closes: its descriptor goes to the next queued client
    // at once (the listener retries on close), not at the next timed retry.
    // The retries are a second apart by now (the backoff is at its 1 s
    // maximum), and the close follows one closely: the timer cannot accept
    // before `RETRY_GAP` after the last moment the count of failed accepts
    // was seen unchanged. The client must be served well before that.
    // (Shut down, not dropped: the client's own descriptor stays taken, so
    // the only one freed is the server's.)
    let accepted_before = handle.metrics().accepted;
    let retries_before = handle.metrics().accept_errors;
    let patience = Instant::now() + PATIENCE;
    let mut before_retry = Instant::now();
    while handle.metrics().accept_errors == retries_before {
        assert!(Instant::now() < patience, "no accept retry");
        std::thread::sleep(Duration::from_millis(1));
        before_retry = Instant::now();
    }
    let leaving = fit.pop().unwrap();
    leaving.shutdown(std::net::Shutdown::Both).unwrap();
    wait_until("a queued client was accepted", || {
        handle.metrics().accepted == accepted_before + 1
    });
    let waited = before_retry.elapsed();
    println!("a queued client was accepted {waited:?} after a retry, the close just after it");
    assert!(
        waited < RETRY_GAP / 2,
        "the queued client waited {waited:?}: for the retry timer, not the close"
    );
    let mut first = queued.remove(0);
    let mut buf = [0u8; 9];
    first.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"queued 00");

    // Raising the limit again: the retry timer accepts everyone left.
    set_nofile_limit(original);
    for (i, c) in queued.iter_mut().enumerate() {
        let mut buf = [0u8; 9];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(buf, format!("queued {:02}", i + 1).as_bytes());
        ping(c, b"and again");
    }
    for c in fit.iter_mut() {
        ping(c, b"still fine");
    }
    drop((fit, queued, first, leaving));
    drop(handle);
    let metrics = server.finish();
    assert_eq!(metrics.accepted, (FIT + QUEUED) as u64);
    assert!(metrics.accept_errors >= 1);
}
