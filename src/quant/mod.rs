//! Quantizers: pure encoders from vectors to codes.

pub(crate) mod binary;
pub(crate) mod scalar;
pub(crate) mod stats;
