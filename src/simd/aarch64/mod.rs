//! aarch64 kernels. NEON is part of the aarch64 baseline, so it needs no detection; the
//! dot-product instructions (`sdot`) are detected.

pub(super) mod neon;

pub(super) fn has_dotprod() -> bool {
    std::arch::is_aarch64_feature_detected!("dotprod")
}
