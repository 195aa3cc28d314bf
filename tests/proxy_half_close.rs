//! The proxy example passes half-closes through in both directions: a
//! client that shuts its write side still receives the whole reply, and an
//! upstream that shuts its write side first still receives everything the
//! client sends afterwards. The pair then closes gracefully.

mod common;
mod example_server;
mod proxy_support;

use std::io::Write;
use std::net::Shutdown;

use common::{pattern, read_to_end};
use netloop_examples::proxy;

#[test]
fn client_shuts_write_and_still_gets_the_whole_reply() {
    let (listener, upstream_addr) = proxy_support::upstream_listener();
    let proxy = proxy_support::start(proxy::Config::new(upstream_addr));
    let reply = pattern(3 << 20);
    let sent_reply = reply.clone();
    let upstream = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        // The whole request, up to the client's FIN (passed on by the proxy)...
        let (request, end) = read_to_end(&mut s);
        assert!(end.is_ok(), "clean EOF upstream: {end:?}");
        // ...then the reply, after the request direction is closed.
        s.write_all(&sent_reply).unwrap();
        request
    });

    let mut client = common::client(proxy.addr);
    let request = pattern(200 * 1024);
    client.write_all(&request).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let (got, end) = read_to_end(&mut client);
    assert!(end.is_ok(), "clean EOF at the client: {end:?}");
    assert!(
        got == reply,
        "reply differs ({} of {} bytes)",
        got.len(),
        reply.len()
    );
    assert!(
        upstream.join().unwrap() == request,
        "request arrived intact"
    );
    drop(client);

    let closes = proxy.log.closes();
    let m = proxy.finish();
    assert!(
        closes.values().flatten().all(|r| r.is_graceful()),
        "{closes:?}"
    );
    assert_eq!(m.closed_total(), 2);
}

#[test]
fn upstream_shuts_write_first_and_still_gets_the_request() {
    let (listener, upstream_addr) = proxy_support::upstream_listener();
    let proxy = proxy_support::start(proxy::Config::new(upstream_addr));
    let greeting = pattern(1 << 20);
    let sent_greeting = greeting.clone();
    let upstream = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        // Say everything, shut our side, then keep reading.
        s.write_all(&sent_greeting).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let (request, end) = read_to_end(&mut s);
        assert!(end.is_ok(), "clean EOF upstream: {end:?}");
        request
    });

    let mut client = common::client(proxy.addr);
    let (got, end) = read_to_end(&mut client);
    assert!(
        end.is_ok(),
        "the upstream's FIN reached the client: {end:?}"
    );
    assert!(
        got == greeting,
        "greeting differs ({} of {} bytes)",
        got.len(),
        greeting.len()
    );
    // The other direction is still open: send after receiving the FIN.
    let request = pattern(2 << 20);
    client.write_all(&request).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert!(
        upstream.join().unwrap() == request,
        "request arrived intact after the upstream's FIN"
    );
    drop(client);

    let closes = proxy.log.closes();
    let m = proxy.finish();
    assert!(
        closes.values().flatten().all(|r| r.is_graceful()),
        "{closes:?}"
    );
    assert_eq!(m.closed_total(), 2);
}
