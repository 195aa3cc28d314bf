//! `ServerBuilder::pin_threads`: reactor `i` runs only on the `i`-th CPU
//! the process may use (wrapping around), as the kernel reports it for the
//! reactor's own thread, and the pinned server serves; without the option
//! reactors keep the process's whole CPU set.

mod common;

use std::io::{Read, Write};

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
    let server = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
        .threads(threads)
        .pin_threads(true)
        .start(|| Echo)
        .expect("start pinned reactors");
    let seen = reactor_cpus(&server);
    for (i, cpus) in seen.iter().enumerate() {
        assert_eq!(cpus, &vec![process[i % process.len()]], "reactor {i}");
    }
    for _ in 0..threads * 2 {
        echo_once(server.local_addr());
    }
    assert_eq!(my_cpus(), process, "the caller's own affinity is untouched");
    server.stop().unwrap();
    let summary = server.join().unwrap();
    assert_eq!(summary.total.accepted, threads as u64 * 2);
}

#[test]
fn unpinned_reactors_keep_every_cpu() {
    let process = my_cpus();
    let server = ServerBuilder::new("127.0.0.1:0".parse().unwrap())
        .threads(2)
        .start(|| Echo)
        .expect("start reactors");
    for cpus in reactor_cpus(&server) {
        assert_eq!(cpus, process);
    }
    echo_once(server.local_addr());
    server.stop().unwrap();
    server.join().unwrap();
}
