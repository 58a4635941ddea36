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
    /// A new event id: a time-ordered (version 7) UUID. Ids made one after another sort one
    /// after another, so an event store's id index grows at its end instead of at random
    /// places (ADR 0004 in `docs/adr/`); they are as unique as random ones.
    pub fn generate() -> Self {
        Self(Uuid::now_v7().to_string())
    }

    /// An id derived from `self` (the id of the event it answers or follows) and `suffix` in
    /// `namespace`: the same inputs always give the same id.
    ///
    /// When `self` is a time-ordered (version 7) UUID, as [`EventId::generate`] makes, the
    /// result keeps its 48-bit timestamp and fills the rest from the name-based (SHA-1) hash:
    /// a version 8 UUID that sorts next to the event it derives from, so derived ids also grow
    /// an id index at its end. Any other id gives the plain name-based (version 5) UUID of
    /// `self` followed by `suffix`, as ids were derived before time-ordered ids existed.
    pub fn derive(&self, namespace: &Uuid, suffix: &str) -> EventId {
        let key = format!("{}{}", self.0, suffix);
        let hashed = Uuid::new_v5(namespace, key.as_bytes());
        match Uuid::parse_str(&self.0) {
            Ok(parent) if parent.get_version_num() == 7 => {
                let mut bytes = *hashed.as_bytes();
                bytes[..6].copy_from_slice(&parent.as_bytes()[..6]);
                Self(
                    uuid::Builder::from_custom_bytes(bytes)
                        .into_uuid()
                        .to_string(),
                )
            }
            _ => Self(hashed.to_string()),
        }
    }
}

impl KeptnContext {
    /// A new Keptn context: a time-ordered (version 7) UUID, like [`EventId::generate`].
    pub fn generate() -> Self {
        Self(Uuid::now_v7().to_string())
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
    fn generated_ids_are_time_ordered() {
        let ids: Vec<EventId> = (0..64).map(|_| EventId::generate()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0].as_str() < pair[1].as_str(), "{pair:?}");
        }
        let parsed = Uuid::parse_str(ids[0].as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
    }

    #[test]
    fn ids_derived_from_time_ordered_ids_keep_their_time() {
        let ns = Uuid::from_u128(1);
        let parent = EventId::generate();
        let a = parent.derive(&ns, "|svc|started");
        assert_eq!(a, parent.derive(&ns, "|svc|started"));
        assert_ne!(a, parent.derive(&ns, "|svc|finished"));
        let (p, d) = (
            Uuid::parse_str(parent.as_str()).unwrap(),
            Uuid::parse_str(a.as_str()).unwrap(),
        );
        assert_eq!(d.get_version_num(), 8);
        assert_eq!(p.as_bytes()[..6], d.as_bytes()[..6]);
        // Any other parent: the name-based UUID of "parent|name".
        let old = EventId::new("2ca20973-b419-41ef-8740-bddcca238487");
        let expected = Uuid::new_v5(&ns, b"2ca20973-b419-41ef-8740-bddcca238487|x");
        assert_eq!(old.derive(&ns, "|x").as_str(), expected.to_string());
        assert_eq!(EventId::new("plain").derive(&ns, "|x").as_str().len(), 36);
    }

    #[test]
    fn empty_contexts_are_generated() {
        let a = KeptnContext::derive(Some(""));
        let b = KeptnContext::derive(None);
        assert!(a.is_uuid() && b.is_uuid());
        assert_ne!(a, b);
    }
}
