//! The schema's migrations for every backend, in one ordered list: each has its number,
//! its name, and its SQL for SQLite and for PostgreSQL. Both backends apply it the same
//! way when a store opens: every migration not yet in `schema_migrations` runs once, in
//! order, in the opening transaction; a store holding a migration this hub does not know
//! is refused.

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub id: u32,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Every migration, ascending by id. Ids may have gaps (see `sqlite.rs`).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        id: 1,
        name: "initial",
        sqlite: include_str!("../migrations/001_initial.sql"),
        postgres: include_str!("../migrations/postgres/001_initial.sql"),
    },
    Migration {
        id: 2,
        name: "receiving",
        sqlite: include_str!("../migrations/002_receiving.sql"),
        postgres: include_str!("../migrations/postgres/002_receiving.sql"),
    },
    Migration {
        id: 3,
        name: "plugin_provenance",
        sqlite: include_str!("../migrations/003_plugin_provenance.sql"),
        postgres: include_str!("../migrations/postgres/003_plugin_provenance.sql"),
    },
    Migration {
        id: 4,
        name: "in_doubt",
        sqlite: include_str!("../migrations/004_in_doubt.sql"),
        postgres: include_str!("../migrations/postgres/004_in_doubt.sql"),
    },
    Migration {
        id: 5,
        name: "leases",
        sqlite: include_str!("../migrations/005_leases.sql"),
        postgres: include_str!("../migrations/postgres/005_leases.sql"),
    },
    Migration {
        id: 6,
        name: "backoff",
        sqlite: include_str!("../migrations/006_backoff.sql"),
        postgres: include_str!("../migrations/postgres/006_backoff.sql"),
    },
    Migration {
        id: 7,
        name: "answer_bytes",
        sqlite: include_str!("../migrations/007_answer_bytes.sql"),
        postgres: include_str!("../migrations/postgres/007_answer_bytes.sql"),
    },
    Migration {
        id: 8,
        name: "pages",
        sqlite: include_str!("../migrations/008_pages.sql"),
        postgres: include_str!("../migrations/postgres/008_pages.sql"),
    },
    Migration {
        id: 9,
        name: "data_protection",
        sqlite: include_str!("../migrations/009_data_protection.sql"),
        postgres: include_str!("../migrations/postgres/009_data_protection.sql"),
    },
    Migration {
        id: 10,
        name: "sealed",
        sqlite: include_str!("../migrations/010_sealed.sql"),
        postgres: include_str!("../migrations/postgres/010_sealed.sql"),
    },
    // Ids may have gaps (011 was kept free for parallel work), and a migration merged in
    // below the highest applied one still runs.
    Migration {
        id: 12,
        name: "schedule_looks",
        sqlite: include_str!("../migrations/012_schedule_looks.sql"),
        postgres: include_str!("../migrations/postgres/012_schedule_looks.sql"),
    },
    Migration {
        id: 13,
        name: "encode_inputs",
        sqlite: include_str!("../migrations/013_encode_inputs.sql"),
        postgres: include_str!("../migrations/postgres/013_encode_inputs.sql"),
    },
    Migration {
        id: 14,
        name: "received_sealed",
        sqlite: include_str!("../migrations/014_received_sealed.sql"),
        postgres: include_str!("../migrations/postgres/014_received_sealed.sql"),
    },
    Migration {
        id: 15,
        name: "transfer_states",
        sqlite: include_str!("../migrations/015_transfer_states.sql"),
        postgres: include_str!("../migrations/postgres/015_transfer_states.sql"),
    },
    Migration {
        id: 16,
        name: "pauses",
        sqlite: include_str!("../migrations/016_pauses.sql"),
        postgres: include_str!("../migrations/postgres/016_pauses.sql"),
    },
    Migration {
        id: 17,
        name: "request_shape",
        sqlite: include_str!("../migrations/017_request_shape.sql"),
        postgres: include_str!("../migrations/postgres/017_request_shape.sql"),
    },
    Migration {
        id: 18,
        name: "attempt_counts",
        sqlite: include_str!("../migrations/018_attempt_counts.sql"),
        postgres: include_str!("../migrations/postgres/018_attempt_counts.sql"),
    },
    Migration {
        id: 19,
        name: "leaner_records",
        sqlite: include_str!("../migrations/019_leaner_records.sql"),
        postgres: include_str!("../migrations/postgres/019_leaner_records.sql"),
    },
    Migration {
        id: 20,
        name: "queued_index",
        sqlite: include_str!("../migrations/020_queued_index.sql"),
        postgres: include_str!("../migrations/postgres/020_queued_index.sql"),
    },
    Migration {
        id: 21,
        name: "transfer_settle",
        sqlite: include_str!("../migrations/021_transfer_settle.sql"),
        postgres: include_str!("../migrations/postgres/021_transfer_settle.sql"),
    },
    Migration {
        id: 22,
        name: "compact_records",
        sqlite: include_str!("../migrations/022_compact_records.sql"),
        postgres: include_str!("../migrations/postgres/022_compact_records.sql"),
    },
    Migration {
        id: 23,
        name: "lean_history",
        sqlite: include_str!("../migrations/023_lean_history.sql"),
        postgres: include_str!("../migrations/postgres/023_lean_history.sql"),
    },
    Migration {
        id: 24,
        name: "few_states_index",
        sqlite: include_str!("../migrations/024_few_states_index.sql"),
        postgres: include_str!("../migrations/postgres/024_few_states_index.sql"),
    },
    Migration {
        id: 25,
        name: "packed_bodies",
        sqlite: include_str!("../migrations/025_packed_bodies.sql"),
        postgres: include_str!("../migrations/postgres/025_packed_bodies.sql"),
    },
];

/// The SQLite side of [`MIGRATIONS`], as `sqlite.rs`'s runner takes it.
pub(crate) const SQLITE: [(u32, &str); MIGRATIONS.len()] = {
    let mut out = [(0, ""); MIGRATIONS.len()];
    let mut i = 0;
    while i < MIGRATIONS.len() {
        out[i] = (MIGRATIONS[i].id, MIGRATIONS[i].sqlite);
        i += 1;
    }
    out
};

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn ids_ascend_and_every_migration_has_both_dialects() {
        for pair in MIGRATIONS.windows(2) {
            assert!(
                pair[0].id < pair[1].id,
                "{} before {}",
                pair[0].id,
                pair[1].id
            );
        }
        for m in MIGRATIONS {
            assert!(!m.sqlite.trim().is_empty(), "{:03} sqlite", m.id);
            assert!(!m.postgres.trim().is_empty(), "{:03} postgres", m.id);
        }
    }

    /// The partial index and the reads that use it name one condition (`few_states!`),
    /// and it lists exactly the states of `FEW_STATES`.
    #[test]
    fn the_few_states_index_is_partial_on_the_condition_the_reads_name() {
        let cond = few_states!();
        let m = MIGRATIONS.iter().find(|m| m.id == 24).unwrap();
        for sql in [m.sqlite, m.postgres] {
            assert!(sql.contains(&format!("WHERE {cond};")), "{sql}");
        }
        let listed: Vec<String> = crate::query::FEW_STATES
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(cond, format!("state IN ({})", listed.join(", ")));
    }
}
