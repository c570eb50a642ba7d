//! The replay commands, shared by the `replay-tool` binary and `ledger replay`.

use std::io::Write;

use chrono::{DateTime, Utc};
use event_log::LogReader;

use crate::checkpoint::Checkpoint;
use crate::{AsOf, BreakKind, ExportFormat, ReplayError, Start, TimeRange, VerifyReport};

/// Money events whose entries did not balance.
fn broken_balances(report: &VerifyReport) -> u64 {
    report
        .breaks
        .iter()
        .filter(|b| b.kind == BreakKind::TrialBalanceBroken)
        .count() as u64
}

/// How `verify` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Subcommand)]
pub enum ReplayCommand {
    /// Check every event: decoding, gapless sequences, hash chains, legal transitions and
    /// invariants; print each break and a digest of all chain heads. Exit status 1 on any break.
    ///
    /// From an offset or a time, only that window is read: aggregates whose history began
    /// earlier are anchored at their first event in it (sequences and chain links are checked
    /// from there, their states are not), and the digest covers only the aggregates seen.
    Verify {
        #[arg(long, value_enum, default_value = "text")]
        format: ReportFormat,
        /// Start at this offset of every partition.
        #[arg(long, conflicts_with = "since")]
        from_offset: Option<u64>,
        /// Start, in every partition, at the first event recorded at or after this time
        /// (RFC 3339).
        #[arg(long)]
        since: Option<DateTime<Utc>>,
        /// Also check that the log extends this checkpoint (one kept from earlier, from
        /// `checkpoint`): a rewritten history, removed records or another history of the same
        /// length is a break. Check its signature first with `check-checkpoint`.
        #[arg(long, conflicts_with_all = ["from_offset", "since"])]
        checkpoint: Option<std::path::PathBuf>,
    },
    /// Write every event, one line each with its envelope fields (streaming, constant memory).
    Export {
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Events recorded at or after this time (RFC 3339).
        #[arg(long)]
        from: Option<DateTime<Utc>>,
        /// Events recorded before this time (RFC 3339).
        #[arg(long)]
        to: Option<DateTime<Utc>>,
        /// Read every partition from this offset on (the time filters still apply).
        #[arg(long)]
        from_offset: Option<u64>,
    },
    /// The audit trail of one order (its id) or stock item (SKU@WAREHOUSE): every event with
    /// time, actor, command and correlation id and the state it left; and the state at the end.
    History {
        aggregate_id: String,
        /// Only events recorded at or before this time (RFC 3339).
        #[arg(long, conflicts_with = "at_offset")]
        as_of: Option<DateTime<Utc>>,
        /// Only events at or before this offset of the aggregate's partition.
        #[arg(long)]
        at_offset: Option<u64>,
    },
    /// Print the proof (JSON) that one event is in the log: its record, its O(log n) audit
    /// path to its partition's root and that head's path to the checkpoint's root. Against
    /// the log as it is now, or against a checkpoint kept earlier (--checkpoint).
    Proof {
        event_id: uuid::Uuid,
        /// Prove against this checkpoint (the one the auditor trusts) instead of a new one.
        #[arg(long, conflicts_with = "signing_key")]
        checkpoint: Option<std::path::PathBuf>,
        /// Sign the new checkpoint the proof is against (a file from `checkpoint-key`).
        #[arg(long)]
        signing_key: Option<std::path::PathBuf>,
    },
    /// Check a proof offline (no log needed) and print the event it proves: exit status 0
    /// when it holds against what you trust, 1 when not.
    CheckProof {
        file: std::path::PathBuf,
        /// The checkpoint you trust: the proof must be against it.
        #[arg(long)]
        checkpoint: Option<std::path::PathBuf>,
        /// The public key you trust (64 hex digits): it must have signed the checkpoint.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Prove (JSON) that the log today extends a checkpoint kept earlier: a new checkpoint and,
    /// per partition, an RFC 9162 consistency proof. Exit status 1 when the log does not.
    Consistency {
        old: std::path::PathBuf,
        /// Sign the new checkpoint (a file from `checkpoint-key`).
        #[arg(long)]
        signing_key: Option<std::path::PathBuf>,
    },
    /// Check a consistency proof offline: exit status 0 when its new checkpoint extends the
    /// old one you kept, 1 when not.
    CheckConsistency {
        file: std::path::PathBuf,
        /// The checkpoint you kept: the proof must start from it.
        #[arg(long)]
        old: Option<std::path::PathBuf>,
        /// The public key you trust: it must have signed the new checkpoint.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print the log's Merkle tree heads (JSON): per events partition, the number of records
    /// and the RFC 9162 root over their stored bytes, and the root over those heads. Any
    /// reader of the same log computes the same; a changed, removed or added record changes
    /// its partition's root. With --signing-key, signed (Ed25519) with the time.
    Checkpoint {
        /// A key file made with `checkpoint-key`.
        #[arg(long)]
        signing_key: Option<std::path::PathBuf>,
    },
    /// Make a checkpoint signing key: writes its seed to --out (readable by its owner only)
    /// and prints the public key and its id, for auditors to trust.
    /// With --of, prints the public key and id of an existing key file instead.
    CheckpointKey {
        #[arg(long, required_unless_present = "of", conflicts_with = "of")]
        out: Option<std::path::PathBuf>,
        /// An existing key file whose public key to print (the seed is never printed).
        #[arg(long)]
        of: Option<std::path::PathBuf>,
    },
    /// Check a signed checkpoint offline against the public key you trust: exit status 0 when
    /// that key signed it as it is, 1 when not.
    CheckCheckpoint {
        file: std::path::PathBuf,
        /// The trusted public key, 64 hex digits.
        #[arg(long)]
        public_key: String,
    },
    /// Rebuild every read model from scratch into a new directory, with a progress bar, and
    /// compare them with the live ones (a digest per read model). Exit status 1 on a difference.
    Rebuild {
        /// A directory that does not exist yet.
        #[arg(long)]
        into: std::path::PathBuf,
        /// The live read models to compare with [default: <data>/read-models].
        #[arg(long)]
        live: Option<std::path::PathBuf>,
        /// Page cache of the new store, in MiB: with the log's cache, most of the memory the
        /// rebuild takes.
        #[arg(long, default_value_t = crate::rebuild::STORE_CACHE_BYTES >> 20)]
        store_cache_mib: u64,
    },
}

/// What the commands need besides the log.
pub struct ReplayContext {
    /// Folds the read models of `rebuild` (the deployment's settlement rules).
    pub projector: projections::Projector,
    /// The live read models' directory (generations), when there is one.
    pub live: Option<std::path::PathBuf>,
}

/// Opens the live generation of a read-model directory without changing it; `Err` says why
/// not (a running serve holds it, or it is not there).
fn open_live(
    dir: &std::path::Path,
    projector: projections::Projector,
) -> Result<projections::ProjectionStore, String> {
    let current = std::fs::read_to_string(dir.join("CURRENT"))
        .map_err(|e| format!("no live read models in {}: {e}", dir.display()))?;
    let generation = dir.join(current.trim());
    projections::ProjectionStore::open(&generation, projector).map_err(|e| e.to_string())
}

/// Reads a JSON document of type `T` (a checkpoint, a proof) from `file`.
fn read_json<T: serde::de::DeserializeOwned>(
    file: &std::path::Path,
    what: &str,
) -> Result<T, ReplayError> {
    let unreadable = |reason: String| ReplayError::Proof {
        file: file.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(file).map_err(|e| unreadable(format!("reading: {e}")))?;
    serde_json::from_str(&text).map_err(|e| unreadable(format!("not {what}: {e}")))
}

fn public_key(text: Option<&String>) -> Result<Option<ed25519_dalek::VerifyingKey>, ReplayError> {
    text.map(|text| crate::checkpoint::parse_public_key(text).map_err(ReplayError::Output))
        .transpose()
}

fn signing_key(
    file: Option<&std::path::PathBuf>,
) -> Result<Option<ed25519_dalek::SigningKey>, ReplayError> {
    file.map(|path| crate::checkpoint::read_signing_key(path).map_err(ReplayError::Output))
        .transpose()
}

/// `check-proof FILE`: prints whether the proof holds against what is trusted, and the event;
/// returns the exit status.
pub fn check_proof_file(
    file: &std::path::Path,
    kept: Option<&std::path::PathBuf>,
    key: Option<&String>,
    out: &mut dyn Write,
) -> Result<u8, ReplayError> {
    let proof: crate::proof::Proof = read_json(file, "a proof")?;
    let kept: Option<Checkpoint> = kept.map(|f| read_json(f, "a checkpoint")).transpose()?;
    let key = public_key(key)?;
    let trusted = crate::proof::Trusted {
        checkpoint: kept.as_ref(),
        key: key.as_ref(),
    };
    let event = match crate::proof::check(&proof, &trusted) {
        Ok(event) => event,
        Err(reason) => {
            writeln!(out, "INVALID: {reason}")?;
            return Ok(1);
        }
    };
    let anchor = match (&kept, &key) {
        (Some(_), Some(key)) => format!("the trusted checkpoint, signed by {}", crate::checkpoint::key_id(key)),
        (Some(_), None) => "the trusted checkpoint (its signature not checked: no --public-key)".to_owned(),
        (None, Some(key)) => format!("a checkpoint signed by {}", crate::checkpoint::key_id(key)),
        (None, None) => "the checkpoint the proof carries; NOTHING you trust was given (--checkpoint, --public-key)".to_owned(),
    };
    writeln!(
        out,
        "valid: event {} is record {} of partition {} (offset {}) in the log with root {}, as of {anchor}",
        proof.event_id, proof.index, proof.partition, proof.offset, proof.root
    )?;
    let said = order_events::codec::json::encode_event(&event);
    writeln!(out, "{}", serde_json::to_string_pretty(&said)?)?;
    Ok(0)
}

/// `check-consistency FILE`: whether the proof's new checkpoint extends the old one.
fn check_consistency_file(
    file: &std::path::Path,
    kept: Option<&std::path::PathBuf>,
    key: Option<&String>,
    out: &mut dyn Write,
) -> Result<u8, ReplayError> {
    let proof: crate::consistency::ConsistencyProof = read_json(file, "a consistency proof")?;
    let kept: Option<Checkpoint> = kept.map(|f| read_json(f, "a checkpoint")).transpose()?;
    let key = public_key(key)?;
    let trusted = crate::consistency::TrustedOld {
        old: kept.as_ref(),
        key: key.as_ref(),
    };
    match crate::consistency::check(&proof, &trusted) {
        Ok(()) => {
            writeln!(
                out,
                "valid: the log with root {} ({} records) extends the one with root {} ({} records){}",
                proof.new.root,
                proof.new.records(),
                proof.old.root,
                proof.old.records(),
                match (&kept, &key) {
                    (Some(_), Some(_)) => "",
                    (None, _) => "; the old checkpoint is the proof's (no --old given)",
                    (Some(_), None) => "; the new checkpoint's signature not checked (no --public-key)",
                }
            )?;
            Ok(0)
        }
        Err(reason) => {
            writeln!(out, "INVALID: {reason}")?;
            Ok(1)
        }
    }
}

/// Runs `command` on `log`; returns the process exit status (0 clean, 1 breaks found).
pub async fn run(
    log: &dyn LogReader,
    command: ReplayCommand,
    context: ReplayContext,
    out: &mut impl Write,
) -> Result<u8, ReplayError> {
    match command {
        ReplayCommand::Rebuild {
            into,
            live,
            store_cache_mib,
        } => {
            let live_dir = live.or(context.live);
            let live_store = match &live_dir {
                Some(dir) => match open_live(dir, context.projector.clone()) {
                    Ok(store) => Some(store),
                    Err(reason) => {
                        eprintln!("not comparing with live read models: {reason}");
                        None
                    }
                },
                None => None,
            };
            let options = crate::rebuild::RebuildOptions {
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                store_cache_bytes: store_cache_mib << 20,
            };
            let report = crate::rebuild::rebuild(
                log,
                &into,
                context.projector,
                live_store.as_ref(),
                options,
            )
            .await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            Ok(u8::from(!report.differences.is_empty()))
        }
        ReplayCommand::Verify {
            format,
            from_offset,
            since,
            checkpoint,
        } => {
            let kept: Option<Checkpoint> = checkpoint
                .map(|file| read_json(&file, "a checkpoint"))
                .transpose()?;
            let start = match (from_offset, since) {
                (Some(offset), _) => Start::Offset(offset),
                (None, Some(at)) => Start::Time(at),
                (None, None) => Start::Beginning,
            };
            let report = crate::verify_against(log, &context.projector, start, kept).await?;
            match format {
                ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
                ReportFormat::Text => {
                    for b in &report.breaks {
                        writeln!(
                            out,
                            "BREAK {:?} at partition {} offset {}{}{}: expected {}, found {}",
                            b.kind,
                            b.partition,
                            b.offset,
                            b.aggregate
                                .as_ref()
                                .map(|a| format!(", {a}"))
                                .unwrap_or_default(),
                            b.sequence
                                .map(|s| format!(" sequence {s}"))
                                .unwrap_or_default(),
                            b.expected,
                            b.found
                        )?;
                    }
                    if start != Start::Beginning {
                        writeln!(
                            out,
                            "read from {start:?}; {} aggregates began earlier and were anchored there (chains checked, states not)",
                            report.anchored
                        )?;
                    }
                    writeln!(
                        out,
                        "{} events, {} aggregates, {} money events with the trial balance at zero after each, {} breaks: {}",
                        report.events,
                        report.aggregates,
                        report.money_events - broken_balances(&report),
                        report.breaks.len(),
                        if report.is_intact() {
                            "intact"
                        } else {
                            "NOT intact"
                        }
                    )?;
                    let label = if start == Start::Beginning {
                        "digest"
                    } else {
                        "window digest (not comparable with a full one)"
                    };
                    writeln!(out, "{label} {}", report.digest)?;
                    if let Some(root) = &report.root {
                        writeln!(out, "root {root}")?;
                    }
                }
            }
            Ok(u8::from(!report.is_intact()))
        }
        ReplayCommand::Export {
            format,
            from,
            to,
            from_offset,
        } => {
            let start = from_offset.map_or(Start::Beginning, Start::Offset);
            let summary = crate::export(log, format, start, TimeRange { from, to }, out).await?;
            if summary.undecodable > 0 {
                eprintln!(
                    "{} records could not be read; their lines carry the error",
                    summary.undecodable
                );
            }
            Ok(u8::from(summary.undecodable > 0))
        }
        ReplayCommand::Proof {
            event_id,
            checkpoint,
            signing_key: key,
        } => {
            let kept: Option<Checkpoint> = checkpoint
                .map(|f| read_json(&f, "a checkpoint"))
                .transpose()?;
            let key = signing_key(key.as_ref())?;
            let proof = crate::proof::prove(log, event_id, kept, key.as_ref()).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&proof)?)?;
            Ok(0)
        }
        ReplayCommand::Consistency {
            old,
            signing_key: key,
        } => {
            let old: Checkpoint = read_json(&old, "a checkpoint")?;
            let key = signing_key(key.as_ref())?;
            let proof = crate::consistency::prove(log, old, key.as_ref()).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&proof)?)?;
            Ok(0)
        }
        ReplayCommand::CheckProof { .. }
        | ReplayCommand::CheckConsistency { .. }
        | ReplayCommand::CheckpointKey { .. }
        | ReplayCommand::CheckCheckpoint { .. } => {
            offline(&command, out).expect("an offline command")
        }
        ReplayCommand::Checkpoint { signing_key: key } => {
            let mut checkpoint = crate::checkpoint::checkpoint(log).await?;
            if let Some(key) = signing_key(key.as_ref())? {
                checkpoint = checkpoint.signed(&key, std::time::SystemTime::now().into());
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&checkpoint)?)?;
            Ok(0)
        }

        ReplayCommand::History {
            aggregate_id,
            as_of,
            at_offset,
        } => {
            let history = crate::history(
                log,
                &aggregate_id,
                AsOf {
                    time: as_of,
                    offset: at_offset,
                },
            )
            .await?;
            if history.entries.is_empty() {
                return Err(ReplayError::NoHistory { aggregate_id });
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&history)?)?;
            Ok(0)
        }
    }
}

