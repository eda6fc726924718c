//! Every TOML block of `docs/guide.md` is a config the node accepts (its Rust blocks are
//! doc-tests of this crate).

use skynet_runtime::Config;

#[test]
fn the_guides_configs_parse() {
    let guide = include_str!("../../docs/guide.md");
    // The guide's config reads this variable, as a deployment would.
    std::env::set_var("GAME_PORT", "8888");
    let mut blocks = 0;
    let mut rest = guide;
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").expect("a closed block");
        let text = &body[..end];
        let config = Config::parse(text, None).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(
            config.start().is_some(),
            "a config with a start service:\n{text}"
        );
        blocks += 1;
        rest = &body[end..];
    }
    assert!(blocks >= 2, "the guide has its configs");
}
