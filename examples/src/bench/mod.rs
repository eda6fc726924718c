//! Benchmarks for `cargo run --release -p skynet-examples --bin bench -- NAME`.
//!
//! Every benchmark prints exactly one JSON line with at least the keys `bench` and
//! `ops_per_sec`. Timings are reported, never asserted.

pub mod args;
pub mod cluster;
pub mod echo;
pub mod flood;
pub mod json;
pub mod lua;
pub mod netpack;
pub mod raw_echo;
pub mod runtime;
pub mod summary;
pub mod web;
