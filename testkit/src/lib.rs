//! Test support: real servers for the tests that need them (NATS, PostgreSQL, a
//! MongoDB-compatible server, Prometheus).
//!
//! Each server runs as a private process on a free loopback port with its data in a temporary
//! directory. A small watchdog shell stops the server when the test process goes away, even if the
//! test process is killed, so no server outlives its tests.
//!
//! When a server binary is missing, the start functions fail with a message that says how to
//! install it (`scripts/test.sh` installs everything); tests never pass silently without their
//! server.

mod mongo;
mod nats;
mod postgres;
mod process;
mod prometheus;

pub use mongo::MongoServer;
pub use nats::NatsServer;
pub use postgres::PostgresServer;
pub use process::{free_port, wait_for_port};
pub use prometheus::PrometheusServer;
