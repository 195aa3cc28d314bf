//! Listening sockets that outlive a process: taking them at start (socket
//! activation) and handing them to a successor (zero-downtime restart).
//!
//! Both sides speak the socket-activation protocol that systemd defined:
//! the sockets are descriptors 3, 4, ... and `LISTEN_FDS` says how many
//! (`LISTEN_PID`, when set, must be this process). So a server that takes
//! its listeners with [`inherited_listeners`](crate::activation::inherited_listeners) runs under systemd (or
//! `systemd-socket-activate`, `systemfd`) and under its own previous copy
//! alike.
//!
//! A restart ([`hand_over`](crate::activation::hand_over)) as HAProxy and Envoy do it: the running
//! process starts a new copy of itself with its listening sockets; the
//! new one accepts on the very same sockets (their queues of waiting
//! connections included), so no connection is refused; the old one then
//! stops accepting ([`ServerHandle::shutdown`](crate::ServerHandle::shutdown))
//! and finishes its connections. The echo example does this on `SIGUSR2`.

use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::process::{Child, Command};

use socket2::SockRef;

/// The TCP listening sockets this process was started with (systemd's
/// socket-activation protocol: `LISTEN_FDS`, `LISTEN_PID`), in order; empty
/// when there are none. The variables are cleared, so processes started
/// later do not take them as theirs; call it once, early. A passed socket
/// that is not a TCP listener is an error.
///
/// ```
/// // Started without inherited sockets: nothing to take.
/// assert!(netloop::activation::inherited_listeners()?.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn inherited_listeners() -> io::Result<Vec<TcpListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut listeners = Vec::with_capacity(fds.len());
    for i in 0..fds.len() {
        if let Some(listener) = fds.take_tcp_listener(i)? {
            SockRef::from(&listener).set_cloexec(true)?;
            listeners.push(listener);
        }
    }
    Ok(listeners)
}

/// Starts a new copy of this program (same executable, same arguments,
/// same environment and working directory) holding `listeners` as its
/// descriptors 3, 4, ... with `LISTEN_FDS` set, for it to take with
/// [`inherited_listeners`]. The caller keeps its own descriptors: stop
/// accepting on them once the child runs (the sockets stay open in the
/// child, with every connection waiting in their queues).
///
/// ```no_run
/// # fn f(server: netloop::ServerHandle) -> std::io::Result<()> {
/// let listeners = server.listeners()?;
/// let child = netloop::activation::hand_over(&listeners)?;
/// log::info!("handed over to pid {}", child.id());
/// server.shutdown(std::time::Duration::from_secs(30))?;
/// # Ok(()) }
/// ```
pub fn hand_over(listeners: &[TcpListener]) -> io::Result<Child> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command
        .args(std::env::args_os().skip(1))
        .env("LISTEN_FDS", listeners.len().to_string())
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES");
    let fds = listeners.iter().map(|l| l.as_raw_fd()).collect();
    crate::sys::pass_fds_from_3(&mut command, fds);
    command.spawn()
}
