//! Two nodes of ours: every path of the API between them.

mod util;

use skynet_runtime::{Addr, CallError};
use skynet_seri::LuaValue;
use util::{db_node, game_node, run, spawn, unexpected_warnings, LONG};

#[test]
fn calls_by_name_handle_and_local_name_pushes_and_queries() {
    let (db, db_log, kv, at) = db_node(&[]);
    let (game, game_log) = game_node(&format!("db = \"{at}\"\n"), &[]);
    let out = run(&game, move |ctx| async move {
        let (v,): (String,) = skynet_cluster::call(&ctx, "db", "@sdb", ("GET", "a")).await?;
        assert_eq!(v, "foobar");
        let h = skynet_cluster::query(&ctx, "db", "sdb").await?;
        let (v,): (String,) = skynet_cluster::call(&ctx, "db", h, ("GET", "a")).await?;
        assert_eq!(v, "foobar");
        let (none,): (Option<String>,) =
            skynet_cluster::call(&ctx, "db", ".kv", ("SET", "b", 1)).await?;
        assert_eq!(none, None);
        let all: Vec<LuaValue> = skynet_cluster::call(&ctx, "db", "@sdb", ("NONE",)).await?;
        assert!(all.is_empty());
        skynet_cluster::send(&ctx, "db", "@sdb", ("PING", "hi"))?;
        let (n, last): (i64, String) = skynet_cluster::call(&ctx, "db", "@sdb", ("PINGS",)).await?;
        assert_eq!((n, last.as_str()), (1, "hi"));
        Ok::<Addr, CallError>(h)
    });
    assert_eq!(out, Ok(kv));
    game.shutdown();
    db.shutdown();
    assert_eq!(unexpected_warnings(&db_log, &[]), Vec::<String>::new());
    assert_eq!(unexpected_warnings(&game_log, &[]), Vec::<String>::new());
}

#[test]
fn big_payloads_race_small_calls_and_replies_come_back_in_any_order() {
    let (db, _db_log, _kv, at) = db_node(&[]);
    let (game, game_log) = game_node(&format!("db = \"{at}\"\n"), &[]);
    // Each job is a service of its own, so all of them are in flight together.
    let mut jobs = Vec::new();
    // 100 KiB and 150 KiB values (and both multi-part thresholds), stored and read back...
    for (i, size) in [100 * 1024, 150 * 1024, 0x8000, 0x8001]
        .into_iter()
        .enumerate()
    {
        jobs.push(spawn(&game, move |ctx| async move {
            let key = format!("big{i}");
            let value = vec![b'x' + i as u8; size];
            let (_,): (Option<i64>,) =
                skynet_cluster::call(&ctx, "db", "@sdb", ("SET", key.as_str(), &value)).await?;
            let (back,): (bytes::Bytes,) =
                skynet_cluster::call(&ctx, "db", "@sdb", ("GET", key.as_str())).await?;
            Ok::<bool, CallError>(back[..] == value[..])
        }));
    }
    // ...while 20 small calls are answered in reverse order.
    for i in 0..20i64 {
        jobs.push(spawn(&game, move |ctx| async move {
            let (x,): (i64,) =
                skynet_cluster::call(&ctx, "db", "@sdb", ("DELAY", 200 - i * 10, i)).await?;
            Ok::<bool, CallError>(x == i)
        }));
    }
    for (i, rx) in jobs.into_iter().enumerate() {
        assert_eq!(
            rx.recv_timeout(LONG).expect("job ends"),
            Ok(true),
            "job {i}"
        );
    }
    game.shutdown();
    db.shutdown();
    assert_eq!(unexpected_warnings(&game_log, &[]), Vec::<String>::new());
}

#[test]
fn errors_come_back_as_errors() {
    let (db, db_log, _kv, at) = db_node(&[]);
    let (game, game_log) = game_node(&format!("db = \"{at}\"\n"), &[]);
    let out = run(&game, move |ctx| async move {
        let mut texts = Vec::new();
        for target in ["@nope", "bare", ".nope"] {
            let r: Result<(), _> = skynet_cluster::call(&ctx, "db", target, ("GET",)).await;
            texts.push(r.unwrap_err().to_string());
        }
        let r = skynet_cluster::query(&ctx, "db", "nope").await;
        texts.push(r.unwrap_err().to_string());
        let r: Result<(), _> = skynet_cluster::call(&ctx, "db", 0x7fffu32, ("GET",)).await;
        texts.push(r.unwrap_err().to_string());
        let r: Result<(), _> = skynet_cluster::call(&ctx, "db", "@sdb", ("FAIL",)).await;
        texts.push(r.unwrap_err().to_string());
        let r: Result<(), _> = skynet_cluster::call(&ctx, "db", "@sdb", ("PANIC",)).await;
        texts.push(r.unwrap_err().to_string());
        texts
    });
    let want = [
        "Invalid name",
        "Invalid name",
        "Invalid name",
        "name not found",
        "call to invalid address :00007fff",
        "unknown command",
        "panicked",
    ];
    for (got, want) in out.iter().zip(want) {
        assert!(got.contains(want), "{got:?} should say {want:?}");
        assert!(
            got.contains("cluster node [db]") && got.contains(&at.to_string()),
            "{got}"
        );
    }
    assert_eq!(out.len(), want.len());
    game.shutdown();
    db.shutdown();
    assert_eq!(unexpected_warnings(&game_log, &[]), Vec::<String>::new());
    assert_eq!(
        unexpected_warnings(&db_log, &[util::kv::PANIC_TEXT]),
        Vec::<String>::new()
    );
}

#[test]
fn a_proxy_is_called_like_a_local_service() {
    use skynet_seri::IntoLuaArgs;
    let (db, _db_log, _kv, at) = db_node(&[]);
    let (game, game_log) = game_node(&format!("db = \"{at}\"\n"), &[]);
    let kv = skynet_cluster::proxy(&game.handle(), "db", "@sdb").expect("a proxy");
    let args = ("GET", "a").into_lua_args().expect("packs");
    let reply = game.call(kv, args).expect("answered");
    let values = reply.take::<Vec<LuaValue>>().expect("values");
    assert_eq!(values, vec![LuaValue::from("foobar")]);
    // A send through the proxy is a push.
    game.send(kv, ("PING", "via proxy").into_lua_args().expect("packs"))
        .expect("sent");
    // A call through the same proxy goes out after it (one sender, in order); a call made
    // by another service (below) has no order with the push without it.
    let reply = game.call(kv, ("GET", "a").into_lua_args().expect("packs"));
    assert!(reply.is_ok(), "{reply:?}");
    let out = run(&game, |ctx| async move {
        skynet_cluster::call::<_, (i64, String)>(&ctx, "db", "@sdb", ("PINGS",)).await
    });
    assert_eq!(out, Ok((1, "via proxy".to_string())));
    // Errors come back as errors.
    let err = game
        .call(kv, ("FAIL",).into_lua_args().expect("packs"))
        .unwrap_err();
    assert!(err.to_string().contains("unknown command"), "{err}");
    game.shutdown();
    db.shutdown();
    assert_eq!(unexpected_warnings(&game_log, &[]), Vec::<String>::new());
}
