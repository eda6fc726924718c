//! Errors and limits: syntax errors and failing starts fail the launch, a memory limit
//! fails the allocation and not the service, skynet's memory warning, and an endless
//! loop interrupted by `signal`.

mod util;

use std::time::Duration;

use skynet_lua::LuaNode;
use skynet_seri::LuaValue;

#[test]
fn a_syntax_error_fails_the_launch_with_file_and_line() {
    let (node, log) = util::node(&[]);
    let err = node
        .newservice("snlua", &["bad_syntax"])
        .expect_err("launch fails")
        .to_string();
    assert!(err.contains("bad_syntax.lua:3:"), "{err}");
    let err = node
        .newservice("snlua", &["bad_start"])
        .expect_err("launch fails")
        .to_string();
    assert!(err.contains("cannot start"), "{err}");
    let err = node
        .newservice("snlua", &["load_error"])
        .expect_err("launch fails")
        .to_string();
    assert!(
        err.contains("runtime error: ")
            && err.contains("load_error.lua:2: boom at load\nstack traceback:")
            && err.trim_end().ends_with("load_error.lua:3: in main chunk"),
        "{err}"
    );
    let err = node
        .newservice("snlua", &["not_there"])
        .expect_err("launch fails")
        .to_string();
    assert!(
        err.contains("cannot find service script not_there"),
        "{err}"
    );
    let bad = util::unexpected_warnings(
        &log,
        &["bad_syntax", "cannot start", "boom at load", "not_there"],
    );
    assert!(bad.is_empty(), "{bad:#?}");
    node.shutdown();
}

#[test]
fn a_memory_limit_fails_the_allocation_not_the_service() {
    let (node, log) = util::node(&[]);
    let svc = node
        .newservice("snlua", &["limits", "4194304"])
        .expect("starts");
    assert!(log
        .wait_for(&["Set memory limit to 4.00 M"], util::LONG)
        .is_some());
    let r = util::call(&node, svc, vec!["grow".into()]);
    assert!(r.is_err(), "{r:?}");
    assert!(log.wait_for(&["not enough memory"], util::LONG).is_some());
    let r = util::call(&node, svc, vec!["ping".into()]);
    assert_eq!(r, Ok(vec![LuaValue::from("pong")]));
    let bad = util::unexpected_warnings(&log, &["not enough memory"]);
    assert!(bad.is_empty(), "{bad:#?}");
    node.shutdown();
}

#[test]
fn the_node_default_memory_limit_applies() {
    let (node, log) = util::node(&[("lua_memlimit", "4194304")]);
    let svc = node.newservice("snlua", &["limits"]).expect("starts");
    assert!(util::call(&node, svc, vec!["grow".into()]).is_err());
    let r = util::call(&node, svc, vec!["ping".into()]);
    assert_eq!(r, Ok(vec![LuaValue::from("pong")]));
    let bad = util::unexpected_warnings(&log, &["not enough memory"]);
    assert!(bad.is_empty(), "{bad:#?}");
    node.shutdown();
}

#[test]
fn a_heap_past_32_mib_is_warned_about() {
    let (node, log) = util::node(&[]);
    let svc = node.newservice("snlua", &["limits"]).expect("starts");
    let r = util::call(&node, svc, vec!["big".into(), 40.into()]);
    assert_eq!(r, Ok(vec![LuaValue::Int(40 << 20)]));
    assert!(log.wait_for(&["Memory warning"], util::LONG).is_some());
    let bad = util::unexpected_warnings(&log, &["Memory warning"]);
    assert!(bad.is_empty(), "{bad:#?}");
    node.shutdown();
}

#[test]
fn signal_interrupts_an_endless_loop() {
    let (node, log) = util::node(&[]);
    let svc = node.newservice("snlua", &["limits"]).expect("starts");
    let h = node.handle();
    let lua = LuaNode::of(&h);
    std::thread::scope(|s| {
        let caller = s.spawn(|| util::call(&node, svc, vec!["spin".into()]));
        // The loop announces itself through the node's env: a log line would wait behind
        // the looping worker (the logger sits in that worker's LIFO slot).
        let deadline = std::time::Instant::now() + util::LONG;
        while !caller.is_finished() && std::time::Instant::now() < deadline {
            if h.getenv("lua_spinning").is_some() {
                // False once the loop has ended (the service is idle again).
                let _ = lua.signal(svc);
            }
            let _ = log.wait_for(&["interrupted"], Duration::from_millis(20));
        }
        let r = caller.join().expect("caller thread");
        assert!(r.is_err(), "{r:?}");
    });
    let r = util::call(&node, svc, vec!["ping".into()]);
    assert_eq!(r, Ok(vec![LuaValue::from("pong")]));
    let bad = util::unexpected_warnings(&log, &["interrupted"]);
    assert!(bad.is_empty(), "{bad:#?}");
    node.shutdown();
}

#[test]
fn tracebacks_and_debug_work() {
    let (node, _log) = util::node(&[]);
    let svc = node.newservice("snlua", &["limits"]).expect("starts");
    let r = util::call(&node, svc, vec!["traceback".into()]).expect("answers");
    let tb = r[0].as_str().unwrap_or_default().to_string();
    assert!(
        tb.contains("deep error") && tb.contains("stack traceback"),
        "{tb}"
    );
    assert!(
        r[1].as_str().unwrap_or_default().ends_with("limits.lua"),
        "{r:?}"
    );
    node.shutdown();
}

