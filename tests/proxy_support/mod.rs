//! The proxy example's server (`netloop_examples::proxy`) started in a
//! test (client handlers wrapped in the harness's `Recorder`), and helpers
//! to find the two sides of a pair.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender};

use socket2::{Domain, Socket, Type};

use netloop::{ConnId, ListenOptions};

use crate::common::{PATIENCE, ReadRetrying, Recorder};
use crate::example_server::{self, Running};
use netloop_examples::proxy::{Config, Side, Stats};

/// Starts the proxy with `config` on 127.0.0.1 (port 0).
pub fn start(config: Config) -> Running<Stats> {
    example_server::start(Stats::default, move |reactor, log| {
        let config = Rc::new(config);
        let opts = ListenOptions::default().conn(config.conn_options());
        let listener = reactor
            .listen("127.0.0.1:0".parse().unwrap(), opts, move || {
                Recorder::new(Side::client(config.clone()), log.clone())
            })
            .expect("listen");
        reactor.listener_addr(listener).expect("listener address")
    })
}

/// A listener for the upstream side, on 127.0.0.1 (port 0).
pub fn upstream_listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// An upstream listener whose connections have a small receive buffer
/// (set before listen, so it bounds the window), to make a pausing reader
/// push back soon.
pub fn small_window_listener(rcvbuf: usize) -> (TcpListener, SocketAddr) {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.set_recv_buffer_size(rcvbuf).unwrap();
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    s.listen(16).unwrap();
    let l: TcpListener = s.into();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A client with a small receive buffer (set before connect), with the
/// harness's timeouts.
pub fn small_window_client(addr: SocketAddr, rcvbuf: usize) -> TcpStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.set_recv_buffer_size(rcvbuf).unwrap();
    s.connect(&addr.into()).expect("connect");
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Byte `i` of [`common::pattern`], to check a stream without keeping it.
pub fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8 ^ (i / 251) as u8
}

/// Reads `s` to EOF, checking every byte against the pattern. At each
/// offset in `pauses` it stops reading, tells `paused`, and waits for
/// `resume`. Returns the byte count.
pub fn paced_read(
    s: &mut TcpStream,
    pauses: &[usize],
    paused: &Sender<usize>,
    resume: &Receiver<()>,
) -> usize {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    let mut marks = pauses.iter().copied().peekable();
    loop {
        let room = marks
            .peek()
            .map_or(buf.len(), |&m| (m - got).min(buf.len()));
        let n = s.read_retrying(&mut buf[..room]).expect("read the stream");
        if n == 0 {
            return got;
        }
        for (k, &b) in buf[..n].iter().enumerate() {
            assert_eq!(b, pattern_byte(got + k), "byte {} differs", got + k);
        }
        got += n;
        if marks.peek() == Some(&got) {
            marks.next();
            paused.send(got).expect("test waits");
            resume.recv().expect("test resumes");
        }
    }
}

/// Small marks so backpressure engages early (and the caps are checked).
pub fn small_queues(upstream: SocketAddr) -> Config {
    Config {
        high_water: 128 * 1024,
        low_water: 32 * 1024,
        max_send_queue: 512 * 1024,
        ..Config::new(upstream)
    }
}

/// What the proxy says about one side right now.
#[derive(Clone, Copy, Debug)]
pub struct SideNow {
    pub id: ConnId,
    pub queued: usize,
    pub read_paused: bool,
    pub peak_queued: u64,
}

/// Both sides of the (only) pair: (client side, upstream side), once both exist.
pub fn pair(proxy: &Running<Stats>) -> Option<(SideNow, SideNow)> {
    let client = *proxy.log.conns().first()?;
    proxy.query(move |rc| {
        let ids: Vec<ConnId> = rc.conn_ids().collect();
        let upstream = ids.into_iter().find(|&id| id != client)?;
        let mut now = |id| {
            let c = rc.conn(id);
            Some(SideNow {
                id,
                queued: c.queued().ok()?,
                read_paused: c.is_read_paused().ok()?,
                peak_queued: c.stats().ok()?.peak_queued,
            })
        };
        Some((now(client)?, now(upstream)?))
    })
}
