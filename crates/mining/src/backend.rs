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
#[non_exhaustive]
pub enum UnknownBackend {
    /// No backend has this name.
    #[error("unknown backend {0:?}; this build has: {list}", list = available_names())]
    Unknown(String),
    /// A backend of ann-mining that this build leaves out: its crate feature (of the same
    /// name) is off.
    #[error("backend {0:?} is not in this build (it has: {list}); rebuild with the feature: `cargo run --release --features {0} ...`", list = available_names())]
    NotCompiled(String),
}

/// Every backend ann-mining can build, compiled in or not.
const ALL_NAMES: [&str; 3] = ["flex", "ndarray", "wgpu"];

fn available_names() -> String {
    Backend::available()
        .iter()
        .map(|b| b.name())
        .collect::<Vec<_>>()
        .join(", ")
}

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
            .ok_or_else(|| {
                if ALL_NAMES.contains(&s) {
                    UnknownBackend::NotCompiled(s.to_string())
                } else {
                    UnknownBackend::Unknown(s.to_string())
                }
            })
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_a_missing_feature_is_named() {
        for backend in Backend::available() {
            assert_eq!(backend.name().parse::<Backend>(), Ok(backend));
            assert!(ALL_NAMES.contains(&backend.name()));
        }
        assert_eq!(
            "tpu".parse::<Backend>(),
            Err(UnknownBackend::Unknown("tpu".into()))
        );
        for name in ALL_NAMES {
            if !Backend::available().iter().any(|b| b.name() == name) {
                let err = name.parse::<Backend>().expect_err("not compiled in");
                assert_eq!(err, UnknownBackend::NotCompiled(name.into()));
                assert!(err.to_string().contains("--features"), "{err}");
            }
        }
    }
}
