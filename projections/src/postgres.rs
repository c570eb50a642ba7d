//! The read models' rows in PostgreSQL: one table `<schema>.rows (key bytea primary key,
//! value bytea)`, bytea ordering bytewise as sled's keys do, each fold step (its rows and its
//! checkpoints) one transaction.
//!
//! The client is the synchronous `postgres` crate, which runs its own small runtime; it lives
//! on a thread of its own, and callers (async tasks included) hand it work through a channel,
//! so no runtime is ever started inside another.

use std::ops::Bound;
use std::sync::mpsc;

use crate::row::{Entry, Row, Write};
use crate::StoreError;

/// The name the read models' schemas are made from: `read_models_g<N>`, `read_models_live`,
/// and the views in `read_models`.
pub const SCHEMA_BASE: &str = "read_models";

/// The read-only role analysts are granted (`GRANT ledger_analyst TO alice`).
pub const ANALYST: &str = "ledger_analyst";

/// The advisory lock [`PgConnection::ddl`] holds: one schema change at a time.
const DDL_LOCK: &str = "hashtext('order-ledger/schema-changes')";

/// Rows read per query of a range.
const PAGE: i64 = 512;

type Job = Box<dyn FnOnce(&mut postgres::Client) + Send>;

fn database(error: postgres::Error) -> StoreError {
    use postgres::error::SqlState;
    // The server's own message says what went wrong; the error's Display only "db error".
    match error.as_db_error() {
        Some(db) => {
            let message = format!(
                "PostgreSQL: {} (SQLSTATE {})",
                db.message(),
                db.code().code()
            );
            if [
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::T_R_DEADLOCK_DETECTED,
            ]
            .contains(db.code())
            {
                StoreError::Conflict(message)
            } else {
                StoreError::Storage(message)
            }
        }
        None => StoreError::Storage(format!("PostgreSQL: {error}")),
    }
}

/// Connects, with JIT compilation off for the session: the ledger's queries are short, and
/// the planner, guessing at ranges of unknown width, priced some high enough to compile them
/// — 77 ms of JIT for a 5 ms read of the merchants' holds.
fn connect(url: &str) -> Result<postgres::Client, postgres::Error> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    client.batch_execute("SET jit = off")?;
    Ok(client)
}

/// A connection to PostgreSQL on a thread of its own.
#[derive(Clone)]
pub struct PgConnection {
    jobs: mpsc::Sender<Job>,
}

impl PgConnection {
    pub fn open(url: &str) -> Result<PgConnection, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, connected) = mpsc::sync_channel(1);
        let url = url.to_owned();
        std::thread::Builder::new()
            .name("read-models-postgres".into())
            .spawn(move || match connect(&url) {
                Ok(mut client) => {
                    let _ = ready.send(Ok(()));
                    while let Ok(job) = queue.recv() {
                        job(&mut client);
                    }
                }
                Err(error) => {
                    let _ = ready.send(Err(database(error)));
                }
            })
            .map_err(|e| StoreError::Storage(format!("starting the PostgreSQL thread: {e}")))?;
        connected
            .recv()
            .map_err(|_| StoreError::Storage("the PostgreSQL thread ended".into()))??;
        Ok(PgConnection { jobs })
    }

    /// Runs `work` on the connection's thread and waits for its answer.
    pub fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut postgres::Client) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |client| {
            let _ = answer.send(work(client));
        });
        let gone = || StoreError::Storage("the PostgreSQL connection's thread ended".into());
        self.jobs.send(job).map_err(|_| gone())?;
        answered.recv().map_err(|_| gone())?
    }

    /// Runs SQL statements (no parameters, no rows back).
    pub fn batch(&self, sql: String) -> Result<(), StoreError> {
        self.call(move |client| client.batch_execute(&sql).map_err(database))
    }

    /// Runs statements that create, replace or drop schemas, tables and views: in one
    /// transaction (rolled back on an error), one session at a time across processes.
    /// `IF NOT EXISTS` is no guard against another session creating the same thing at the same
    /// moment: two instances starting together otherwise fail on a duplicate schema name.
    pub fn ddl(&self, sql: String) -> Result<(), StoreError> {
        self.call(move |client| {
            let mut transaction = client.transaction().map_err(database)?;
            transaction
                .batch_execute(&format!("SELECT pg_advisory_xact_lock({DDL_LOCK}); {sql}"))
                .map_err(database)?;
            transaction.commit().map_err(database)
        })
    }
}

