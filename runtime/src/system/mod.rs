//! Layer 5: the runtime's own services, built on the raw layer: the standard `.logger`
//! and the in-memory [`LogCapture`] for tests.

pub(crate) mod log_capture;
pub(crate) mod logger;

pub use log_capture::LogCapture;
pub use logger::LoggerService;
