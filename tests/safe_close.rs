//! `close()` never destroys replies with a reset: a peer still sending when
//! we close gets every reply and then a clean EOF, for a handler's own
//! close, under a graceful shutdown of two reactors, and in the echo
//! example stopped by SIGTERM. `close_at_once()` shows what the lingering
//! close prevents.

mod common;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use netloop::bytes::BytesMut;
use netloop::{CloseReason, ConnOptions, Ctx, Handler, ListenOptions, ServerBuilder};
use socket2::{Domain, Socket, Type};

/// Bytes of a request frame.
const FRAME: usize = 1024;
/// Bytes of the reply to each frame.
const REPLY: usize = 16 * 1024;
/// Frames answered before the handler closes.
const ANSWERED: usize = 38;

/// Answers every whole frame with `REPLY` bytes; closes after `close_after`.
struct Replies {
    answered: usize,
    close_after: Option<usize>,
}

impl Handler for Replies {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        while input.len() >= FRAME && self.close_after != Some(self.answered) {
            let _ = input.split_to(FRAME);
            ctx.send(&[b'r'; REPLY]).expect("the queue has room");
            self.answered += 1;
            if self.close_after == Some(self.answered) {
                ctx.close();
            }
        }
    }
}

/// Small kernel buffers on both sides, so that replies wait in the
/// server's queue while the client keeps sending.
fn small_buffers() -> ConnOptions {
    ConnOptions::default()
        .send_buffer(16 << 10)
        .recv_buffer(16 << 10)
}

/// A client with a small receive buffer that sends frames until its
/// socket fails or is shut, on a thread.
fn sending_client(addr: SocketAddr) -> (TcpStream, JoinHandle<()>) {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 << 10).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        // Ends with EPIPE/ECONNRESET once the server is gone, or when the
        // reader shuts our write side.
        while writer.write_all(&[b'f'; FRAME]).is_ok() {}
    });
    (stream, sender)
}

/// Reads to EOF (or an error), slowly enough that replies queue up.
fn read_slowly(stream: &mut TcpStream) -> (Vec<u8>, io::Result<()>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read_retrying(&mut buf) {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (got, Err(e)),
        }
        // A deliberately slow reader, not synchronisation.
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// One client against a `Replies` server closing after `ANSWERED` frames:
/// what the client received, how its reading ended, and the close reason.
fn close_while_the_peer_sends(opts: ConnOptions) -> (usize, io::Result<()>, CloseReason) {
    let server = serve(ListenOptions::default().conn(opts), || Replies {
        answered: 0,
        close_after: Some(ANSWERED),
    });
    let (mut stream, sender) = sending_client(server.addr);
    let (got, end) = read_slowly(&mut stream);
    let _ = stream.shutdown(Shutdown::Write);
    drop(stream);
    sender.join().unwrap();
    let got = got.len();
    let id = server.log.conns()[0];
    server.wait_log("closed", |log| log.closes().contains_key(&id));
    let reason = server.log.closes()[&id][0];
    server.finish();
    (got, end, reason)
}

#[test]
fn close_with_the_peer_still_sending_delivers_every_reply_then_a_clean_eof() {
    let (got, end, reason) = close_while_the_peer_sends(small_buffers());
    assert!(end.is_ok(), "the client's read ended with {end:?}");
    assert_eq!(got, ANSWERED * REPLY, "reply bytes received");
    assert_eq!(reason, CloseReason::Local);
}

#[test]
fn close_at_once_with_the_peer_still_sending_loses_replies() {
    // What the lingering close prevents: the same exchange with a close
    // that does not wait ends in an RST that destroys replies not yet
    // delivered.
    let (got, end, reason) = close_while_the_peer_sends(small_buffers().close_at_once());
    // The RST also drops what the server's kernel still held; the client
    // may even read the truncation as a clean EOF.
    let _ = end;
    assert_eq!(
        reason,
        CloseReason::Local,
        "the server thinks it closed cleanly"
    );
    assert!(
        got < ANSWERED * REPLY,
        "got all {got} bytes despite the reset"
    );
}

#[test]
fn graceful_shutdown_of_two_reactors_delivers_every_reply_then_a_clean_eof() {
    const CLIENTS: usize = 6;
    let log = Log::default();
    let factory_log = log.clone();
    let server = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
        .threads(2)
        .listen_options(ListenOptions::default().conn(small_buffers()))
        .start(move || {
            Recorder::new(
                Replies {
                    answered: 0,
                    close_after: None,
                },
                factory_log.clone(),
            )
        })
        .expect("server starts");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| sending_client(server.local_addr()))
        .collect();
    wait_until(
        "every client got replies and the queues are backed up",
        || log.count(|e| matches!(e, Ev::High(_))) >= CLIENTS,
    );
    server.shutdown(Duration::from_secs(20)).unwrap();
    let readers: Vec<_> = clients
        .into_iter()
        .map(|(mut stream, sender)| {
            std::thread::spawn(move || {
                let (got, end) = read_slowly(&mut stream);
                let _ = stream.shutdown(Shutdown::Write);
                drop(stream);
                sender.join().unwrap();
                (got.len(), end)
            })
        })
        .collect();
    let mut received = 0;
    for reader in readers {
        let (got, end) = reader.join().unwrap();
        assert!(end.is_ok(), "a client's read ended with {end:?}");
        assert_eq!(got % REPLY, 0, "a reply was cut short: {got} bytes");
        received += got as u64;
    }
    let summary = server.join().unwrap();
    assert_eq!(received, summary.total.bytes_out, "every byte sent arrived");
    assert_eq!(
        summary.total.closed_with(CloseReason::Local),
        CLIENTS as u64
    );
    assert_eq!(summary.total.closed_total(), CLIENTS as u64);
    log.assert_one_close_each();
}

