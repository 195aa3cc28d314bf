//! The socket file of a Unix listener: a stale one (left by a process that
//! died) fails the listen with `AddrInUse` naming the path, unless
//! `unlink_stale` is set; a live listener's file, or a file that is not a
//! socket, is never removed; our own file goes when the listener does.

mod common;

use std::io::{self, Read, Write};
use std::os::unix::net::UnixListener;

use common::unix::*;
use netloop::handler::Echo;
use netloop::{ListenOptions, Reactor, UnixAddr};

fn listen(
    path: &std::path::Path,
    opts: ListenOptions,
) -> (Reactor, io::Result<netloop::ListenerId>) {
    let mut reactor = Reactor::new().unwrap();
    let id = reactor.listen_unix(path, opts, || Echo);
    (reactor, id)
}

#[test]
fn a_stale_file_is_a_clear_error_by_default() {
    let path = socket_path("stale-default");
    stale_socket_file(&path);
    let (_reactor, id) = listen(&path, ListenOptions::default());
    let e = id.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    let msg = e.to_string();
    assert!(
        msg.contains(path.to_str().unwrap()),
        "names the path: {msg}"
    );
    assert!(msg.contains("stale"), "says it is stale: {msg}");
    assert!(path.exists(), "not removed without unlink_stale");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn unlink_stale_replaces_a_stale_file_and_serves_on_it() {
    let path = socket_path("stale-unlink");
    stale_socket_file(&path);
    let (mut reactor, id) = listen(&path, ListenOptions::default().unlink_stale(true));
    let id = id.expect("the stale file is replaced");
    let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    c.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while reactor.metrics().bytes_out < 4 {
        assert!(std::time::Instant::now() < deadline, "no echo");
        reactor
            .turn(Some(std::time::Duration::from_millis(50)))
            .unwrap();
    }
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    assert!(reactor.ctx().close_listener(id));
    assert!(!path.exists(), "closing the listener removes its file");
}

#[test]
fn a_live_listener_is_never_unlinked() {
    let path = socket_path("live");
    let live = UnixListener::bind(&path).unwrap();
    let (_reactor, id) = listen(&path, ListenOptions::default().unlink_stale(true));
    let e = id.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    assert!(e.to_string().contains(path.to_str().unwrap()), "{e}");
    assert!(e.to_string().contains("another listener"), "{e}");
    assert!(path.exists(), "the live listener's file is still there");
    // The live listener still gets connections (the probe among them).
    live.set_nonblocking(true).unwrap();
    while live.accept().is_ok() {}
    let _c = std::os::unix::net::UnixStream::connect(&path).expect("still reachable");
    live.set_nonblocking(false).unwrap();
    live.accept().expect("the live listener accepts");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_file_that_is_not_a_socket_is_never_unlinked() {
    let path = socket_path("regular");
    std::fs::write(&path, b"precious").unwrap();
    let (_reactor, id) = listen(&path, ListenOptions::default().unlink_stale(true));
    let e = id.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn dropping_the_reactor_removes_its_file_but_not_a_replacement() {
    let path = socket_path("drop");
    let (reactor, id) = listen(&path, ListenOptions::default());
    id.unwrap();
    assert!(path.exists());
    drop(reactor);
    assert!(!path.exists(), "dropping the reactor removes the file");

    // Someone else's file at the same path survives our listener's end.
    let (mut reactor, id) = listen(&path, ListenOptions::default());
    let id = id.unwrap();
    std::fs::remove_file(&path).unwrap();
    let theirs = UnixListener::bind(&path).unwrap();
    reactor.ctx().close_listener(id);
    drop(reactor);
    assert!(path.exists(), "another socket's file was removed");
    drop(theirs);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn an_abstract_name_in_use_is_refused() {
    let name = UnixAddr::abstract_name(abstract_name("in-use"));
    let mut first = Reactor::new().unwrap();
    first
        .listen_unix(name.clone(), ListenOptions::default(), || Echo)
        .unwrap();
    let mut second = Reactor::new().unwrap();
    let e = second
        .listen_unix(
            name.clone(),
            ListenOptions::default().unlink_stale(true),
            || Echo,
        )
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    assert!(e.to_string().contains(&name.to_string()), "{e}");
}
