//! Versioned schema migrations, per component.

use super::DbError;

/// One schema change of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The version this migration brings the component's schema to (1, 2, 3...).
    pub version: u32,
    /// What it does, for people reading `keptn_migrations`.
    pub description: &'static str,
    /// The SQL, one or more statements. Once released, never edit it: add a new version.
    pub sql: &'static str,
}

/// The migrations of one component, in ascending version order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrations {
    /// The component's name (`datastore`, `sequences`), unique within a database.
    pub component: &'static str,
    /// The migrations, ascending by version.
    pub steps: &'static [Migration],
}

/// The table recording applied migrations; the same DDL works on SQLite and PostgreSQL.
pub(crate) const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS keptn_migrations (
    component TEXT NOT NULL,
    version BIGINT NOT NULL,
    description TEXT NOT NULL,
    checksum BIGINT NOT NULL,
    applied_at_ms BIGINT NOT NULL,
    PRIMARY KEY (component, version)
)";

impl Migrations {
    /// Checks the order of the steps and returns the highest version.
    pub(crate) fn check(&self) -> Result<u32, DbError> {
        let mut last = 0;
        for step in self.steps {
            if step.version <= last {
                return Err(DbError::MigrationOrder {
                    component: self.component,
                    version: step.version,
                });
            }
            last = step.version;
        }
        Ok(last)
    }

    /// Decides what to do given the applied `(version, checksum)` pairs: the steps still to
    /// apply, or an error when an applied step changed or the schema is newer than the build.
    pub(crate) fn pending(
        &self,
        applied: &[(i64, i64)],
    ) -> Result<Vec<&'static Migration>, DbError> {
        let known = self.check()?;
        if let Some(found) = applied.iter().map(|(v, _)| *v).max() {
            if found > i64::from(known) {
                return Err(DbError::SchemaTooNew {
                    component: self.component,
                    found,
                    known,
                });
            }
        }
        let mut pending = Vec::new();
        for step in self.steps {
            match applied.iter().find(|(v, _)| *v == i64::from(step.version)) {
                Some((_, sum)) if *sum != checksum(step.sql) => {
                    return Err(DbError::MigrationChanged {
                        component: self.component,
                        version: step.version,
                    });
                }
                Some(_) => {}
                None => pending.push(step),
            }
        }
        Ok(pending)
    }
}

/// FNV-1a of the migration's SQL, as the `i64` both databases store.
pub(crate) fn checksum(sql: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sql.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Milliseconds since the epoch, for `applied_at_ms`.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    static STEPS: [Migration; 2] = [
        Migration {
            version: 1,
            description: "a",
            sql: "CREATE TABLE a (x INTEGER)",
        },
        Migration {
            version: 2,
            description: "b",
            sql: "CREATE TABLE b (x INTEGER)",
        },
    ];
    static M: Migrations = Migrations {
        component: "test",
        steps: &STEPS,
    };

    #[test]
    fn pending_skips_applied_steps_and_rejects_changed_or_newer_ones() {
        assert_eq!(M.pending(&[]).unwrap().len(), 2);
        let applied = [(1, checksum(STEPS[0].sql))];
        assert_eq!(M.pending(&applied).unwrap()[0].version, 2);
        let changed = [(1, 42)];
        assert!(matches!(
            M.pending(&changed),
            Err(DbError::MigrationChanged { version: 1, .. })
        ));
        let newer = [(3, 0)];
        assert!(matches!(
            M.pending(&newer),
            Err(DbError::SchemaTooNew { found: 3, .. })
        ));
    }
}
