//! webhook-testkit (in progress).
