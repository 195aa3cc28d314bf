//! With SIGPIPE at its default action (as in any non-Rust host process),
//! writing to a reset peer through every send path — direct send,
//! send_bytes, a queued flush of one chunk, a vectored flush of several —
//! returns an error and the process survives. A control child shows the
//! same socket state kills a process that writes with plain `writev`.
//!
//! How the scenario reaches EPIPE: the peer sends FIN (our side goes to
//! CLOSE_WAIT; the handler keeps the connection to answer), then RST.
//! A reset in CLOSE_WAIT leaves EPIPE as the socket error, and the next
//! send returns EPIPE, which raises SIGPIPE unless MSG_NOSIGNAL is passed.
//! (A reset of an established socket gives ECONNRESET first, no signal.)

mod common;

use std::io::{IoSlice, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;

use common::inline::Inline;
use common::*;
use netloop::bytes::{Bytes, BytesMut};
use netloop::{CloseReason, ConnId, ConnOptions, Ctx, Error, Handler, ListenOptions};

/// Set in the child process that runs the control experiment.
const CONTROL_ENV: &str = "NETLOOP_SIGPIPE_CONTROL";

/// Linux's TCP_CLOSE state number (`tcp_states.h`).
const TCP_CLOSE: u8 = 7;

fn restore_default_sigpipe() {
    // SAFETY: installing SIG_DFL for SIGPIPE passes no handler function and
    // touches no memory; it only changes the process's signal disposition.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR, "signal(SIGPIPE, SIG_DFL) failed");
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    for field in ["SigIgn:", "SigBlk:"] {
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        let mask = u64::from_str_radix(line[field.len()..].trim(), 16).unwrap();
        let bit = 1u64 << (libc::SIGPIPE - 1);
        assert_eq!(mask & bit, 0, "SIGPIPE still in {field} {mask:#x}");
    }
}

/// Keeps the connection open after the peer's FIN, so we can still send.
struct Answerer;

impl Handler for Answerer {
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_eof(&mut self, _ctx: &mut Ctx<'_>) {}
}

/// A connection whose peer sent FIN and then RST: the server side is in
/// TCP_CLOSE with EPIPE pending. `fill` runs after the FIN, before the RST
/// (to queue bytes). Returns the connection's id.
fn reset_after_fin(s: &mut Inline, fill: impl FnOnce(&mut Inline, ConnId)) -> ConnId {
    let before = s.log.conns().len();
    let peer = s.client();
    s.turn_until("open", |_, log| log.conns().len() == before + 1);
    let id = s.log.conns()[before];
    fill(s, id);
    peer.shutdown(Shutdown::Write).unwrap();
    s.turn_until("on_eof", |_, log| log.of(id).contains(&Ev::Eof));
    reset(peer);
    // Wait for the RST without turning the reactor (turning would notice it).
    wait_until("the reset arrived", || {
        s.reactor
            .ctx()
            .conn(id)
            .tcp_info()
            .is_ok_and(|i| i.state == TCP_CLOSE)
    });
    id
}

fn assert_epipe(what: &str, r: netloop::Result<()>) {
    match r {
        Err(Error::Io(e)) if e.raw_os_error() == Some(libc::EPIPE) => {}
        other => panic!("{what}: expected EPIPE, got {other:?}"),
    }
}

/// Sends until bytes stay queued (the peer does not read).
fn fill_queue(s: &mut Inline, id: ConnId) {
    let mut rc = s.reactor.ctx();
    let mut conn = rc.conn(id);
    conn.send(&pattern(8 << 20)).unwrap();
    assert!(conn.queued().unwrap() > 0, "nothing queued");
}

#[test]
fn every_send_path_survives_a_reset_peer_with_sigpipe_at_default() {
    if std::env::var_os(CONTROL_ENV).is_some() {
        return control_child();
    }
    restore_default_sigpipe();
    let opts = ListenOptions::default().conn(ConnOptions::default().send_buffer(16 << 10));
    let mut s = Inline::new(opts, || Answerer);

    // Direct send: nothing queued, so `send` calls the kernel at once.
    let id = reset_after_fin(&mut s, |_, _| {});
    assert_epipe("send", s.reactor.ctx().conn(id).send(b"after the reset"));

    // send_bytes, direct as well.
    let id = reset_after_fin(&mut s, |_, _| {});
    let bytes = Bytes::from(vec![1u8; 4096]);
    assert_epipe("send_bytes", s.reactor.ctx().conn(id).send_bytes(bytes));

    // A queued flush of one chunk (one large send, partly taken).
    let single = reset_after_fin(&mut s, fill_queue);

    // A vectored flush: a copied chunk, a shared chunk and another copy.
    let vectored = reset_after_fin(&mut s, |s, id| {
        fill_queue(s, id);
        let mut rc = s.reactor.ctx();
        let mut conn = rc.conn(id);
        conn.send_bytes(Bytes::from(vec![2u8; 64 << 10])).unwrap();
        conn.send(&[3u8; 100]).unwrap();
    });
    // Turning flushes the queues onto the reset sockets.
    s.turn_until("all four closed", |_, log| log.closes().len() == 4);
    for id in s.log.conns() {
        let evs = s.log.of(id);
        assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::Reset)), "{evs:?}");
    }
    let metrics = s.reactor.metrics();
    assert_eq!(metrics.closed_with(CloseReason::Reset), 4);
    let _ = (single, vectored);
    s.finish();

    // The control: the same socket state kills a process using writev.
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "every_send_path_survives_a_reset_peer_with_sigpipe_at_default",
            "--nocapture",
        ])
        .env(CONTROL_ENV, "1")
        .output()
        .expect("run the control child");
    assert_eq!(
        child.status.signal(),
        Some(libc::SIGPIPE),
        "the control writev did not die of SIGPIPE: {:?} {}",
        child.status,
        String::from_utf8_lossy(&child.stderr)
    );
}

/// In the child: reach CLOSE_WAIT + RST, then `writev` without
/// MSG_NOSIGNAL. SIGPIPE kills the process before the function returns.
fn control_child() {
    restore_default_sigpipe();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut ours, _) = listener.accept().unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    reset(peer);
    wait_for_error(&ours);
    // std's write_vectored is a plain writev: no flags, so no MSG_NOSIGNAL.
    let result = ours.write_vectored(&[IoSlice::new(b"a"), IoSlice::new(b"b")]);
    eprintln!("control child survived its writev: {result:?}");
}

/// Waits until the socket reports an error, without consuming it.
fn wait_for_error(s: &TcpStream) {
    wait_until("the reset arrived", || {
        let mut fds = libc::pollfd {
            fd: s.as_raw_fd(),
            events: 0,
            revents: 0,
        };
        // SAFETY: `fds` is one valid pollfd that outlives the call.
        let n = unsafe { libc::poll(&mut fds, 1, 0) };
        n == 1 && fds.revents & libc::POLLERR != 0
    });
}
