//! `web`: the example web server of `examples/config/web.toml`, an [`HttpServer`] with
//! three routes: `GET /` serves the chat page (`examples/web/chat.html`, pointed at the
//! node's WebSocket gate), `POST /echo` answers with the request's body, `GET
//! /hello?name=x` answers `hello, x`.
//!
//! Config keys: `web_address` (falls back to `address`, then `127.0.0.1`), `web_port`
//! (required), `web_agents` (4), `web_body_limit` (bytes, 1 MiB), `web_keepalive` (true;
//! false closes after every response, as skynet's httpd). Once listening it sets
//! `http_address` to the bound address.

use skynet_http::{HttpServer, Limits, Request, Response, Router, ServerConf};
use skynet_runtime::{Context, Error, Message, Service};

/// The chat page, with `{{WS_URL}}` where the gate's URL goes.
const CHAT_PAGE: &str = include_str!("../../examples/web/chat.html");

/// Launches the example web server from the config.
#[derive(Debug, Default)]
pub struct Web;

/// The example routes.
pub fn router() -> Router {
    Router::new()
        .get("/", |ctx: Context, req: Request| async move {
            Response::bytes(200, "text/html; charset=utf-8", chat_page(&ctx, &req))
        })
        .post("/echo", |_ctx: Context, req: Request| async move {
            let ct = req
                .header("content-type")
                .unwrap_or("application/octet-stream")
                .to_string();
            Response::bytes(200, &ct, req.body)
        })
        .get("/hello", |_ctx: Context, req: Request| async move {
            let name = req.query.get("name").unwrap_or("world");
            Response::text(200, format!("hello, {name}\n"))
        })
}

/// The page, pointed at this node's WebSocket gate (on the host the browser used).
fn chat_page(ctx: &Context, req: &Request) -> String {
    let url = ctx
        .getenv("ws_gate_address")
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .map(|gate| {
            let host = req
                .header("host")
                .map(|h| match h.rsplit_once(':') {
                    Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
                    _ => h,
                })
                .unwrap_or("127.0.0.1");
            format!("ws://{host}:{}/", gate.port())
        })
        .unwrap_or_default();
    CHAT_PAGE.replace("{{WS_URL}}", &url)
}

impl Service for Web {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        let node = ctx.node();
        let d = ServerConf::default();
        let port: u16 = node
            .getenv_parsed("web_port")?
            .ok_or("config key `web_port`: missing (the port the web server listens on)")?;
        let limits = Limits {
            body: node
                .getenv_parsed("web_body_limit")?
                .unwrap_or(d.limits.body),
            keep_alive: node.getenv_parsed("web_keepalive")?.unwrap_or(true),
            ..Limits::default()
        };
        let conf = ServerConf {
            address: node
                .getenv("web_address")
                .or_else(|| node.getenv("address"))
                .unwrap_or(d.address),
            port,
            agents: node.getenv_parsed("web_agents")?.unwrap_or(d.agents),
            publish: Some("http_address".into()),
            limits,
            ..d
        };
        ctx.launch(HttpServer::new(conf, router())).await?;
        Ok(())
    }

    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}
