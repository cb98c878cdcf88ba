//! The job history, in SQLite: every accepted job from the moment it is accepted (its
//! language, limits and key, and when), its status as it changes (when it started and
//! finished), and its result. Opening the history marks the jobs a previous
//! process left queued or running as `lost`: no accepted job disappears without a
//! final status. Finished jobs past the retention count are deleted, oldest first.

use crate::api::{JobResult, Status};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// The history's one connection.
pub struct History {
    db: Mutex<Connection>,
    retention: u64,
    /// Jobs finished since the retention policy was last applied.
    since_pruned: std::sync::atomic::AtomicU64,
}

/// The retention policy is applied once per this many finished jobs (and at open): a
/// history holds at most `retention` + this many finished jobs.
pub const PRUNE_EVERY: u64 = 1024;

/// A history that cannot be opened or written.
#[derive(Debug)]
pub struct HistoryError(pub String);

impl std::fmt::Display for HistoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job history: {}", self.0)
    }
}

impl std::error::Error for HistoryError {}

impl From<rusqlite::Error> for HistoryError {
    fn from(e: rusqlite::Error) -> Self {
        HistoryError(e.to_string())
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    language TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    stdout TEXT NOT NULL DEFAULT '',
    stderr TEXT NOT NULL DEFAULT '',
    exit_code INTEGER,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    limits_hit TEXT NOT NULL DEFAULT '[]',
    truncated INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    limits TEXT NOT NULL,
    key_id TEXT,
    started_ms INTEGER,
    finished_ms INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_by_age ON jobs (created_ms);
";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl History {
    /// Opens (or creates) the history at `path` (`:memory:` for one in memory), keeping
    /// `retention` finished jobs; marks jobs left unfinished by an earlier process
    /// `lost`. Returns the history and how many jobs it marked.
    pub fn open(path: &Path, retention: u64) -> Result<(History, usize), HistoryError> {
        let db = Connection::open(path)
            .map_err(|e| HistoryError(format!("cannot open `{}`: {e}", path.display())))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.execute_batch(SCHEMA)?;
        // Histories written by earlier versions get the columns added since.
        for (column, kind) in [
            ("key_id", "TEXT"),
            ("started_ms", "INTEGER"),
            ("finished_ms", "INTEGER"),
        ] {
            let has = db
                .prepare("SELECT 1 FROM pragma_table_info('jobs') WHERE name = ?1")?
                .exists([column])?;
            if !has {
                db.execute_batch(&format!("ALTER TABLE jobs ADD COLUMN {column} {kind}"))?;
            }
        }
        let lost = db.execute(
            "UPDATE jobs SET status = 'lost', error = 'the server stopped while the job was \
             queued or running' WHERE status IN ('queued', 'running')",
            [],
        )?;
        let history = History {
            db: Mutex::new(db),
            retention,
            since_pruned: std::sync::atomic::AtomicU64::new(0),
        };
        history.prune()?;
        Ok((history, lost))
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite's state
        // is its own.
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a job of API key `key` as accepted (`queued`), with its limits as JSON.
    pub fn accept(
        &self,
        id: &str,
        language: &str,
        limits: &str,
        key: Option<&str>,
    ) -> Result<(), HistoryError> {
        self.db().execute(
            "INSERT INTO jobs (id, language, status, created_ms, limits, key_id) \
             VALUES (?1, ?2, 'queued', ?3, ?4, ?5)",
            params![id, language, now_ms(), limits, key],
        )?;
        Ok(())
    }

    /// Forgets a job that was never accepted after all (the queue was full).
    pub fn withdraw(&self, id: &str) -> Result<(), HistoryError> {
        self.db().execute(
            "DELETE FROM jobs WHERE id = ?1 AND status = 'queued'",
            params![id],
        )?;
        Ok(())
    }

    /// Marks a job as running.
    pub fn start(&self, id: &str) -> Result<(), HistoryError> {
        self.db().execute(
            "UPDATE jobs SET status = 'running', started_ms = ?2 WHERE id = ?1",
            params![id, now_ms()],
        )?;
        Ok(())
    }

    /// Records a job's result, then applies the retention policy.
    pub fn finish(&self, r: &JobResult) -> Result<(), HistoryError> {
        let limits_hit =
            serde_json::to_string(&r.limits_hit).map_err(|e| HistoryError(e.to_string()))?;
        let db = self.db();
        db.execute(
            "UPDATE jobs SET status = ?2, stdout = ?3, stderr = ?4, exit_code = ?5, \
             duration_ms = ?6, limits_hit = ?7, truncated = ?8, error = ?9, finished_ms = ?10 \
             WHERE id = ?1",
            params![
                r.job_id,
                r.status.name(),
                r.stdout,
                r.stderr,
                r.exit_code,
                r.duration_ms as i64,
                limits_hit,
                r.truncated,
                r.error,
                now_ms(),
            ],
        )?;
        drop(db);
        let n = self
            .since_pruned
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n + 1 >= PRUNE_EVERY {
            self.since_pruned
                .store(0, std::sync::atomic::Ordering::Relaxed);
            self.prune()?;
        }
        Ok(())
    }

    /// Deletes the finished jobs past the newest `retention`.
    pub fn prune(&self) -> Result<usize, HistoryError> {
        Ok(self.db().execute(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status NOT IN \
             ('queued', 'running') ORDER BY created_ms DESC, rowid DESC LIMIT -1 OFFSET ?1)",
            params![self.retention as i64],
        )?)
    }

    /// The job `id` and the key that posted it, if the history has it.
    pub fn get(&self, id: &str) -> Result<Option<(JobResult, Option<String>)>, HistoryError> {
        let bad = |column: usize, what: String| {
            rusqlite::Error::FromSqlConversionFailure(
                column,
                rusqlite::types::Type::Text,
                what.into(),
            )
        };
        Ok(self
            .db()
            .query_row(
                "SELECT id, language, status, stdout, stderr, exit_code, duration_ms, \
                 limits_hit, truncated, error, key_id FROM jobs WHERE id = ?1",
                params![id],
                |row| {
                    let status: String = row.get(2)?;
                    let status = Status::from_name(&status)
                        .ok_or_else(|| bad(2, format!("unknown status `{status}`")))?;
                    let hit: String = row.get(7)?;
                    let limits_hit = serde_json::from_str(&hit)
                        .map_err(|e| bad(7, format!("limits_hit: {e}")))?;
                    let result = JobResult {
                        job_id: row.get(0)?,
                        language: row.get(1)?,
                        status,
                        stdout: row.get(3)?,
                        stderr: row.get(4)?,
                        exit_code: row.get(5)?,
                        duration_ms: row.get::<_, i64>(6)?.max(0) as u64,
                        limits_hit,
                        truncated: row.get(8)?,
                        error: row.get(9)?,
                    };
                    Ok((result, row.get(10)?))
                },
            )
            .optional()?)
    }

    /// Whether the database answers.
    pub fn healthy(&self) -> bool {
        self.db()
            .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(id: &str) -> JobResult {
        JobResult {
            job_id: id.into(),
            language: "wat".into(),
            status: Status::Completed,
            stdout: "out".into(),
            stderr: String::new(),
            exit_code: Some(0),
            duration_ms: 1,
            limits_hit: vec!["time".into()],
            truncated: false,
            error: None,
        }
    }

    #[test]
    fn retention_keeps_the_newest_finished_jobs_and_every_unfinished_one() {
        let (h, _) = History::open(Path::new(":memory:"), 2).expect("history");
        for i in 0..5 {
            let id = format!("job{i}");
            h.accept(&id, "wat", "{}", Some("k")).expect("accept");
            h.finish(&finished(&id)).expect("finish");
        }
        h.accept("waiting", "wat", "{}", None).expect("accept");
        assert_eq!(h.prune().expect("prune"), 3);
        let kept: Vec<_> = (0..5)
            .filter(|i| h.get(&format!("job{i}")).expect("get").is_some())
            .collect();
        assert_eq!(kept, [3, 4]);
        assert_eq!(
            h.get("job4").expect("get"),
            Some((finished("job4"), Some("k".to_string())))
        );
        assert_eq!(
            h.get("waiting")
                .expect("get")
                .map(|(r, key)| (r.status, key)),
            Some((Status::Queued, None))
        );
    }
}
