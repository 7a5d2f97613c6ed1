//! The command line's subcommands, each a module of arguments and the function that
//! runs them; `main.rs` only parses and dispatches.

pub mod keys;
pub mod query;
pub mod run;
