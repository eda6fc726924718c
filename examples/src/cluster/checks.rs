//! The checks `cluster_interop` runs against the other node's `@echo`, every path of the
//! cluster API, then the report it sends there.

use std::time::Duration;

use bytes::Bytes;
use skynet_cluster::{call, call_timeout, query, send};
use skynet_runtime::{Context, Error, Message, Service};
use skynet_seri::{LuaTable, LuaValue};

use super::echo::sample;
use super::join::{join_all, Task};

type Check = Result<(), String>;

fn expect_eq(got: &[LuaValue], want: &[LuaValue]) -> Check {
    if got == want {
        Ok(())
    } else {
        Err(format!("got {got:?}, want {want:?}"))
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Runs the checks against `@echo` on `peer` once it answers, sends the report, prints the
/// results (one line each, then `passed N failed M`).
#[derive(Debug)]
pub struct Checker {
    /// The other node's name in the table.
    pub peer: String,
}

impl Service for Checker {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        let c = ctx.clone();
        let peer = self.peer.clone();
        ctx.fork(async move {
            let (passed, failed, table) = run(&c, &peer).await;
            let r = call_timeout::<_, Vec<LuaValue>>(
                &c,
                &peer,
                "@echo",
                ("report", passed, failed, table),
                Duration::from_secs(10),
            )
            .await;
            if let Err(e) = r {
                println!("report not delivered: {e}");
            }
            println!("cluster_interop: passed {passed} failed {failed}");
        });
        Ok(())
    }

    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

async fn wait_for_peer(c: &Context, peer: &str) -> bool {
    for _ in 0..240 {
        let r =
            call_timeout::<_, Vec<LuaValue>>(c, peer, "@echo", ("echo", 1), Duration::from_secs(1))
                .await;
        if r.is_ok() {
            return true;
        }
        c.sleep(Duration::from_millis(500)).await;
    }
    false
}

async fn run(c: &Context, peer: &str) -> (i64, i64, LuaValue) {
    let mut results = LuaTable::new();
    let (mut passed, mut failed) = (0, 0);
    if !wait_for_peer(c, peer).await {
        println!("FAIL {peer} never answered");
        return (0, 1, LuaValue::Table(Box::new(results)));
    }
    let checks: Vec<(&str, Task<Check>)> = vec![
        (
            "sample",
            Box::pin(check_sample_here(c.clone(), peer.into())),
        ),
        (
            "check_sample",
            Box::pin(check_sample_there(c.clone(), peer.into())),
        ),
        ("echo_nils", Box::pin(echo_nils(c.clone(), peer.into()))),
        (
            "query_then_handle",
            Box::pin(query_then_handle(c.clone(), peer.into())),
        ),
        (
            "local_name_add",
            Box::pin(local_add(c.clone(), peer.into())),
        ),
        ("push", Box::pin(push(c.clone(), peer.into()))),
        (
            "big_racing_small",
            Box::pin(big_racing_small(c.clone(), peer.into())),
        ),
        (
            "pipelined_delays",
            Box::pin(pipelined(c.clone(), peer.into())),
        ),
        ("fail", Box::pin(fails(c.clone(), peer.into()))),
        (
            "unknown_name",
            Box::pin(unknown_name(c.clone(), peer.into())),
        ),
        (
            "query_unknown",
            Box::pin(query_unknown(c.clone(), peer.into())),
        ),
    ];
    for (name, check) in checks {
        let r = check.await;
        match &r {
            Ok(()) => {
                passed += 1;
                println!("ok   {name}");
            }
            Err(why) => {
                failed += 1;
                println!("FAIL {name}: {why}");
            }
        }
        let entry = LuaTable::from_array(vec![LuaValue::from(name), LuaValue::Bool(r.is_ok())]);
        results.push(LuaValue::Table(Box::new(entry)));
    }
    (passed, failed, LuaValue::Table(Box::new(results)))
}

async fn check_sample_here(c: Context, peer: String) -> Check {
    let got: Vec<LuaValue> = call(&c, &peer, "@echo", ("sample",)).await.map_err(err)?;
    expect_eq(&got, &sample())
}

async fn check_sample_there(c: Context, peer: String) -> Check {
    let mut args = vec![LuaValue::from("check_sample")];
    args.extend(sample());
    let got: Vec<LuaValue> = call(&c, &peer, "@echo", args).await.map_err(err)?;
    expect_eq(&got, &[LuaValue::Bool(true)])
}

async fn echo_nils(c: Context, peer: String) -> Check {
    let args = ("echo", 1, None::<i32>, 2.0, None::<i32>);
    let got: Vec<LuaValue> = call(&c, &peer, "@echo", args).await.map_err(err)?;
    let want = [
        LuaValue::Int(1),
        LuaValue::Nil,
        LuaValue::Real(2.0),
        LuaValue::Nil,
    ];
    expect_eq(&got, &want)
}

async fn query_then_handle(c: Context, peer: String) -> Check {
    let h = query(&c, &peer, "echo").await.map_err(err)?;
    let got: Vec<LuaValue> = call(&c, &peer, h, ("echo", "by handle"))
        .await
        .map_err(err)?;
    expect_eq(&got, &[LuaValue::from("by handle")])
}

async fn local_add(c: Context, peer: String) -> Check {
    let got: Vec<LuaValue> = call(&c, &peer, ".echo", ("add", 2, 3)).await.map_err(err)?;
    expect_eq(&got, &[LuaValue::Int(5)])
}

async fn push(c: Context, peer: String) -> Check {
    send(&c, &peer, "@echo", ("push", 42)).map_err(err)?;
    let (n, last): (i64, i64) = call(&c, &peer, "@echo", ("pushed",)).await.map_err(err)?;
    if n >= 1 && last == 42 {
        Ok(())
    } else {
        Err(format!("pushed says ({n}, {last})"))
    }
}

fn echo_task(c: &Context, peer: &str, value: Bytes) -> Task<Check> {
    let (c, peer) = (c.clone(), peer.to_string());
    Box::pin(async move {
        let (back,): (Bytes,) = call(&c, &peer, "@echo", ("echo", &value))
            .await
            .map_err(err)?;
        if back == value {
            Ok(())
        } else {
            Err(format!("{} bytes came back as {}", value.len(), back.len()))
        }
    })
}

async fn big_racing_small(c: Context, peer: String) -> Check {
    let mut tasks = vec![
        echo_task(&c, &peer, Bytes::from(vec![b'b'; 100 * 1024])),
        echo_task(&c, &peer, Bytes::from(vec![b'B'; 150 * 1024])),
    ];
    for i in 0..10 {
        tasks.push(echo_task(&c, &peer, Bytes::from(format!("small {i}"))));
    }
    join_all(tasks).await.into_iter().collect()
}

async fn pipelined(c: Context, peer: String) -> Check {
    let tasks: Vec<Task<Check>> = (0..20i64)
        .map(|i| {
            let (c, peer) = (c.clone(), peer.clone());
            let t: Task<Check> = Box::pin(async move {
                let (x,): (i64,) = call(&c, &peer, "@echo", ("echo_delay", 200 - 10 * i, i))
                    .await
                    .map_err(err)?;
                if x == i {
                    Ok(())
                } else {
                    Err(format!("call {i} got {x}"))
                }
            });
            t
        })
        .collect();
    join_all(tasks).await.into_iter().collect()
}

async fn expect_error(r: Result<Vec<LuaValue>, skynet_runtime::CallError>, text: &str) -> Check {
    match r {
        Err(e) if e.to_string().contains(text) => Ok(()),
        Err(e) => Err(format!("error {e} does not say {text:?}")),
        Ok(v) => Err(format!("answered {v:?}")),
    }
}

async fn fails(c: Context, peer: String) -> Check {
    // skynet's text is a path inside its install ("...skynet.lua:720: call failed").
    let r = call(&c, &peer, "@echo", ("fail",)).await;
    expect_error(r, "").await
}

async fn unknown_name(c: Context, peer: String) -> Check {
    let r = call(&c, &peer, "@nope", ("echo", 1)).await;
    expect_error(r, "Invalid name").await
}

async fn query_unknown(c: Context, peer: String) -> Check {
    match query(&c, &peer, "nope").await {
        Err(e) if e.to_string().contains("name not found") => Ok(()),
        other => Err(format!("{other:?}")),
    }
}
