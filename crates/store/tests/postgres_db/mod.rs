//! A fresh PostgreSQL database per test, made through `IRENE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and dropped `WITH (FORCE)` when its guard drops.
//! PostgreSQL not answering fails the test with a clear message: it is never skipped.
#![allow(dead_code)]

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database made for one test; dropped (with its connections) when this is.
pub struct TestDb {
    pub url: String,
    name: String,
    admin: String,
}

fn admin_url() -> String {
    std::env::var("IRENE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let rest = base
        .split_once("://")
        .map(|(_, r)| r)
        .expect("IRENE_TEST_POSTGRES_URL must be a postgres:// URL");
    let prefix = if rest.contains('/') {
        &base[..base.rfind('/').expect("a slash")]
    } else {
        base
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

async fn admin_connection(admin: &str) -> PgConnection {
    PgConnection::connect(admin).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable through IRENE_TEST_POSTGRES_URL (default {DEFAULT_URL}): \
             {e}. Start it (scripts/postgres.sh) — these tests need a real PostgreSQL."
        )
    })
}

/// Creates an empty database `irene_t_<uuid>`.
pub async fn create() -> TestDb {
    let admin = admin_url();
    let name = format!("irene_t_{}", Uuid::now_v7().simple());
    let mut conn = admin_connection(&admin).await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create the test database");
    conn.close().await.ok();
    TestDb {
        url: with_database(&admin, &name),
        name,
        admin,
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // its own runtime on its own thread: the test's runtime may be shutting down
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let mut conn = admin_connection(&admin).await;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}
