//! The echo example started by `systemd-socket-activate` serves the socket
//! it was handed (socket activation: `LISTEN_FDS`) instead of binding one,
//! and exits 0 on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

use common::{tools, wait_until};

#[test]
fn the_echo_example_serves_a_socket_handed_in_by_systemd() {
    if !tools::have("systemd-socket-activate") {
        return tools::skip_or_fail("systemd-socket-activate is not installed (package systemd)");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(addr.to_string())
        .arg(tools::example_binary("echo"))
        // A port the example would bind if it ignored the socket handed in.
        .args(["--addr", "127.0.0.1:1"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start systemd-socket-activate");
    wait_until("the socket is listening", || {
        TcpStream::connect(addr).is_ok()
    });
    let mut c = TcpStream::connect(addr).unwrap();
    // A server that ignored the socket handed in would leave this
    // connection unanswered: fail, do not hang.
    c.set_read_timeout(Some(common::PATIENCE)).unwrap();
    c.write_all(b"hello").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    c.read_to_end(&mut echoed).unwrap();
    assert_eq!(echoed, b"hello");

    // The tool execs the example in its own process: same pid.
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let listening = lines
        .find(|l| l.contains("echo server (pid"))
        .expect("the example's start line");
    assert!(listening.contains("(inherited;"), "{listening}");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}
