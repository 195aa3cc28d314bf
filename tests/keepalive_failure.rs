//! Keepalive (idle 1 s, interval 1 s, 2 probes) against a peer whose link
//! went down: `on_keepalive_failure` within seconds, then exactly one
//! `on_close(KeepaliveTimeout)`, never an EOF; for outbound and accepted
//! connections alike (accepted ones inherit the options from the listener),
//! and for a connection whose reading is paused (where the error must be
//! fetched without a read).

mod common;
mod netns;

use std::io::{self};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use netloop::handler::Discard;
use netloop::{CloseReason, ConnId, ConnOptions, ConnectOptions, Keepalive, ListenOptions};

fn keepalive() -> ConnOptions {
    ConnOptions::default().keepalive(Keepalive {
        idle: Duration::from_secs(1),
        interval: Duration::from_secs(1),
        probes: 2,
    })
}

/// Waits for `id` to close after the peer was silenced at `silenced`, and
/// checks it ended as a keepalive failure, in about idle + interval x probes.
fn assert_keepalive_failure(server: &Server, id: ConnId, silenced: Instant) {
    server.wait_log("the connection closed", |log| {
        log.closes().contains_key(&id)
    });
    let elapsed = silenced.elapsed();
    let evs = server.log.of(id);
    assert!(
        matches!(
            evs.as_slice(),
            [
                Ev::Open,
                Ev::KeepaliveFailure(io::ErrorKind::TimedOut | io::ErrorKind::HostUnreachable),
                Ev::Close(CloseReason::KeepaliveTimeout),
            ]
        ),
        "{evs:?}"
    );
    // 1 s idle + 2 probes 1 s apart: about 3 s; far below the 2 h default.
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(10),
        "keepalive failure after {elapsed:?}"
    );
}

#[test]
fn outbound_keepalive_failure_is_reported_once_and_not_as_eof() {
    let Some(net) = netns::pair("outbound_keepalive_failure") else {
        return;
    };
    let (peer_addr, done) = holding_peer(&net, 7100);
    net.run_local(|| {
        let server = serve(ListenOptions::default(), || Discard);
        let opts = ConnectOptions::default().conn(keepalive());
        let id = server.connect(peer_addr, opts, Discard);
        server.wait_log("connected", |log| log.of(id).contains(&Ev::Open));
        net.silence_remote();
        assert_keepalive_failure(&server, id, Instant::now());
        let metrics = server.finish();
        assert_eq!(metrics.keepalive_failures, 1);
    });
    let _ = done.send(());
}

/// A peer in the remote namespace that accepts one connection and holds it
/// until told to go.
fn holding_peer(net: &netns::NetPair, port: u16) -> (SocketAddr, mpsc::Sender<()>) {
    let addr = SocketAddr::new(net.remote_ip.into(), port);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    net.spawn_remote(move || {
        let listener = TcpListener::bind(addr).expect("peer listen");
        ready_tx.send(()).unwrap();
        let (conn, _) = listener.accept().expect("peer accept");
        let _ = done_rx.recv_timeout(PATIENCE * 2);
        drop(conn);
    });
    ready_rx.recv().unwrap();
    (addr, done_tx)
}

/// Pauses reading as soon as it is open: no read will meet the error.
struct PausedAtOnce;

impl netloop::Handler for PausedAtOnce {
    fn on_open(&mut self, ctx: &mut netloop::Ctx<'_>) {
        ctx.pause_read();
    }
    fn on_read(&mut self, _ctx: &mut netloop::Ctx<'_>, input: &mut netloop::bytes::BytesMut) {
        input.clear();
    }
}

#[test]
fn keepalive_failure_of_a_paused_connection_is_not_missed_or_taken_for_eof() {
    let Some(net) = netns::pair("paused_keepalive_failure") else {
        return;
    };
    let (peer_addr, done) = holding_peer(&net, 7102);
    net.run_local(|| {
        let server = serve(ListenOptions::default(), || Discard);
        let opts = ConnectOptions::default().conn(keepalive());
        let id = server.connect(peer_addr, opts, PausedAtOnce);
        server.wait_log("connected", |log| log.of(id).contains(&Ev::Open));
        net.silence_remote();
        assert_keepalive_failure(&server, id, Instant::now());
        server.finish();
    });
    let _ = done.send(());
}

#[test]
fn accepted_keepalive_failure_is_reported_once_and_not_as_eof() {
    let Some(net) = netns::pair("accepted_keepalive_failure") else {
        return;
    };
    net.run_local(|| {
        let bind = SocketAddr::new(net.local_ip.into(), 0);
        let server = serve_at(bind, ListenOptions::default().conn(keepalive()), || Discard);
        let addr = server.addr;
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let peer = net.spawn_remote(move || {
            let mut conn = TcpStream::connect(addr).expect("peer connect");
            let _ = done_rx.recv_timeout(PATIENCE * 2);
            conn.set_nonblocking(true).unwrap();
            let _ = conn.read_retrying(&mut [0; 16]);
        });
        server.wait_log("accepted", |log| log.conns().len() == 1);
        let id = server.log.conns()[0];
        net.silence_remote();
        assert_keepalive_failure(&server, id, Instant::now());
        let metrics = server.finish();
        assert_eq!(metrics.keepalive_failures, 1);
        done_tx.send(()).unwrap();
        peer.join().unwrap();
    });
}
