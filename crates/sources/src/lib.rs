//! Decoders (to be written).
