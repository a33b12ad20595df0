//! A fresh PostgreSQL database per test, on the server of `IRENE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, which scripts/postgres.sh makes sure answers):
//! the bench's scratch database. A test that needs one fails when the server is away.

pub use irene::bench_instances::ScratchDb as TestDb;

pub fn create() -> TestDb {
    let admin = std::env::var("IRENE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    TestDb::create(&admin).unwrap_or_else(|e| panic!("{admin}: {e} (run scripts/postgres.sh)"))
}
