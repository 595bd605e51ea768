//! Secrets (API keys, passphrases) and settings read from the environment.

use zeroize::Zeroizing;

/// An API key or access token: zeroized on drop, never shown by `Debug` or `Display`.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself, to put in a request header or form.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Looks a setting up by name: `std::env::var` in production, a map in tests (so tests never
/// have to modify the process environment).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `std::env::var` as a [`Lookup`] (unset or non-UTF-8 variables count as unset).
pub fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
