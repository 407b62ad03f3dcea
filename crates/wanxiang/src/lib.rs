//! The `wanxiang` binary's library half: configuration, wiring of store, geography and API, the
//! server's lifecycle, and the command-line tools. `main.rs` only parses arguments and calls in.
//!
//! Architecture invariant: this is the only crate that knows every other crate; it decides which
//! store backend runs, reads files and the environment, owns signals and background tasks.

pub mod bench_cmd;
pub mod bench_services;
pub mod config;
pub mod devices_cmd;
pub mod events_cmd;
pub mod geo_cmd;
pub mod seed_cmd;
pub mod serve;
pub mod simulate;
pub mod storage;
