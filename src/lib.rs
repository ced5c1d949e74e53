//! The seed's webhook API (work in progress).
