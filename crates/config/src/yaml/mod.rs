//! YAML reading with yaml.v2 semantics: a node tree from yaml-rust2 events, yaml.v2's syntax
//! error texts, and yaml.v2's (YAML 1.1) scalar resolution.

pub mod resolve;
pub mod syntax;
pub mod tree;
