//! Launching services from a [`Context`]: `launch`, `newservice`, and skynet's
//! `uniqueservice` / `queryservice` (one service per name per node, launched on first use).

use std::future::Future;
use std::sync::atomic::Ordering;

use crate::base::{Addr, CallError, Message, Ptype};
use crate::executor::call::Reply;
use crate::executor::host::AsyncHost;
use crate::executor::service::Service;
use crate::executor::shared::Context;
use crate::kernel::{LaunchNotify, UniqueState};
use crate::raw::RawService;

impl Context {
    fn wait_launch(
        &self,
        addr_result: Result<Addr, CallError>,
        session: i32,
    ) -> impl Future<Output = Result<Addr, CallError>> + Send + 'static {
        let shared = self.shared.clone();
        let main = self.main;
        async move {
            let reply = Reply {
                shared: shared.clone(),
                session,
                done: false,
            };
            let addr = match addr_result {
                Ok(a) => a,
                Err(e) => return Err(e),
            };
            if main {
                shared.cell.waiting_on.store(addr.0, Ordering::SeqCst);
            }
            let r = reply.await.into_value::<Addr>();
            if main {
                shared.cell.waiting_on.store(0, Ordering::SeqCst);
            }
            r
        }
    }

    fn launch_boxed(
        &self,
        svc: Box<dyn RawService>,
        type_name: String,
    ) -> impl Future<Output = Result<Addr, CallError>> + Send + 'static {
        let Some(session) = self.shared.register_wait() else {
            return self.wait_launch(Err(CallError::Detached), 0);
        };
        let system = self.shared.node.is_system_type(&type_name);
        let r = self.shared.node.spawn(
            svc,
            type_name,
            system,
            LaunchNotify::Session(self.shared.addr, session),
        );
        if r.is_err() {
            self.shared.cancel_wait(session);
        }
        self.wait_launch(r, session)
    }

    /// Launches a service value; resolves with its address once its `init` succeeded, or
    /// with the reason it failed.
    pub fn launch<S: Service>(
        &self,
        svc: S,
    ) -> impl Future<Output = Result<Addr, CallError>> + Send + 'static {
        self.launch_boxed(
            Box::new(AsyncHost::new(svc)),
            crate::base::type_name::short_type_name::<S>(),
        )
    }

    /// Launches a raw service.
    pub fn launch_raw(
        &self,
        svc: Box<dyn RawService>,
        type_name: &str,
    ) -> impl Future<Output = Result<Addr, CallError>> + Send + 'static {
        self.launch_boxed(svc, type_name.to_string())
    }

    /// Launches a service of a type registered with the node builder, by name.
    pub fn newservice(
        &self,
        name: &str,
        args: &[&str],
    ) -> impl Future<Output = Result<Addr, CallError>> + Send + 'static {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.newservice_owned(name.to_string(), args)
    }

    fn newservice_owned(
        &self,
        name: String,
        args: Vec<String>,
    ) -> impl Future<Output = Result<Addr, CallError>> + Send + 'static {
        let svc = self.shared.node.make_registered(&name, &args);
        let launch = svc.map(|svc| self.launch_boxed(svc, name));
        async move {
            match launch {
                Ok(fut) => fut.await,
                Err(e) => Err(e),
            }
        }
    }

    /// The one service of a registered type `name` on this node, launched by the first
    /// caller; concurrent callers wait for that launch; a failure is remembered.
    pub async fn uniqueservice(&self, name: &str, args: &[&str]) -> Result<Addr, CallError> {
        enum Next {
            Done(Result<Addr, CallError>),
            Wait(i32),
            Launch,
        }
        let next = {
            let mut map = self.shared.node.uniques.map.lock();
            match map.get_mut(name) {
                Some(UniqueState::Ready(a)) if self.shared.node.cell(*a).is_some() => {
                    Next::Done(Ok(*a))
                }
                Some(UniqueState::Failed(e)) => {
                    Next::Done(Err(CallError::Failed(Addr::SYSTEM, e.clone())))
                }
                Some(UniqueState::Launching {
                    launcher: true,
                    waiters,
                }) => {
                    let Some(s) = self.shared.register_wait() else {
                        return Err(CallError::Detached);
                    };
                    waiters.push((self.shared.addr, s));
                    Next::Wait(s)
                }
                Some(UniqueState::Launching { launcher, .. }) => {
                    *launcher = true;
                    Next::Launch
                }
                _ => {
                    map.insert(
                        name.to_string(),
                        UniqueState::Launching {
                            launcher: true,
                            waiters: Vec::new(),
                        },
                    );
                    Next::Launch
                }
            }
        };
        match next {
            Next::Done(r) => r,
            Next::Wait(s) => self.wait_launch(Ok(Addr::SYSTEM), s).await,
            Next::Launch => {
                let guard = UniqueLaunch {
                    ctx: self,
                    name,
                    result: None,
                };
                let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
                let r = self.newservice_owned(name.to_string(), args).await;
                let mut guard = guard;
                guard.result = Some(r.clone());
                r
            }
        }
    }

    /// Waits until the unique service `name` has been launched (by `uniqueservice`).
    pub async fn queryservice(&self, name: &str) -> Result<Addr, CallError> {
        let s = {
            let mut map = self.shared.node.uniques.map.lock();
            match map.get_mut(name) {
                Some(UniqueState::Ready(a)) => return Ok(*a),
                Some(UniqueState::Failed(e)) => {
                    return Err(CallError::Failed(Addr::SYSTEM, e.clone()))
                }
                Some(UniqueState::Launching { waiters, .. }) => {
                    let Some(s) = self.shared.register_wait() else {
                        return Err(CallError::Detached);
                    };
                    waiters.push((self.shared.addr, s));
                    s
                }
                None => {
                    let Some(s) = self.shared.register_wait() else {
                        return Err(CallError::Detached);
                    };
                    map.insert(
                        name.to_string(),
                        UniqueState::Launching {
                            launcher: false,
                            waiters: vec![(self.shared.addr, s)],
                        },
                    );
                    s
                }
            }
        };
        self.wait_launch(Ok(Addr::SYSTEM), s).await
    }
}

/// Finishes a unique launch: records the outcome and answers everyone waiting, also when the
/// launching task is dropped midway (then the entry is removed so a later caller retries).
struct UniqueLaunch<'a> {
    ctx: &'a Context,
    name: &'a str,
    result: Option<Result<Addr, CallError>>,
}

impl Drop for UniqueLaunch<'_> {
    fn drop(&mut self) {
        let node = &self.ctx.shared.node;
        let waiters = {
            let mut map = node.uniques.map.lock();
            let waiters = match map.remove(self.name) {
                Some(UniqueState::Launching { waiters, .. }) => waiters,
                _ => Vec::new(),
            };
            match &self.result {
                Some(Ok(a)) => {
                    map.insert(self.name.to_string(), UniqueState::Ready(*a));
                }
                Some(Err(e)) => {
                    map.insert(self.name.to_string(), UniqueState::Failed(e.to_string()));
                }
                None => {}
            }
            waiters
        };
        let outcome = self
            .result
            .clone()
            .unwrap_or(Err(CallError::Dead(self.ctx.shared.addr)));
        for (dest, session) in waiters {
            let msg = match &outcome {
                Ok(a) => Message::value(self.ctx.shared.addr, session, Ptype::RESPONSE, *a),
                Err(e) => Message::value(self.ctx.shared.addr, session, Ptype::ERROR, e.clone()),
            };
            let _ = node.send(dest, msg);
        }
    }
}
