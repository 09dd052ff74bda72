//! The config watcher (hot reload). Owned by the reload issue; filled in there.
