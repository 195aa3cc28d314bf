//! The peer's own view of a connection: the kernel state of a test
//! client's socket, read without sending anything on it.

use std::net::TcpStream;
use std::os::fd::AsRawFd;

/// `TCP_CLOSE_WAIT`: the peer's FIN arrived; the connection is still there.
pub const TCP_CLOSE_WAIT: u8 = 8;
/// `TCP_CLOSE`: the connection is gone (for a socket that had one: reset).
pub const TCP_CLOSE: u8 = 7;

/// The kernel's TCP state of `s` (`tcpi_state` of `TCP_INFO`, numbered as
/// in `tcp_states.h`).
pub fn tcp_state(s: &TcpStream) -> u8 {
    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a writable buffer of `len` bytes; the kernel writes
    // at most `len` bytes into it and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    // SAFETY: zeroed before the call, and every field is a plain integer.
    unsafe { info.assume_init() }.tcpi_state
}

/// Bytes written on `s` that the other end has not acknowledged yet, sent
/// or not (`SIOCOUTQ`): zero once everything sits in the other end's
/// receive queue.
pub fn unacknowledged(s: &TcpStream) -> usize {
    let mut value: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one c_int through the pointer, which points to
    // a live, writable c_int for the duration of the call.
    let rc = unsafe { libc::ioctl(s.as_raw_fd(), libc::TIOCOUTQ, &mut value) };
    assert_eq!(rc, 0, "SIOCOUTQ: {}", std::io::Error::last_os_error());
    value as usize
}
