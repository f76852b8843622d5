//! Batched datagram I/O for the engine's UDP sockets: `recvmmsg(2)` and `sendmmsg(2)` on Linux,
//! so a burst of answers or queries costs one system call and one wake-up rather than one each.
//! Written over `libc` because neither tokio nor a maintained crate offers them on a tokio socket
//! with readiness (nix has the calls but not the `try_io` loop, and quinn-udp's batching is for
//! one peer's GSO segments); elsewhere the same functions fall back to one datagram per call.
//!
//! The functions are called inside `UdpSocket::try_io`, so a `WouldBlock` clears tokio's readiness
//! and the caller waits for the next event.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;

/// Datagrams per system call at most.
pub const BATCH: usize = 32;

/// One datagram to send: a query's bytes with the attempt's id in place of their first two.
/// Sent from two pieces (the id, the shared query after it) so that an attempt does not copy its
/// query.
#[derive(Debug)]
pub struct Outgoing {
    pub to: SocketAddr,
    pub id: [u8; 2],
    pub query: Arc<[u8]>,
}

impl Outgoing {
    /// The query after its id (empty for a query shorter than an id).
    fn rest(&self) -> &[u8] {
        self.query.get(2..).unwrap_or(&[])
    }
}

/// Receives up to `bufs.len()` datagrams (each truncated to its buffer's length, which the
/// engine makes larger than the EDNS payload it advertises). Appends `(len, from, truncated)` to
/// `got`, in arrival order.
#[cfg(target_os = "linux")]
pub fn recv_batch(
    sock: &UdpSocket,
    bufs: &mut [Vec<u8>],
    got: &mut Vec<(usize, SocketAddr, bool)>,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let n = bufs.len().min(BATCH);
    // SAFETY: zeroed sockaddr_storage, iovec and mmsghdr are valid (plain C structs).
    let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { std::mem::zeroed() };
    let mut iovs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..n {
        iovs[i] = libc::iovec {
            iov_base: bufs[i].as_mut_ptr().cast(),
            iov_len: bufs[i].len(),
        };
        point(
            &mut hdrs[i],
            (&mut addrs[i] as *mut libc::sockaddr_storage).cast(),
            std::mem::size_of::<libc::sockaddr_storage>() as _,
            std::slice::from_mut(&mut iovs[i]),
        );
    }
    // SAFETY: every header points into `addrs`, `iovs` and `bufs`, which outlive the call; the
    // kernel writes at most the lengths given.
    let r = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            hdrs.as_mut_ptr(),
            n as _,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    for (i, h) in hdrs.iter().enumerate().take(r as usize) {
        let from = socket_addr(&addrs[i]);
        let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        if let Some(from) = from {
            got.push((h.msg_len as usize, from, truncated));
        }
    }
    Ok(())
}

/// Points a message header at its address (`name`, `namelen` bytes) and at its buffers, `iov`.
/// The pointers must stay valid until the system call returns.
#[cfg(target_os = "linux")]
fn point(
    hdr: &mut libc::mmsghdr,
    name: *mut libc::c_void,
    namelen: libc::socklen_t,
    iov: &mut [libc::iovec],
) {
    hdr.msg_hdr.msg_name = name;
    hdr.msg_hdr.msg_namelen = namelen;
    hdr.msg_hdr.msg_iov = iov.as_mut_ptr();
    hdr.msg_hdr.msg_iovlen = iov.len() as _;
}

/// The address the kernel wrote, IPv4 or IPv6.
#[cfg(target_os = "linux")]
fn socket_addr(a: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match a.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let v4 = unsafe { &*(a as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6 = unsafe { &*(a as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
pub fn recv_batch(
    sock: &UdpSocket,
    bufs: &mut [Vec<u8>],
    got: &mut Vec<(usize, SocketAddr, bool)>,
) -> io::Result<()> {
    let (len, from) = sock.try_recv_from(&mut bufs[0])?;
    got.push((len, from, false));
    Ok(())
}

/// Sends the first datagrams of `out` (up to [`BATCH`]) in one call; returns how many went.
#[cfg(target_os = "linux")]
pub fn send_batch(sock: &UdpSocket, out: &[Outgoing]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let n = out.len().min(BATCH);
    if n == 0 {
        return Ok(0);
    }
    let addrs: Vec<socket2::SockAddr> = out[..n].iter().map(|o| o.to.into()).collect();
    // SAFETY: zeroed iovec and mmsghdr are valid.
    let mut iovs: [[libc::iovec; 2]; BATCH] = unsafe { std::mem::zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..n {
        let rest = out[i].rest();
        iovs[i] = [
            libc::iovec {
                iov_base: out[i].id.as_ptr() as *mut _,
                iov_len: 2,
            },
            libc::iovec {
                iov_base: rest.as_ptr() as *mut _,
                iov_len: rest.len(),
            },
        ];
        point(
            &mut hdrs[i],
            addrs[i].as_ptr() as *mut _,
            addrs[i].len(),
            &mut iovs[i],
        );
    }
    // SAFETY: the headers point into `addrs`, `iovs` and `out`, alive for the call; the kernel
    // only reads them.
    let r = unsafe {
        libc::sendmmsg(
            sock.as_raw_fd(),
            hdrs.as_mut_ptr(),
            n as _,
            libc::MSG_DONTWAIT,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}

#[cfg(not(target_os = "linux"))]
pub fn send_batch(sock: &UdpSocket, out: &[Outgoing]) -> io::Result<usize> {
    match out.first() {
        Some(o) => {
            let bytes: Vec<u8> = o.id.iter().chain(o.rest()).copied().collect();
            sock.try_send_to(&bytes, o.to).map(|_| 1)
        }
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_goes_out_and_comes_back_in_batches_with_its_sources() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = b.local_addr().unwrap();
        let out: Vec<Outgoing> = (0..50u8)
            .map(|i| Outgoing {
                to,
                id: [i, i],
                query: vec![0xee; 10 + i as usize].into(),
            })
            .collect();
        let mut sent = 0;
        while sent < out.len() {
            a.writable().await.unwrap();
            if let Ok(n) = a.try_io(tokio::io::Interest::WRITABLE, || {
                send_batch(&a, &out[sent..])
            }) {
                assert!((1..=BATCH).contains(&n));
                sent += n;
            }
        }
        let mut bufs = vec![vec![0u8; 20]; BATCH];
        let mut got = Vec::new();
        let mut seen = Vec::new();
        while seen.len() < out.len() {
            b.readable().await.unwrap();
            got.clear();
            if b.try_io(tokio::io::Interest::READABLE, || {
                recv_batch(&b, &mut bufs, &mut got)
            })
            .is_ok()
            {
                for (i, (len, from, truncated)) in got.iter().enumerate() {
                    assert_eq!(*from, a.local_addr().unwrap());
                    let first = bufs[i][0];
                    // The id's two bytes, then the query's after its own first two.
                    assert_eq!(bufs[i][1], first);
                    assert!(bufs[i][2..*len].iter().all(|b| *b == 0xee));
                    // Buffers of 20 bytes: the longer datagrams say so.
                    assert_eq!(*truncated, 10 + first as usize > 20, "{first}");
                    assert_eq!(*len, (10 + first as usize).min(20));
                    seen.push(first);
                }
            }
        }
        assert_eq!(seen, (0..50).collect::<Vec<u8>>());
    }
}
