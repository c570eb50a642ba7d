//! The read models' rows in PostgreSQL: one table `<schema>.rows (key bytea primary key,
//! value bytea)`, bytea ordering bytewise as sled's keys do, each fold step (its rows and its
//! checkpoints) one transaction.
//!
//! The client is the synchronous `postgres` crate, which runs its own small runtime; it lives
//! on a thread of its own, and callers (async tasks included) hand it work through a channel,
//! so no runtime is ever started inside another.

use std::ops::Bound;
use std::sync::mpsc;

use crate::backend::{Entry, Write};
use crate::StoreError;

/// Rows read per query of a range.
const PAGE: i64 = 512;

type Job = Box<dyn FnOnce(&mut postgres::Client) + Send>;

/// Rows as read: key and value.
type Row = (Vec<u8>, Vec<u8>);

fn database(error: postgres::Error) -> StoreError {
    StoreError::Storage(format!("PostgreSQL: {error}"))
}

/// A schema's rows, through a connection on its own thread.
pub struct PgRows {
    jobs: mpsc::Sender<Job>,
    table: String,
}

impl PgRows {
    /// Connects to `url` and makes sure `schema` and its rows table exist.
    pub fn open(url: &str, schema: &str) -> Result<PgRows, StoreError> {
        if schema.is_empty()
            || !schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(StoreError::Storage(format!(
                "schema name {schema:?}: use a-z, 0-9 and _"
            )));
        }
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, connected) = mpsc::sync_channel(1);
        let url = url.to_owned();
        std::thread::Builder::new()
            .name("read-models-postgres".into())
            .spawn(
                move || match postgres::Client::connect(&url, postgres::NoTls) {
                    Ok(mut client) => {
                        let _ = ready.send(Ok(()));
                        while let Ok(job) = queue.recv() {
                            job(&mut client);
                        }
                    }
                    Err(error) => {
                        let _ = ready.send(Err(database(error)));
                    }
                },
            )
            .map_err(|e| StoreError::Storage(format!("starting the PostgreSQL thread: {e}")))?;
        connected
            .recv()
            .map_err(|_| StoreError::Storage("the PostgreSQL thread ended".into()))??;
        let rows = PgRows {
            jobs,
            table: format!("{schema}.rows"),
        };
        let create = format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.rows (key bytea PRIMARY KEY, value bytea NOT NULL);"
        );
        rows.call(move |client| client.batch_execute(&create).map_err(database))?;
        Ok(rows)
    }

    /// Runs `work` on the connection's thread and waits for its answer.
    fn call<T: Send + 'static>(
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

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = format!("SELECT value FROM {} WHERE key = $1", self.table);
        let key = key.to_vec();
        self.call(move |client| {
            let row = client.query_opt(&sql, &[&key]).map_err(database)?;
            Ok(row.map(|row| row.get(0)))
        })
    }

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

    /// Applies `writes` in one transaction.
    pub fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
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
        let remove = format!("DELETE FROM {} WHERE key = ANY($1)", self.table);
        let upsert = format!(
            "INSERT INTO {} (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[])
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            self.table
        );
        self.call(move |client| {
            let mut transaction = client.transaction().map_err(database)?;
            if !removed.is_empty() {
                transaction
                    .execute(&remove, &[&removed])
                    .map_err(database)?;
            }
            if !put_keys.is_empty() {
                transaction
                    .execute(&upsert, &[&put_keys, &put_values])
                    .map_err(database)?;
            }
            transaction.commit().map_err(database)
        })
    }

    pub fn clear(&self) -> Result<(), StoreError> {
        let sql = format!("TRUNCATE {}", self.table);
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
