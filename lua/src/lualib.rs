//! The Lua half of the API, embedded in the binary: `require` finds these after every
//! `lua_path` entry, so a fresh build runs Lua services with no other files, and a user
//! can still shadow any of them (or put skynet's own lualib first).

/// Embedded modules: (module name, source).
const MODULES: &[(&str, &str)] = &[
    ("skynet", include_str!("../lualib/skynet.lua")),
    (
        "skynet.manager",
        include_str!("../lualib/skynet/manager.lua"),
    ),
    ("skynet.queue", include_str!("../lualib/skynet/queue.lua")),
    (
        "skynet.coroutine",
        include_str!("../lualib/skynet/coroutine.lua"),
    ),
    ("skynet.debug", include_str!("../lualib/skynet/debug.lua")),
    (
        "skynet.service",
        include_str!("../lualib/skynet/service.lua"),
    ),
];

/// Host modules written in Lua that stand where skynet has C modules: found before
/// `lua_path` (through `package.preload`), as a C module would be.
pub(crate) const PRELOADED: &[(&str, &str)] = &[
    (
        "skynet.profile",
        include_str!("../lualib/skynet/profile.lua"),
    ),
    // The rarely used part of `skynet`, loaded on first use (found before `lua_path`: it is
    // part of our `skynet`, not a module of its own).
    ("skynet.lazy", include_str!("../lualib/skynet/lazy.lua")),
];

/// Services embedded in the binary, found when no `luaservice` file has the name.
const SERVICES: &[(&str, &str)] = &[
    (
        "service_provider",
        include_str!("../lualib/service/service_provider.lua"),
    ),
    (
        "service_cell",
        include_str!("../lualib/service/service_cell.lua"),
    ),
];

/// The source of embedded service `name`.
pub(crate) fn service(name: &str) -> Option<&'static str> {
    SERVICES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, src)| *src)
}

/// The source of embedded module `name`.
pub(crate) fn find(name: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, src)| *src)
}

/// The chunk name of an embedded module, as tracebacks show it.
pub(crate) fn chunkname(name: &str) -> String {
    format!("@embedded/{}.lua", name.replace('.', "/"))
}

/// Every embedded chunk, as (chunk name, source): the modules, the preloaded host modules
/// and the services (the chunk names their loaders use).
pub(crate) fn all_chunks() -> impl Iterator<Item = (String, &'static str)> {
    MODULES
        .iter()
        .chain(PRELOADED)
        .map(|(n, src)| (chunkname(n), *src))
        .chain(
            SERVICES
                .iter()
                .map(|(n, src)| (format!("@embedded/service/{n}.lua"), *src)),
        )
}