/// Checks that `name` is a plain lower-case identifier, safe to write into SQL.
/// Drops every table and view of `schema` but its rows and their version: whatever shape an
/// older version's tables had.
fn drop_tables(schema: &str) -> String {
    format!(
        "DO $$ DECLARE r record; BEGIN
             FOR r IN SELECT c.relname, c.relkind FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'v')
                   AND c.relname NOT IN ('rows', 'tables_version')
             LOOP
                 EXECUTE format(CASE r.relkind WHEN 'v' THEN 'DROP VIEW IF EXISTS %I.%I CASCADE'
                     ELSE 'DROP TABLE IF EXISTS %I.%I CASCADE' END, '{schema}', r.relname);
             END LOOP;
         END $$; "
    )
}

pub fn check_name(name: &str) -> Result<(), StoreError> {
    let plain = !name.is_empty()
        && name.len() <= 48
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        Ok(())
    } else {
        Err(StoreError::Storage(format!(
            "schema name {name:?}: use a-z, 0-9 and _, starting with a letter, at most 48"
        )))
    }
}

/// A schema's rows, and its tables for people (`tables.rs`), written in the same
/// transactions.
pub struct PgRows {
    /// Queries: each statement on its own, seeing what is committed.
    connection: PgConnection,
    /// Fold steps, one transaction each ([`PgStep`]); the caller runs one step at a time.
    writer: PgConnection,
    schema: String,
    table: String,
}

