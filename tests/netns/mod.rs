//! Network namespaces for tests that need real network faults.
//!
//! [`pair`] makes two fresh namespaces joined by a veth pair:
//!
//! ```text
//!   local namespace (the reactor)          remote namespace (the peer)
//!   lo 127.0.0.1                           lo 127.0.0.1
//!   va 10.200.N.1/24  <───── veth ─────>   vb 10.200.N.2/24
//! ```
//!
//! Nothing is added to the root namespace: the local namespace has no route
//! but its own subnet, so no test packet can leave the machine, and tests
//! running at the same time (in this process or another) cannot collide.
//! Names carry the process id and a counter; both namespaces are deleted on
//! drop, also when the test panics. Namespaces left behind by a killed test
//! process are swept the next time a pair is made.
//!
//! Faults, provoked for real (`tc netem` is not available):
//! - a silent peer: [`NetPair::silence_remote`] sets the remote link down
//!   (keepalive then fails with `ETIMEDOUT` after idle + interval × count);
//! - no host behind an address: [`NetPair::unanswered_host`] gives an
//!   address a permanent neighbour entry, so SYNs go out and nothing answers
//!   (without it, ARP fails and the kernel reports `EHOSTUNREACH` after
//!   about 3 s);
//! - an unreachable network: [`NetPair::unreachable_host`] adds an
//!   `unreachable` route (`EHOSTUNREACH` at once).
//!
//! Without root (or without iproute2) [`pair`] prints why and returns `None`
//! so the test can skip, unless `NETLOOP_REQUIRE_NETNS=1`, when it panics.
#![allow(dead_code)]

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

/// Prefix of every namespace these tests create.
const PREFIX: &str = "nlt-";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Moves the calling thread into this namespace. Threads it spawns
    /// afterwards start there too.
    pub fn enter(&self) {
        let file = File::open(format!("/run/netns/{}", self.name))
            .or_else(|_| File::open(format!("/var/run/netns/{}", self.name)))
            .unwrap_or_else(|e| panic!("open namespace {}: {e}", self.name));
        move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))
            .unwrap_or_else(|e| panic!("setns into {}: {e}", self.name));
    }

    /// Runs `ip -n NAME ARGS...`, panicking with its stderr on failure.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces joined by a veth pair; see the module docs.
pub struct NetPair {
    pub local: Netns,
    pub remote: Netns,
    /// The third octet of this pair's subnet, 10.200.N.0/24.
    pub subnet: u8,
    /// The reactor's address (`va`, in `local`).
    pub local_ip: Ipv4Addr,
    /// The peer's address (`vb`, in `remote`).
    pub remote_ip: Ipv4Addr,
}

/// Makes a fresh namespace pair, or `None` (after printing why) when this
/// environment cannot, unless `NETLOOP_REQUIRE_NETNS=1`.
pub fn pair(test: &str) -> Option<NetPair> {
    if let Err(why) = can_make_namespaces() {
        return skip(test, &why);
    }
    sweep_stale();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let subnet = (pid.wrapping_mul(7).wrapping_add(n) % 200 + 20) as u8;
    let local = match add_namespace(format!("{PREFIX}{pid}-{n}-l")) {
        Ok(ns) => ns,
        Err(why) => return skip(test, &why),
    };
    let remote = match add_namespace(format!("{PREFIX}{pid}-{n}-r")) {
        Ok(ns) => ns,
        Err(why) => return skip(test, &why),
    };
    let pair = NetPair {
        subnet,
        local_ip: Ipv4Addr::new(10, 200, subnet, 1),
        remote_ip: Ipv4Addr::new(10, 200, subnet, 2),
        local,
        remote,
    };
    pair.wire();
    Some(pair)
}

impl NetPair {
    /// Creates the veth pair inside the namespaces and brings everything up.
    fn wire(&self) {
        let remote = self.remote.name.as_str();
        self.local.ip(&[
            "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", remote,
        ]);
        self.local
            .ip(&["addr", "add", &format!("{}/24", self.local_ip), "dev", "va"]);
        self.remote.ip(&[
            "addr",
            "add",
            &format!("{}/24", self.remote_ip),
            "dev",
            "vb",
        ]);
        for (ns, dev) in [(&self.local, "va"), (&self.remote, "vb")] {
            ns.ip(&["link", "set", "lo", "up"]);
            ns.ip(&["link", "set", dev, "up"]);
        }
    }

