//! skynet's own test programs (its `test/` folder), run unchanged with `luaservice` pointed
//! at that folder, checked against what the real skynet prints (addresses, session numbers
//! and times aside). Set `SKYNET_ROOT` to a skynet checkout; without it these tests pass
//! without running anything (none of skynet's files are in this repository).

mod util;

use std::time::Duration;

use skynet_runtime::{Config, LogCapture, Node};

/// A node running skynet's test `name`, with print sent to the log; None without a checkout.
fn run(name: &str) -> Option<(Node, LogCapture)> {
    let root = std::env::var("SKYNET_ROOT").ok()?;
    let mut config = Config::new();
    config.set("luaservice", format!("{root}/test/?.lua"));
    config.set("lua_path", format!("{root}/test/?.lua"));
    config.set(
        "preload",
        format!(
            "{}/tests/preload/print_to_log.lua",
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    let log = LogCapture::new();
    let node = skynet_lua::register(
        Node::builder()
            .threads(2)
            .config(config)
            .logger(log.logger()),
    )
    .build()
    .expect("node starts");
    node.newservice("snlua", &[name]).expect("test starts");
    Some((node, log))
}

fn expect(log: &LogCapture, lines: &[&str]) {
    for l in lines {
        assert!(
            log.wait_for(&[l], Duration::from_secs(30)).is_some(),
            "no line {l:?} in {:#?}",
            log.lines()
        );
    }
}

#[test]
fn testtimer() {
    let Some((node, log)) = run("testtimer") else {
        return;
    };
    let mut want: Vec<String> = (1..=10)
        .map(|i| format!("PRINT test sleep\t{i}\t"))
        .collect();
    want.push("PRINT test timeout 10".into());
    want.push("PRINT Hello World".into());
    want.push("PRINT 10\t".into());
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    expect(&log, &want);
    let breaks = log
        .lines()
        .iter()
        .filter(|l| l.ends_with("PRINT BREAK"))
        .count();
    assert_eq!(breaks, 5, "{:#?}", log.lines());
    node.shutdown();
}

#[test]
fn testdeadcall() {
    let Some((node, log)) = run("testdeadcall") else {
        return;
    };
    expect(
        &log,
        &[
            "PRINT ====>\t",
            "\tdead call",
            "PRINT false\t",
            ": call failed",
            "PRINT return\tfalse",
        ],
    );
    node.shutdown();
}

#[test]
fn testresponse() {
    let Some((node, log)) = run("testresponse") else {
        return;
    };
    for i in 1..=5 {
        expect(
            &log,
            &[
                &format!("PRINT {i}\tcall\t"),
                &format!("PRINT {i}\tresponse\t"),
                &format!("PRINT {i}\tend\t"),
            ],
        );
    }
    node.shutdown();
}

#[test]
fn testcoroutine() {
    let Some((node, log)) = run("testcoroutine") else {
        return;
    };
    expect(
        &log,
        &[
            "PRINT false\tcannot resume none skynet coroutine",
            "PRINT STATUS\tblocked",
            "PRINT main step\tend",
            "PRINT close\ttrue",
            "PRINT status thread\tnil",
        ],
    );
    node.shutdown();
}

#[test]
fn testtimeout() {
    let Some((node, log)) = run("testtimeout") else {
        return;
    };
    // skynet.service starts the inline test service; the second call times out (false),
    // the third answers in time (true).
    expect(&log, &["Wait for 1s", "] false", "] true", "] 4 "]);
    node.shutdown();
}
