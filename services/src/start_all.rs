//! `start_all`: a `start` service that launches several services, so one node can run, say,
//! a netpack gate, a WebSocket gate and a web server together.
//!
//! Config key `start_services`: registered service names separated by spaces or commas,
//! launched in order (`"watchdog ws_watchdog"`). A launch failure fails this service's
//! launch, and so the node's start, naming the service.

use skynet_runtime::{Context, Error, Message, Service};

/// Launches every service named in `start_services`.
#[derive(Debug, Default)]
pub struct StartAll;

impl Service for StartAll {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        let names = ctx
            .getenv("start_services")
            .ok_or("config key `start_services`: missing (the services to launch)")?;
        for name in names.split([' ', ',']).filter(|n| !n.is_empty()) {
            ctx.newservice(name, &[])
                .await
                .map_err(|e| format!("start_all: cannot start `{name}`: {e}"))?;
        }
        Ok(())
    }

    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}