/// The echo example as a process, on a free port.
struct EchoProcess {
    child: std::process::Child,
    addr: SocketAddr,
}

impl EchoProcess {
    fn start() -> EchoProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new(tools::example_binary("echo"))
            .args(["--addr", &addr.to_string(), "--grace", "20"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the echo example");
        wait_until("the echo example listens", || {
            TcpStream::connect(addr).is_ok()
        });
        EchoProcess { child, addr }
    }

    fn terminate(&self) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("a child pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
    }

    /// Waits for the exit; returns its status and the bytes the server
    /// handed to the kernel, from its closing log line.
    fn wait_exit(mut self) -> (std::process::ExitStatus, u64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if self.child.try_wait().unwrap().is_some() {
                let out = self.child.wait_with_output().unwrap();
                let log = String::from_utf8_lossy(&out.stderr);
                let bytes_out = log
                    .lines()
                    .find_map(|l| {
                        let (_, rest) = l.split_once("reactor 0: ")?;
                        let (_, rest) = rest.split_once(" bytes in, ")?;
                        rest.split_once(" out")?.0.parse().ok()
                    })
                    .unwrap_or_else(|| panic!("no summary line in the log:\n{log}"));
                return (out.status, bytes_out);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the echo example did not exit within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn echo_example_stopped_by_sigterm_returns_a_prefix_of_the_echo_then_eof() {
    let echo = EchoProcess::start();
    // A small receive window, so that replies also wait in the server's
    // kernel buffer, where an RST would destroy them.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 << 10).unwrap();
    socket.connect(&echo.addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    // Send without reading until the pipe is full: the server's queue, its
    // kernel buffers and ours are all full.
    stream.set_nonblocking(true).unwrap();
    let data = pattern(64 << 20);
    let mut sent = 0;
    let mut last_progress = Instant::now();
    while sent < data.len() && last_progress.elapsed() < Duration::from_millis(500) {
        match stream.write(&data[sent..(sent + 64 * 1024).min(data.len())]) {
            Ok(n) => {
                sent += n;
                last_progress = Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    assert!(sent < data.len(), "the pipe never filled");
    stream.set_nonblocking(false).unwrap();
    echo.terminate();
    let (got, end) = read_slowly(&mut stream);
    assert!(
        end.is_ok(),
        "after {} bytes the echo ended with {end:?}",
        got.len()
    );
    assert!(!got.is_empty(), "nothing was echoed");
    assert!(
        got == data[..got.len()],
        "the echo is not a prefix of what was sent"
    );
    drop(stream);
    let (status, bytes_out) = echo.wait_exit();
    assert!(status.success(), "the echo example's exit status");
    assert_eq!(
        got.len() as u64,
        bytes_out,
        "every byte the server sent arrived"
    );
}
