//! Sockets handed in from outside: a listening socket the program holds is
//! served like one the reactor binds (options applied, one `on_close` per
//! connection); a connected stream is taken over with the bytes already
//! waiting in it; a socket that is not listening is refused, not polled
//! forever. The same for Unix domain sockets (`std::os::unix::net`), where
//! TCP-only options are refused.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use common::*;
use netloop::{ConnOptions, Ctx, Echo, Handler, ListenOptions, Reactor};

/// Echo, recording the `max_input` its connection was given.
struct Probe(Arc<AtomicUsize>);

impl Handler for Probe {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        self.0.store(ctx.options().max_input, Ordering::SeqCst);
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        Echo.on_read(ctx, input);
    }
}

#[test]
fn a_held_listener_is_served_like_a_bound_one() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap();
    let mut reactor = Reactor::new().unwrap();
    let opts = ListenOptions::default().conn(ConnOptions::default().max_input(1234));
    let log = Log::default();
    let seen = Arc::new(AtomicUsize::new(0));
    let (probe, rec) = (seen.clone(), log.clone());
    reactor
        .adopt_listener(held, opts, move || {
            Recorder::new(Probe(probe.clone()), rec.clone())
        })
        .unwrap();
    let handle = reactor.handle();
    let client = std::thread::spawn(move || {
        let mut c = client(addr); // with read and write timeouts
        c.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        c.read_exact(&mut got).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        handle.stop().unwrap();
        (got, rest)
    });
    reactor.run().unwrap();
    let (got, rest) = client.join().unwrap();
    assert_eq!(&got, b"ping");
    assert!(rest.is_empty(), "a clean EOF after the echo");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1234,
        "the listen options applied"
    );
    log.assert_one_close_each();
}

#[test]
fn a_connected_stream_is_taken_over_with_what_waits_in_it() {
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut ours = client(peer.local_addr().unwrap());
    let (theirs, _) = peer.accept().unwrap();
    // Bytes arrive before the reactor knows the socket.
    ours.write_all(b"early").unwrap();
    let mut reactor = Reactor::new().unwrap();
    let log = Log::default();
    let id = reactor
        .adopt_stream(
            theirs,
            ConnOptions::default(),
            Recorder::new(Echo, log.clone()),
        )
        .unwrap();
    let handle = reactor.handle();
    let client = std::thread::spawn(move || {
        let mut got = [0u8; 5];
        ours.read_exact(&mut got).unwrap();
        drop(ours);
        handle.stop().unwrap();
        got
    });
    reactor.run().unwrap();
    assert_eq!(&client.join().unwrap(), b"early");
    assert_eq!(log.of(id).first(), Some(&Ev::Open));
    log.assert_one_close_each();
}

#[test]
fn a_socket_that_is_not_listening_is_refused() {
    let bound_only =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    bound_only
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let mut reactor = Reactor::new().unwrap();
    let err = reactor
        .adopt_listener(bound_only.into(), ListenOptions::default(), || Echo)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}

#[test]
fn a_held_unix_listener_is_served_and_its_file_left_alone() {
    let path = std::env::temp_dir().join(format!("netloop-adopt-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let held = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut reactor = Reactor::new().unwrap();
    let log = Log::default();
    let rec = log.clone();
    let id = reactor
        .adopt_unix_listener(held, ListenOptions::default(), move || {
            Recorder::new(Echo, rec.clone())
        })
        .unwrap();
    let handle = reactor.handle();
    let dial = path.clone();
    let client = std::thread::spawn(move || {
        let mut c = std::os::unix::net::UnixStream::connect(&dial).unwrap();
        c.set_read_timeout(Some(PATIENCE)).unwrap();
        c.write_all(b"over unix").unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut echoed = Vec::new();
        c.read_to_end(&mut echoed).unwrap();
        handle.stop().unwrap();
        echoed
    });
    reactor.run().unwrap();
    assert_eq!(client.join().unwrap(), b"over unix");
    reactor.ctx().close_listener(id);
    assert!(
        path.exists(),
        "an adopted listener's socket file is the program's"
    );
    std::fs::remove_file(&path).unwrap();
    log.assert_one_close_each();
}

#[test]
fn a_unix_stream_pair_end_is_taken_over_and_tcp_options_refused() {
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    theirs.set_read_timeout(Some(PATIENCE)).unwrap();
    theirs.write_all(b"early").unwrap();
    let mut reactor = Reactor::new().unwrap();
    let (spare, _other) = std::os::unix::net::UnixStream::pair().unwrap();
    let keepalive = ConnOptions::default().keepalive(netloop::Keepalive::new(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(1),
        3,
    ));
    let refused = reactor
        .adopt_unix_stream(spare, keepalive, Echo)
        .unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::Unsupported, "{refused}");
    reactor
        .adopt_unix_stream(ours, ConnOptions::default(), Echo)
        .unwrap();
    let handle = reactor.handle();
    let client = std::thread::spawn(move || {
        let mut got = [0u8; 5];
        theirs.read_exact(&mut got).unwrap();
        handle.stop().unwrap();
        got
    });
    reactor.run().unwrap();
    assert_eq!(&client.join().unwrap(), b"early");
}
