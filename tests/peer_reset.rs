//! A peer's RST is reported once, as a reset: one on_close(Reset) and no
//! on_eof, whether it comes while idle or after data.

mod common;

use std::io::Write;

use common::*;
use netloop::handler::Discard;
use netloop::{CloseReason, ListenOptions};

#[test]
fn reset_is_reported_once_and_never_as_eof() {
    let server = serve(ListenOptions::default(), || Discard);
    // Idle connection reset.
    let idle = server.client();
    server.wait_log("the first connection opened", |log| log.conns().len() == 1);
    reset(idle);
    // Reset right after sending data.
    let mut busy = server.client();
    busy.write_all(&pattern(100_000)).unwrap();
    reset(busy);
    server.wait_log("both connections closed", |log| log.closes().len() == 2);
    for id in server.log.conns() {
        let evs = server.log.of(id);
        assert!(
            !evs.contains(&Ev::Eof),
            "{id:?} got on_eof after a reset: {evs:?}"
        );
        assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::Reset)), "{evs:?}");
    }
    let metrics = server.finish();
    assert_eq!(metrics.closed_with(CloseReason::Reset), 2);
}