/// Runs a command that needs no log (checking a proof or a checkpoint, making a key); `None`
/// for one that reads the log.
pub fn offline(command: &ReplayCommand, out: &mut dyn Write) -> Option<Result<u8, ReplayError>> {
    Some(match command {
        ReplayCommand::CheckProof {
            file,
            checkpoint,
            public_key,
        } => check_proof_file(file, checkpoint.as_ref(), public_key.as_ref(), out),
        ReplayCommand::CheckConsistency {
            file,
            old,
            public_key,
        } => check_consistency_file(file, old.as_ref(), public_key.as_ref(), out),
        ReplayCommand::CheckpointKey {
            out: Some(path), ..
        } => make_checkpoint_key(path, out),
        ReplayCommand::CheckpointKey { of: Some(path), .. } => {
            crate::checkpoint::read_signing_key(path)
                .map_err(ReplayError::Output)
                .and_then(|key| print_public_key(&key, out))
        }
        ReplayCommand::CheckpointKey { .. } => Err(ReplayError::Output(
            "checkpoint-key needs --out FILE (a new key) or --of FILE (an existing one)".into(),
        )),
        ReplayCommand::CheckCheckpoint { file, public_key } => {
            check_checkpoint_file(file, public_key, out)
        }
        _ => return None,
    })
}

