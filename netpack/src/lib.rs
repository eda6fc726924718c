//! skynet's client packet framing (placeholder, being written).
