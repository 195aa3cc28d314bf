//! The HTTP example survives the real `wrk` load generator: a few seconds
//! of keep-alive load on `/plaintext` and `/json`, plain and pipelined 16
//! deep, complete with zero socket errors and only 200 responses.
//!
//! wrk is a Debian package: when it is missing the test installs it (as
//! root), and otherwise skips, or fails under CI (`NETLOOP_REQUIRE_NETNS=1`).

mod common;
mod example_server;
mod http_support;

use std::net::SocketAddr;
use std::process::Command;

use netloop_http::server::Config;

const PIPELINE_LUA: &str = include_str!("../examples/http/pipeline.lua");

fn have_wrk() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

fn in_ci() -> bool {
    std::env::var_os("NETLOOP_REQUIRE_NETNS").is_some() || std::env::var_os("CI").is_some()
}

/// Makes sure wrk is there: installs it as root, else skips (or fails in CI).
fn ensure_wrk() -> bool {
    if have_wrk() {
        return true;
    }
    // Only root can install packages.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        eprintln!("wrk is missing: installing it with apt-get");
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "wrk"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success())
        };
        if !install() {
            let _ = Command::new("apt-get").args(["update", "-qq"]).status();
            install();
        }
    }
    if have_wrk() {
        return true;
    }
    let why = "wrk is not installed and could not be installed (apt-get install -y wrk, as root)";
    assert!(!in_ci(), "{why}: .ci/run must install it");
    eprintln!("skipped: {why}");
    false
}

/// What one wrk run reported.
#[derive(Debug)]
struct WrkRun {
    requests: u64,
    output: String,
}

fn run_wrk(addr: SocketAddr, path: &str, depth: usize) -> WrkRun {
    let url = format!("http://{addr}{path}");
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c32", "-d2s", "--timeout", "10s", &url]);
    let script = std::env::temp_dir().join(format!("netloop-pipeline-{}.lua", std::process::id()));
    if depth > 1 {
        std::fs::write(&script, PIPELINE_LUA).expect("write the wrk script");
        cmd.arg("-s").arg(&script).args(["--", &depth.to_string()]);
    }
    let out = cmd.output().expect("run wrk");
    let _ = std::fs::remove_file(&script);
    let output =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "wrk failed: {output}");
    let requests = output
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.to_string())
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output: {output}"));
    WrkRun { requests, output }
}

#[test]
fn wrk_runs_without_errors() {
    if !ensure_wrk() {
        return;
    }
    let server = http_support::start(Config::default());
    let mut total = 0;
    for (path, depth) in [("/plaintext", 1), ("/json", 1), ("/plaintext", 16)] {
        let run = run_wrk(server.addr, path, depth);
        eprintln!("wrk {path} depth {depth}: {} requests", run.requests);
        assert!(run.requests > 0, "wrk made no requests: {}", run.output);
        assert!(
            !run.output.contains("Socket errors"),
            "socket errors: {}",
            run.output
        );
        assert!(
            !run.output.contains("Non-2xx"),
            "non-200 responses: {}",
            run.output
        );
        total += run.requests;
    }
    let stats = http_support::stats(&server);
    assert!(
        stats.responses >= total,
        "server answered {} of {total}",
        stats.responses
    );
    assert_eq!(stats.rejected, 0);
    let m = server.finish();
    assert_eq!(m.panics, 0);
}
