//! The HTTP example bounds a client that sends requests but never reads the
//! responses: reading pauses at the high water mark, so the queue stays
//! under its cap (high water plus one batch), other clients are served
//! meanwhile, and the stuck client is aborted by the write-stall timeout.

mod common;
mod example_server;
mod http_support;

use std::io::Write;
use std::time::Duration;

use netloop::CloseReason;

use common::{Ev, wait_until};
use http_support::{Client, pipelined};
use netloop_http::server::{BATCH_BYTES, Config};

#[test]
fn a_client_that_never_reads_is_capped_and_aborted() {
    let config = Config {
        high_water: 64 * 1024,
        max_send_queue: 256 * 1024,
        write_stall_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let (high, cap) = (config.high_water, config.max_send_queue);
    let server = http_support::start(config);

    let stuck = Client::connect(server.addr);
    socket2::SockRef::from(&stuck.stream)
        .set_recv_buffer_size(4096)
        .unwrap();
    let mut writer = stuck.stream.try_clone().unwrap();
    let requests = pipelined(&["/plaintext", "/json"], 1000);
    let flood = std::thread::spawn(move || {
        // Writes until the server stops reading and then aborts us.
        while writer.write_all(&requests).is_ok() {}
    });

    // The server's queue for the stuck client reaches the high water mark...
    wait_until("the stuck client's queue passes high water", || {
        server.query(move |rc| {
            let ids: Vec<_> = rc.conn_ids().collect();
            ids.into_iter()
                .any(|id| rc.conn(id).queued().unwrap_or(0) >= high)
        })
    });
    // ...while another client is served normally.
    let mut other = Client::connect(server.addr);
    assert_eq!(other.get("/plaintext").status, 200);

    let stuck_id = server.log.conns()[0];
    server.wait_log("the stuck client is aborted", |log| {
        log.of(stuck_id).iter().any(|e| matches!(e, Ev::Close(_)))
    });
    assert_eq!(
        server.log.closes()[&stuck_id],
        vec![CloseReason::WriteStall],
        "aborted by the write-stall timeout"
    );
    flood.join().unwrap();
    assert_eq!(
        other.get("/json").status,
        200,
        "the other client still served"
    );
    drop((stuck, other));
    server.wait_no_conns();
    let stats = http_support::stats(&server);
    server.finish();
    eprintln!(
        "peak queued {} bytes (high {high}, cap {cap})",
        stats.peak_queued
    );
    assert!(
        stats.peak_queued as usize <= high + BATCH_BYTES && (stats.peak_queued as usize) < cap,
        "queue bounded by high water + one batch: peak {} (high {high}, cap {cap})",
        stats.peak_queued
    );
}
