//! `peer_cred` names the process at the other end of a Unix domain
//! connection (here: this test process), for accepted and outbound
//! connections alike; a TCP connection answers `Error::Unsupported`.

mod common;

use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

use common::unix::*;
use common::*;
use netloop::bytes::BytesMut;
use netloop::{ConnectOptions, Ctx, Error, Handler, ListenOptions, PeerCred};

/// Records what `peer_cred` said when the connection opened.
struct Who(Arc<Mutex<Vec<Result<PeerCred, String>>>>);

impl Handler for Who {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        let cred = ctx.peer_cred().map_err(|e| match e {
            Error::Unsupported(what) => format!("unsupported: {what}"),
            other => format!("other: {other}"),
        });
        self.0.lock().unwrap().push(cred);
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
}

/// This process's effective uid and gid (those of /proc/self).
fn me() -> (u32, u32) {
    let meta = std::fs::metadata("/proc/self").unwrap();
    (meta.uid(), meta.gid())
}

fn assert_is_me(cred: &PeerCred) {
    assert_eq!(cred.pid, std::process::id() as i32, "{cred:?}");
    assert_eq!((cred.uid, cred.gid), me(), "{cred:?}");
}

#[test]
fn an_accepted_connection_knows_who_connected() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shared = seen.clone();
    let server = serve_unix(ListenOptions::default(), move || Who(shared.clone()));
    let c = server.client();
    wait_until("on_open ran", || !seen.lock().unwrap().is_empty());
    let cred = seen.lock().unwrap()[0]
        .clone()
        .expect("peer_cred on a Unix connection");
    assert_is_me(&cred);
    // The same through a handle, from another thread.
    let id = server.log.conns()[0];
    assert_is_me(&server.handle.peer_cred(id).unwrap());
    drop(c);
    server.finish();
}

#[test]
fn an_outbound_connection_knows_who_listens() {
    let path = socket_path("cred-out");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = serve(ListenOptions::default(), || netloop::handler::Discard);
    let handler = Who(seen.clone());
    let id = server
        .handle
        .connect_unix_and_wait(&path, ConnectOptions::default(), handler)
        .expect("connected");
    let (_accepted, _) = listener.accept().unwrap();
    wait_until("on_open ran", || !seen.lock().unwrap().is_empty());
    assert_is_me(&seen.lock().unwrap()[0].clone().unwrap());
    assert_is_me(&server.handle.peer_cred(id).unwrap());
    server.handle.close(id).unwrap();
    drop(_accepted);
    std::fs::remove_file(&path).unwrap();
    server.finish();
}

#[test]
fn a_tcp_connection_has_no_peer_credentials() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shared = seen.clone();
    let server = serve(ListenOptions::default(), move || Who(shared.clone()));
    let c = server.client();
    wait_until("on_open ran", || !seen.lock().unwrap().is_empty());
    let got = seen.lock().unwrap()[0].clone();
    assert!(
        matches!(&got, Err(e) if e.starts_with("unsupported: peer_cred")),
        "{got:?}"
    );
    let id = server.log.conns()[0];
    assert!(matches!(
        server.handle.peer_cred(id),
        Err(Error::Unsupported(_))
    ));
    drop(c);
    server.finish();
}
