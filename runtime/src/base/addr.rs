//! Service addresses: `Addr(u32)`, harbor (node id) in the high 8 bits, local handle in the low 24.

use std::fmt;
use std::str::FromStr;

/// Bits of an address that hold the local handle.
pub const HANDLE_MASK: u32 = 0x00ff_ffff;
/// Shift of the harbor (node id) inside an address.
pub const HARBOR_SHIFT: u32 = 24;

/// The address of a service: the high 8 bits are the harbor (node id), the low 24 bits the
/// local handle. Handle 0 is "the system" (timers, sockets). Prints as skynet does: `:0000000a`.
///
/// ```
/// use skynet_runtime::Addr;
/// let a = Addr::new(1, 10);
/// assert_eq!(a.to_string(), ":0100000a");
/// assert_eq!(a.harbor(), 1);
/// assert_eq!(a.handle(), 10);
/// assert_eq!(":0100000a".parse::<Addr>().unwrap(), a);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Addr(pub u32);

impl Addr {
    /// The system address (source of timer and socket messages).
    pub const SYSTEM: Addr = Addr(0);

    /// Builds an address from a harbor id and a local handle (masked to 24 bits).
    pub const fn new(harbor: u8, handle: u32) -> Addr {
        Addr(((harbor as u32) << HARBOR_SHIFT) | (handle & HANDLE_MASK))
    }

    /// The harbor (node id) part.
    pub const fn harbor(self) -> u8 {
        (self.0 >> HARBOR_SHIFT) as u8
    }

    /// The local handle part.
    pub const fn handle(self) -> u32 {
        self.0 & HANDLE_MASK
    }

    /// True for the system address 0.
    pub const fn is_system(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ":{:08x}", self.0)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The text was not an address of the form `:0000000a`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseAddrError(pub String);

impl fmt::Display for ParseAddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not an address (expected :hex, e.g. :0000000a): {:?}",
            self.0
        )
    }
}

impl std::error::Error for ParseAddrError {}

impl FromStr for Addr {
    type Err = ParseAddrError;

    /// Parses `:0000000a` (or `:a`); the colon is required, as in skynet.
    fn from_str(s: &str) -> Result<Addr, ParseAddrError> {
        let hex = s
            .strip_prefix(':')
            .ok_or_else(|| ParseAddrError(s.to_string()))?;
        if hex.is_empty() || hex.len() > 8 {
            return Err(ParseAddrError(s.to_string()));
        }
        u32::from_str_radix(hex, 16)
            .map(Addr)
            .map_err(|_| ParseAddrError(s.to_string()))
    }
}

/// Where a send or a call goes: an [`Addr`], or a name resolved at the moment of sending,
/// as skynet's `skynet.send(".name", ...)` does: a local name (`.logger`) or an address
/// literal (`:0000000a`). A name that is not registered then fails at once with
/// [`CallError::NoSuchName`](crate::CallError::NoSuchName).
///
/// ```
/// use skynet_runtime::{Addr, Target};
/// assert_eq!(Target::from(Addr(10)), Target::Addr(Addr(10)));
/// assert_eq!(Target::from(".db"), Target::Name(".db"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// An address.
    Addr(Addr),
    /// A local name or an address literal, looked up when the message is sent.
    Name(&'a str),
}

impl From<Addr> for Target<'_> {
    fn from(a: Addr) -> Self {
        Target::Addr(a)
    }
}

impl<'a> From<&'a str> for Target<'a> {
    fn from(name: &'a str) -> Self {
        Target::Name(name)
    }
}

impl<'a> From<&'a String> for Target<'a> {
    fn from(name: &'a String) -> Self {
        Target::Name(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_display() {
        let a = Addr::new(0, 0x1234567);
        assert_eq!(a.handle(), 0x234567);
        assert_eq!(Addr::new(0, 10).to_string(), ":0000000a");
        assert!(Addr::SYSTEM.is_system());
        assert!("0000000a".parse::<Addr>().is_err());
        assert!(":zz".parse::<Addr>().is_err());
        assert!(":".parse::<Addr>().is_err());
        assert_eq!(":a".parse::<Addr>().unwrap(), Addr(10));
    }
}