impl PgRows {
    /// Connects to `url` and makes sure `schema`, its rows and its tables exist, the tables at
    /// this build's [`crate::tables::VERSION`]. Tables of another version are dropped and made
    /// anew and the rows emptied, so the read models are folded again from the log: they are
    /// derived data, and a refold is the migration that cannot go wrong.
    pub fn open(url: &str, schema: &str) -> Result<PgRows, StoreError> {
        check_name(schema)?;
        let connection = PgConnection::open(url)?;
        connection.ddl(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.rows (key bytea PRIMARY KEY, value bytea NOT NULL);
             CREATE TABLE IF NOT EXISTS {schema}.tables_version (
                 one boolean PRIMARY KEY DEFAULT true CHECK (one), version integer NOT NULL);"
        ))?;
        let version_sql = format!("SELECT version FROM {schema}.tables_version");
        let found = connection.call(move |client| {
            let row = client.query_opt(&version_sql, &[]).map_err(database)?;
            Ok(row.map(|row| row.get::<_, i32>(0)))
        })?;
        let current = crate::tables::VERSION;
        let mut setup = String::new();
        if let Some(found) = found.filter(|&found| found != current) {
            tracing::warn!(
                schema,
                found,
                current,
                "read-model tables of another version: made anew, folded again from the log"
            );
            setup.push_str(&drop_tables(schema));
            setup.push_str(&format!("TRUNCATE {schema}.rows; "));
        }
        setup.push_str(&crate::tables::create(schema));
        setup.push_str(&format!(
            " INSERT INTO {schema}.tables_version (version) VALUES ({current})
              ON CONFLICT (one) DO UPDATE SET version = excluded.version;"
        ));
        connection.ddl(setup)?;
        Ok(PgRows {
            connection,
            writer: PgConnection::open(url)?,
            schema: schema.to_owned(),
            table: format!("{schema}.rows"),
        })
    }

    fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut postgres::Client) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.connection.call(work)
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        get(&self.connection, &self.table, key)
    }

    /// The values of `keys` (each `None` when absent), in one query.
    pub fn get_many(&self, keys: Vec<Vec<u8>>) -> Result<Vec<Write>, StoreError> {
        get_many(&self.connection, &self.table, keys)
    }

    /// Begins a fold step: one REPEATABLE READ transaction on the writer connection, which its
    /// reads and its writes go through. Workers of other processes fold other partitions into
    /// the same rows at the same time, and that is safe at this level because of what a step
    /// touches:
    /// - every row it *reads* is a row of an aggregate whose events it folds, a
    ///   [part](crate::keys#parts) of its partitions, or its partitions' checkpoints;
    /// - and it *writes* each of those aggregates' sequence rows and those checkpoints.
    ///
    /// So two steps that share any row both write a row in common, and PostgreSQL lets only
    /// one of them commit ("could not serialize access due to concurrent update"): the other
    /// fails with [`StoreError::Conflict`] and is retried from the checkpoints it then reads.
    /// That is how a worker that lost its partition cannot fold over its successor. No write
    /// skew is left for SERIALIZABLE to catch — which, on the many rows a step reads, took
    /// page and relation predicate locks and failed steps of different partitions that shared
    /// nothing.
    ///
    /// So that a step that keeps losing to others (a long step against short ones over the
    /// same hot rows) still gets through, every step first takes the schema's step lock — a
    /// session advisory lock, taken before BEGIN so the transaction's snapshot is taken after
    /// any wait — shared, and `alone` takes it exclusively: it waits for the steps running
    /// and keeps new ones out until it ends, so it meets no other step.
    pub fn begin_step(&self, alone: bool) -> Result<PgStep<'_>, StoreError> {
        let lock = if alone {
            "pg_advisory_lock"
        } else {
            "pg_advisory_lock_shared"
        };
        self.writer.batch(format!(
            "SELECT {lock}(hashtext('order-ledger/steps/{}'))",
            self.schema
        ))?;
        let begun = self
            .writer
            .batch("BEGIN ISOLATION LEVEL REPEATABLE READ".to_owned());
        if let Err(error) = begun {
            let _ = self.writer.batch(UNLOCK_STEPS.to_owned());
            return Err(error);
        }
        Ok(PgStep {
            rows: self,
            open: true,
        })
    }

    /// Applies `writes`, and what they do to the tables for people, in one transaction.
    pub fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let step = self.begin_step(false)?;
        step.commit(writes)
    }
}

fn get(connection: &PgConnection, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let sql = format!("SELECT value FROM {table} WHERE key = $1");
    let key = key.to_vec();
    connection.call(move |client| {
        let row = client.query_opt(&sql, &[&key]).map_err(database)?;
        Ok(row.map(|row| row.get(0)))
    })
}

/// The values of `keys` in `table` (each `None` when absent), in one query.
fn get_many(
    connection: &PgConnection,
    table: &str,
    keys: Vec<Vec<u8>>,
) -> Result<Vec<Write>, StoreError> {
    let sql = format!("SELECT key, value FROM {table} WHERE key = ANY($1)");
    connection.call(move |client| {
        let found: std::collections::HashMap<Vec<u8>, Vec<u8>> = client
            .query(&sql, &[&keys])
            .map_err(database)?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        Ok(keys
            .into_iter()
            .map(|key| {
                let value = found.get(&key).cloned();
                (key, value)
            })
            .collect())
    })
}

/// A fold step's transaction (see [`PgRows::begin_step`]): rolled back when dropped
/// uncommitted.
pub struct PgStep<'a> {
    rows: &'a PgRows,
    open: bool,
}

