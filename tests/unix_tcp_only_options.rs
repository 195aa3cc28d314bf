//! TCP-only options and queries on Unix domain sockets fail with a typed
//! `Unsupported` error instead of doing nothing: keepalive, user timeout,
//! TCP_NOTSENT_LOWAT and reuse_port at listen, a bind address at connect,
//! TCP_INFO and IP addresses on a connection. `nodelay` (on by default)
//! is ignored, so default options work.

mod common;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::unix::*;
use common::*;
use netloop::bytes::BytesMut;
use netloop::{
    ConnOptions, ConnectOptions, Ctx, Error, Handler, Keepalive, ListenOptions, Reactor,
};

/// The `Error::Unsupported` an `io::Error` carries, if any.
fn unsupported(e: &io::Error) -> Option<&'static str> {
    assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
    match e.get_ref()?.downcast_ref::<Error>()? {
        Error::Unsupported(what) => Some(*what),
        _ => None,
    }
}

fn listen_with(conn: ConnOptions) -> io::Error {
    let path = socket_path("tcp-only");
    let mut reactor = Reactor::new().unwrap();
    let e = reactor
        .listen_unix(&path, ListenOptions::default().conn(conn), || {
            netloop::handler::Echo
        })
        .unwrap_err();
    assert!(!path.exists(), "a refused listen leaves no file");
    e
}

#[test]
fn tcp_options_fail_a_unix_listen() {
    let keepalive = Keepalive::new(Duration::from_secs(1), Duration::from_secs(1), 3);
    let e = listen_with(ConnOptions::default().keepalive(keepalive));
    assert!(unsupported(&e).unwrap().contains("keepalive"), "{e}");
    let e = listen_with(ConnOptions::default().user_timeout(Duration::from_secs(1)));
    assert!(unsupported(&e).unwrap().contains("user_timeout"), "{e}");
    let e = listen_with(ConnOptions::default().notsent_lowat(1024));
    assert!(unsupported(&e).unwrap().contains("notsent_lowat"), "{e}");

    let mut reactor = Reactor::new().unwrap();
    let opts = ListenOptions::default().reuse_port(true);
    let e = reactor
        .listen_unix(socket_path("reuse-port"), opts, || netloop::handler::Echo)
        .unwrap_err();
    assert!(unsupported(&e).unwrap().contains("reuse_port"), "{e}");
}

#[test]
fn tcp_options_fail_a_unix_connect() {
    let mut reactor = Reactor::new().unwrap();
    let path = socket_path("connect-bind");
    let opts = ConnectOptions::default().bind("127.0.0.1:0".parse().unwrap());
    let e = reactor
        .connect_unix(&path, opts, netloop::handler::Discard)
        .unwrap_err();
    assert!(unsupported(&e).unwrap().contains("bind"), "{e}");
    let opts =
        ConnectOptions::default().conn(ConnOptions::default().user_timeout(Duration::from_secs(1)));
    let e = reactor
        .connect_unix(&path, opts, netloop::handler::Discard)
        .unwrap_err();
    assert!(unsupported(&e).unwrap().contains("user_timeout"), "{e}");
    assert_eq!(reactor.conn_count(), 0);
}

/// What the TCP queries answered on a Unix connection.
#[derive(Debug, Default)]
struct Answers {
    tcp_info: Option<String>,
    peer_addr: Option<String>,
    local_addr: Option<String>,
    unix_local: Option<std::path::PathBuf>,
    nodelay: bool,
}

struct Ask(Arc<Mutex<Answers>>);

fn refusal<T: std::fmt::Debug>(r: netloop::Result<T>) -> Option<String> {
    match r {
        Err(Error::Unsupported(what)) => Some(what.to_string()),
        other => panic!("expected Error::Unsupported, got {other:?}"),
    }
}

impl Handler for Ask {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        let mut a = self.0.lock().unwrap();
        a.tcp_info = refusal(ctx.tcp_info());
        a.peer_addr = refusal(ctx.peer_addr());
        a.local_addr = refusal(ctx.local_addr());
        a.unix_local = ctx
            .unix_local_addr()
            .unwrap()
            .as_pathname()
            .map(|p| p.to_path_buf());
        a.nodelay = ctx.options().nodelay;
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
}

#[test]
fn tcp_queries_on_a_unix_connection_are_unsupported_and_default_options_work() {
    let answers = Arc::new(Mutex::new(Answers::default()));
    let shared = answers.clone();
    let server = serve_unix(ListenOptions::default(), move || Ask(shared.clone()));
    let c = server.client();
    wait_until("on_open ran", || answers.lock().unwrap().tcp_info.is_some());
    let a = answers.lock().unwrap();
    assert!(a.tcp_info.as_deref().unwrap().contains("TCP_INFO"), "{a:?}");
    assert!(
        a.peer_addr.as_deref().unwrap().contains("peer_addr"),
        "{a:?}"
    );
    assert!(
        a.local_addr.as_deref().unwrap().contains("local_addr"),
        "{a:?}"
    );
    assert_eq!(a.unix_local.as_deref(), Some(server.addr.as_path()));
    assert!(a.nodelay, "nodelay on by default, ignored on Unix sockets");
    drop(a);
    let id = server.log.conns()[0];
    assert!(matches!(
        server.handle.tcp_info(id),
        Err(Error::Unsupported(_))
    ));
    drop(c);
    server.finish();
}
