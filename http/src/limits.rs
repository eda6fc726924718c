//! [`Limits`]: how much a client may send and how slowly, per connection.

use std::time::Duration;

/// What one connection may do before it is answered with an error status and closed.
/// Memory per connection is bounded by `header` (while a head is read) and `body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest request head, request line and headers (431 past it). skynet: 8 KiB.
    pub header: usize,
    /// Longest request body (413 past it; checked before reading when the length is known).
    pub body: usize,
    /// From the first byte of a request (or the accept) to the end of its head: a client
    /// slower than this (slow loris) gets 408 and is closed.
    pub head_timeout: Option<Duration>,
    /// To read a whole body once its head is in (408 past it).
    pub body_timeout: Option<Duration>,
    /// How long a kept-alive connection may sit idle between requests (closed quietly).
    pub idle_timeout: Option<Duration>,
    /// Keep connections open between requests (HTTP/1.1's default). false: close after
    /// every response, as skynet's httpd does.
    pub keep_alive: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header: 8192,
            body: 1024 * 1024,
            head_timeout: Some(Duration::from_secs(10)),
            body_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(60)),
            keep_alive: true,
        }
    }
}
