//! TLS against tools that share no code with netloop: curl gets the right
//! bodies from the HTTP server over one kept-alive HTTPS connection,
//! pipelined requests over TLS are answered in order, `openssl s_client`
//! sees our close_notify (so it came before the FIN), and the echo and
//! HTTP examples serve TLS with `--tls CERT KEY`.
#![cfg(feature = "tls")]

mod common;
mod example_server;
mod http_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::tls::*;
use common::*;
use example_server::Running;
use netloop::bytes::BytesMut;
use netloop::{Ctx, Handler, ListenOptions};
use netloop_http::server::{Config, HttpConn, HttpState, refresh_date_every_second};

/// The HTTP server over TLS, in this process.
fn https(cert: &TestCert) -> Running<HttpState> {
    let config = Arc::new(Config::default());
    let mut tls = cert.server();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tls = Arc::new(tls);
    example_server::start(HttpState::new, move |reactor, log| {
        let opts = ListenOptions::default()
            .conn(config.conn_options())
            .tls(tls);
        let listener = reactor
            .listen("127.0.0.1:0".parse().unwrap(), opts, move || {
                Recorder::new(HttpConn::new(config.clone()), log.clone())
            })
            .expect("listen");
        refresh_date_every_second(&mut reactor.ctx());
        reactor.listener_addr(listener).expect("listener address")
    })
}

fn need(tool: &str) -> bool {
    if tools::have(tool) {
        return true;
    }
    tools::skip_or_fail(&format!("{tool} is not installed"));
    false
}

#[test]
fn curl_gets_the_bodies_over_one_https_connection() {
    if !need("curl") {
        return;
    }
    let cert = TestCert::new();
    let server = https(&cert);
    let port = server.addr.port();
    let url = |path: &str| format!("https://localhost:{port}{path}");
    let out = Command::new("curl")
        .args(["-sS", "-v", "--max-time", "20", "--cacert"])
        .arg(cert.cert())
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args([url("/plaintext"), url("/json"), url("/plaintext")])
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "curl failed: {stderr}");
    assert_eq!(
        stdout,
        r#"Hello, World!{"message":"Hello, World!"}Hello, World!"#
    );
    assert!(
        stderr.contains("ALPN: server accepted http/1.1"),
        "{stderr}"
    );
    server.wait_no_conns();
    let m = server.finish();
    assert_eq!(
        (m.accepted, m.tls_handshakes),
        (1, 1),
        "one connection, reused"
    );
}

#[test]
fn pipelined_requests_over_tls_are_answered_in_order() {
    let cert = TestCert::new();
    let server = https(&cert);
    let mut tls = cert.connect(server.addr);
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let batch = [get("/plaintext"), get("/json"), get("/plaintext")].concat()
        + "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    tls.write_all(batch.as_bytes()).unwrap();
    tls.flush().unwrap();
    let (replies, end) = read_to_close_notify(&mut tls);
    end.expect("the server's close_notify ends the stream");
    let text = String::from_utf8(replies).unwrap();
    let bodies: Vec<_> = text
        .split("HTTP/1.1 200 OK\r\n")
        .skip(1)
        .map(|r| r.rsplit("\r\n\r\n").next().unwrap())
        .collect();
    assert_eq!(
        bodies,
        [
            "Hello, World!",
            r#"{"message":"Hello, World!"}"#,
            "Hello, World!",
            "Hello, World!"
        ]
    );
    drop(tls);
    server.wait_no_conns();
    server.finish();
}

/// Says hello, then closes.
struct Hello;

impl Handler for Hello {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.send(b"hello from netloop\n").unwrap();
        ctx.close();
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
}

/// `openssl s_client` against `addr`, printing the TLS messages it
/// receives; returns its output.
fn s_client(addr: SocketAddr, cert: &TestCert, stdin: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(["-servername", "localhost", "-msg", "-ign_eof", "-CAfile"])
        .arg(cert.cert())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn openssl_s_client_sees_close_notify_before_the_fin() {
    if !need("openssl") {
        return;
    }
    let cert = TestCert::new();
    let server = serve(
        ListenOptions::default().tls(Arc::new(cert.server())),
        || Hello,
    );
    let out = s_client(server.addr, &cert, b"");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    let data = out.find("hello from netloop").expect("the data arrived");
    // `<<<` marks what s_client received; a FIN before close_notify would
    // have ended the session without this line.
    let notify = out
        .lines()
        .position(|l| l.starts_with("<<<") && l.contains("close_notify"))
        .unwrap_or_else(|| panic!("no close_notify received:\n{out}"));
    let notify_at = out.lines().take(notify).map(|l| l.len() + 1).sum::<usize>();
    assert!(data < notify_at, "data before close_notify:\n{out}");
    server.wait_log("closed", |log| log.closes().len() == 1);
    server.finish();
}

/// Starts an example with `--tls` on a free port; returns it and its address.
fn example_with_tls(
    name: &str,
    cert: &TestCert,
    env: &[(&str, &std::path::Path)],
) -> (std::process::Child, SocketAddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new(tools::example_binary(name))
        .args(["--addr", &addr.to_string(), "--tls"])
        .args([cert.cert(), cert.key()])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    wait_until("the example listens", || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    (child, addr)
}

fn stop(mut child: std::process::Child) {
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let mut log = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut log);
    assert!(child.wait().unwrap().success(), "{log}");
}

#[test]
fn the_echo_example_echoes_over_tls() {
    let cert = TestCert::new();
    let keylog = cert.dir.join("keys.log");
    let (child, addr) = example_with_tls("echo", &cert, &[("SSLKEYLOGFILE", &keylog)]);
    let mut tls = cert.connect(addr);
    tls.write_all(b"over tls\n").unwrap();
    tls.flush().unwrap();
    let mut line = String::new();
    BufReader::new(&mut tls).read_line(&mut line).unwrap();
    assert_eq!(line, "over tls\n");
    send_close_notify(&mut tls);
    let (rest, end) = read_to_close_notify(&mut tls);
    assert!(rest.is_empty());
    end.expect("close_notify answers ours");
    drop(tls);
    // The session's secrets, for a packet capture's dissector.
    let keys = std::fs::read_to_string(&keylog).expect("SSLKEYLOGFILE written");
    assert!(keys.contains("SERVER_TRAFFIC_SECRET_0 "), "{keys}");
    // The client example, against it.
    let out = Command::new(tools::example_binary("client"))
        .arg(format!("localhost:{}", addr.port()))
        .args(["--tls", "--ca"])
        .arg(cert.cert())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .unwrap()
                .write_all(b"from the client example\n")?;
            c.wait_with_output()
        })
        .expect("run the client example");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "from the client example\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
    stop(child);
}

#[test]
fn the_http_example_serves_https() {
    let cert = TestCert::new();
    let (child, addr) = example_with_tls("http", &cert, &[]);
    let mut tls = cert.connect(addr);
    tls.write_all(b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    tls.flush().unwrap();
    let (reply, end) = read_to_close_notify(&mut tls);
    end.expect("close_notify after the response");
    let reply = String::from_utf8(reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nHello, World!"), "{reply}");
    drop(tls);
    stop(child);
}
