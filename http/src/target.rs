//! Where a client connects: `http://host:port/path`, `ws://...`, `host:port`, `[v6]:port`.

/// A parsed client target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host, without brackets for IPv6.
    pub host: String,
    /// The port (the scheme's default when not given).
    pub port: u16,
    /// The path and query (`/` when not given).
    pub path: String,
    /// The `Host` header's value (`host`, `host:port`, `[v6]:port`).
    pub host_header: String,
}

/// Parses `url`; `default_port` applies without a scheme and port. `https://` and
/// `wss://` are refused: TLS is out of scope (put a TLS-terminating proxy in between).
pub fn parse_target(url: &str, default_port: u16) -> Result<Target, String> {
    let (rest, port) = if let Some(r) = url.strip_prefix("http://") {
        (r, 80)
    } else if let Some(r) = url.strip_prefix("ws://") {
        (r, 80)
    } else if url.starts_with("https://") || url.starts_with("wss://") {
        return Err(format!("{url}: TLS is not supported"));
    } else {
        (url, default_port)
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url}: unclosed ["))?;
        match after.strip_prefix(':') {
            Some(p) => (h, p.parse().map_err(|_| format!("{url}: bad port"))?),
            None if after.is_empty() => (h, port),
            None => return Err(format!("{url}: bad authority")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err(format!("{url}: an IPv6 address needs brackets"))
            }
            Some((h, p)) => (h, p.parse().map_err(|_| format!("{url}: bad port"))?),
            None => (authority, port),
        }
    };
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let host_header = match (host.contains(':'), port == 80) {
        (true, _) => format!("[{host}]:{port}"),
        (false, true) => host.to_string(),
        (false, false) => format!("{host}:{port}"),
    };
    Ok(Target {
        host: host.to_string(),
        port,
        path: path.to_string(),
        host_header,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let t = parse_target("http://example.com/a?b=1", 80).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("example.com", 80, "/a?b=1")
        );
        assert_eq!(t.host_header, "example.com");
        let t = parse_target("127.0.0.1:8001", 80).unwrap();
        assert_eq!(
            (t.port, t.path.as_str(), t.host_header.as_str()),
            (8001, "/", "127.0.0.1:8001")
        );
        let t = parse_target("ws://[::1]:9948/chat", 80).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.host_header.as_str()),
            ("::1", 9948, "[::1]:9948")
        );
        assert!(parse_target("::1:80", 80).is_err());
        assert!(parse_target("https://x", 80).is_err());
        assert!(parse_target("http://:80/", 80).is_err());
    }
}
