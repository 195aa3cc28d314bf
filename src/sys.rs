//! The system layer: every raw socket call, thread affinity, and the only
//! `unsafe` in netloop.
//!
//! All sends go through [`send`] and [`send_vectored`], which pass
//! `MSG_NOSIGNAL`: a write to a reset peer returns `EPIPE` instead of raising
//! SIGPIPE, which kills a host process that left the signal at its default
//! (`writev` has no flags argument, so it is never used).
//!
//! On x86-64 Linux the per-message calls, [`recv_into`] and [`send`], make
//! their system call themselves (the `syscall` instruction, in
//! [`direct`]) rather than through libc's `recv` and `send`. glibc makes
//! those two cancellation points: once a process has started a second
//! thread (every [`ServerBuilder`](crate::ServerBuilder) server, and any
//! program with a logger or signal thread), each call switches the thread
//! to asynchronous cancellation and back around the system call, about 50
//! user-space instructions per call that a process which never started a
//! thread does not pay (glibc goes by whether a thread was ever started,
//! not by how many are left). netloop never cancels a thread
//! (`pthread_cancel` cannot safely unwind Rust frames anyway), so it has no
//! use for that. Going through libc's generic `syscall` function would
//! skip it too, but costs more than the single-threaded `recv` it replaces
//! (a variadic call of seven arguments); the instruction inline costs
//! less. Elsewhere the libc functions are used. One consequence: a library
//! preloaded to intercept libc's `recv`/`send` (`LD_PRELOAD`) does not see
//! these two calls; seccomp filters and `strace` still do.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use bytes::BytesMut;
use socket2::SockRef;

/// Reads at most `max` bytes into the spare capacity of `buf` and extends
/// its length by what was read. `Ok(0)` is end of stream.
#[inline]
pub(crate) fn recv_into(fd: RawFd, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let len = spare.len().min(max);
    // A direct call: this runs once per message, and socket2's wrapper
    // costs a few dozen instructions more than the system call's own.
    // SAFETY: the pointer and length describe `len` bytes of `buf`'s spare
    // capacity, writable for the duration of the call; `recv` writes at
    // most `len` bytes there.
    let n = unsafe { direct::recv(fd, spare.as_mut_ptr().cast(), len, 0) }?;
    // SAFETY: `recv` initialised the first `n <= len` bytes of the spare
    // capacity, which directly follow the current length.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// Sends without raising SIGPIPE.
#[inline]
pub(crate) fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    let (ptr, len) = (data.as_ptr().cast(), data.len());
    // SAFETY: `ptr` and `len` describe the readable slice `data`, which
    // outlives the call.
    unsafe { direct::send(fd, ptr, len, libc::MSG_NOSIGNAL) }
}

/// `recv` and `send` without glibc's cancellation handling (see the
/// module's doc): the `syscall` instruction inline, the error taken from
/// its result rather than from `errno` (which is left alone).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod direct {
    use std::io;

    /// `recv(fd, buf, len, flags)`: `recvfrom` without an address.
    ///
    /// # Safety
    /// `buf` must be valid for writes of `len` bytes for the duration of
    /// the call.
    #[inline(always)]
    pub(super) unsafe fn recv(
        fd: libc::c_int,
        buf: *mut libc::c_void,
        len: usize,
        flags: libc::c_int,
    ) -> io::Result<usize> {
        // SAFETY: forwarded from the caller; a null address and null
        // address length make the kernel store no peer address.
        unsafe {
            syscall6(
                libc::SYS_recvfrom,
                [fd as usize, buf as usize, len, flags as usize, 0, 0],
            )
        }
    }

    /// `send(fd, buf, len, flags)`: `sendto` without an address.
    ///
    /// # Safety
    /// `buf` must be valid for reads of `len` bytes for the duration of
    /// the call.
    #[inline(always)]
    pub(super) unsafe fn send(
        fd: libc::c_int,
        buf: *const libc::c_void,
        len: usize,
        flags: libc::c_int,
    ) -> io::Result<usize> {
        // SAFETY: forwarded from the caller; with a null address the
        // kernel reads only `buf`.
        unsafe {
            syscall6(
                libc::SYS_sendto,
                [fd as usize, buf as usize, len, flags as usize, 0, 0],
            )
        }
    }

    /// A system call of six arguments returning a count: the kernel
    /// returns `-errno` (from -4095 to -1) on failure.
    ///
    /// # Safety
    /// The arguments must be valid for system call `nr`: every pointer
    /// among them usable as that call reads or writes through it.
    #[inline(always)]
    unsafe fn syscall6(nr: libc::c_long, args: [usize; 6]) -> io::Result<usize> {
        let ret: isize;
        // SAFETY: the x86-64 Linux system call convention: number in rax,
        // arguments in rdi, rsi, rdx, r10, r8, r9, result in rax; the
        // instruction overwrites rcx and r11 and nothing else of ours. The
        // flags are treated as clobbered (as glibc's own inline system
        // calls do), and memory is not marked untouched, so the compiler
        // assumes the call may read and write it.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr as isize => ret,
                in("rdi") args[0],
                in("rsi") args[1],
                in("rdx") args[2],
                in("r10") args[3],
                in("r8") args[4],
                in("r9") args[5],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        if (-4095..0).contains(&ret) {
            return Err(io::Error::from_raw_os_error(-ret as i32));
        }
        Ok(ret as usize)
    }
}