impl PgStep<'_> {
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        get(&self.rows.writer, &self.rows.table, key)
    }

    /// The values of `keys` (each `None` when absent), in one query.
    pub fn get_many(&self, keys: Vec<Vec<u8>>) -> Result<Vec<Write>, StoreError> {
        get_many(&self.rows.writer, &self.rows.table, keys)
    }

    /// The rows whose keys start with `prefix`, all in one query: for the few rows a step
    /// reads by prefix (its checkpoints).
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Row>, StoreError> {
        let end = crate::keys::successor(prefix).unwrap_or_default();
        let sql = format!(
            "SELECT key, value FROM {} WHERE key >= $1 AND ($2 = ''::bytea OR key < $2) ORDER BY key",
            self.rows.table
        );
        let start = prefix.to_vec();
        self.rows.writer.call(move |client| {
            let rows = client.query(&sql, &[&start, &end]).map_err(database)?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })
    }

    /// Writes `writes`, what they do to the tables for people, and commits.
    pub fn commit(mut self, mut writes: Vec<Write>) -> Result<(), StoreError> {
        // In key order, so that every step locks the rows it writes in the same order: two
        // steps writing shared rows in different orders deadlock, which PostgreSQL breaks only
        // after `deadlock_timeout` (a second) — in the bench's two-worker fold, most of the
        // time went there.
        writes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let tables = crate::tables::statements(&self.rows.schema, &writes)?;
        let (mut put_keys, mut put_values, mut removed) = (Vec::new(), Vec::new(), Vec::new());
        for (key, value) in writes {
            match value {
                Some(value) => {
                    put_keys.push(key);
                    put_values.push(value);
                }
                None => removed.push(key),
            }
        }
        let remove = format!("DELETE FROM {} WHERE key = ANY($1)", self.rows.table);
        let upsert = format!(
            "INSERT INTO {} (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[])
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            self.rows.table
        );
        let committed = self.rows.writer.call(move |client| {
            if !removed.is_empty() {
                client.execute(&remove, &[&removed]).map_err(database)?;
            }
            if !put_keys.is_empty() {
                client
                    .execute(&upsert, &[&put_keys, &put_values])
                    .map_err(database)?;
            }
            for statement in &tables {
                let parameters: Vec<&(dyn postgres::types::ToSql + Sync)> = statement
                    .columns
                    .iter()
                    .map(|c| c as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                client
                    .execute(&statement.sql, &parameters)
                    .map_err(database)?;
            }
            client.batch_execute("COMMIT").map_err(database)
        });
        // A failed COMMIT ends the transaction too; the drop's ROLLBACK is then a no-op.
        self.open = committed.is_err();
        if committed.is_ok() {
            self.rows.writer.batch(UNLOCK_STEPS.to_owned())?;
        }
        committed
    }
}

/// Releases the step lock [`PgRows::begin_step`] took (the writer connection holds no other
/// advisory lock).
const UNLOCK_STEPS: &str = "SELECT pg_advisory_unlock_all()";

impl Drop for PgStep<'_> {
    fn drop(&mut self) {
        if self.open {
            // Ahead of the next step's lock and BEGIN in the connection's queue; if it fails,
            // the connection is gone and so are the transaction and the lock.
            let _ = self.rows.writer.batch(format!("ROLLBACK; {UNLOCK_STEPS}"));
        }
    }
}

impl PgRows {
    /// The rows in `(start, end)` in key order, a page at a time.
    pub fn range(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Pages<'_> {
        Pages {
            rows: self,
            start,
            end,
            page: Vec::new().into_iter(),
            done: false,
        }
    }

