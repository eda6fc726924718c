//! `lua_node CONFIG`: a node with the standard services, the Lua host and the `counter`
//! Rust service; `examples/config/lua.toml` runs the Lua example.

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/config/lua.toml".into());
    let config = match skynet_runtime::Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = skynet_services::run_with(skynet_examples::lua_node::builder(), config) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
