//! webhook-http (in progress).
