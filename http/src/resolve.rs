//! Name resolution that never blocks a worker: an address literal is used as it is; a
//! name is looked up on a short-lived thread of its own while the service's task waits.

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::task::{Poll, Waker};

use parking_lot::Mutex;

#[derive(Default)]
struct Slot {
    result: Option<io::Result<SocketAddr>>,
    waiter: Option<Waker>,
}

/// The first address of `host:port`.
pub async fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let slot = Arc::new(Mutex::new(Slot::default()));
    let s = slot.clone();
    let name = host.to_string();
    std::thread::Builder::new()
        .name("skynet-resolve".into())
        .spawn(move || {
            let r = (name.as_str(), port).to_socket_addrs().and_then(|mut it| {
                it.next().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no address"))
                })
            });
            let w = {
                let mut st = s.lock();
                st.result = Some(r);
                st.waiter.take()
            };
            if let Some(w) = w {
                w.wake();
            }
        })?;
    poll_fn(|cx| {
        let mut st = slot.lock();
        match st.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                st.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}
