//! `examples/client.rs` as a user runs it, as a process: it echoes stdin
//! through a server and exits 0 after the server's clean close, and a
//! refused connect ends with `connect failed: refused` and a non-zero exit.

mod common;

use common::ReadRetrying;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

use common::PATIENCE;
use socket2::{Domain, Socket, Type};

fn client_binary() -> PathBuf {
    common::tools::example_binary("client")
}

/// Waits for the child to exit, within `PATIENCE`, and collects its output.
fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().expect("wait for the client").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the client did not exit within {PATIENCE:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output().expect("client output")
}

/// Runs the client with `args` and empty stdin, to its end.
fn run_without_input(args: &[&str]) -> Output {
    let child = Command::new(client_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    finish(child)
}

/// A blocking echo peer for one connection: echoes until the client's FIN,
/// then closes (a clean close the client must report as success).
fn echo_once() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 4096];
        loop {
            match stream.read_retrying(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => stream.write_all(&buf[..n]).expect("echo"),
            }
        }
    });
    addr
}

#[test]
fn stdin_goes_through_the_server_and_back_and_a_clean_close_exits_zero() {
    let addr = echo_once();
    let mut child = Command::new(client_binary())
        .arg(addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    let input = b"hello\nworld\n".repeat(1000);
    let mut stdin = child.stdin.take().expect("client stdin");
    stdin.write_all(&input).expect("write to the client");
    drop(stdin); // end of input: the client shuts its write side
    let out = finish(child);
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), input.len(), "every byte came back");
    assert!(out.stdout == input, "the bytes came back in order");
}

#[test]
fn a_refused_connect_prints_the_classified_error_and_exits_non_zero() {
    // A socket bound but not listening holds the port for the test, so
    // nothing can listen there meanwhile: SYNs to it get RST.
    let holder = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    holder
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    let addr = holder
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("addr");
    let out = run_without_input(&[&addr.to_string(), "--timeout", "5s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("connect failed: refused"),
        "stderr: {stderr}"
    );
}

#[test]
fn a_bad_command_line_is_a_usage_error() {
    let out = run_without_input(&["127.0.0.1:1", "--timeout", "soon"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("bad duration soon"), "stderr: {stderr}");
}
