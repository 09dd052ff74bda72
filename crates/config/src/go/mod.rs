//! Small re-implementations of the Go standard library behaviour the toolkit's texts and
//! semantics depend on.

pub mod io;
pub mod path;
pub mod pem;
