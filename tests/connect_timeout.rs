//! A SYN that nobody answers (a permanent neighbour entry for an address
//! with no host behind the veth) ends in `TimedOut` at the user's connect
//! timeout, not after the kernel's ~127 s, and the reactor keeps serving
//! other connections (echo round trips) while the connect waits.

mod common;
mod netns;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use netloop::handler::{Discard, Echo};
use netloop::{CloseReason, ConnectErrorKind, ConnectOptions, ListenOptions};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[test]
fn an_unanswered_syn_times_out_at_the_users_timeout_while_others_are_served() {
    let Some(net) = netns::pair("connect_timeout") else {
        return;
    };
    let target = SocketAddr::new(net.unanswered_host().into(), 80);
    net.run_local(|| {
        let server = serve(ListenOptions::default(), || Echo);
        let mut client = server.client();
        let started = Instant::now();
        let id = server.connect(
            target,
            ConnectOptions::default().timeout(CONNECT_TIMEOUT),
            Discard,
        );
        let failed = |log: &Log| log.closes().contains_key(&id);
        let mut round_trips = 0;
        while !failed(&server.log) {
            client.write_all(b"ping").unwrap();
            let mut reply = [0; 4];
            client.read_exact(&mut reply).unwrap();
            assert_eq!(&reply, b"ping");
            if !failed(&server.log) {
                round_trips += 1;
            }
            assert!(started.elapsed() < PATIENCE, "the connect never failed");
            std::thread::sleep(Duration::from_millis(50));
        }
        let elapsed = started.elapsed();
        assert!(
            round_trips >= 5,
            "only {round_trips} echo round trips while connecting"
        );
        assert_eq!(
            server.log.of(id),
            vec![
                Ev::ConnectError(ConnectErrorKind::TimedOut),
                Ev::Close(CloseReason::ConnectFailed(ConnectErrorKind::TimedOut)),
            ]
        );
        assert!(
            elapsed >= CONNECT_TIMEOUT && elapsed < CONNECT_TIMEOUT * 3,
            "timed out after {elapsed:?}, asked for {CONNECT_TIMEOUT:?}"
        );
        drop(client);
        server.finish();
    });
}
