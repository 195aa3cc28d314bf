//! Outbound Unix domain connections: to a path and to an abstract name
//! (data both ways, one on_close each side), a refused connect (stale
//! socket file) and a missing path reported through on_connect_error, and
//! a reconnect policy that keeps trying until a listener appears.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::unix::*;
use common::*;
use netloop::bytes::BytesMut;
use netloop::handler::Echo;
use netloop::{
    Backoff, CloseReason, ConnectErrorKind, ConnectOptions, Ctx, Handler, ListenOptions, UnixAddr,
};

/// Sends "hello", closes once the echo is back.
struct Hello {
    got: Vec<u8>,
}

impl Handler for Hello {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.send(b"hello").unwrap();
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        self.got.extend_from_slice(input);
        input.clear();
        if self.got == b"hello" {
            ctx.close();
        }
    }
}

fn hello() -> Hello {
    Hello { got: Vec::new() }
}

#[test]
fn a_reactor_connects_to_a_path_and_to_an_abstract_name() {
    let server = serve_unix(ListenOptions::default(), || Echo);
    let client = serve(ListenOptions::default(), || netloop::handler::Discard);
    let by_path = client
        .handle
        .connect_unix_and_wait(
            &server.addr,
            ConnectOptions::default(),
            Recorder::new(hello(), client.log.clone()),
        )
        .expect("connect to a path");
    client.wait_log("closed after the echo", |log| {
        log.closes().contains_key(&by_path)
    });
    assert_eq!(
        client.log.of(by_path).last(),
        Some(&Ev::Close(CloseReason::Local))
    );

    // An abstract name: a listener on this reactor, a client on the other.
    let name = UnixAddr::abstract_name(abstract_name("connect"));
    let listen_name = name.clone();
    let log = server.log.clone();
    server
        .handle
        .call(move |rc| {
            rc.listen_unix(listen_name, ListenOptions::default(), move || {
                Recorder::new(Echo, log.clone())
            })
        })
        .unwrap()
        .unwrap();
    let by_name = client
        .handle
        .connect_unix_and_wait(
            name,
            ConnectOptions::default(),
            Recorder::new(hello(), client.log.clone()),
        )
        .expect("connect to an abstract name");
    client.wait_log("closed after the echo", |log| {
        log.closes().contains_key(&by_name)
    });
    assert_eq!(
        client.log.of(by_name).last(),
        Some(&Ev::Close(CloseReason::Local))
    );
    server.wait_log("both accepted connections closed", |log| {
        log.closes().len() == 2
    });
    client.finish();
    server.finish();
}

#[test]
fn refused_and_missing_paths_are_connect_errors() {
    let stale = socket_path("refused");
    stale_socket_file(&stale);
    let missing = socket_path("missing");
    let client = serve(ListenOptions::default(), || netloop::handler::Discard);
    let refused = client.handle.connect_unix_and_wait(
        &stale,
        ConnectOptions::default(),
        Recorder::new(hello(), client.log.clone()),
    );
    assert!(
        matches!(
            refused,
            Err(netloop::Error::Connect(ConnectErrorKind::Refused))
        ),
        "{refused:?}"
    );
    let absent = client.handle.connect_unix_and_wait(
        &missing,
        ConnectOptions::default(),
        Recorder::new(hello(), client.log.clone()),
    );
    assert!(
        matches!(
            absent,
            Err(netloop::Error::Connect(ConnectErrorKind::Other(
                std::io::ErrorKind::NotFound
            )))
        ),
        "{absent:?}"
    );
    client.wait_log("both closed", |log| log.closes().len() == 2);
    for id in client.log.conns() {
        let evs = client.log.of(id);
        assert!(matches!(evs[0], Ev::ConnectError(_)), "{evs:?}");
        assert!(
            matches!(evs[1], Ev::Close(CloseReason::ConnectFailed(_))),
            "{evs:?}"
        );
    }
    std::fs::remove_file(&stale).unwrap();
    client.finish();
}

#[test]
fn a_reconnecting_connection_reaches_a_listener_that_comes_later() {
    let path = socket_path("later");
    let client = serve(ListenOptions::default(), || netloop::handler::Discard);
    let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
    let opts = ConnectOptions::default().reconnect(backoff);
    let id = client
        .handle
        .connect_unix(&path, opts, Recorder::new(Echo, client.log.clone()))
        .unwrap();
    client.wait_log("a failed attempt", |log| {
        log.of(id).iter().any(|e| matches!(e, Ev::ConnectError(_)))
    });
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    peer.write_all(b"again").unwrap();
    let mut got = [0u8; 5];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"again", "the reconnected connection echoes");
    client.handle.close(id).unwrap();
    drop(peer);
    client.wait_log("closed", |log| log.closes().contains_key(&id));
    let last = client.log.of(id).last().cloned();
    assert!(
        matches!(last, Some(Ev::Close(r)) if r.is_graceful()),
        "{last:?}"
    );
    std::fs::remove_file(&path).unwrap();
    client.finish();
}
