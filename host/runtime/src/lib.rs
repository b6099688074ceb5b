//! hub-runtime
