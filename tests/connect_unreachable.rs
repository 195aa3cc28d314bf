//! Connects to unreachable places fail as `Unreachable`: at once through an
//! `unreachable` route, and after the kernel's ARP attempts (~3 s, before the
//! user's timeout) for an address on the link where no host answers ARP.

mod common;
mod netns;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use netloop::handler::Discard;
use netloop::{CloseReason, ConnectErrorKind, ConnectOptions, ListenOptions};

/// Connects to `target` and returns the callbacks and how long it took.
fn connect_and_wait(target: SocketAddr, timeout: Duration) -> (Vec<Ev>, Duration) {
    let server = serve(ListenOptions::default(), || Discard);
    let started = Instant::now();
    let id = server.connect(target, ConnectOptions::default().timeout(timeout), Discard);
    server.wait_log("the connect failed", |log| log.closes().contains_key(&id));
    let elapsed = started.elapsed();
    let evs = server.log.of(id);
    server.finish();
    (evs, elapsed)
}

fn unreachable() -> Vec<Ev> {
    vec![
        Ev::ConnectError(ConnectErrorKind::Unreachable),
        Ev::Close(CloseReason::ConnectFailed(ConnectErrorKind::Unreachable)),
    ]
}

#[test]
fn an_unreachable_route_fails_at_once() {
    let Some(net) = netns::pair("connect_unreachable_route") else {
        return;
    };
    let target = SocketAddr::new(net.unreachable_host().into(), 80);
    let (evs, elapsed) = net.run_local(|| connect_and_wait(target, Duration::from_secs(10)));
    assert_eq!(evs, unreachable());
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[test]
fn a_host_that_does_not_answer_arp_is_unreachable_before_the_timeout() {
    let Some(net) = netns::pair("connect_unreachable_arp") else {
        return;
    };
    let target = SocketAddr::new(net.absent_host().into(), 80);
    let (evs, elapsed) = net.run_local(|| connect_and_wait(target, Duration::from_secs(15)));
    assert_eq!(evs, unreachable());
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(10),
        "took {elapsed:?}"
    );
}
