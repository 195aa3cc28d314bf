//! Connecting by host name: the name resolves off the loop's thread and the
//! connection opens and carries data as one made by address; a name that
//! does not resolve fails as `Unresolved` (then exactly one `on_close`);
//! other threads connect by name through the handle. (That a name's
//! addresses are tried in order, a refused one moving on to the next, is
//! checked by a unit test in `src/reactor/resolve.rs`, which can hand the
//! loop an address list of its choosing.)

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::*;
use netloop::handler::Discard;
use netloop::{CloseReason, ConnectErrorKind, ConnectOptions, Ctx, Echo, Handler, ListenOptions};

/// Sends a greeting once open, closes once the echo of it is back.
struct Greeter;

impl Handler for Greeter {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.send(b"hello").unwrap();
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        if input.len() >= 5 {
            assert_eq!(&input[..], b"hello");
            input.clear();
            ctx.close();
        }
    }
}

fn connect_host_from_loop<H: Handler + Send>(
    server: &Server,
    host: &'static str,
    port: u16,
    opts: ConnectOptions,
    handler: H,
) -> netloop::ConnId {
    let log = server.log.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    server
        .handle
        .post(move |rc| {
            let id = rc.connect_host(host, port, opts, Recorder::new(handler, log));
            let _ = tx.send(id.map_err(|e| e.to_string()));
        })
        .unwrap();
    rx.recv_timeout(Duration::from_secs(30)).unwrap().unwrap()
}

#[test]
fn a_host_name_connects_and_carries_data() {
    let server = serve(ListenOptions::default(), || Echo);
    let port = server.addr.port();
    let id = connect_host_from_loop(
        &server,
        "localhost",
        port,
        ConnectOptions::default(),
        Greeter,
    );
    server.wait_log("the greeting came back and the connection closed", |log| {
        log.closes().contains_key(&id)
    });
    let events = server.log.of(id);
    assert_eq!(events.first(), Some(&Ev::Open), "{events:?}");
    assert!(events.contains(&Ev::Read(5)), "{events:?}");
    assert!(
        matches!(events.last(), Some(Ev::Close(r)) if r.is_graceful()),
        "{events:?}"
    );
    server.finish();
}

#[test]
fn a_name_that_does_not_resolve_fails_as_unresolved() {
    let server = serve(ListenOptions::default(), || Discard);
    // The resolver may wait for a DNS server: give it longer than that.
    let opts = ConnectOptions::default().timeout(Duration::from_secs(60));
    let id = connect_host_from_loop(&server, "no-such-host.invalid", 80, opts, Discard);
    wait_until_within(Duration::from_secs(70), || {
        server.log.closes().contains_key(&id)
    });
    assert_eq!(
        server.log.of(id),
        vec![
            Ev::ConnectError(ConnectErrorKind::Unresolved),
            Ev::Close(CloseReason::ConnectFailed(ConnectErrorKind::Unresolved)),
        ]
    );
    server.finish();
}

#[test]
fn another_thread_connects_by_name_through_the_handle() {
    let server = serve(ListenOptions::default(), || Echo);
    let log = server.log.clone();
    let id = server
        .handle
        .connect_host(
            "localhost",
            server.addr.port(),
            ConnectOptions::default(),
            Recorder::new(Greeter, log),
        )
        .unwrap();
    server.wait_log("the connection opened and closed", |log| {
        log.closes().contains_key(&id)
    });
    assert_eq!(server.log.of(id).first(), Some(&Ev::Open));
    server.finish();
}

fn wait_until_within(patience: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + patience;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(10));
    }
}
