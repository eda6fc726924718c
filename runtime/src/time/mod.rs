//! Time: skynet's hierarchical timer wheel, the timer thread that drives it, and the
//! wall-clock stamp of log lines. Generic over what a timer carries; knows nothing of
//! services.

pub(crate) mod stamp;
pub(crate) mod thread;
pub(crate) mod turn_clock;
pub(crate) mod wheel;

pub use stamp::timestamp;
pub(crate) use thread::TimerThread;
pub(crate) use turn_clock::TurnClock;
pub use wheel::TimerId;
