//! The echo example on a Unix domain socket (`--unix PATH`): a client
//! gets its bytes back and then end of stream (with std's UnixStream, and
//! with `nc -N -U` where installed); a stale socket file at the path is
//! replaced; SIGTERM ends it and removes the file.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::unix::*;
use common::*;

fn start(path: &Path) -> Child {
    let child = Command::new(tools::example_binary("echo"))
        .arg("--unix")
        .arg(path)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the echo example");
    wait_until("the echo example listens", || {
        UnixStream::connect(path).is_ok()
    });
    child
}

fn terminate_and_wait(mut child: Child) -> std::process::ExitStatus {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a child pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the echo example did not exit after SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn echo_example_serves_a_unix_socket_and_removes_it_on_exit() {
    let path = socket_path("echo-example");
    stale_socket_file(&path);
    let child = start(&path);

    let mut c = unix_client(&path);
    c.write_all(b"hello").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello");

    if tools::have("nc") {
        let out = Command::new("nc")
            .args(["-N", "-U"])
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut nc| {
                nc.stdin.take().unwrap().write_all(b"hello")?;
                nc.wait_with_output()
            })
            .expect("run nc");
        assert_eq!(out.stdout, b"hello", "printf hello | nc -N -U PATH");
    } else {
        tools::skip_or_fail("nc (netcat-openbsd) is not installed");
    }

    let status = terminate_and_wait(child);
    assert!(status.success(), "{status}");
    assert!(!path.exists(), "the socket file outlived the server");
}
