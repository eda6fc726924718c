//! Handlers: what answers a request. An async function, a service, or a [`Router`] of them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use skynet_runtime::{Addr, Context};

use crate::head::Request;
use crate::response::Response;

/// A boxed response future.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// Answers requests. Implemented for every `Fn(Context, Request) -> impl Future<Output =
/// Response>` and by [`ServiceHandler`] and [`Router`]. It runs inside the server's agent
/// that holds the connection (in that agent's fork for the connection).
pub trait Handler: Send + Sync + 'static {
    /// The response to `req`.
    fn handle(&self, ctx: Context, req: Request) -> ResponseFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(Context, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn handle(&self, ctx: Context, req: Request) -> ResponseFuture {
        Box::pin(self(ctx, req))
    }
}

/// Hands each request to a service: it receives the [`Request`] as a call (LUA protocol)
/// and answers with `ctx.ret(response)`. A call that fails is answered 503 (the service is
/// gone) or 500 (anything else, logged).
#[derive(Debug, Clone, Copy)]
pub struct ServiceHandler(pub Addr);

impl Handler for ServiceHandler {
    fn handle(&self, ctx: Context, req: Request) -> ResponseFuture {
        let to = self.0;
        Box::pin(async move {
            match ctx.call(to, req).await.map(|m| m.into_value::<Response>()) {
                Ok(Ok(r)) => r,
                Ok(Err(e)) | Err(e) => {
                    log::info!("http: handler service {to} failed: {e}");
                    let gone = matches!(
                        e,
                        skynet_runtime::CallError::Dead(_) | skynet_runtime::CallError::Unknown(_)
                    );
                    Response::text(if gone { 503 } else { 500 }, "handler failed\n")
                }
            }
        })
    }
}

/// A method and its handler.
type MethodRoute = (String, Arc<dyn Handler>);

/// Routes by method and exact path; 404 for an unknown path, 405 for a known path with
/// another method (with `allow`), unless a fallback is set.
#[derive(Default, Clone)]
pub struct Router {
    /// Path -> (method, handler) pairs.
    routes: HashMap<String, Vec<MethodRoute>>,
    fallback: Option<Arc<dyn Handler>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut paths: Vec<_> = self.routes.keys().collect();
        paths.sort();
        write!(f, "Router({paths:?})")
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Router {
        Router::default()
    }

    /// Answers `method` (`GET` also answers `HEAD`) on `path` with `h`.
    pub fn route(mut self, method: &str, path: &str, h: impl Handler) -> Router {
        self.routes
            .entry(path.to_string())
            .or_default()
            .push((method.to_ascii_uppercase(), Arc::new(h)));
        self
    }

    /// `GET` (and `HEAD`) on `path`.
    pub fn get(self, path: &str, h: impl Handler) -> Router {
        self.route("GET", path, h)
    }

    /// `POST` on `path`.
    pub fn post(self, path: &str, h: impl Handler) -> Router {
        self.route("POST", path, h)
    }

    /// Answers every request no route takes.
    pub fn fallback(mut self, h: impl Handler) -> Router {
        self.fallback = Some(Arc::new(h));
        self
    }

    fn find(&self, req: &Request) -> Result<Arc<dyn Handler>, Response> {
        let Some(methods) = self.routes.get(&req.path) else {
            return Err(Response::text(404, "not found\n"));
        };
        let want = if req.method == "HEAD" {
            "GET"
        } else {
            &req.method
        };
        match methods.iter().find(|(m, _)| m == &req.method || m == want) {
            Some((_, h)) => Ok(h.clone()),
            None => {
                let allow: Vec<&str> = methods.iter().map(|(m, _)| m.as_str()).collect();
                Err(Response::text(405, "method not allowed\n").header("allow", &allow.join(", ")))
            }
        }
    }
}

impl Handler for Router {
    fn handle(&self, ctx: Context, req: Request) -> ResponseFuture {
        match self.find(&req) {
            Ok(h) => h.handle(ctx, req),
            Err(not_found) => match &self.fallback {
                Some(f) => f.handle(ctx, req),
                None => Box::pin(async move { not_found }),
            },
        }
    }
}
