//! Rules (to be written).
