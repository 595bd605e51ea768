//! Backend selection: which burn device trains.
//!
//! The training step is integer-exact (see [`crate::arithmetic`]), so every backend computes
//! the same bits: any backend mines, any backend verifies (`docs/proof-of-training.md`, "the
//! GPU rule"). `flex` (burn-flex, pure-Rust CPU) is the default, `ndarray` (burn-ndarray) is
//! kept for comparison, `wgpu` trains on a GPU (or on software Vulkan).

use burn::tensor::Device;

/// A backend compiled into this build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// burn-flex on the CPU: the default.
    #[cfg(feature = "flex")]
    Flex,
    /// burn-ndarray on the CPU (deprecated by burn, kept for comparison).
    #[cfg(feature = "ndarray")]
    NdArray,
    /// wgpu: the best adapter wgpu finds (a GPU, or lavapipe software Vulkan).
    #[cfg(feature = "wgpu")]
    Wgpu,
}

/// A backend name that is unknown or not compiled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown or disabled backend {0:?}; this build has: {list}", list = Backend::available().iter().map(|b| b.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownBackend(pub String);

impl Backend {
    /// The default backend (the fastest CPU backend; any backend gives the same bits).
    #[cfg(feature = "flex")]
    pub const DEFAULT: Backend = Backend::Flex;

    /// The backends compiled into this build, the default first.
    pub fn available() -> Vec<Backend> {
        vec![
            #[cfg(feature = "flex")]
            Backend::Flex,
            #[cfg(feature = "ndarray")]
            Backend::NdArray,
            #[cfg(feature = "wgpu")]
            Backend::Wgpu,
        ]
    }

    /// The backend's short name (`flex`, `ndarray`, `wgpu`).
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => "flex",
            #[cfg(feature = "ndarray")]
            Backend::NdArray => "ndarray",
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => "wgpu",
        }
    }

    /// A burn device of this backend.
    pub fn device(self) -> Device {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Device::flex(),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)] // burn deprecates ndarray; it is kept here on purpose.
            Backend::NdArray => Device::ndarray(),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = UnknownBackend;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::available()
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBackend(s.to_string()))
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
