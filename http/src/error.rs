//! [`HttpError`]: why a request or response could not be read or served.

use std::fmt;

/// Why a request (or, for the client, a response) could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The peer broke the protocol or a limit: the server answers with this status and a
    /// short reason, then closes the connection.
    Status(u16, String),
    /// The connection closed or failed before a whole message arrived.
    Closed(String),
    /// A deadline passed (which one).
    Timeout(&'static str),
}

impl HttpError {
    /// A protocol error answered with `status`.
    pub fn status(status: u16, reason: impl Into<String>) -> HttpError {
        HttpError::Status(status, reason.into())
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Status(s, why) => write!(f, "{s} {}: {why}", reason_phrase(*s)),
            HttpError::Closed(why) => write!(f, "connection closed: {why}"),
            HttpError::Timeout(what) => write!(f, "{what} deadline passed"),
        }
    }
}

impl std::error::Error for HttpError {}

/// The reason phrase of a status code ("" for one this table does not know).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
