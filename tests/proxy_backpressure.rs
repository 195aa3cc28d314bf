//! The proxy example carries 64 MiB each way, byte-exact, to a reader that
//! pauses and resumes: while the reader pauses, the proxy stops reading the
//! sender (backpressure reaches it end to end), and neither side's queue
//! ever passes its high water mark by more than one read, far below the cap.

mod common;
mod example_server;
mod proxy_support;

use std::io::{Read, Write};
use std::sync::mpsc;

use common::wait_until;
use netloop_examples::proxy;
use proxy_support::{SideNow, paced_read, pair};

const TOTAL: usize = 64 << 20;
const PAUSES: [usize; 3] = [16 << 20, 32 << 20, 48 << 20];
/// The most one read hands over: netloop's scratch buffer (`SCRATCH_SIZE` in
/// src/reactor/core.rs). The proxy pauses a side as soon as a forward leaves
/// the other side's queue at or above high water, so one read is the overshoot.
const ONE_READ: usize = 64 * 1024;

/// At each pause of the reader: wait until the proxy has stopped reading
/// the sender because the reader's side is above high water; check caps.
fn check_pauses(
    proxy: &example_server::Running<proxy::Stats>,
    paused: &mpsc::Receiver<usize>,
    resume: &mpsc::Sender<()>,
    sender_is_client: bool,
    config: &proxy::Config,
) {
    for _ in PAUSES {
        let at = paused.recv().expect("reader pauses");
        let mut seen: Option<(SideNow, SideNow)> = None;
        wait_until(
            &format!("backpressure reaches the sender (reader paused at {at})"),
            || {
                seen = pair(proxy);
                seen.is_some_and(|(client, upstream)| {
                    let (sender, receiver) = if sender_is_client {
                        (client, upstream)
                    } else {
                        (upstream, client)
                    };
                    sender.read_paused && receiver.queued >= config.high_water
                })
            },
        );
        let (client, upstream) = seen.unwrap();
        for side in [client, upstream] {
            assert!(
                side.queued <= config.high_water + ONE_READ,
                "{side:?} over high water + one read"
            );
        }
        resume.send(()).unwrap();
    }
}

fn assert_bounded(stats: &proxy::Stats, config: &proxy::Config) {
    assert!(
        stats.peak_queued as usize <= config.high_water + ONE_READ
            && (stats.peak_queued as usize) < config.max_send_queue,
        "peak queue {} (high {}, cap {})",
        stats.peak_queued,
        config.high_water,
        config.max_send_queue
    );
}

#[test]
fn client_to_upstream_64_mib_with_a_pausing_reader() {
    let (listener, upstream_addr) = proxy_support::small_window_listener(64 * 1024);
    let config = proxy_support::small_queues(upstream_addr);
    let proxy = proxy_support::start(config.clone());
    let (paused_tx, paused) = mpsc::channel();
    let (resume, resume_rx) = mpsc::channel();
    let upstream = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let got = paced_read(&mut s, &PAUSES, &paused_tx, &resume_rx);
        s.write_all(format!("got {got}\n").as_bytes()).unwrap();
        got
    });

    let mut client = common::client(proxy.addr);
    let writer = common::write_in_background(&client, common::pattern(TOTAL), true);
    check_pauses(&proxy, &paused, &resume, true, &config);
    assert_eq!(
        upstream.join().unwrap(),
        TOTAL,
        "all bytes arrived upstream"
    );
    writer.join().unwrap();
    let mut reply = String::new();
    client.read_to_string(&mut reply).unwrap();
    assert_eq!(
        reply,
        format!("got {TOTAL}\n"),
        "the reply came back after our FIN"
    );
    drop(client);

    proxy.wait_no_conns();
    let stats = proxy.query(|rc| rc.shared().clone());
    eprintln!("peak queue {} bytes", stats.peak_queued);
    let closes = proxy.log.closes();
    let m = proxy.finish();
    assert_bounded(&stats, &config);
    assert!(m.high_water_events >= PAUSES.len() as u64, "{m:?}");
    assert!(
        closes.values().flatten().all(|r| r.is_graceful()),
        "{closes:?}"
    );
}

#[test]
fn upstream_to_client_64_mib_with_a_pausing_reader() {
    let (listener, upstream_addr) = proxy_support::upstream_listener();
    let config = proxy_support::small_queues(upstream_addr);
    let proxy = proxy_support::start(config.clone());
    let upstream = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(&common::pattern(TOTAL)).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        // Then wait for the client's FIN, passed on by the proxy.
        let (rest, end) = common::read_to_end(&mut s);
        assert!(
            rest.is_empty() && end.is_ok(),
            "clean EOF upstream: {end:?}"
        );
    });

    let client = proxy_support::small_window_client(proxy.addr, 64 * 1024);
    let (paused_tx, paused) = mpsc::channel();
    let (resume, resume_rx) = mpsc::channel();
    let mut reader_stream = client.try_clone().unwrap();
    let reader =
        std::thread::spawn(move || paced_read(&mut reader_stream, &PAUSES, &paused_tx, &resume_rx));
    check_pauses(&proxy, &paused, &resume, false, &config);
    assert_eq!(
        reader.join().unwrap(),
        TOTAL,
        "all bytes arrived at the client"
    );
    client.shutdown(std::net::Shutdown::Write).unwrap();
    upstream.join().unwrap();
    drop(client);

    proxy.wait_no_conns();
    let stats = proxy.query(|rc| rc.shared().clone());
    eprintln!("peak queue {} bytes", stats.peak_queued);
    let closes = proxy.log.closes();
    proxy.finish();
    assert_bounded(&stats, &config);
    assert!(
        closes.values().flatten().all(|r| r.is_graceful()),
        "{closes:?}"
    );
}
