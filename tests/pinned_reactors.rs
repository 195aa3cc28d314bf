//! `ServerBuilder::pin_threads`: reactor `i` runs only on the `i`-th CPU
//! the process may use (wrapping around), as the kernel reports it for the
//! reactor's own thread, and the pinned server serves (every connection
//! closes by itself, with exactly one `on_close`); without the option
//! reactors keep the process's whole CPU set.

mod common;

use std::io::{Read, Write};

use common::{Ev, Log, Recorder, wait_until};
use netloop::ServerBuilder;
use netloop::handler::Echo;

/// The CPUs in a `Cpus_allowed_list` line of /proc/.../status ("0-3,6").
fn cpus_allowed(status: &str) -> Vec<usize> {
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in status")
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        cpus.extend(lo.parse::<usize>().unwrap()..=hi.parse::<usize>().unwrap());
    }
    cpus
}

/// The CPUs the calling thread may use.
fn my_cpus() -> Vec<usize> {
    cpus_allowed(&std::fs::read_to_string("/proc/thread-self/status").unwrap())
}

/// Waits until no reactor holds a connection, stops and joins them, and
/// checks that every connection got exactly one `on_close`, last.
fn finish<S: 'static>(server: netloop::ServerHandle<S>, log: &Log) -> netloop::ServerSummary {
    wait_until("the reactors hold no connections", || {
        server.metrics().total.open == 0
    });
    server.stop().unwrap();
    let summary = server.join().unwrap();
    assert_eq!(summary.total.open, 0, "connections left open");
    assert_eq!(
        log.count(|e| *e == Ev::Open) as u64,
        summary.total.accepted,
        "every accepted connection opened"
    );
    log.assert_one_close_each();
    summary
}

/// Each reactor's allowed CPUs, read on the reactor's own thread.
fn reactor_cpus<S: 'static>(server: &netloop::ServerHandle<S>) -> Vec<Vec<usize>> {
    server
        .reactors()
        .iter()
        .map(|r| r.call(|_| my_cpus()).expect("call the reactor"))
        .collect()
}

fn echo_once(addr: std::net::SocketAddr) {
    let mut c = common::client(addr);
    c.write_all(b"pinned").unwrap();
    let mut back = [0u8; 6];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"pinned");
}

#[test]
fn each_reactor_runs_on_its_own_cpu() {
    let process = my_cpus();
    // One more than CPUs: the last wraps around.
    let threads = (process.len() + 1).min(netloop::MAX_REACTORS);
    let log = Log::default();
    let factory_log = log.clone();
    let server = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
        .threads(threads)
        .pin_threads(true)
        .start(move || Recorder::new(Echo, factory_log.clone()))
        .expect("start pinned reactors");
    let seen = reactor_cpus(&server);
    for (i, cpus) in seen.iter().enumerate() {
        assert_eq!(cpus, &vec![process[i % process.len()]], "reactor {i}");
    }
    for _ in 0..threads * 2 {
        echo_once(server.local_addr());
    }
    assert_eq!(my_cpus(), process, "the caller's own affinity is untouched");
    let summary = finish(server, &log);
    assert_eq!(summary.total.accepted, threads as u64 * 2);
}

#[test]
fn unpinned_reactors_keep_every_cpu() {
    let process = my_cpus();
    let log = Log::default();
    let factory_log = log.clone();
    let server = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
        .threads(2)
        .start(move || Recorder::new(Echo, factory_log.clone()))
        .expect("start reactors");
    for cpus in reactor_cpus(&server) {
        assert_eq!(cpus, process);
    }
    echo_once(server.local_addr());
    let summary = finish(server, &log);
    assert_eq!(summary.total.accepted, 1);
}