    /// The rows of each range `[start, end)`, in key order, in one query.
    pub fn ranges(&self, ranges: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<Vec<Row>>, StoreError> {
        let count = ranges.len();
        let (starts, ends): (Vec<Vec<u8>>, Vec<Vec<u8>>) = ranges.into_iter().unzip();
        let sql = format!(
            // LATERAL, one index range scan per range: as a join, the planner (guessing 100
            // ranges of unknown width) chose a parallel scan of the whole table, seconds at
            // 1 M orders.
            "SELECT r.i, t.key, t.value
             FROM unnest($1::bytea[], $2::bytea[]) WITH ORDINALITY AS r(s, e, i)
             CROSS JOIN LATERAL (
                 SELECT key, value FROM {} WHERE key >= r.s AND key < r.e ORDER BY key
             ) t ORDER BY r.i, t.key",
            self.table
        );
        self.call(move |client| {
            let mut found = vec![Vec::new(); count];
            for row in client.query(&sql, &[&starts, &ends]).map_err(database)? {
                let range = usize::try_from(row.get::<_, i64>(0) - 1).unwrap_or(usize::MAX);
                if let Some(rows) = found.get_mut(range) {
                    rows.push((row.get(1), row.get(2)));
                }
            }
            Ok(found)
        })
    }

    /// One page of at most [`PAGE`] rows from `start` up to `end`.
    fn page(&self, start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> Result<Vec<Row>, StoreError> {
        let mut conditions = Vec::new();
        let mut values: Vec<Vec<u8>> = Vec::new();
        for (bound, included, excluded) in [(start, ">=", ">"), (end, "<=", "<")] {
            let (operator, value) = match bound {
                Bound::Included(value) => (included, value),
                Bound::Excluded(value) => (excluded, value),
                Bound::Unbounded => continue,
            };
            values.push(value.clone());
            conditions.push(format!("key {operator} ${}", values.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT key, value FROM {} {filter} ORDER BY key LIMIT {PAGE}",
            self.table
        );
        self.call(move |client| {
            let parameters: Vec<&(dyn postgres::types::ToSql + Sync)> = values
                .iter()
                .map(|v| v as &(dyn postgres::types::ToSql + Sync))
                .collect();
            let rows = client.query(&sql, &parameters).map_err(database)?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })
    }

    pub fn clear(&self) -> Result<(), StoreError> {
        let tables: Vec<String> = crate::tables::STORED
            .iter()
            .map(|table| format!("{}.{table}", self.schema))
            .collect();
        let sql = format!("TRUNCATE {}, {}", self.table, tables.join(", "));
        self.call(move |client| client.batch_execute(&sql).map_err(database))
    }
}

/// A range read a page at a time: the next page starts after the last key read.
pub struct Pages<'a> {
    rows: &'a PgRows,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    page: std::vec::IntoIter<Row>,
    done: bool,
}

impl Iterator for Pages<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        if let Some(row) = self.page.next() {
            return Some(Ok(row));
        }
        if self.done {
            return None;
        }
        let page = match self.rows.page(&self.start, &self.end) {
            Ok(page) => page,
            Err(error) => {
                self.done = true;
                return Some(Err(error));
            }
        };
        self.done = (page.len() as i64) < PAGE;
        if let Some((last, _)) = page.last() {
            self.start = Bound::Excluded(last.clone());
        }
        self.page = page.into_iter();
        self.page.next().map(Ok)
    }
}

/// Generations of the read models in one database, as a sled directory keeps them: schema
/// `<base>_g<n>` each, the live one named in the one-row table `<base>_live.generation`, so a
/// rebuild fills a fresh schema beside the live one and switches in one statement.
#[derive(Clone)]
pub struct PgGenerations {
    url: String,
    base: String,
    connection: PgConnection,
}

impl PgGenerations {
    /// Opens the generations under `base` at `url` (creating the pointer at generation 1),
    /// dropping a rebuild's schema that never became live (unless a rebuild is running in
    /// another process); returns the live generation. Any number of processes may hold the
    /// generations open and fold into the live one at once (see [`PgRows::begin_step`]).
    pub fn open(url: &str, base: &str) -> Result<(PgGenerations, u64), StoreError> {
        check_name(base)?;
        let connection = PgConnection::open(url)?;
        let pointer = format!("{base}_live");
        connection.ddl(format!(
            "CREATE SCHEMA IF NOT EXISTS {pointer};
             CREATE TABLE IF NOT EXISTS {pointer}.generation (
                 one boolean PRIMARY KEY DEFAULT true CHECK (one),
                 live bigint NOT NULL);
             INSERT INTO {pointer}.generation (live) VALUES (1) ON CONFLICT DO NOTHING;"
        ))?;
        let live = connection.call(move |client| {
            let row = client
                .query_one(&format!("SELECT live FROM {pointer}.generation"), &[])
                .map_err(database)?;
            Ok(row.get::<_, i64>(0) as u64)
        })?;
        let generations = PgGenerations {
            url: url.to_owned(),
            base: base.to_owned(),
            connection,
        };
        if generations.lock_rebuild()? {
            generations.remove(live + 1)?;
            generations.unlock_rebuild()?;
        }
        generations.rows(live)?;
        generations.show(live)?;
        Ok((generations, live))
    }

