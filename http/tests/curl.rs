//! A real client: curl (skipped with a message where it is not installed).

mod util;

use std::process::Command;

use skynet_http::{Request, Response, Router, ServerConf};
use skynet_runtime::Context;
use util::*;

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_gets_posts_uploads_chunked_and_reuses_the_connection() {
    if !have("curl") {
        eprintln!("SKIPPED: curl is not installed");
        return;
    }
    let (node, _log) = node();
    let router = Router::new()
        .get("/hello", |_c: Context, req: Request| async move {
            let name = req.query.get("name").unwrap_or("world").to_string();
            Response::text(200, format!("hello, {name}\n"))
        })
        .post("/echo", |_c: Context, req: Request| async move {
            Response::bytes(200, "application/octet-stream", req.body)
        });
    let addr = serve(&node, ServerConf::default(), router);
    let base = format!("http://{addr}");
    assert_eq!(curl(&[&format!("{base}/hello?name=a%20b")]), "hello, a b\n");
    assert_eq!(
        curl(&["--data-binary", "xyz", &format!("{base}/echo")]),
        "xyz"
    );
    let big = "q".repeat(100_000);
    // A body over 1 KiB makes curl send `Expect: 100-continue`.
    assert_eq!(curl(&["--data-binary", &big, &format!("{base}/echo")]), big);
    assert_eq!(
        curl(&[
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "chunky",
            &format!("{base}/echo")
        ]),
        "chunky"
    );
    // Two URLs in one run: the second reuses the first's connection.
    let connects = curl(&[
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{num_connects}\n",
        &format!("{base}/hello"),
        &format!("{base}/hello"),
    ]);
    assert_eq!(connects.lines().collect::<Vec<_>>(), ["1", "0"]);
    let status = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/none"),
    ]);
    assert_eq!(status, "404");
    node.shutdown();
}
