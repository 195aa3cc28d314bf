//! A Unix domain connection gets the same callbacks as a TCP one: echo of
//! a large stream, the peer's half-close (on_eof, then our flush and
//! close), our own half-close (shutdown_write: every byte, then EOF,
//! on_half_close, reading goes on), and exactly one on_close each.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

use common::unix::*;
use common::*;
use netloop::bytes::BytesMut;
use netloop::handler::Echo;
use netloop::{CloseReason, ConnOptions, ConnState, Ctx, Handler, ListenOptions};

/// Reads until EOF.
fn read_all(s: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read to EOF");
    out
}

#[test]
fn echoes_every_byte_then_closes_after_the_peers_fin() {
    const SIZE: usize = 4 << 20;
    let server = serve_unix(ListenOptions::default(), || Echo);
    let mut c = server.client();
    let data = pattern(SIZE);
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(&data).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let got = read_all(&mut c);
    writer.join().unwrap();
    assert_eq!(got.len(), SIZE);
    assert!(got == pattern(SIZE), "the echo differs from what was sent");
    let id = server.log.conns()[0];
    server.wait_log("the connection closed", |log| {
        log.closes().contains_key(&id)
    });
    let evs = server.log.of(id);
    assert_eq!(evs.first(), Some(&Ev::Open));
    assert!(evs.contains(&Ev::Eof), "on_eof: {evs:?}");
    assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::PeerClosed)));
    let m = server.finish();
    assert_eq!(m.accepted, 1);
    assert_eq!(m.bytes_in, SIZE as u64);
    assert_eq!(m.bytes_out, SIZE as u64);
}

const BIG: usize = 3 << 20;

/// Sends BIG bytes and shuts its write side at once; then reads.
#[derive(Default)]
struct SendThenShut {
    after_half_close: Vec<u8>,
}

impl Handler for SendThenShut {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.send(&pattern(BIG)).unwrap();
        ctx.shutdown_write();
        assert!(ctx.queued() > 0, "3 MiB should not fit the socket at once");
    }
    fn on_half_close(&mut self, ctx: &mut Ctx<'_>) {
        assert_eq!(ctx.queued(), 0);
        assert_eq!(ctx.conn_state(), ConnState::WriteClosed);
        assert!(ctx.send(b"late").is_err(), "send after shutdown_write");
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        self.after_half_close.extend_from_slice(input);
        input.clear();
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_>) {
        assert_eq!(self.after_half_close, b"bye");
        ctx.close();
    }
}

#[test]
fn shutdown_write_delivers_everything_then_eof_and_reading_goes_on() {
    let opts = ListenOptions::default().conn(ConnOptions::default().send_buffer(32 << 10));
    let server = serve_unix(opts, SendThenShut::default);
    let mut c = server.client();
    let got = read_all(&mut c);
    assert_eq!(got.len(), BIG);
    assert!(got == pattern(BIG));
    let id = server.log.conns()[0];
    server.wait_log("on_half_close", |log| log.of(id).contains(&Ev::HalfClose));
    // Half-closed by the server, the connection still carries our bytes.
    c.write_all(b"bye").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    server.wait_log("the connection closed", |log| {
        log.closes().contains_key(&id)
    });
    let evs = server.log.of(id);
    assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::PeerClosed)));
    assert_eq!(evs.iter().filter(|e| matches!(e, Ev::Close(_))).count(), 1);
    server.finish();
}

#[test]
fn many_connections_each_get_exactly_one_on_close() {
    let server = serve_unix(ListenOptions::default(), || Echo);
    let mut clients: Vec<UnixStream> = (0..20).map(|_| server.client()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("client {i}\n").as_bytes()).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let want = format!("client {i}\n");
        let mut got = vec![0; want.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, want.as_bytes());
    }
    // Half shut their write side first, half just go away.
    for (i, c) in clients.into_iter().enumerate() {
        if i % 2 == 0 {
            c.shutdown(Shutdown::Write).unwrap();
        }
        drop(c);
    }
    server.wait_log("every connection closed", |log| log.closes().len() == 20);
    let m = server.finish();
    assert_eq!(m.accepted, 20);
}

/// Aborts when told to.
struct Aborter;

impl Handler for Aborter {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        if input.starts_with(b"abort") {
            ctx.abort();
        }
        input.clear();
    }
}

#[test]
fn abort_ends_a_unix_connection_with_end_of_stream_not_a_reset() {
    let server = serve_unix(ListenOptions::default(), || Aborter);
    let mut c = server.client();
    c.write_all(b"abort").unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).expect("end of stream, no reset");
    assert!(rest.is_empty());
    let id = server.log.conns()[0];
    server.wait_log("the connection closed", |log| {
        log.closes().contains_key(&id)
    });
    assert_eq!(
        server.log.of(id).last(),
        Some(&Ev::Close(CloseReason::Aborted))
    );
    server.finish();
}
