//! The Lua example of `examples/config/lua.toml` runs: main.lua starts the key-value store,
//! uses it, calls the Rust `counter`, and (told to quit) stops the node.

use std::time::Duration;

use skynet_runtime::{Config, LogCapture};

#[test]
fn the_lua_example_runs() {
    let root = format!("{}/lua", env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        "thread = 2\nstart = \"main\"\nluaservice = \"{root}/?.lua\"\nlua_path = \"{root}/?.lua\"\nlua_example_quit = true\n"
    );
    let log = LogCapture::new();
    let builder = skynet_examples::lua_node::builder().logger(log.logger());
    skynet_services::run_with(builder, Config::parse(&text, None).expect("config")).expect("runs");
    let within = Duration::from_secs(30);
    assert!(
        log.wait_for(&["kv: hello = world keys = answer,hello"], within)
            .is_some(),
        "{:#?}",
        log.lines()
    );
    assert!(
        log.wait_for(&["counter: total = 6"], within).is_some(),
        "{:#?}",
        log.lines()
    );
    assert!(log.wait_for(&["example done"], within).is_some());
    let bad: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}
