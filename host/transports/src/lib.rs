//! hub-transports
