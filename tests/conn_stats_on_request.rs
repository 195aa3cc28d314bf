//! Per-connection counters (bytes in/out, peak queued) and the kernel's
//! TCP_INFO (RTT, congestion window, retransmits) are read on request from
//! another thread, through the handle of the reactor that owns the
//! connection.

mod common;

use std::io::{Read, Write};

use common::*;
use netloop::bytes::{Bytes, BytesMut};
use netloop::{ConnOptions, Ctx, Error, Handler, ListenOptions, ServerBuilder};

const BIG: usize = 2 << 20;

/// Echoes, except that the request `big` is answered with BIG bytes.
struct Answer {
    big: Bytes,
}

impl Handler for Answer {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        if input.as_ref() == b"big" {
            ctx.send_bytes(self.big.clone()).expect("queued");
        } else {
            ctx.send(input).expect("echoed");
        }
        input.clear();
    }
}

#[test]
fn stats_and_tcp_info_on_request_from_another_thread() {
    let log = Log::default();
    let factory_log = log.clone();
    let big = Bytes::from(pattern(BIG));
    let opts = ListenOptions::default().conn(ConnOptions::default().send_buffer(16 << 10));
    let server = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
        .threads(2)
        .listen_options(opts)
        .start(move || Recorder::new(Answer { big: big.clone() }, factory_log.clone()))
        .unwrap();
    let mut c = client(server.local_addr());
    c.write_all(&pattern(5000)).unwrap();
    let mut back = vec![0; 5000];
    c.read_exact(&mut back).unwrap();
    wait_until("opened", || log.conns().len() == 1);
    let id = log.conns()[0];

    let stats = server.conn_stats(id).unwrap();
    assert_eq!((stats.bytes_in, stats.bytes_out), (5000, 5000));
    let info = server.tcp_info(id).unwrap();
    assert_eq!(info.state, 1, "ESTABLISHED");
    assert!(info.rtt.as_nanos() > 0, "an RTT was measured: {info:?}");
    assert!(info.congestion_window > 0);
    assert!(info.send_mss > 0);

    // A big answer waits in the queue: the peak says how much.
    c.write_all(b"big").unwrap();
    let mut answer = vec![0; BIG];
    c.read_exact(&mut answer).unwrap();
    let stats = server.conn_stats(id).unwrap();
    assert_eq!(stats.bytes_in, 5003);
    assert_eq!(stats.bytes_out, 5000 + BIG as u64);
    assert!(
        stats.peak_queued >= (BIG / 2) as u64 && stats.peak_queued <= BIG as u64,
        "peak queued {}",
        stats.peak_queued
    );

    // Another reactor's handle refuses the id; a closed id is unknown.
    let other = server.reactor(1 - id.reactor()).unwrap();
    assert!(matches!(other.tcp_info(id), Err(Error::ForeignConn)));
    server.close(id).unwrap();
    assert!(read_to_end(&mut c).1.is_ok());
    wait_until("closed", || server.metrics().total.open == 0);
    assert!(matches!(server.tcp_info(id), Err(Error::NoSuchConn)));
    assert!(matches!(server.conn_stats(id), Err(Error::NoSuchConn)));

    server.stop().unwrap();
    let summary = server.join().unwrap();
    assert_eq!(summary.total.accepted, 1);
    log.assert_one_close_each();
}
