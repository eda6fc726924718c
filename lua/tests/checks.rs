//! Lua test services (`tests/lua/checks.lua`) run group by group: each group answers "ok"
//! or fails with the Lua error.

mod util;

use skynet_seri::LuaValue;

fn run(group: &str, expected_errors: &[&str]) {
    let (node, log) = util::node(&[]);
    let checks = node
        .newservice("snlua", &["checks"])
        .expect("checks starts");
    let r = util::call(&node, checks, vec!["run".into(), group.into()]);
    let lines = log.lines().join("\n");
    assert_eq!(
        r,
        Ok(vec![LuaValue::from("ok")]),
        "group {group} failed; log:\n{lines}"
    );
    if std::env::var("LUA_TEST_LOG").is_ok() {
        eprintln!("{lines}");
    }
    let bad = util::unexpected_warnings(&log, expected_errors);
    assert!(bad.is_empty(), "unexpected log lines: {bad:#?}");
    node.shutdown();
}

#[test]
fn calls_responses_errors_and_dead_callees() {
    run("calls", &["on purpose", "Unknown session"]);
}

#[test]
fn timers_forks_wait_and_wakeup() {
    run("timers", &[]);
}

#[test]
fn queue_is_a_critical_section() {
    run("queue", &[]);
}

#[test]
fn user_coroutines_may_call_skynet() {
    run("coroutines", &[]);
}

#[test]
fn pack_and_unpack_of_tricky_values() {
    run("pack", &[]);
}

#[test]
fn names_env_and_unique_services() {
    run("names", &["cannot find service script"]);
}

#[test]
fn wrong_arguments_to_skynet_core_raise_errors() {
    run("badinput", &[]);
}

#[test]
fn inline_services_of_skynet_service() {
    run("service", &[]);
}

#[test]
fn raw_calls_task_info_and_the_debug_protocol() {
    run("misc", &[]);
}