#[test]
fn lua_endless_signal_interrupts_what_the_monitor_reports() {
    let mut config = skynet_runtime::Config::new();
    config.set("luaservice", util::scripts());
    config.set("lua_path", util::scripts());
    config.set("lua_endless", "signal");
    let log = skynet_runtime::LogCapture::new();
    let node = skynet_lua::register(
        skynet_runtime::Node::builder()
            .threads(2)
            .config(config)
            .logger(log.logger())
            .monitor_threshold(Duration::from_millis(300)),
    )
    .build()
    .expect("node starts");
    let svc = node.newservice("snlua", &["limits"]).expect("starts");
    // No console, no signal by hand: the monitor flags the loop, the watcher signals it.
    let r = util::call(&node, svc, vec!["spin".into()]);
    assert!(r.is_err(), "{r:?}");
    let r = util::call(&node, svc, vec!["ping".into()]);
    assert_eq!(r, Ok(vec![LuaValue::from("pong")]));
    let bad = util::unexpected_warnings(&log, &["interrupted", "endless loop", "signalled"]);
    assert!(bad.is_empty(), "{bad:#?}");
    node.shutdown();
}

#[test]
fn callback_errors_that_are_not_strings_are_logged() {
    let (node, log) = util::node(&[]);
    let svc = skynet_lua::launch(&node.handle(), "rawcb", &[]).expect("launches");
    for _ in 0..3 {
        node.send(svc, vec![LuaValue::from("x")]).expect("sends");
    }
    // __tostring words it; a plain table is named by its address; a __tostring that
    // raises leaves the type.
    assert!(log
        .wait_for(&["error : custom error object"], util::LONG)
        .is_some());
    assert!(log.wait_for(&["error : table: "], util::LONG).is_some());
    assert!(log
        .wait_for(&["error : (error object is a table value)"], util::LONG)
        .is_some());
    let r = util::call(&node, svc, vec!["echo".into(), 7.into()]);
    assert_eq!(r, Ok(vec![LuaValue::from("echo"), LuaValue::Int(7)]));
    let lines = log.lines();
    let table_errors = lines
        .iter()
        .filter(|l| l.contains("(error object is a table value)"))
        .count();
    assert_eq!(table_errors, 1, "{lines:#?}");
    node.shutdown();
}

#[test]
fn a_request_that_does_not_unpack_fails_that_message_only() {
    let (node, log) = util::node(&[]);
    let svc = node.newservice("snlua", &["limits"]).expect("starts");
    // Bytes that are not skynet.pack's (a long string header with no body), short
    // enough to stay in the runtime's message, then a long one.
    for (i, bytes) in [&b"\x44\x05"[..], &[0x44u8; 100][..]]
        .into_iter()
        .enumerate()
    {
        let msg = skynet_runtime::Message {
            source: skynet_runtime::Addr::SYSTEM,
            session: 0,
            ptype: skynet_runtime::Ptype::LUA,
            payload: skynet_runtime::Payload::Bytes(bytes::Bytes::copy_from_slice(bytes)),
        };
        node.handle().send(svc, msg).expect("sends");
        let deadline = std::time::Instant::now() + util::LONG;
        let count = || {
            log.lines()
                .iter()
                .filter(|l| l.contains("error : Invalid serialize stream"))
                .count()
        };
        while count() <= i && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(count(), i + 1, "{:#?}", log.lines());
        // The service goes on (the next request gets a pooled coroutine again).
        let r = util::call(&node, svc, vec!["ping".into()]);
        assert_eq!(r, Ok(vec![LuaValue::from("pong")]));
    }
    // From a Lua service (here itself): the bytes travel inline.
    let r = util::call(&node, svc, vec!["badsend".into()]);
    assert_eq!(r, Ok(vec![LuaValue::from("sent")]));
    assert!(log
        .wait_for(
            &["0 msgsz = 2] error : Invalid serialize stream"],
            util::LONG
        )
        .is_some());
    let r = util::call(&node, svc, vec!["ping".into()]);
    assert_eq!(r, Ok(vec![LuaValue::from("pong")]));
    node.shutdown();
}

/// `skynet.core`'s commands on their C path and through mlua (errors, odd arguments),
/// and its functions built on first call (`harbor`, `error`, `trace`).
#[test]
fn core_commands_answer_and_fail_as_before() {
    let (node, log) = util::node(&[]);
    let svc = node.newservice("snlua", &["core_paths"]).expect("starts");
    let r = util::call(&node, svc, vec!["run".into()]).expect("answers");
    let text = |i: usize| match r.get(i) {
        Some(LuaValue::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        other => format!("{other:?}"),
    };
    assert_eq!(r.first(), Some(&LuaValue::Bool(false)), "{r:?}");
    assert!(text(1).contains("unknown command NOPE"), "{r:?}");
    assert_eq!(text(2), "userdata", "{r:?}");
    assert_eq!(r.get(3), Some(&LuaValue::Bool(false)), "{r:?}");
    assert!(
        text(4).contains("invalid command parameter (table)"),
        "{r:?}"
    );
    assert_eq!(
        r.get(5..),
        Some(
            &[
                LuaValue::Int(0),
                LuaValue::Bool(false),
                LuaValue::from("integer"),
                LuaValue::Bool(true),
                LuaValue::Bool(true),
                LuaValue::from("function"),
                LuaValue::Bool(true),
                LuaValue::from("12"),
            ][..]
        ),
        "{r:?}"
    );
    assert!(log.wait_for(&["core paths logged 1"], util::LONG).is_some());
    node.shutdown();
}