    /// Takes the lock one rebuild at a time holds (a session lock of this connection):
    /// `false` when a rebuild is running, in this process or another.
    pub fn lock_rebuild(&self) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT pg_try_advisory_lock(hashtext('order-ledger/{}/rebuild'))",
            self.base
        );
        self.connection.call(move |client| {
            let row = client.query_one(&sql, &[]).map_err(database)?;
            Ok(row.get::<_, bool>(0))
        })
    }

    /// Releases the lock [`PgGenerations::lock_rebuild`] took.
    pub fn unlock_rebuild(&self) -> Result<(), StoreError> {
        self.connection.batch(format!(
            "SELECT pg_advisory_unlock(hashtext('order-ledger/{}/rebuild'))",
            self.base
        ))
    }

    /// The live generation, as the pointer says now (another process's rebuild may have
    /// switched it).
    pub fn live(&self) -> Result<u64, StoreError> {
        let sql = format!("SELECT live FROM {}_live.generation", self.base);
        self.connection.call(move |client| {
            let row = client.query_one(&sql, &[]).map_err(database)?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    /// The schema of `generation`.
    pub fn schema(&self, generation: u64) -> String {
        format!("{}_g{generation}", self.base)
    }

    /// The rows of `generation` (its schema created when missing).
    pub fn rows(&self, generation: u64) -> Result<PgRows, StoreError> {
        PgRows::open(&self.url, &self.schema(generation))
    }

    /// Makes `generation` the live one: the pointer, and the views analysts query, in one
    /// transaction.
    pub fn switch(&self, generation: u64) -> Result<(), StoreError> {
        self.connection.ddl(format!(
            "UPDATE {}_live.generation SET live = {generation}; {}",
            self.base,
            self.views(generation)
        ))
    }

    /// `<base>.<table>` for every table for people: a view of the live generation's, what
    /// analysts query (and the read-only role `ledger_analyst` may).
    fn views(&self, generation: u64) -> String {
        let schema = self.schema(generation);
        let base = &self.base;
        let mut sql = format!("CREATE SCHEMA IF NOT EXISTS {base};");
        for table in crate::tables::TABLES {
            sql.push_str(&format!(
                " CREATE OR REPLACE VIEW {base}.{table} AS SELECT * FROM {schema}.{table};"
            ));
        }
        sql
    }

    /// The views of `generation`, and the analysts' read-only role with its grants (when this
    /// user may create roles; otherwise a warning says what to run).
    fn show(&self, generation: u64) -> Result<(), StoreError> {
        self.connection.ddl(self.views(generation))?;
        let base = &self.base;
        let grants = format!(
            "DO $$ BEGIN CREATE ROLE {ANALYST} NOLOGIN;
                 EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             GRANT USAGE ON SCHEMA {base} TO {ANALYST};
             GRANT SELECT ON ALL TABLES IN SCHEMA {base} TO {ANALYST};"
        );
        if let Err(error) = self.connection.ddl(grants.clone()) {
            tracing::warn!(%error, sql = %grants, "the analysts' read-only role was not set up; run this as a superuser");
        }
        Ok(())
    }

    /// Drops `generation`'s schema and everything in it.
    pub fn remove(&self, generation: u64) -> Result<(), StoreError> {
        self.connection.ddl(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.schema(generation)
        ))
    }
}