/// `checkpoint-key`: a new key's seed into `path` (created, mode 0600), its public key out.
fn make_checkpoint_key(path: &std::path::Path, out: &mut dyn Write) -> Result<u8, ReplayError> {
    use std::os::unix::fs::OpenOptionsExt;
    let key = crate::checkpoint::new_signing_key().map_err(ReplayError::Output)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ReplayError::Output(format!("creating {}: {e}", path.display())))?;
    writeln!(file, "{}", hex::encode(key.to_bytes()))
        .map_err(|e| ReplayError::Output(format!("writing {}: {e}", path.display())))?;
    print_public_key(&key, out)
}

/// Prints a signing key's public key and its id (never the seed).
fn print_public_key(
    key: &ed25519_dalek::SigningKey,
    out: &mut dyn Write,
) -> Result<u8, ReplayError> {
    let public = key.verifying_key();
    writeln!(out, "public key {}", hex::encode(public.as_bytes()))?;
    writeln!(out, "key id     {}", crate::checkpoint::key_id(&public))?;
    Ok(0)
}

/// `check-checkpoint`: 0 when the trusted key signed the checkpoint in `file` as it is.
fn check_checkpoint_file(
    file: &std::path::Path,
    public_key: &str,
    out: &mut dyn Write,
) -> Result<u8, ReplayError> {
    let trusted = crate::checkpoint::parse_public_key(public_key).map_err(ReplayError::Output)?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| ReplayError::Output(format!("reading {}: {e}", file.display())))?;
    let checkpoint: crate::checkpoint::Checkpoint = match serde_json::from_str(&text) {
        Ok(checkpoint) => checkpoint,
        Err(error) => {
            writeln!(out, "invalid: not a checkpoint: {error}")?;
            return Ok(1);
        }
    };
    match checkpoint.check(&trusted) {
        Ok(()) => {
            let records: u64 = checkpoint.partitions.iter().map(|p| p.size).sum();
            let signed = checkpoint.signature.as_ref().expect("checked as signed");
            writeln!(
                out,
                "valid: {records} records in {} partitions, root {}, signed by {} at {}",
                checkpoint.partitions.len(),
                checkpoint.root,
                signed.key_id,
                signed.signed_at
            )?;
            Ok(0)
        }
        Err(error) => {
            writeln!(out, "invalid: {error}")?;
            Ok(1)
        }
    }
}
