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