    /// Runs `f` on a thread inside the local namespace (threads it spawns,
    /// such as a reactor, live there too) and returns its result. A panic
    /// in `f` is passed on after the thread ended, so `self` is dropped
    /// (and the namespaces deleted) while the test unwinds.
    pub fn run_local<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.run_in(&self.local, f)
    }

    /// Like [`run_local`](Self::run_local), in the remote namespace.
    pub fn run_remote<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.run_in(&self.remote, f)
    }

    fn run_in<T: Send>(&self, ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            let thread = s.spawn(|| {
                ns.enter();
                f()
            });
            match thread.join() {
                Ok(value) => value,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Starts a thread inside the remote namespace (a peer that must outlive
    /// the call, such as a listener).
    pub fn spawn_remote<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let name = self.remote.name.clone();
        std::thread::spawn(move || {
            // Not a `Netns`: dropping it would delete the namespace.
            let ns = std::mem::ManuallyDrop::new(Netns { name });
            ns.enter();
            f()
        })
    }

    /// Makes the peer silent: its end of the link goes down, so nothing we
    /// send reaches it and nothing comes back (no RST, no FIN, no ICMP).
    pub fn silence_remote(&self) {
        self.remote.ip(&["link", "set", "vb", "down"]);
    }

    /// Makes the peer's address vanish while its link stays up: it no
    /// longer answers ARP, so data we send fails neighbour resolution and
    /// the kernel records "host unreachable" for it (keepalive probes, whose
    /// sequence number lies outside the window, never get that error).
    pub fn remove_remote_address(&self) {
        self.remote.ip(&["addr", "flush", "dev", "vb"]);
        self.local.ip(&["neigh", "flush", "dev", "va"]);
    }

    /// An address on the link with no host behind it that still gets our
    /// SYNs (a permanent neighbour entry spares the ARP failure): a connect
    /// to it waits for an answer that never comes.
    pub fn unanswered_host(&self) -> Ipv4Addr {
        let addr = Ipv4Addr::new(10, 200, self.subnet, 99);
        self.local.ip(&[
            "neigh",
            "replace",
            &addr.to_string(),
            "lladdr",
            "02:00:00:00:00:99",
            "dev",
            "va",
            "nud",
            "permanent",
        ]);
        addr
    }

    /// An address on the link with no host behind it and no neighbour
    /// entry: ARP goes unanswered and the kernel reports `EHOSTUNREACH`
    /// after about 3 s.
    pub fn absent_host(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.subnet, 98)
    }

    /// An address in a network the local namespace has an `unreachable`
    /// route to: connecting fails at once with `EHOSTUNREACH`.
    pub fn unreachable_host(&self) -> Ipv4Addr {
        let net = self.subnet.wrapping_add(1);
        self.local
            .ip(&["route", "add", "unreachable", &format!("10.200.{net}.0/24")]);
        Ipv4Addr::new(10, 200, net, 7)
    }
}

/// Runs `ip ARGS...`, panicking with its stderr on failure.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

fn can_make_namespaces() -> Result<(), String> {
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => {}
        _ => return Err("iproute2 (`ip`) is not installed".into()),
    }
    if rustix::process::geteuid().is_root() {
        Ok(())
    } else {
        Err("network namespaces need root".into())
    }
}

fn add_namespace(name: String) -> Result<Netns, String> {
    let out = Command::new("ip")
        .args(["netns", "add", &name])
        .output()
        .map_err(|e| format!("run ip netns add: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Netns { name })
}

fn skip<T>(test: &str, why: &str) -> Option<T> {
    if std::env::var("NETLOOP_REQUIRE_NETNS").is_ok_and(|v| v == "1") {
        panic!("{test}: {why}, and NETLOOP_REQUIRE_NETNS=1 forbids skipping");
    }
    eprintln!("{test}: skipped: {why}");
    None
}

/// Deletes namespaces of test processes that no longer exist (killed before
/// their drops ran).
fn sweep_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}
