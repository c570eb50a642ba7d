//! The `ledger` application: what the binaries' subcommands do, as functions over their inputs
//! and outputs so they can be tested without a process. `main.rs` and `bin/replay-tool.rs` only
//! parse arguments ([`cli`]) and call [`commands`].

pub mod api;
pub mod asyncapi;
pub mod auth;
pub mod background;
pub mod bench;
pub mod checkpoints;
pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod demo;
pub mod log_admin;
pub mod metrics;
pub mod notify;
pub mod openapi;
pub mod query;
pub mod reconcile;
pub mod rules;
pub mod running;
pub mod serve;
pub mod submit;
pub mod tabular;
pub mod tls;
pub mod validate;
