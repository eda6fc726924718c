//! The host's dispatcher (`skynet.core.dispatcher`) and the Lua paths it leaves messages
//! to: the common cases run in C, everything else as before.

mod util;

use skynet_seri::LuaValue;

#[test]
fn a_replaced_dispatch_message_sees_every_message() {
    let (node, _log) = util::node(&[]);
    let svc = node
        .newservice("snlua", &["dispatchers", "replaced"])
        .expect("starts");
    let first = util::call(&node, svc, vec!["seen".into()]).expect("answers");
    let Some(LuaValue::Int(n)) = first.first().cloned() else {
        panic!("{first:?}");
    };
    assert!(n >= 1, "{n}");
    let second = util::call(&node, svc, vec!["seen".into()]).expect("answers");
    assert_eq!(second, vec![LuaValue::Int(n + 1)]);
    node.shutdown();
}

#[test]
fn calls_from_a_timed_coroutine_take_the_lua_path() {
    let (node, _log) = util::node(&[]);
    let a = node.newservice("snlua", &["dispatchers"]).expect("starts");
    let b = node.newservice("snlua", &["dispatchers"]).expect("starts");
    for _ in 0..3 {
        let r = util::call(&node, a, vec!["timed".into(), i64::from(b.0).into()]);
        assert_eq!(r, Ok(vec![LuaValue::Int(42), LuaValue::Bool(true)]));
    }
    node.shutdown();
}

#[test]
fn a_callback_replaced_from_inside_a_callback_takes_the_next_message() {
    let (node, log) = util::node(&[]);
    let svc = skynet_lua::launch(&node.handle(), "swapcb", &[]).expect("launches");
    let ask = |cmd: &str| util::call(&node, svc, vec![cmd.into()]);
    let said = |who: &str, cmd: &str| Ok(vec![LuaValue::from(who), LuaValue::from(cmd)]);
    assert_eq!(ask("x"), said("first", "x"));
    assert_eq!(ask("x"), said("first", "x"));
    assert_eq!(ask("swap"), said("first", "swap"));
    assert_eq!(ask("y"), said("second", "y"));
    assert_eq!(ask("y"), said("second", "y"));
    // An error in the new callback is logged; the callback stays.
    node.send(svc, vec![LuaValue::from("fail")]).expect("sends");
    assert!(log.wait_for(&["second fails"], util::LONG).is_some());
    assert_eq!(ask("back"), said("second", "back"));
    assert_eq!(ask("z"), said("first", "z"));
    node.shutdown();
}

#[test]
fn many_requests_held_at_once_are_answered_and_the_pool_serves_again() {
    let (node, _log) = util::node(&[]);
    let svc = node.newservice("snlua", &["dispatchers"]).expect("starts");
    for _ in 0..3 {
        let r = util::call(&node, svc, vec!["burst".into(), 7.into()]);
        assert_eq!(r, Ok(vec![LuaValue::Int(7)]));
    }
    let r = util::call(&node, svc, vec!["echo".into(), 5.into()]);
    assert_eq!(r, Ok(vec![LuaValue::Int(5)]));
    node.shutdown();
}

#[test]
fn bodies_that_do_not_unpack_fail_their_message_only() {
    let (node, log) = util::node(&[]);
    let svc = node.newservice("snlua", &["dispatchers"]).expect("starts");
    for _ in 0..2 {
        let r = util::call(&node, svc, vec!["badbody".into()]);
        assert_eq!(r, Ok(vec![LuaValue::Int(3)]));
    }
    assert!(log.wait_for(&["lua call"], util::LONG).is_some());
    let r = util::call(&node, svc, vec!["echo".into(), 5.into()]);
    assert_eq!(r, Ok(vec![LuaValue::Int(5)]));
    node.shutdown();
}
