//! Identifier newtypes: event ids, Keptn contexts and git commit ids.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string as it is, without checking its form.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps the identifier.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_newtype!(
    /// The `id` of an event (a UUID for events Keptn creates; any non-empty string is accepted).
    EventId
);
string_newtype!(
    /// The `shkeptncontext` that groups every event of one flow (a UUID).
    KeptnContext
);
string_newtype!(
    /// The `gitcommitid` of the configuration a sequence works with.
    GitCommitId
);

impl EventId {
    /// A new random (v4) event id.
    pub fn generate() -> Self {
        Self(Uuid::new_v4().to_string())
    }
}

impl KeptnContext {
    /// A new random (v4) Keptn context.
    pub fn generate() -> Self {
        Self(Uuid::new_v4().to_string())
    }

    /// Derives the Keptn context of an incoming event the way the Keptn API does:
    ///
    /// - a valid UUID is kept as it is;
    /// - any other non-empty string is right-padded with spaces to 16 bytes, and its first 16
    ///   bytes seed a version-4 UUID, so the same string always yields the same context;
    /// - an empty or missing value yields a new random context.
    pub fn derive(value: Option<&str>) -> Self {
        match value {
            None | Some("") => Self::generate(),
            Some(s) => match Uuid::parse_str(s) {
                Ok(_) => Self(s.to_owned()),
                Err(_) => Self(seeded_uuid(s).to_string()),
            },
        }
    }

    /// Whether the context is a well-formed UUID.
    pub fn is_uuid(&self) -> bool {
        Uuid::parse_str(&self.0).is_ok()
    }
}

/// A version-4 UUID whose 122 random bits come from the first 16 bytes of `seed` (right-padded
/// with spaces), as a UUID created from a reader over those bytes would.
fn seeded_uuid(seed: &str) -> Uuid {
    let mut bytes = [b' '; 16];
    for (slot, byte) in bytes.iter_mut().zip(seed.bytes()) {
        *slot = byte;
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_contexts_are_kept() {
        let ctx = "a3e5f16d-8888-4720-82c7-6995062905c1";
        assert_eq!(KeptnContext::derive(Some(ctx)).as_str(), ctx);
    }

    #[test]
    fn non_uuid_contexts_seed_a_deterministic_uuid() {
        let a = KeptnContext::derive(Some("my-context"));
        let b = KeptnContext::derive(Some("my-context"));
        let c = KeptnContext::derive(Some("other-context"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.is_uuid());
        let parsed = Uuid::parse_str(a.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn long_seeds_use_their_first_sixteen_bytes() {
        let a = KeptnContext::derive(Some("0123456789abcdefXYZ"));
        let b = KeptnContext::derive(Some("0123456789abcdef"));
        assert_eq!(a, b);
    }

    #[test]
    fn empty_contexts_are_generated() {
        let a = KeptnContext::derive(Some(""));
        let b = KeptnContext::derive(None);
        assert!(a.is_uuid() && b.is_uuid());
        assert_ne!(a, b);
    }
}
