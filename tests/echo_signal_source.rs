//! The echo example reads SIGINT/SIGTERM on reactor 0's loop (a registered
//! event source) and acts for the whole server: with two reactors, the
//! first signal starts a graceful shutdown of both, the second stops both
//! at once, so a client that never closes does not hold the exit until the
//! grace period ends.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn signal(child: &std::process::Child, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a child pid");
    rustix::process::kill_process(pid, sig).expect("kill");
}

#[test]
fn a_first_signal_shuts_down_every_reactor_and_a_second_stops_them() {
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
            "60",
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the echo example");
    // Clients on both reactors (the kernel spreads them by hash), held
    // open: each lingers after on_shutdown's close, waiting for our FIN.
    let mut clients = Vec::new();
    wait_until("the echo example listens", || {
        TcpStream::connect(addr).map(|c| clients.push(c)).is_ok()
    });
    clients.extend((0..15).map(|_| TcpStream::connect(addr).unwrap()));
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    signal(&child, rustix::process::Signal::INT);
    // The first signal closed the listeners of both reactors.
    wait_until("the listeners closed", || TcpStream::connect(addr).is_err());
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited before the grace period"
    );
    signal(&child, rustix::process::Signal::TERM);
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the second signal did not stop the server"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let log = log.join().unwrap();
    assert!(status.success(), "exit status {status:?}:\n{log}");
    assert!(log.contains("shutting down, 60s grace"), "{log}");
    assert!(log.contains("stopping now"), "{log}");
    assert!(
        log.contains("reactor 1: "),
        "both reactors summed up:\n{log}"
    );
    let at_shutdown: u64 = log
        .lines()
        .find_map(|l| {
            l.split_once("; ")?
                .1
                .strip_suffix(" closed at shutdown")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no summary line:\n{log}"));
    assert!(at_shutdown >= 16, "the held clients were stopped:\n{log}");
    drop(clients);
}
