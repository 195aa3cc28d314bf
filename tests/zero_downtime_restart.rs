//! Zero-downtime restart of the echo example (two reactors): SIGUSR2 makes
//! it start a new copy of itself holding its listening sockets, then drain
//! and exit 0; a second SIGUSR2, to the new copy, does the same. Meanwhile
//! a client opening a new connection per message and four long-lived
//! connections exchanging messages see no refused connection, no reset,
//! and every message answered intact (a long-lived connection may see a
//! clean EOF after its last reply: it then reconnects and resends what had
//! no answer).

mod common;

use common::ReadRetrying;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{tools, wait_until};
use rustix::process::{Pid, Signal, WaitOptions};

const MESSAGE: usize = 32;
const LONG_LIVED: usize = 4;

/// What the clients saw.
#[derive(Default)]
struct Tally {
    /// Messages answered intact.
    answered: AtomicU64,
    /// Clean EOFs before an answer (the message is resent).
    clean_eofs: AtomicU64,
    /// Refused connects, resets, corrupted answers: must stay empty.
    failures: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failures.lock().unwrap().push(what);
    }
}

/// One message out and its echo back on `stream`: Ok(true) answered,
/// Ok(false) a clean EOF came first.
fn exchange(stream: &mut TcpStream, msg: &[u8; MESSAGE]) -> io::Result<bool> {
    // A server that stopped answering is a failure, not a hang.
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.write_all(msg)?;
    let mut got = [0u8; MESSAGE];
    let mut have = 0;
    while have < MESSAGE {
        match stream.read_retrying(&mut got[have..])? {
            0 => return Ok(false),
            n => have += n,
        }
    }
    if &got != msg {
        return Err(io::Error::other("the echo differs from the message"));
    }
    Ok(true)
}

fn message(client: usize, seq: u64) -> [u8; MESSAGE] {
    let mut msg = [b'.'; MESSAGE];
    let text = format!("client {client} message {seq}");
    msg[..text.len()].copy_from_slice(text.as_bytes());
    msg
}

/// A new connection per message.
fn churn(addr: SocketAddr, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let mut seq = 0;
    while !stop.load(Ordering::Relaxed) {
        let msg = message(LONG_LIVED, seq);
        let result = TcpStream::connect(addr).and_then(|mut s| exchange(&mut s, &msg));
        match result {
            Ok(true) => {
                tally.answered.fetch_add(1, Ordering::Relaxed);
                seq += 1;
            }
            Ok(false) => {
                tally.clean_eofs.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tally.fail(format!("churn message {seq}: {e}")),
        }
    }
}

/// One connection as long as it lasts; on a clean EOF, a new one, and the
/// unanswered message again.
fn long_lived(client: usize, addr: SocketAddr, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let mut seq = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut stream = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => return tally.fail(format!("client {client} connect: {e}")),
        };
        while !stop.load(Ordering::Relaxed) {
            match exchange(&mut stream, &message(client, seq)) {
                Ok(true) => {
                    tally.answered.fetch_add(1, Ordering::Relaxed);
                    seq += 1;
                }
                Ok(false) => {
                    tally.clean_eofs.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(e) => return tally.fail(format!("client {client} message {seq}: {e}")),
            }
        }
    }
}

/// The pids of echo processes that said they listen, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn listening_pids(&self) -> Vec<i32> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| {
                let rest = l.split_once("echo server (pid ")?.1;
                rest.split_once(')')?.0.parse().ok()
            })
            .collect()
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

fn start_echo() -> (Child, SocketAddr, Log) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = Command::new(tools::example_binary("echo"))
        .args([
            "--addr",
            &addr.to_string(),
            "--threads",
            "2",
            "--grace",
            "10",
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the echo example");
    let log = Log::default();
    let lines = log.clone();
    // Every generation writes to this pipe (they inherit it).
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            lines.0.lock().unwrap().push(line);
        }
    });
    wait_until("the echo example listens", || {
        TcpStream::connect(addr).is_ok()
    });
    (child, addr, log)
}

/// Kills every echo process the log names when the test fails, so that a
/// failed run leaves none behind.
struct KillOnDrop(Log);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // After a pass every process was reaped: its pid may be reused.
        if !std::thread::panicking() {
            return;
        }
        for pid in self.0.listening_pids() {
            if let Some(pid) = Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
    }
}

fn signal(pid: i32, sig: Signal) {
    rustix::process::kill_process(Pid::from_raw(pid).unwrap(), sig).expect("signal");
}

/// Waits for `pid` (a child, or an orphan this process reaps) to exit;
/// its exit code.
fn exit_code(pid: i32) -> Option<i32> {
    let (_, status) = rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::empty())
        .expect("waitpid")
        .expect("a status");
    status.exit_status()
}

/// Waits until the clients answered `more` messages past what they had.
fn wait_for_traffic(tally: &Tally, more: u64) {
    let target = tally.answered.load(Ordering::Relaxed) + more;
    wait_until("the clients are answered", || {
        tally.answered.load(Ordering::Relaxed) >= target
    });
}

/// SIGUSR2 to `old`: a new process listens, `old` exits 0; the new pid.
fn restart(old: i32, log: &Log) -> i32 {
    signal(old, Signal::USR2);
    let deadline = Instant::now() + Duration::from_secs(30);
    let new = loop {
        if let Some(&pid) = log.listening_pids().last().filter(|&&p| p != old) {
            break pid;
        }
        assert!(Instant::now() < deadline, "no new process:\n{}", log.text());
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(
        exit_code(old),
        Some(0),
        "the old process's exit:\n{}",
        log.text()
    );
    new
}

#[test]
fn sigusr2_hands_over_without_refusing_resetting_or_losing_anything() {
    // The copies started by a copy become this process's children when
    // their parent exits, so their exit statuses can be read here.
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .expect("become a child subreaper");
    let (first, addr, log) = start_echo();
    let _cleanup = KillOnDrop(log.clone());
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client in 0..LONG_LIVED {
        let (tally, stop) = (tally.clone(), stop.clone());
        clients.push(std::thread::spawn(move || {
            long_lived(client, addr, tally, stop)
        }));
    }
    let (t, s) = (tally.clone(), stop.clone());
    clients.push(std::thread::spawn(move || churn(addr, t, s)));

    wait_for_traffic(&tally, 200);
    let second = restart(first.id() as i32, &log);
    wait_for_traffic(&tally, 200);
    let third = restart(second, &log);
    wait_for_traffic(&tally, 200);

    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    signal(third, Signal::TERM);
    assert_eq!(exit_code(third), Some(0), "the last process's exit");
    let failures = tally.failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failures, e.g. {:?}\n{}",
        failures.len(),
        &failures[..failures.len().min(5)],
        log.text()
    );
    println!(
        "{} messages answered, {} clean EOFs before an answer (resent)",
        tally.answered.load(Ordering::Relaxed),
        tally.clean_eofs.load(Ordering::Relaxed)
    );
}
