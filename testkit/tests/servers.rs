//! The test servers start, answer, restart and stop.

use std::net::TcpStream;
use std::process::Command;

use keptn_testkit::{NatsServer, PostgresServer};

#[test]
fn nats_server_starts_restarts_after_a_kill_and_stops() {
    let mut nats = NatsServer::start().unwrap();
    let port = nats.port();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    nats.kill().unwrap();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    nats.restart().unwrap();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert!(nats.is_running());
    drop(nats);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn postgres_server_creates_fresh_databases() {
    let pg = PostgresServer::shared().unwrap();
    let a = pg.create_database().unwrap();
    let b = pg.create_database().unwrap();
    assert_ne!(a, b);
    let out = Command::new("psql")
        .arg(&a)
        .args(["-tAc", "select 40 + 2"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
}
