//! A UDP socket as an event source next to TCP connections: each datagram
//! is echoed to its sender and relayed to every TCP subscriber, which the
//! callback finds in the shared state and reaches through the context's
//! connections ([`ReactorCtx::split`]).

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netloop::bytes::BytesMut;
use netloop::mio::Interest;
use netloop::mio::net::UdpSocket as MioUdp;
use netloop::{ConnId, Ctx, Handler, ListenOptions, Reactor, SourceId};

/// Generous: the machine is shared and noisy.
const PATIENCE: Duration = Duration::from_secs(20);

/// The shared state: who subscribed, and how many datagrams came.
#[derive(Default)]
struct Hub {
    subscribers: Vec<ConnId>,
    datagrams: usize,
}

/// A TCP subscriber: joins the hub when open, leaves when closed.
struct Subscriber;

impl Handler<Hub> for Subscriber {
    fn on_open(&mut self, ctx: &mut Ctx<'_, Hub>) {
        let id = ctx.id();
        ctx.reactor().shared().subscribers.push(id);
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_, Hub>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_, Hub>, _reason: netloop::CloseReason) {
        let id = ctx.id();
        ctx.reactor().shared().subscribers.retain(|s| *s != id);
    }
}

/// Echoes each datagram and relays it to every subscriber.
fn relay(
    rc: &mut netloop::ReactorCtx<'_, Hub>,
    _id: SourceId,
    udp: &mut MioUdp,
    _r: netloop::Readiness,
) {
    let mut buf = [0; 1500];
    loop {
        let (n, from) = match udp.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => panic!("recv_from: {e}"),
        };
        udp.send_to(&buf[..n], from).expect("echo the datagram");
        let (hub, mut conns) = rc.split();
        hub.datagrams += 1;
        for &id in &hub.subscribers {
            conns
                .conn(id)
                .send(&buf[..n])
                .expect("relay to a subscriber");
        }
    }
}

/// Starts the reactor on its thread; returns the TCP and UDP addresses
/// and the reactor's handle.
fn start() -> (
    SocketAddr,
    SocketAddr,
    netloop::ReactorHandle<Hub>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut reactor = Reactor::with_state(Hub::default()).unwrap();
        let listener = reactor
            .listen(
                "127.0.0.1:0".parse().unwrap(),
                ListenOptions::default(),
                || Subscriber,
            )
            .unwrap();
        let tcp = reactor.listener_addr(listener).unwrap();
        let udp = MioUdp::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let udp_addr = udp.local_addr().unwrap();
        reactor
            .register_source(udp, Interest::READABLE, relay)
            .unwrap();
        tx.send((tcp, udp_addr, reactor.handle())).unwrap();
        reactor.run().unwrap();
    });
    let (tcp, udp, handle) = rx.recv().unwrap();
    (tcp, udp, handle, thread)
}

#[test]
fn datagrams_are_echoed_and_relayed_to_the_tcp_subscribers() {
    let (tcp, udp_addr, handle, thread) = start();
    let mut subscribers: Vec<TcpStream> =
        (0..2).map(|_| TcpStream::connect(tcp).unwrap()).collect();
    let deadline = Instant::now() + PATIENCE;
    while handle.call(|rc| rc.shared().subscribers.len()).unwrap() < 2 {
        assert!(Instant::now() < deadline, "the subscribers never joined");
        std::thread::sleep(Duration::from_millis(1));
    }
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    for msg in [&b"first"[..], b"second"] {
        client.send_to(msg, udp_addr).unwrap();
        let mut buf = [0; 64];
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (msg, udp_addr), "the echo");
    }
    for s in &mut subscribers {
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut got = [0; 11];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"firstsecond", "relayed in order");
    }
    assert_eq!(handle.call(|rc| rc.shared().datagrams).unwrap(), 2);
    handle.stop().unwrap();
    thread.join().unwrap();
}
