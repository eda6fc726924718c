//! Lua test services (`tests/lua/checks.lua`, `tests/lua/api_checks.lua`) run group by
//! group: each group answers "ok" or fails with the Lua error.

mod util;

use skynet_runtime::Addr;
use skynet_seri::LuaValue;

fn run(group: &str, expected_errors: &[&str]) {
    run_in("checks", group, expected_errors);
}

/// Runs `group` of test service `script`; returns the log lines and the service's address.
fn run_in(script: &str, group: &str, expected_errors: &[&str]) -> (Vec<String>, Addr) {
    let (node, log) = util::node(&[]);
    let checks = node
        .newservice("snlua", &[script])
        .unwrap_or_else(|e| panic!("{script} starts: {e}"));
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
    (log.lines(), checks)
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

/// The one line of `lines` holding every needle.
fn line_with<'a>(lines: &'a [String], needles: &[&str]) -> &'a str {
    lines
        .iter()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no log line with {needles:?}:\n{}", lines.join("\n")))
}

/// skynet.trace / tracetag / tracecall / traceproto and skynet.core.trace: the tags (in
/// Lua), and the log lines skynet writes for each step (here).
#[test]
fn trace_tags_follow_calls_and_log_each_step() {
    let (lines, me) = run_in("api_checks", "trace", &["helper fails"]);
    let tag = format!("<TRACE :{:08x}-1>", me.0);
    line_with(&lines, &["TRACE nil"]);
    line_with(&lines, &[&tag, "trace hello"]);
    // the traced call: where it was made (level 2: the caller of skynet.call), then the
    // callee's request, response and end, and the caller's resume
    let call = line_with(&lines, &[&tag, " call : @"]);
    assert!(call.contains("api_checks.lua:"), "{call}");
    for step in [" request", " response", " end", " resume"] {
        line_with(&lines, &[&tag, step]);
    }
    line_with(&lines, &["<TRACE mytag>", "tracecall begin"]);
    line_with(&lines, &["<TRACE mytag>", "request"]);
    line_with(&lines, &["<TRACE mytag>", "tracecall end"]);
    // skynet.core.trace's shapes
    let plain = line_with(&lines, &["<TRACE shape>", " plain"]);
    assert!(!plain.contains(" : "), "no frames without a level: {plain}");
    let here = line_with(&lines, &["<TRACE shape>", " here : @"]);
    assert!(here.contains("api_checks.lua:"), "{here}");
    let thread = line_with(&lines, &["<TRACE shape>", " thread : @"]);
    assert!(thread.contains("api_checks.lua:"), "{thread}");
    line_with(&lines, &["<TRACE shape>", " 42"]);
    // the time is the high-precision counter: an integer after the tag
    let time = plain
        .split("<TRACE shape> ")
        .nth(1)
        .and_then(|r| r.split(' ').next());
    assert!(
        time.is_some_and(|t| t.parse::<i64>().is_ok()),
        "a time in {plain}"
    );
}

/// skynet.context in calls, sends, after response / ignoreret, and in forks; a request
/// never answered or held by a killed service fails its call; a handler that yields many
/// values to the dispatcher fails that message only.
#[test]
fn context_gives_the_request_session_and_source() {
    run_in(
        "api_checks",
        "context",
        &["Unknown command : 1", "Invalid serialize stream"],
    );
}

/// skynet.uniqtask groups pending tasks by stack (skynet's head lines), as the debug
/// protocol's UNIQTASK; skynet.task's table keys.
#[test]
fn uniqtask_groups_waiting_coroutines_by_stack() {
    run_in("api_checks", "uniqtask", &[]);
}

/// Several calls in flight at once (skynet.lua's call slot and session_wait): replies,
/// skynet.task, and ERROR with session 0 from the callee failing every one.
#[test]
fn calls_in_flight_in_the_slot_and_the_tables() {
    run_in("api_checks", "calls_in_flight", &[]);
}

/// skynet.forward_type: a proxy relays LUA requests raw; unmapped types are dispatched as
/// they are.
#[test]
fn forward_type_relays_mapped_types() {
    // the relay's rawcall raises when the target fails: logged by the forwarder
    run_in(
        "api_checks",
        "forward_type",
        &["helper fails on purpose", "call failed"],
    );
}

/// skynet.filter sees every message first and may change it.
#[test]
fn filter_sees_and_rewrites_every_message() {
    run_in("api_checks", "filter", &[]);
}

/// skynet.monitor: the monitor is told of every service that exits or is killed.
#[test]
fn monitor_is_told_of_every_exit() {
    run_in("api_checks", "monitor", &[]);
}

/// skynet.netpack's pack and tostring; skynet.socketdriver's answers for a socket that is
/// not there and its argument checks (the real writes: services/tests/lua_echo.rs).
#[test]
fn netpack_and_socketdriver_subset() {
    run_in("api_checks", "socket", &[]);
}

/// dispatch_unknown_request / dispatch_unknown_response get what nobody else takes.
#[test]
fn unknown_requests_and_responses_reach_their_handlers() {
    run_in("api_checks", "unknown", &[]);
}
