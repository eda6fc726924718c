//! skynet-runtime (being written).
