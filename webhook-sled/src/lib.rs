//! webhook-sled (in progress).
