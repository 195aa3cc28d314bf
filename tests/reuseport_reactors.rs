//! Two reactors behind one SO_REUSEPORT address both receive connections; a
//! ServerHandle on another thread routes sends to the reactor owning each
//! connection and the bytes arrive in order; stop from another thread ends
//! both loops.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

use common::{Ev, Log, Recorder, client, wait_until};
use netloop::bytes::{Bytes, BytesMut};
use netloop::{CloseReason, ConnId, Ctx, Error, Handler, ServerBuilder};

/// Which connection id serves which client (by the client's address).
type Registry = Arc<Mutex<HashMap<SocketAddr, ConnId>>>;

/// Records its id under the peer's address; discards input.
struct Register(Registry);

impl Handler for Register {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        let peer = ctx.peer_addr().expect("peer address");
        self.0.lock().unwrap().insert(peer, ctx.id());
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
}

/// Connects, and waits until a reactor has opened the connection.
fn connect(addr: SocketAddr, registry: &Registry) -> (TcpStream, ConnId) {
    let stream = client(addr);
    let me = stream.local_addr().unwrap();
    wait_until("the server opened the connection", || {
        registry.lock().unwrap().contains_key(&me)
    });
    let id = registry.lock().unwrap()[&me];
    (stream, id)
}

fn message(conn: usize, seq: usize) -> String {
    format!("{conn}:{seq:05}\n")
}

#[test]
fn two_reactors_share_an_address_and_a_handle_routes_to_each() {
    let log = Log::default();
    let registry = Registry::default();
    let (factory_log, factory_registry) = (log.clone(), registry.clone());
    let server = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
        .threads(2)
        .start(move || Recorder::new(Register(factory_registry.clone()), factory_log.clone()))
        .expect("server starts");
    assert_eq!(server.len(), 2);

    // The kernel spreads connections by a hash of the 4-tuple: connect until
    // both reactors own one (the odds of 64 landing on one are 2^-63).
    let mut clients: Vec<(TcpStream, ConnId)> = Vec::new();
    let mut owners = BTreeSet::new();
    while owners.len() < 2 && clients.len() < 64 {
        let (stream, id) = connect(server.local_addr(), &registry);
        owners.insert(id.reactor());
        clients.push((stream, id));
    }
    assert_eq!(owners, BTreeSet::from([0, 1]), "both reactors accept");

    // One connection per reactor.
    let picked: Vec<usize> = [0, 1]
        .iter()
        .map(|r| {
            clients
                .iter()
                .position(|(_, id)| id.reactor() == *r)
                .unwrap()
        })
        .collect();
    let ids: Vec<ConnId> = picked.iter().map(|&i| clients[i].1).collect();

    // A handle of one reactor refuses the other's ids at once.
    assert!(matches!(
        server
            .reactor(0)
            .unwrap()
            .send(ids[1], Bytes::from_static(b"x")),
        Err(Error::ForeignConn)
    ));

    // Another thread sends interleaved messages to both connections.
    const MESSAGES: usize = 500;
    let sender = {
        let server = server.clone();
        let ids = ids.clone();
        std::thread::spawn(move || {
            for seq in 0..MESSAGES {
                for (conn, &id) in ids.iter().enumerate() {
                    server
                        .send(id, Bytes::from(message(conn, seq)))
                        .expect("send routed");
                }
            }
        })
    };
    for (conn, &i) in picked.iter().enumerate() {
        let expected: String = (0..MESSAGES).map(|seq| message(conn, seq)).collect();
        let mut got = vec![0u8; expected.len()];
        clients[i]
            .0
            .read_exact(&mut got)
            .expect("read routed bytes");
        assert_eq!(String::from_utf8(got).unwrap(), expected, "in order");
    }
    sender.join().unwrap();

    // Stop from another thread: both loops end, every connection closes once.
    let stopper = server.clone();
    std::thread::spawn(move || stopper.stop().expect("stop"))
        .join()
        .unwrap();
    let summary = server.join().expect("both reactors end cleanly");
    assert!(server.is_finished());
    assert_eq!(summary.reactors.len(), 2);
    for (index, m) in summary.reactors.iter().enumerate() {
        assert!(m.accepted >= 1, "reactor {index} accepted: {m:?}");
        assert_eq!(m.open, 0, "reactor {index} holds no connection");
    }
    assert_eq!(summary.total.accepted, clients.len() as u64);
    assert_eq!(
        summary.total.closed_with(CloseReason::Shutdown),
        clients.len() as u64,
        "stop aborts what is open"
    );
    assert!(
        matches!(server.stop(), Ok(())),
        "stopping twice is harmless"
    );
    assert!(matches!(
        server.send(ids[0], Bytes::new()),
        Err(Error::Stopped)
    ));
    assert_eq!(log.count(|e| *e == Ev::Open), clients.len());
    log.assert_one_close_each();
}

#[test]
fn each_reactor_gets_its_own_state_and_ids_name_their_reactor() {
    let log = Log::default();
    let factory_log = log.clone();
    let server = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
        .threads(3)
        .state(|index| index * 100)
        .start(move || Recorder::new(netloop::handler::Discard, factory_log.clone()))
        .expect("server starts");
    for (index, r) in server.reactors().iter().enumerate() {
        assert_eq!(r.reactor_index(), index);
        let state = r.call(|rc| *rc.shared()).expect("call");
        assert_eq!(state, index * 100);
    }
    let mut stream = client(server.local_addr());
    // The counter moves before on_open runs: wait for the callback.
    wait_until("on_open ran", || !log.conns().is_empty());
    assert_eq!(server.metrics().total.accepted, 1);
    let id = log.conns()[0];
    let owner = server.owner(id).unwrap();
    assert_eq!(owner.reactor_index(), id.reactor());
    assert!(owner.metrics().accepted == 1);
    // The owner's state is the one its connection's callbacks see.
    let state = server
        .owner(id)
        .unwrap()
        .call(|rc| *rc.shared())
        .expect("call");
    assert_eq!(state, id.reactor() * 100);

    server.close(id).expect("close routed");
    let (bytes, end) = common::read_to_end(&mut stream);
    assert!(bytes.is_empty() && end.is_ok(), "a clean FIN: {end:?}");
    drop(stream); // our FIN ends its lingering close
    wait_until("closed", || server.metrics().total.open == 0);
    server.stop().unwrap();
    let summary = server.join().unwrap();
    assert_eq!(summary.total.closed_with(CloseReason::Local), 1);
    log.assert_one_close_each();
}