/// `recv` and `send` through libc, where [`direct`] has no system call
/// convention.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod direct {
    use std::io;

    /// libc's `recv`; same contract as the direct one.
    #[inline(always)]
    pub(super) unsafe fn recv(
        fd: libc::c_int,
        buf: *mut libc::c_void,
        len: usize,
        flags: libc::c_int,
    ) -> io::Result<usize> {
        // SAFETY: forwarded from the caller.
        check_len(unsafe { libc::recv(fd, buf, len, flags) })
    }

    /// libc's `send`; same contract as the direct one.
    #[inline(always)]
    pub(super) unsafe fn send(
        fd: libc::c_int,
        buf: *const libc::c_void,
        len: usize,
        flags: libc::c_int,
    ) -> io::Result<usize> {
        // SAFETY: forwarded from the caller.
        check_len(unsafe { libc::send(fd, buf, len, flags) })
    }

    /// The byte count a `send`/`recv` returned, or the error it reported.
    #[inline]
    fn check_len(n: libc::ssize_t) -> io::Result<usize> {
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// One `sendmsg` of several buffers, without raising SIGPIPE.
pub(crate) fn send_vectored(fd: &impl AsFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    SockRef::from(fd).send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL)
}

/// Shuts the write side: queued kernel data is sent, then a FIN.
pub(crate) fn shutdown_write(fd: &impl AsFd) -> io::Result<()> {
    SockRef::from(fd).shutdown(std::net::Shutdown::Write)
}

/// Arms an abortive close: the next `close()` sends RST and skips TIME_WAIT.
/// A zero linger time never blocks `close()`; a positive one would.
pub(crate) fn set_abortive_close(fd: &impl AsFd) -> io::Result<()> {
    SockRef::from(fd).set_linger(Some(Duration::ZERO))
}

/// Bytes written to the socket that the peer has not acknowledged
/// (`SIOCOUTQ`). Still meaningful after the connection failed, which is how
/// a retransmission (user) timeout is told apart from a keepalive failure.
pub(crate) fn unacked_bytes(fd: &impl AsFd) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one c_int through the pointer, which points to
    // a live, writable c_int for the duration of the call.
    let rc = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCOUTQ, &mut value) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value.max(0) as usize)
}

/// The kernel's view of a TCP connection (`TCP_INFO`), the fields most
/// useful for diagnosing a slow or failing peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// Kernel TCP state number (1 = ESTABLISHED, see `tcp_states.h`).
    pub state: u8,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Round-trip time variance.
    pub rtt_var: Duration,
    /// Retransmissions of the segment currently being retransmitted.
    pub retransmits: u8,
    /// Segments retransmitted over the connection's life.
    pub total_retransmits: u32,
    /// Congestion window, in segments.
    pub congestion_window: u32,
    /// Slow-start threshold, in segments.
    pub slow_start_threshold: u32,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
    /// Keepalive or zero-window probes sent without an answer.
    pub probes: u8,
    /// Maximum segment size for sending.
    pub send_mss: u32,
}

/// Reads `TCP_INFO`.
pub(crate) fn tcp_info(fd: &impl AsFd) -> io::Result<TcpInfo> {
    let mut raw = MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `raw` is a writable buffer of `len` bytes; the kernel writes at
    // most `len` bytes and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            raw.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the buffer was zeroed before the call, and every field of
    // `tcp_info` is a plain integer, so any bytes the kernel left unwritten
    // are still a valid (zero) value.
    let raw = unsafe { raw.assume_init() };
    Ok(TcpInfo {
        state: raw.tcpi_state,
        rtt: Duration::from_micros(raw.tcpi_rtt.into()),
        rtt_var: Duration::from_micros(raw.tcpi_rttvar.into()),
        retransmits: raw.tcpi_retransmits,
        total_retransmits: raw.tcpi_total_retrans,
        congestion_window: raw.tcpi_snd_cwnd,
        slow_start_threshold: raw.tcpi_snd_ssthresh,
        unacked: raw.tcpi_unacked,
        probes: raw.tcpi_probes,
        send_mss: raw.tcpi_snd_mss,
    })
}

/// The credentials of the process at the other end of a Unix domain
/// connection (`SO_PEERCRED`), as they were when it connected (for an
/// accepted connection) or called `listen` (for an outbound one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id (0 if the peer is in a PID namespace this one cannot see).
    pub pid: i32,
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
}

/// Reads `SO_PEERCRED` of a Unix domain socket.
pub(crate) fn peer_cred(fd: &impl AsFd) -> io::Result<PeerCred> {
    let mut raw = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `raw` is a live, writable `ucred` of `len` bytes; the kernel
    // writes at most `len` bytes there and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut raw as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PeerCred {
        pid: raw.pid,
        uid: raw.uid,
        gid: raw.gid,
    })
}

