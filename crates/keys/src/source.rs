//! Choosing where private keys come from by name: the operating system, a simulated qubit,
//! IBM Quantum or ANU Quantum Numbers, each opened with its health tests and conditioning.
//!
//! ```
//! use ann_keys::{KeySource, PrivateKey};
//!
//! let source: KeySource = "simulated".parse()?;
//! let mut entropy = source.open([7; 32])?;
//! let key = PrivateKey::generate(entropy.as_mut())?;
//! # let _ = key;
//! assert_eq!(source.to_string(), "simulated");
//! assert!("dice".parse::<KeySource>().is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "remote")]
use crate::anu::{self, AnuQrng};
use crate::entropy::{Conditioned, EntropyError, EntropySource, OsEntropy, SimulatedQubit};
#[cfg(feature = "remote")]
use crate::ibm::{self, IbmQuantum};

/// Where private keys come from. The quantum services need the crate feature `remote` (on by
/// default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeySource {
    /// The operating system's random number generator.
    Os,
    /// A simulated biased qubit (seeded: the same seed gives the same raw bits), health-tested,
    /// conditioned and mixed with OS randomness like a real one.
    Simulated,
    /// IBM Quantum (Qiskit Runtime REST API); needs `IBM_QUANTUM_API_KEY`,
    /// `IBM_QUANTUM_INSTANCE` and `IBM_QUANTUM_BACKEND`.
    #[cfg(feature = "remote")]
    Ibm,
    /// ANU Quantum Numbers; needs `ANU_QRNG_API_KEY`.
    #[cfg(feature = "remote")]
    Anu,
}

impl KeySource {
    /// Every source compiled into this build, in the order of [`KeySource::NAMES`].
    pub const ALL: &'static [KeySource] = &[
        KeySource::Os,
        KeySource::Simulated,
        #[cfg(feature = "remote")]
        KeySource::Ibm,
        #[cfg(feature = "remote")]
        KeySource::Anu,
    ];

    /// The names of the sources compiled into this build, as parsed and displayed.
    pub const NAMES: &'static [&'static str] = &[
        KeySource::Os.name(),
        KeySource::Simulated.name(),
        #[cfg(feature = "remote")]
        KeySource::Ibm.name(),
        #[cfg(feature = "remote")]
        KeySource::Anu.name(),
    ];

    /// The names of the sources that need a crate feature this build lacks (`remote`).
    const NEEDS_REMOTE: [&'static str; 2] = ["ibm", "anu"];

    /// The source's name.
    pub const fn name(self) -> &'static str {
        match self {
            KeySource::Os => "os",
            KeySource::Simulated => "simulated",
            #[cfg(feature = "remote")]
            KeySource::Ibm => "ibm",
            #[cfg(feature = "remote")]
            KeySource::Anu => "anu",
        }
    }

    /// IBM or ANU when their API key is set (non-empty UTF-8) in the environment, else the
    /// simulated qubit (always, without the feature `remote`).
    pub fn from_environment() -> KeySource {
        // The clients read their settings through the same lookup.
        Self::from_lookup(|name| crate::secret::environment(name).is_some())
    }

    #[cfg(feature = "remote")]
    fn from_lookup(is_set: impl Fn(&str) -> bool) -> KeySource {
        if is_set(ibm::ENV_API_KEY) {
            KeySource::Ibm
        } else if is_set(anu::ENV_API_KEY) {
            KeySource::Anu
        } else {
            KeySource::Simulated
        }
    }

    #[cfg(not(feature = "remote"))]
    fn from_lookup(_is_set: impl Fn(&str) -> bool) -> KeySource {
        KeySource::Simulated
    }

    /// An entropy source of this kind; `seed` seeds the simulated qubit (the others ignore
    /// it). Quantum sources read their configuration from the environment.
    ///
    /// # Errors
    /// [`EntropyError`]: missing credentials or configuration, or a source that fails its
    /// start-up health tests.
    pub fn open(self, seed: [u8; 32]) -> Result<Box<dyn EntropySource>, EntropyError> {
        Ok(match self {
            KeySource::Os => Box::new(OsEntropy),
            KeySource::Simulated => Box::new(Conditioned::new(SimulatedQubit::new(
                seed,
                SimulatedQubit::TYPICAL_P_ONE,
            ))?),
            #[cfg(feature = "remote")]
            KeySource::Ibm => Box::new(Conditioned::new(IbmQuantum::from_env()?)?),
            #[cfg(feature = "remote")]
            KeySource::Anu => Box::new(Conditioned::new(AnuQrng::from_env()?)?),
        })
    }
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A key source name that is none of [`KeySource::NAMES`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnknownKeySource {
    /// No such source.
    #[error("unknown key source {0:?} (expected one of: {names})", names = KeySource::NAMES.join(", "))]
    Unknown(String),
    /// A quantum service, in a build without the crate feature `remote`.
    #[error("key source {0:?} is not in this build: it needs ann-keys' feature `remote`")]
    NotCompiled(String),
}

impl std::str::FromStr for KeySource {
    type Err = UnknownKeySource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(source) = KeySource::ALL
            .iter()
            .find(|source| source.name().eq_ignore_ascii_case(s))
        {
            return Ok(*source);
        }
        // Not among the compiled sources: a quantum service's name means the feature is off.
        let needs_remote = KeySource::NEEDS_REMOTE
            .iter()
            .any(|name| name.eq_ignore_ascii_case(s));
        Err(if needs_remote {
            UnknownKeySource::NotCompiled(s.to_owned())
        } else {
            UnknownKeySource::Unknown(s.to_owned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for (&source, &name) in KeySource::ALL.iter().zip(KeySource::NAMES) {
            assert_eq!(source.name(), name);
            assert_eq!(name.parse::<KeySource>(), Ok(source));
            assert_eq!(name.to_uppercase().parse::<KeySource>(), Ok(source));
        }
        assert_eq!(
            "qrng".parse::<KeySource>(),
            Err(UnknownKeySource::Unknown("qrng".into()))
        );
        assert!("".parse::<KeySource>().is_err());
    }

    #[cfg(not(feature = "remote"))]
    #[test]
    fn without_remote_the_quantum_services_are_named_as_missing_features() {
        assert_eq!(KeySource::NAMES, ["os", "simulated"]);
        assert_eq!(
            "IBM".parse::<KeySource>(),
            Err(UnknownKeySource::NotCompiled("IBM".into()))
        );
        let err = "anu".parse::<KeySource>().expect_err("not compiled in");
        assert!(err.to_string().contains("feature `remote`"), "{err}");
        assert_eq!(KeySource::from_lookup(|_| true), KeySource::Simulated);
    }

    #[cfg(feature = "remote")]
    #[test]
    fn the_environment_picks_a_configured_quantum_service_first() {
        let only = |set: &'static [&'static str]| move |name: &str| set.contains(&name);
        assert_eq!(KeySource::from_lookup(only(&[])), KeySource::Simulated);
        assert_eq!(
            KeySource::from_lookup(only(&[anu::ENV_API_KEY])),
            KeySource::Anu
        );
        assert_eq!(
            KeySource::from_lookup(only(&[anu::ENV_API_KEY, ibm::ENV_API_KEY])),
            KeySource::Ibm
        );
    }

    #[test]
    fn a_simulated_source_is_seeded_and_health_tested() {
        let mut source = KeySource::Simulated.open([3; 32]).expect("a healthy qubit");
        assert!(source.name().contains("simulated"), "{}", source.name());
        let mut bytes = [0u8; 32];
        source.fill(&mut bytes).expect("entropy");
        assert_ne!(bytes, [0; 32]);
    }
}
