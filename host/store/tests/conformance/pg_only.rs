//! What only the PostgreSQL backend has: a connection with a password, over TLS.

use hub_store::{PgOptions, PgStore, Store};

use crate::{Backend, Pg};

#[test]
fn a_wrong_password_is_reported_without_any_password() {
    let Some(pg) = Pg::fresh() else { return };
    let wrong = "wrong-pw-5c1e9";
    let err = PgStore::open(&PgOptions {
        password: Some(wrong.into()),
        ..pg.options()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(err.contains("postgres://hub@127.0.0.1:"), "{err}");
    assert!(!err.contains(wrong), "{err}");
    assert!(!err.contains(hub_testpg::PASSWORD), "{err}");
    // A password in the URL never reaches a message either.
    let url = pg.url.replacen("hub@", &format!("hub:{wrong}@"), 1);
    let err = PgStore::open(&PgOptions {
        url,
        password: None,
        ca_file: None,
    })
    .unwrap_err()
    .to_string();
    assert!(!err.contains(wrong), "{err}");
}

#[test]
fn tls_verifies_the_server_against_the_configured_ca() {
    let Some(pg) = Pg::fresh() else { return };
    let db = pg
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    let mut store = PgStore::open(&PgOptions {
        url: pg.cluster.url(db, "verify-full"),
        ca_file: Some(pg.cluster.ca_file()),
        ..pg.options()
    })
    .unwrap();
    store.counts(None).unwrap();
    // The session is encrypted.
    let mut client = {
        let mut c: postgres::Config = pg.url.parse().unwrap();
        c.password(hub_testpg::PASSWORD);
        c.connect(postgres::NoTls).unwrap()
    };
    let tls_sessions: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE s.ssl AND a.application_name = 'hub'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tls_sessions, 1);
    // Without the test CA, the platform's roots do not trust the server: refused.
    let err = PgStore::open(&PgOptions {
        url: pg.cluster.url(db, "require"),
        ca_file: None,
        ..pg.options()
    })
    .unwrap_err()
    .to_string();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn an_enqueue_on_one_connection_wakes_a_worker_waiting_on_another() {
    use std::time::{Duration, Instant};
    let Some(pg) = Pg::fresh() else { return };
    let mut waiting = pg.open().unwrap();
    waiting.listen().unwrap();
    // Nothing enqueued: the wait ends at its timeout.
    assert_eq!(
        waiting.wait_for_work(Duration::from_millis(50)).unwrap(),
        None
    );
    let mut other = pg.open().unwrap();
    let enqueue = std::thread::spawn(move || {
        other
            .enqueue(
                "prisme",
                &[crate::support::rec("a", None, None, "1")],
                hub_core::time::Timestamp(0),
            )
            .unwrap();
    });
    let started = Instant::now();
    assert_eq!(
        waiting.wait_for_work(Duration::from_secs(30)).unwrap(),
        Some("prisme".to_string())
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    enqueue.join().unwrap();
    // A duplicate queues nothing and wakes no one.
    let mut again = pg.open().unwrap();
    again
        .enqueue(
            "prisme",
            &[crate::support::rec("a", None, None, "1")],
            hub_core::time::Timestamp(0),
        )
        .unwrap();
    assert_eq!(
        waiting.wait_for_work(Duration::from_millis(200)).unwrap(),
        None
    );
}
