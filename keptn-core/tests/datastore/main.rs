//! Integration tests of the event store: the conformance suite on every backend, and what is
//! specific to each backend (query plans, migrations, concurrent writers).

mod memory;
#[cfg(feature = "mongodb")]
mod mongo;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
