//! TCP_USER_TIMEOUT: data sent to a silent peer and never acknowledged ends
//! the connection with `UserTimeout` at about the set time, also when
//! keepalive is on (keepalive does not probe while data is in flight) and
//! when the kernel reports it as `EHOSTUNREACH` (the peer's address
//! vanished, ARP unanswered); with nothing unacknowledged the same death is
//! a keepalive failure.

mod common;
mod netns;

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use netloop::bytes::Bytes;
use netloop::handler::Discard;
use netloop::{CloseReason, ConnOptions, ConnectOptions, Keepalive, ListenOptions};

const USER_TIMEOUT: Duration = Duration::from_secs(2);

/// A peer that accepts one connection and holds it without reading.
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

/// How the peer goes away.
#[derive(Clone, Copy)]
enum Fault {
    /// Its link goes down: nothing gets through, nothing comes back.
    LinkDown,
    /// Its address vanishes: our packets fail ARP ("host unreachable").
    AddressGone,
}

/// Connects with `conn` options, silences the peer, optionally sends 1000
/// bytes it will never acknowledge, and returns the close reason, the
/// callbacks and how long after the silence the connection ended.
fn silence_and_wait(
    port: u16,
    conn: ConnOptions,
    send: bool,
) -> Option<(CloseReason, Vec<Ev>, Duration)> {
    fault_and_wait(port, conn, send, Fault::LinkDown)
}

fn fault_and_wait(
    port: u16,
    conn: ConnOptions,
    send: bool,
    fault: Fault,
) -> Option<(CloseReason, Vec<Ev>, Duration)> {
    let net = netns::pair("user_timeout")?;
    let (peer_addr, done) = holding_peer(&net, port);
    let outcome = net.run_local(|| {
        let server = serve(ListenOptions::default(), || Discard);
        let id = server.connect(peer_addr, ConnectOptions::default().conn(conn), Discard);
        server.wait_log("connected", |log| log.of(id).contains(&Ev::Open));
        match fault {
            Fault::LinkDown => net.silence_remote(),
            Fault::AddressGone => net.remove_remote_address(),
        }
        let silenced = Instant::now();
        if send {
            server
                .handle
                .send(id, Bytes::from(vec![7u8; 1000]))
                .unwrap();
        }
        server.wait_log("the connection closed", |log| {
            log.closes().contains_key(&id)
        });
        let elapsed = silenced.elapsed();
        let evs = server.log.of(id);
        server.finish();
        let reason = match evs.last() {
            Some(Ev::Close(r)) => *r,
            other => panic!("last callback {other:?}"),
        };
        (reason, evs, elapsed)
    });
    let _ = done.send(());
    Some(outcome)
}

fn assert_about_user_timeout(elapsed: Duration) {
    assert!(
        elapsed >= USER_TIMEOUT - Duration::from_millis(300) && elapsed < USER_TIMEOUT * 4,
        "closed {elapsed:?} after the peer went silent (user timeout {USER_TIMEOUT:?})"
    );
}

#[test]
fn unacknowledged_data_ends_in_user_timeout_at_the_set_time() {
    let conn = ConnOptions::default().user_timeout(USER_TIMEOUT);
    let Some((reason, evs, elapsed)) = silence_and_wait(7200, conn, true) else {
        return;
    };
    assert_eq!(reason, CloseReason::UserTimeout, "{evs:?}");
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, Ev::KeepaliveFailure(_)))
            .count(),
        0
    );
    assert_about_user_timeout(elapsed);
}

#[test]
fn with_keepalive_on_unacknowledged_data_is_still_a_user_timeout() {
    let conn = ConnOptions::default()
        .user_timeout(USER_TIMEOUT)
        .keepalive(Keepalive {
            idle: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            probes: 2,
        });
    let Some((reason, evs, elapsed)) = silence_and_wait(7201, conn, true) else {
        return;
    };
    assert_eq!(reason, CloseReason::UserTimeout, "{evs:?}");
    assert!(
        !evs.iter().any(|e| matches!(e, Ev::KeepaliveFailure(_))),
        "{evs:?}"
    );
    assert_about_user_timeout(elapsed);
}

#[test]
fn unacknowledged_data_to_a_vanished_address_is_a_user_timeout() {
    // ARP for the peer fails after about 3 s, so when the 5 s user timeout
    // ends the connection the kernel reports EHOSTUNREACH, not ETIMEDOUT.
    let timeout = Duration::from_secs(5);
    let conn = ConnOptions::default().user_timeout(timeout);
    let Some((reason, evs, elapsed)) = fault_and_wait(7203, conn, true, Fault::AddressGone) else {
        return;
    };
    assert_eq!(reason, CloseReason::UserTimeout, "{evs:?}");
    assert!(
        elapsed >= timeout - Duration::from_millis(300) && elapsed < timeout * 3,
        "closed after {elapsed:?}"
    );
}

#[test]
fn with_nothing_unacknowledged_the_death_is_a_keepalive_failure() {
    // With TCP_USER_TIMEOUT set, the kernel ends keepalive probing after the
    // user timeout instead of after the probe count; nothing is in flight,
    // so it is still the keepalive that found the peer dead.
    let conn = ConnOptions::default()
        .user_timeout(Duration::from_secs(3))
        .keepalive(Keepalive {
            idle: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            probes: 10,
        });
    let Some((reason, evs, elapsed)) = silence_and_wait(7202, conn, false) else {
        return;
    };
    assert_eq!(reason, CloseReason::KeepaliveTimeout, "{evs:?}");
    assert!(
        evs.iter().any(|e| matches!(e, Ev::KeepaliveFailure(_))),
        "{evs:?}"
    );
    assert!(
        elapsed < Duration::from_secs(9),
        "after {elapsed:?} (10 probes would take 11 s)"
    );
}
