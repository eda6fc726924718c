//! `skynet-examples`: runnable programs (echo, chat, client, load client) and the `bench`
//! binary. Each benchmark lives in its own module under `bench/` and prints one JSON line.

pub mod bench;
pub mod cluster;
pub mod lua_node;
