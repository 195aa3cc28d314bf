//! The HTTP example serves every reactor's counters at `/metrics` in the
//! Prometheus (OpenMetrics) text format: one sample per reactor, closes by
//! reason, and counts that follow the traffic.

mod common;
mod example_server;
mod http_support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_support::Client;

/// The http example with two reactors on a free port; killed on drop.
struct HttpServer {
    child: Child,
    addr: SocketAddr,
}

impl HttpServer {
    fn start() -> HttpServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(common::tools::example_binary("http"))
            .args(["--addr", &addr.to_string(), "--threads", "2"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the http example");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "the http example never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        HttpServer { child, addr }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the sample `name{labels}` in `text`.
fn sample(text: &str, name_and_labels: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name_and_labels} in:\n{text}"))
}

fn scrape(addr: SocketAddr) -> String {
    let mut c = Client::connect(addr);
    let r = c.get("/metrics");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("Content-Type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{r:?}"
    );
    r.body_str().to_owned()
}

#[test]
fn metrics_show_every_reactor_and_follow_the_traffic() {
    let server = HttpServer::start();
    let before = scrape(server.addr);
    assert!(before.ends_with("# EOF\n"), "{before}");
    for reactor in ["0", "1"] {
        let open = format!("netloop_connections_open{{reactor=\"{reactor}\"}}");
        sample(&before, &open);
        let reset = format!("netloop_closed_total{{reactor=\"{reactor}\",reason=\"Reset\"}}");
        assert_eq!(sample(&before, &reset), 0);
    }
    let accepted = |text: &str| -> u64 {
        ["0", "1"]
            .iter()
            .map(|r| sample(text, &format!("netloop_accepted_total{{reactor=\"{r}\"}}")))
            .sum()
    };
    for _ in 0..5 {
        let mut c = Client::connect(server.addr);
        assert_eq!(c.get("/plaintext").status, 200);
    }
    let after = scrape(server.addr);
    assert!(
        accepted(&after) >= accepted(&before) + 6,
        "five clients and a scrape were accepted:\n{before}\n{after}"
    );
    let bytes_out: u64 = ["0", "1"]
        .iter()
        .map(|r| {
            sample(
                &after,
                &format!("netloop_bytes_out_total{{reactor=\"{r}\"}}"),
            )
        })
        .sum();
    assert!(bytes_out > 0, "{after}");
}