/// The CPUs the calling thread may run on, in increasing order.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    let set = current_affinity()?;
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the number of bits in `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Restricts the calling thread to run on `cpu` only.
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no CPU {cpu}"),
        ));
    }
    // SAFETY: `cpu_set_t` is a plain bit array, for which all zeroes is a
    // valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above), so the bit is
    // inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; pid 0 is the
    // calling thread; the kernel only reads the set.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's CPU affinity mask.
fn current_affinity() -> io::Result<libc::cpu_set_t> {
    // SAFETY: all zeroes is a valid (empty) `cpu_set_t`, as above.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed;
    // pid 0 is the calling thread.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(set)
}

/// Makes `command`'s process receive `fds` as descriptors 3, 4, ... (the
/// socket-activation layout), open across `exec` (no `FD_CLOEXEC`); the
/// parent's own descriptors are untouched. The descriptors must stay open
/// until the command is spawned.
pub(crate) fn pass_fds_from_3(command: &mut std::process::Command, fds: Vec<RawFd>) {
    use std::os::unix::process::CommandExt;
    // Above every source and every target, so that moving one never
    // overwrites another that is still to be moved.
    let base = fds
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(3 + fds.len() as RawFd)
        + 1;
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed: it calls only dup2 and
    // close (both async-signal-safe), allocates nothing and takes no lock
    // (`fds` was built before the fork and is only read). dup2 leaves the
    // new descriptor without FD_CLOEXEC, so targets survive the exec; the
    // temporary copies are closed, and the originals keep their
    // FD_CLOEXEC and vanish at exec.
    unsafe {
        command.pre_exec(move || {
            for (i, &fd) in fds.iter().enumerate() {
                if libc::dup2(fd, base + i as RawFd) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            for i in 0..fds.len() as RawFd {
                if libc::dup2(base + i, 3 + i) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::close(base + i);
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (c, s)
    }

    #[test]
    fn recv_into_appends_after_existing_bytes() {
        let (mut c, s) = pair();
        c.write_all(b"world").unwrap();
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(b"hello ");
        let n = recv_into(s.as_raw_fd(), &mut buf, 64).unwrap();
        assert_eq!(n, 5);
        assert_eq!(&buf[..], b"hello world");
    }

    #[test]
    fn errors_carry_the_kernels_code_and_counts_are_exact() {
        let (mut c, s) = pair();
        s.set_nonblocking(true).unwrap();
        let mut buf = BytesMut::with_capacity(64);
        let e = recv_into(s.as_raw_fd(), &mut buf, 64).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "nothing to read yet");
        assert_eq!(send(s.as_raw_fd(), &[7; 1000]).unwrap(), 1000);
        let mut got = [0; 1000];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, [7; 1000]);
        c.write_all(b"abc").unwrap();
        let mut n = recv_into(s.as_raw_fd(), &mut buf, 2);
        for _ in 0..1000 {
            if !matches!(&n, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            n = recv_into(s.as_raw_fd(), &mut buf, 2);
        }
        assert_eq!(n.unwrap(), 2, "at most max");
        assert_eq!(&buf[..], b"ab");
        let e = send(-1, b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        let file = std::fs::File::open("/dev/null").unwrap();
        let e = send(file.as_raw_fd(), b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSOCK));
        let e = recv_into(file.as_raw_fd(), &mut buf, 64).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSOCK));
        assert_eq!(&buf[..], b"ab", "a failed read leaves buf as it was");
    }

    #[test]
    fn send_to_a_reset_peer_is_an_error_not_a_signal() {
        let (c, s) = pair();
        set_abortive_close(&c).unwrap();
        drop(c);
        let mut first = Ok(0);
        for _ in 0..100 {
            first = send(s.as_raw_fd(), b"x");
            if first.is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let kind = first.unwrap_err().kind();
        assert!(matches!(
            kind,
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ));
        assert!(send_vectored(&s, &[IoSlice::new(b"y")]).is_err());
    }

    #[test]
    fn counters_and_tcp_info_read_real_values() {
        let (mut c, s) = pair();
        c.write_all(b"abc").unwrap();
        let mut b = [0u8; 3];
        (&s).read_exact(&mut b).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while unacked_bytes(&c).unwrap() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "loopback never acknowledged"
            );
            std::thread::yield_now();
        }
        let info = tcp_info(&s).unwrap();
        assert_eq!(info.state, 1);
        assert!(info.send_mss > 0);
    }

    #[test]
    fn peer_cred_names_this_process() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let cred = peer_cred(&a).unwrap();
        assert_eq!(cred.pid, std::process::id() as i32);
        // /proc/self belongs to the process's effective user and group.
        let me = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
        assert_eq!(cred.uid, me);
    }

    #[test]
    fn a_thread_pinned_to_an_allowed_cpu_runs_only_there() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        let last = *cpus.last().unwrap();
        let seen = std::thread::spawn(move || {
            pin_current_thread(last).unwrap();
            allowed_cpus().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(seen, vec![last]);
        assert_eq!(allowed_cpus().unwrap(), cpus, "other threads keep theirs");
        let e = pin_current_thread(libc::CPU_SETSIZE as usize).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
