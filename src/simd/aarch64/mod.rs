//! aarch64 kernels. NEON is part of the aarch64 baseline, so it needs no detection.

pub(super) mod neon;
